// SPDX-License-Identifier: MIT
// Bounces a value between two goroutines over two unbuffered channels: ns per one-way hop.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func ponger(ping <-chan int64, pong chan<- int64, done *sync.WaitGroup) {
	for v := range ping {
		pong <- v
	}
	done.Done()
}

func main() {
	n := argInt(1, 1000000)
	if n < 1 {
		die("usage: pingpong [ROUND_TRIPS]")
	}
	ping := make(chan int64)
	pong := make(chan int64)
	var done sync.WaitGroup
	done.Add(1)
	go ponger(ping, pong, &done)

	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		if v := <-pong; v != i {
			die("pingpong: wrong value came back")
		}
	}
	dt := time.Since(t0)

	close(ping)
	done.Wait()
	fmt.Printf("info procs=%d round_trips=%d\n", runtime.GOMAXPROCS(0), n)
	metric("hop", float64(dt.Nanoseconds())/float64(2*n), "ns/hop")
}
