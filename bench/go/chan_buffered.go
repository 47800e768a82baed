// SPDX-License-Identifier: MIT
// Streams N items from one producer to one consumer through a buffered channel: ns per item.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// argInt is argv[i] as a non-negative integer, def when absent (same as the C side).
func argInt(i int, def int64) int64 {
	if i >= len(os.Args) {
		return def
	}
	v, err := strconv.ParseInt(os.Args[i], 10, 64)
	if err != nil || v < 0 {
		die("arguments must be non-negative integers")
	}
	return v
}

// statusKB is a "Vm...:" field of /proc/self/status in KiB (VmRSS, VmHWM).
func statusKB(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		die("cannot read /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line[len(field):])
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb
				}
			}
		}
	}
	die("field missing from /proc/self/status")
	return 0
}

func metric(name string, value float64, unit string) {
	fmt.Printf("metric=%s value=%.3f unit=%s\n", name, value, unit)
}

func die(msg string) {
	fmt.Fprintf(os.Stderr, "bench: %s\n", msg)
	os.Exit(1)
}
