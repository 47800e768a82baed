// SPDX-License-Identifier: MIT
// Load generator for the network benchmarks: C connections each doing R verified round trips of S bytes; rate and CPU per message.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procCPUNs is utime + stime of a process in ns, from /proc/PID/stat (clock
// ticks; 100 per second on Linux, as sysconf(_SC_CLK_TCK) says on the C side).
func procCPUNs(pid int64) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		die("cannot read the server's /proc/PID/stat")
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		die("cannot parse /proc/PID/stat")
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		die("cannot parse /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		die("cannot parse /proc/PID/stat")
	}
	return (ut + st) * (1000000000 / 100)
}

func selfCPUNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func client(id, rounds, size int64, addr string, ready, done *sync.WaitGroup, start <-chan struct{}) {
	var c net.Conn
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		c, err = net.Dial("tcp", addr)
		if err == nil || !(strings.Contains(err.Error(), "refused") ||
			strings.Contains(err.Error(), "temporarily unavailable")) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dial %s: %v\n", addr, err)
		os.Exit(1)
	}
	ready.Done()
	<-start
	out := make([]byte, size)
	in := make([]byte, size)
	for r := int64(0); r < rounds; r++ {
		for j := int64(0); j < size; j++ {
			out[j] = byte(id + r + j)
		}
		if _, err := c.Write(out); err != nil {
			die("write failed")
		}
		if _, err := io.ReadFull(c, in); err != nil {
			die("read failed or the server hung up")
		}
		if !bytes.Equal(in, out) {
			die("the echo differs from what was sent")
		}
	}
	c.Close()
	done.Done()
}

func main() {
	port := argInt(1, 0)
	conns := argInt(2, 1)
	rounds := argInt(3, 100000)
	size := argInt(4, 1)
	serverPid := argInt(5, 0)
	if port < 1 || port > 65535 || conns < 1 || conns > 100000 || rounds < 1 || size < 1 {
		die("usage: net_client PORT [CONNS [ROUND_TRIPS [SIZE [SERVER_PID]]]]")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(int(conns))
	done.Add(int(conns))
	for i := int64(0); i < conns; i++ {
		go client(i, rounds, size, addr, &ready, &done, start)
	}
	ready.Wait() // every connection is up

	var s0, s1 int64
	if serverPid != 0 {
		s0 = procCPUNs(serverPid)
	}
	c0 := selfCPUNs()
	t0 := time.Now()
	close(start)
	done.Wait()
	dt := time.Since(t0)
	if serverPid != 0 {
		s1 = procCPUNs(serverPid)
	}
	c1 := selfCPUNs()

	msgs := float64(conns) * float64(rounds)
	fmt.Printf("info procs=%d conns=%d round_trips=%d size=%d elapsed_ms=%.1f\n",
		runtime.GOMAXPROCS(0), conns, rounds, size, float64(dt.Nanoseconds())/1e6)
	if conns == 1 {
		metric("roundtrips", msgs/dt.Seconds(), "rt/s")
	} else {
		metric("messages", msgs/dt.Seconds(), "msgs/s")
	}
	if serverPid != 0 {
		metric("server_cpu", float64(s1-s0)/msgs, "ns/msg")
	}
	metric("client_cpu", float64(c1-c0)/msgs, "ns/msg")
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

func metric(name string, value float64, unit string) {
	fmt.Printf("metric=%s value=%.3f unit=%s\n", name, value, unit)
}

func die(msg string) {
	fmt.Fprintf(os.Stderr, "bench: %s\n", msg)
	os.Exit(1)
}
