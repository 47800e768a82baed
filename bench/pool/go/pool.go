// SPDX-License-Identifier: MIT
// The peer of bench/pool/bench.c: database/sql's connection pool (the pool
// every Go service uses) over a driver whose connections cost nothing, G
// goroutines each holding a connection across a runtime.Gosched().
//
// usage: pool G PAIRS [YIELD] (YIELD 0: close at once, no Gosched)
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

type drv struct{}
type conn struct{}

func (drv) Open(string) (driver.Conn, error)      { return &conn{}, nil }
func (*conn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("no statements") }
func (*conn) Close() error                        { return nil }
func (*conn) Begin() (driver.Tx, error)           { return nil, errors.New("no transactions") }

var yield = true

func run(db *sql.DB, g int, n int) time.Duration {
	var wg sync.WaitGroup
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				c, err := db.Conn(ctx)
				if err != nil {
					panic(err)
				}
				if yield {
					runtime.Gosched()
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func main() {
	g, pairs := 8, 2000000
	if len(os.Args) > 1 {
		g, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		pairs, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 && os.Args[3] == "0" {
		yield = false
	}
	sql.Register("fake", drv{})
	db, err := sql.Open("fake", "")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	per := pairs / g
	warm := per/10 + 1
	if warm > 1000 {
		warm = 1000
	}
	run(db, g, warm)
	dt := run(db, g, per)
	fmt.Printf("info procs=%d goroutines=%d pairs=%d\n", runtime.GOMAXPROCS(0), g, per*g)
	fmt.Printf("metric=pairs value=%.0f unit=pairs/s\n", float64(per*g)/dt.Seconds())
	db.Close()
}
