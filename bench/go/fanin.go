// SPDX-License-Identifier: MIT
// Fans P producers x M timestamped messages into one consumer over one channel: throughput, p50/p99 latency.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// base anchors now(): time.Since reads the monotonic clock, like km_now.
var base = time.Now()

func now() int64 {
	return int64(time.Since(base))
}

func producer(ch chan<- int64, msgs int64, done *sync.WaitGroup) {
	for i := int64(0); i < msgs; i++ {
		ch <- now()
	}
	done.Done()
}

func main() {
	producers := argInt(1, 10000)
	msgs := argInt(2, 100)
	capacity := argInt(3, 0)
	if producers < 1 || msgs < 1 || producers > 1<<30 {
		die("usage: fanin [PRODUCERS [MSGS [CAP]]]")
	}
	total := producers * msgs
	lat := make([]int64, total)
	for i := range lat { // fault the pages in before timing, as the C side does
		lat[i] = 0
	}
	ch := make(chan int64, capacity)
	var done sync.WaitGroup
	done.Add(int(producers))

	t0 := now()
	for i := int64(0); i < producers; i++ {
		go producer(ch, msgs, &done)
	}
	for i := int64(0); i < total; i++ {
		t := <-ch
		lat[i] = now() - t
	}
	dt := now() - t0

	done.Wait()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	fmt.Printf("info procs=%d producers=%d msgs=%d cap=%d\n", runtime.GOMAXPROCS(0), producers, msgs, capacity)
	metric("throughput", float64(total)/(float64(dt)/1e9), "msgs/s")
	metric("latency_p50", float64(lat[total*50/100])/1e3, "us")
	metric("latency_p99", float64(lat[total*99/100])/1e3, "us")
}
