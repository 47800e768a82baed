// SPDX-License-Identifier: MIT
// Echo server for the network benchmarks: one goroutine per connection echoes whatever it reads.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func conn(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break // EOF or a reset: the client is gone
		}
	}
	c.Close()
}

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "listen %s: %v\n", addr, err)
		os.Exit(1)
	}
	// run.sh waits for this line
	fmt.Printf("port=%d\n", l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Temporary() {
				time.Sleep(time.Millisecond)
				continue
			}
			fmt.Fprintf(os.Stderr, "accept: %v\n", err)
			os.Exit(1)
		}
		go conn(c)
	}
}
