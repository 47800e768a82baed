// SPDX-License-Identifier: MIT
// Drives one etcd-compatible endpoint with etcd's own Go client (clientv3
// and its concurrency package, unmodified) and prints one line per check:
// "ok   NAME" or "FAIL NAME: detail"; exits 1 if any check failed.
//
// usage: clientv3_check [-prefix P] [-timeout D] [-progress-interval D] [-restart CMD] [-auth] HOST:PORT
//
// Every key lives under a prefix unique to the run, so the same server can
// be checked twice. The compaction checks run late: they discard history.
// One file per service: kv.go, watch.go, lease.go, concurrency.go,
// maintenance.go, auth.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

var (
	cli     *clientv3.Client
	endp    string
	pfx     string
	timeout time.Duration
	notify  time.Duration
	restart string
	// users, roles and authentication on: kumo serve keeps no users yet
	withAuth bool
	failed   int
	passed   int
)

// check runs fn with a deadline and prints its verdict; a check that hangs
// past the deadline fails instead of hanging the run.
func check(name string, fn func(ctx context.Context) error) {
	checkFor(name, timeout, fn)
}

// checkFor is check with a deadline of its own.
func checkFor(name string, timeout time.Duration, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- fn(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout + time.Second):
		err = errors.New("no answer before the deadline")
	}
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, oneLine(err))
	} else {
		passed++
		fmt.Printf("ok   %s\n", name)
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

func k(s string) string { return pfx + s }

// kvs renders key=value pairs (prefix stripped) for comparisons and messages.
func kvs(list []*mvccpb.KeyValue) string {
	var b []string
	for _, kv := range list {
		b = append(b, strings.TrimPrefix(string(kv.Key), pfx)+"="+string(kv.Value))
	}
	return strings.Join(b, ",")
}

func want(what, got, exp string) error {
	if got != exp {
		return fmt.Errorf("%s: got [%s] want [%s]", what, got, exp)
	}
	return nil
}

// logConfig: only errors reach stderr; the expected ones (compacted, future
// revision) would each log a retry warning.
func logConfig() *zap.Config {
	return &zap.Config{
		Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
		Encoding:         "console",
		EncoderConfig:    zap.NewDevelopmentEncoderConfig(),
		OutputPaths:      []string{"stderr"},
		ErrorOutputPaths: []string{"stderr"},
	}
}

func main() {
	flag.StringVar(&pfx, "prefix", "", "key prefix (default: unique to the run)")
	flag.DurationVar(&timeout, "timeout", 10*time.Second, "deadline of each check")
	flag.BoolVar(&withAuth, "auth", false, "also check users, roles and authentication on")
	flag.DurationVar(&notify, "progress-interval", 0,
		"the server's watch progress interval; 0: no check of periodic progress notifications")
	flag.StringVar(&restart, "restart", "",
		"shell command that restarts the server on the same address and data, returning once it serves; empty: no restart check")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: clientv3_check [-prefix P] [-timeout D] [-progress-interval D] [-restart CMD] [-auth] HOST:PORT")
		os.Exit(2)
	}
	endp = flag.Arg(0)
	if pfx == "" {
		pfx = fmt.Sprintf("/clientv3-check/%d/", time.Now().UnixNano())
	}
	var err error
	cli, err = clientv3.New(clientv3.Config{
		Endpoints:   []string{endp},
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithBlock()},
		LogConfig:   logConfig(),
	})
	if err != nil {
		fmt.Printf("FAIL connect %s: %v\n", endp, err)
		fmt.Println("0 passed, 1 failed")
		os.Exit(1)
	}
	defer cli.Close()

	checkKV()
	checkTxn()
	checkWatch()
	checkLease()
	checkConcurrency()
	checkSTM()
	checkCluster()
	checkMaintenance()
	checkErrors()
	checkCompacted()
	checkAuthOff()
	if restart != "" {
		checkRestart()
	}
	if withAuth {
		checkAuth()
	}

	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
