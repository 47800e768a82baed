// SPDX-License-Identifier: MIT
// Load and checker for two kumo nodes over one etcd cluster while a fault
// happens (tests/integ/scale_faults.sh makes the faults). It runs writers,
// watchers and linearizable readers through both nodes with etcd's Go
// client until the fault is over, then reads etcd's own history directly
// from the members and proves, printing "ok   NAME" or "FAIL NAME" per
// property:
//   - every acknowledged write is in etcd's history at its revision, with
//     its value, and no write was applied twice;
//   - every watcher saw each event of its range exactly once, in order,
//     with no gap from its start revision to the end of the scenario;
//   - no linearizable read returned a revision older than a write or a read
//     that had completed before it started, and each read's value is
//     etcd's at the read's revision;
//   - both nodes served writes and reads again once the fault was healed.
//
// usage: scale_check -etcd H:P,H:P,H:P -a H:P -b H:P -name NAME
//
//	-ready FILE -healed FILE [-dump FILE] [options]
//
// The program creates -ready once the load runs; the caller makes the
// fault, heals it and then creates -healed; the load goes on until both
// nodes have acknowledged writes since, then stops.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

var (
	etcdEps   string
	nodeAddrs [2]string
	name      string
	readyFile string
	healFile  string
	dumpFile  string
	dumpAll   bool
	nWriters  int
	nReaders  int
	opTimeout time.Duration
	maxLoad   time.Duration
	catchUp   time.Duration
	afterHeal int
)

// nodeNames: the two kumo nodes, and etcd itself for the control watcher.
var nodeNames = [3]string{"A", "B", "etcd"}

// logConfig keeps clientv3's own logging to errors: the retries a fault
// causes would each log a warning.
func logConfig() *zap.Config {
	return &zap.Config{
		Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
		Encoding:         "console",
		EncoderConfig:    zap.NewDevelopmentEncoderConfig(),
		OutputPaths:      []string{"stderr"},
		ErrorOutputPaths: []string{"stderr"},
	}
}

// dial connects to eps. A restarted node must be found again within a
// second or so, not after grpc's default backoff of up to two minutes.
func dial(eps []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{
			grpc.WithBlock(),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6,
					Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: 2 * time.Second,
			}),
		},
		LogConfig: logConfig(),
	})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func fatal(format string, a ...interface{}) {
	fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func main() {
	flag.StringVar(&etcdEps, "etcd", "", "the etcd members, comma-separated (the truth is read there)")
	flag.StringVar(&nodeAddrs[0], "a", "", "kumo node A")
	flag.StringVar(&nodeAddrs[1], "b", "", "kumo node B")
	flag.StringVar(&name, "name", "", "the scenario's name (its keys live under /scale/NAME/)")
	flag.StringVar(&readyFile, "ready", "", "file created once the load runs")
	flag.StringVar(&healFile, "healed", "", "file the caller creates once the fault is healed")
	flag.StringVar(&dumpFile, "dump", "", "file to write everything recorded to when a property fails")
	flag.BoolVar(&dumpAll, "dump-always", false, "write -dump even when every property holds")
	flag.IntVar(&nWriters, "writers", 3, "writers per node")
	flag.IntVar(&nReaders, "readers", 2, "readers per node")
	flag.DurationVar(&opTimeout, "op-timeout", 3*time.Second, "deadline of each put and get")
	flag.DurationVar(&maxLoad, "max", 90*time.Second, "the load stops after this long whatever happens")
	flag.DurationVar(&catchUp, "catch-up", 30*time.Second, "how long watchers may take to reach the last revision")
	flag.IntVar(&afterHeal, "after-heal", 20, "writes each node acknowledges after the heal before the load stops")
	flag.Parse()
	if etcdEps == "" || nodeAddrs[0] == "" || nodeAddrs[1] == "" || name == "" ||
		readyFile == "" || healFile == "" {
		fmt.Fprintln(os.Stderr, "usage: scale_check -etcd H:P,H:P,H:P -a H:P -b H:P -name NAME -ready FILE -healed FILE [-dump FILE]")
		os.Exit(2)
	}
	os.Exit(run())
}

func run() int {
	etcd, err := dial(strings.Split(etcdEps, ","))
	if err != nil {
		fatal("connect to etcd %s: %v", etcdEps, err)
	}
	defer etcd.Close()
	var nodes [2]*clientv3.Client
	for i := range nodes {
		if nodes[i], err = dial([]string{nodeAddrs[i]}); err != nil {
			fatal("connect to kumo node %s (%s): %v", nodeNames[i], nodeAddrs[i], err)
		}
		defer nodes[i].Close()
	}

	pfx := "/scale/" + name + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r0, err := etcd.Get(ctx, "/scale/")
	cancel()
	if err != nil {
		fatal("the start revision: %v", err)
	}
	start := r0.Header.Revision
	rec := &record{pfx: pfx, start: start}

	// Watchers first, all created before the first write. Per node: the
	// whole scenario prefix twice, the sub-range [k000, k050), and all of
	// /scale/ from before the scenario, which kumo answers from etcd's
	// history before its live feed.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	var wwg sync.WaitGroup
	for n := 0; n < 2; n++ {
		specs := []struct {
			what, key, end string
			from           int64
		}{
			{"prefix", pfx, clientv3.GetPrefixRangeEnd(pfx), start + 1},
			{"prefix", pfx, clientv3.GetPrefixRangeEnd(pfx), start + 1},
			{"sub-range", pfx + "k000", pfx + "k050", start + 1},
			{"replay", "/scale/", clientv3.GetPrefixRangeEnd("/scale/"), max64(1, start-100)},
		}
		for i, sp := range specs {
			cli, err := dial([]string{nodeAddrs[n]})
			if err != nil {
				fatal("connect watcher to node %s: %v", nodeNames[n], err)
			}
			defer cli.Close()
			w := &watcher{node: n, id: fmt.Sprintf("%s/w%d-%s", nodeNames[n], i, sp.what),
				key: sp.key, end: sp.end, from: sp.from, created: make(chan struct{})}
			rec.watchers = append(rec.watchers, w)
			wwg.Add(1)
			go func() { defer wwg.Done(); w.run(wctx, cli) }()
		}
	}
	// The control: the same replay watch on etcd itself, to tell kumo's
	// delays from etcd's own under this load.
	ctl := &watcher{node: 2, id: "etcd/w3-replay", key: "/scale/", end: clientv3.GetPrefixRangeEnd("/scale/"),
		from: max64(1, start-100), created: make(chan struct{})}
	rec.watchers = append(rec.watchers, ctl)
	wwg.Add(1)
	go func() { defer wwg.Done(); ctl.run(wctx, etcd) }()
	deadline := time.After(15 * time.Second)
	for _, w := range rec.watchers {
		select {
		case <-w.created:
		case <-deadline:
			fatal("watcher %s was not created within 15 s", w.id)
		}
	}

	// Writers and readers until the fault is healed and both nodes
	// acknowledged writes after it.
	var stop atomic.Bool
	var lwg sync.WaitGroup
	t0 := time.Now()
	for n := 0; n < 2; n++ {
		for i := 0; i < nWriters; i++ {
			lwg.Add(1)
			go func(n, i int) { defer lwg.Done(); rec.write(nodes[n], n, i, &stop) }(n, i)
		}
		for i := 0; i < nReaders; i++ {
			lwg.Add(1)
			go func(n, i int) { defer lwg.Done(); rec.read(nodes[n], n, i, &stop) }(n, i)
		}
	}
	if f, err := os.Create(readyFile); err == nil {
		f.Close()
	}
	for !stop.Load() {
		time.Sleep(50 * time.Millisecond)
		if rec.healed.IsZero() && exists(healFile) {
			rec.mu.Lock()
			rec.healed = time.Now()
			rec.mu.Unlock()
		}
		since := time.Since(rec.healedAt())
		if time.Since(t0) > maxLoad ||
			!rec.healedAt().IsZero() && (rec.ackedSinceHeal() >= afterHeal || since > 15*time.Second) {
			stop.Store(true)
		}
	}
	lwg.Wait()
	loadTime := time.Since(t0)

	// A last write on etcd itself, inside every watcher's range: each
	// watcher must reach it. A member just resumed may time a request out
	// while it rejoins: the fence is tried again (a value of its own each
	// time, so an attempt whose outcome was unknown is no double apply).
	var fr *clientv3.PutResponse
	for attempt := 0; ; attempt++ {
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		fr, err = etcd.Put(ctx, pfx+"k000", fmt.Sprintf("%s/fence-%d", name, attempt))
		cancel()
		if err == nil {
			break
		}
		if attempt == 2 {
			fatal("the closing write on etcd, 3 tries: %v", err)
		}
	}
	rec.fence = fr.Header.Revision
	caught := time.Now().Add(catchUp)
	for time.Now().Before(caught) && !rec.allReached(rec.fence) {
		time.Sleep(50 * time.Millisecond)
	}
	wcancel()
	wwg.Wait()

	// etcd's own history of /scale/, read from the members.
	from := rec.start + 1
	for _, w := range rec.watchers {
		from = min64(from, w.from)
	}
	truth, err := replay(etcd, "/scale/", from, rec.fence)
	if err != nil {
		fatal("etcd's history from %d to %d: %v", from, rec.fence, err)
	}
	fmt.Printf("# %s: load %.1fs, revisions %d..%d; %s\n", name, loadTime.Seconds(), rec.start+1,
		rec.fence, rec.summary())
	failed := rec.check(truth)
	if (failed > 0 || dumpAll) && dumpFile != "" {
		if err := rec.dump(dumpFile, truth); err != nil {
			fmt.Printf("# %s: dump: %v\n", name, err)
		} else {
			fmt.Printf("# %s: everything recorded is in %s\n", name, dumpFile)
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
