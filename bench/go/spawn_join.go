// SPDX-License-Identifier: MIT
// Spawns N goroutines that only call wg.Done and joins them: ns per goroutine and peak RSS.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func worker(wg *sync.WaitGroup) {
	wg.Done()
}

func main() {
	n := argInt(1, 1000000)
	if n < 1 || n > 1<<30 {
		die("usage: spawn_join [N]")
	}
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go worker(&wg)
	}
	wg.Wait()
	dt := time.Since(t0)

	fmt.Printf("info procs=%d n=%d\n", runtime.GOMAXPROCS(0), n)
	metric("spawn_join", float64(dt.Nanoseconds())/float64(n), "ns/goroutine")
	metric("peak_rss", float64(statusKB("VmHWM:"))/1024.0, "MiB")
}
