// SPDX-License-Identifier: MIT
// Streams N items from one producer to one consumer through a buffered channel: ns per item.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func producer(ch chan<- int64, n int64, done *sync.WaitGroup) {
	for i := int64(0); i < n; i++ {
		ch <- i
	}
	close(ch)
	done.Done()
}

func main() {
	n := argInt(1, 10000000)
	capacity := argInt(2, 100)
	if n < 1 {
		die("usage: chan_buffered [ITEMS [CAP]]")
	}
	ch := make(chan int64, capacity)
	var done sync.WaitGroup
	done.Add(1)

	t0 := time.Now()
	go producer(ch, n, &done)
	var count, sum int64
	for v := range ch {
		sum += v
		count++
	}
	dt := time.Since(t0)

	if count != n || sum != n*(n-1)/2 {
		die("chan_buffered: items lost or corrupted")
	}
	done.Wait()
	fmt.Printf("info procs=%d items=%d cap=%d\n", runtime.GOMAXPROCS(0), n, capacity)
	metric("item", float64(dt.Nanoseconds())/float64(n), "ns/item")
}
