// SPDX-License-Identifier: MIT
// Go twin of `kumo probe`: one goroutine per URL, bounded concurrency, summary.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: http_probe CONCURRENCY URLFILE")
		os.Exit(2)
	}
	conc, _ := strconv.Atoi(os.Args[1])
	f, err := os.Open(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var urls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		urls = append(urls, sc.Text())
	}
	client := &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc},
	}
	slots := make(chan struct{}, conc)
	status := make([]int, len(urls))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range urls {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			slots <- struct{}{}
			resp, err := client.Get(urls[i])
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status[i] = resp.StatusCode
			}
			<-slots
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, s := range status {
		if s >= 200 && s < 400 {
			ok++
		}
	}
	fmt.Printf("probed %d URLs in %.2f s with %d at a time: %d ok, %d failed\n",
		len(urls), time.Since(t0).Seconds(), conc, ok, len(urls)-ok)
	if ok != len(urls) {
		os.Exit(1)
	}
}
