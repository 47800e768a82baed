// SPDX-License-Identifier: MIT
// The Go peer of bench/metrics/metrics.c: client_golang counter, histogram
// and WithLabelValues costs on 1 or 2 goroutines (GOMAXPROCS = goroutines).
//
// Usage: metrics [GOROUTINES [N]]   (defaults 1, 20,000,000)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func run(label string, goroutines, iters int, op func(i int)) {
	var wg sync.WaitGroup
	var started int32
	t0 := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atomic.AddInt32(&started, 1)
			for atomic.LoadInt32(&started) < int32(goroutines) {
				runtime.Gosched()
			}
			for i := 0; i < iters; i++ {
				op(i)
			}
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	fmt.Printf("%-20s goroutines=%d procs=%d  wall %6.2f ns/op\n", label, goroutines,
		runtime.GOMAXPROCS(0), float64(dt.Nanoseconds())/float64(iters))
}

func main() {
	goroutines, n := 1, 20000000
	if len(os.Args) > 1 {
		goroutines, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "c"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	l := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "l_total", Help: "l"},
		[]string{"method", "route", "code"})
	reg.MustRegister(c, h, l)
	var word uint64
	run("counter_inc", goroutines, n, func(int) { c.Inc() })
	run("histogram_observe", goroutines, n, func(i int) { h.Observe(float64(i&63) * 0.004) })
	run("with3_counter_inc", goroutines, n/4, func(int) { l.WithLabelValues("GET", "/v3/kv/range", "200").Inc() })
	run("atomic_fetch_add", goroutines, n, func(int) { atomic.AddUint64(&word, 1) })
}
