// SPDX-License-Identifier: MIT
// Parks N goroutines on one channel's receive: RSS per parked goroutine, time to wake all by close and join.
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
