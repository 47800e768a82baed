// SPDX-License-Identifier: MIT
// Helpers shared by the Go runtime benchmarks: arguments, /proc readings, metric lines.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

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
