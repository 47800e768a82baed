// SPDX-License-Identifier: MIT
// Parks N goroutines on one channel's receive: RSS per parked goroutine, time to wake all by close and join.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func parker(start <-chan struct{}, ready, done *sync.WaitGroup) {
	ready.Done()
	if _, ok := <-start; ok {
		die("parked: woke without the close")
	}
	done.Done()
}

func main() {
	n := argInt(1, 1000000)
	if n < 1 || n > 1<<30 {
		die("usage: parked [N]")
	}
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(int(n))
	done.Add(int(n))

	rss0 := statusKB("VmRSS:")
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go parker(start, &ready, &done)
	}
	ready.Wait()
	t1 := time.Now()
	// The last few goroutines may be between Done and the receive; let them park.
	time.Sleep(10 * time.Millisecond)
	rss1 := statusKB("VmRSS:")

	t2 := time.Now()
	close(start)
	done.Wait()
	t3 := time.Now()

	fmt.Printf("info procs=%d n=%d rss_before_kb=%d rss_parked_kb=%d\n",
		runtime.GOMAXPROCS(0), n, rss0, rss1)
	metric("spawn_park", float64(t1.Sub(t0).Nanoseconds())/float64(n), "ns/goroutine")
	metric("rss_per_goroutine", float64(rss1-rss0)*1024.0/float64(n), "bytes")
	metric("wake_join", float64(t3.Sub(t2).Nanoseconds())/1e6, "ms")
}
