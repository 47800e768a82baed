// SPDX-License-Identifier: MIT
// Go twin of bench/config/grpc_load.c on etcd's clientv3: the same flags,
// the same calls and checks, the same output, to put kumo's load program
// beside the client etcd's users run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	endpoint := flag.String("endpoint", "", "HOST:PORT")
	op := flag.String("op", "range", "range, range-s or put")
	conns := flag.Int("conns", 1, "connections (one clientv3 client each)")
	clients := flag.Int("clients", 1, "goroutines, one call in flight each")
	seconds := flag.Int("seconds", 5, "measured time")
	keySize := flag.Int("key-size", 8, "bytes per key")
	valSize := flag.Int("val-size", 100, "bytes per value")
	keys := flag.Int("keys", 1, "keys a put run cycles through")
	flag.Parse()
	if *endpoint == "" || *clients < *conns || *conns < 1 || *keySize < 1 {
		flag.Usage()
		os.Exit(2)
	}
	value := strings.Repeat("v", *valSize)
	keyOf := func(i int) string { return fmt.Sprintf("%0*d", *keySize, i) }
	cs := make([]*clientv3.Client, *conns)
	for i := range cs {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcd_load:", err)
			os.Exit(1)
		}
		cs[i] = c
	}
	call := func(c *clientv3.Client, n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if *op == "put" {
			r, err := c.Put(ctx, keyOf(n%*keys), value)
			if err == nil && r.Header.Revision < 2 {
				err = fmt.Errorf("revision %d", r.Header.Revision)
			}
			return err
		}
		var opts []clientv3.OpOption
		if *op == "range-s" {
			opts = append(opts, clientv3.WithSerializable())
		}
		k := keyOf(0)
		r, err := c.Get(ctx, k, opts...)
		if err == nil && (len(r.Kvs) != 1 || string(r.Kvs[0].Key) != k || len(r.Kvs[0].Value) != *valSize) {
			err = fmt.Errorf("unexpected reply: %d kvs", len(r.Kvs))
		}
		return err
	}
	if _, err := cs[0].Put(context.Background(), keyOf(0), value); err != nil {
		fmt.Fprintln(os.Stderr, "etcd_load: the first put failed:", err)
		os.Exit(1)
	}
	for i, c := range cs {
		if err := call(c, i); err != nil {
			fmt.Fprintln(os.Stderr, "etcd_load: warm-up:", err)
			os.Exit(1)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var done, errors int
	var lat []time.Duration
	t0 := time.Now()
	until := t0.Add(time.Duration(*seconds) * time.Second)
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			c := cs[id%*conns]
			var my []time.Duration
			d, e := 0, 0
			for n := id; time.Now().Before(until); n += *clients {
				s := time.Now()
				if err := call(c, n); err != nil {
					e++
					if e == 1 {
						fmt.Fprintln(os.Stderr, "etcd_load:", err)
					}
				} else {
					d++
					my = append(my, time.Since(s))
				}
			}
			mu.Lock()
			done += d
			errors += e
			lat = append(lat, my...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	p := func(q int) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[len(lat)*q/100].Nanoseconds()) / 1e3
	}
	fmt.Printf("requests/s %.0f\nrequests %d\nerrors %d\np50_us %.1f\np99_us %.1f\n",
		float64(done)/secs, done, errors, p(50), p(99))
	for _, c := range cs {
		c.Close()
	}
	if errors > 0 {
		os.Exit(1)
	}
}
