// SPDX-License-Identifier: MIT
// Bounces a value between two goroutines over two unbuffered channels: ns per one-way hop.
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
