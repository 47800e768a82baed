// SPDX-License-Identifier: MIT
// The load: writers, linearizable readers and watchers, each recording
// what it did and what it was answered, with the times that the
// linearizability check needs.
package main

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

// keys: k000..k099; the sub-range watchers see k000..k049.
const nKeys = 100

// write is one put or delete as its writer saw it. A write that failed
// (ok false) may or may not be in etcd: its outcome is unknown.
type write struct {
	Node     int
	Key, Val string
	Del      bool
	Start    time.Time
	End      time.Time
	OK       bool
	Rev      int64 // the response header's revision
	Deleted  int64
	Err      string
}

// read is one linearizable Get.
type read struct {
	Node   int
	Key    string
	Start  time.Time
	End    time.Time
	OK     bool
	Rev    int64 // the response header's revision
	Found  bool
	Val    string
	ModRev int64
	Err    string
}

// event is one watch event as a watcher got it (or as etcd has it).
type event struct {
	Rev int64
	Key string
	Del bool
	Val string
	At  time.Time
}

func (e event) String() string {
	t := "PUT"
	if e.Del {
		t = "DELETE"
	}
	return fmt.Sprintf("%s %s=%q@%d", t, e.Key, e.Val, e.Rev)
}

type watcher struct {
	node     int
	id       string
	key, end string
	from     int64 // the revision it starts at
	created  chan struct{}
	mu       sync.Mutex
	events   []event
	last     int64 // the revision of the last event seen
	restarts int   // watches re-created after the channel closed
	errs     []string
}

type record struct {
	pfx    string
	start  int64 // etcd's revision before the first write
	fence  int64 // the closing write's revision
	mu     sync.Mutex
	writes []write
	reads  []read
	healed time.Time
	// watchers are appended before any goroutine reads the slice
	watchers []*watcher
	seq      int64
}

func (r *record) healedAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.healed
}

// ackedSinceHeal: the fewest writes either node acknowledged after the heal.
func (r *record) ackedSinceHeal() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n [2]int
	for i := len(r.writes) - 1; i >= 0 && r.writes[i].Start.After(r.healed); i-- {
		if r.writes[i].OK {
			n[r.writes[i].Node]++
		}
	}
	if n[0] < n[1] {
		return n[0]
	}
	return n[1]
}

func (r *record) write(cli *clientv3.Client, node, id int, stop *atomic.Bool) {
	rng := rand.New(rand.NewSource(time.Now().UnixNano() + int64(node*100+id)))
	for i := 0; !stop.Load(); i++ {
		w := write{
			Node: node,
			Key:  fmt.Sprintf("%sk%03d", r.pfx, rng.Intn(nKeys)),
			Val:  fmt.Sprintf("%s/%s%d/%d", name, nodeNames[node], id, i),
			Del:  rng.Intn(10) == 0,
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		w.Start = time.Now()
		var err error
		if w.Del {
			var resp *clientv3.DeleteResponse
			if resp, err = cli.Delete(ctx, w.Key); err == nil {
				w.Rev, w.Deleted = resp.Header.Revision, resp.Deleted
			}
		} else {
			var resp *clientv3.PutResponse
			if resp, err = cli.Put(ctx, w.Key, w.Val); err == nil {
				w.Rev = resp.Header.Revision
			}
		}
		w.End = time.Now()
		cancel()
		w.OK = err == nil
		if err != nil {
			w.Err = err.Error()
		}
		r.mu.Lock()
		r.writes = append(r.writes, w)
		r.mu.Unlock()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (r *record) read(cli *clientv3.Client, node, id int, stop *atomic.Bool) {
	rng := rand.New(rand.NewSource(time.Now().UnixNano() + int64(node*100+id+50)))
	for !stop.Load() {
		g := read{Node: node, Key: fmt.Sprintf("%sk%03d", r.pfx, rng.Intn(nKeys))}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		g.Start = time.Now()
		resp, err := cli.Get(ctx, g.Key) // linearizable: clientv3's default
		g.End = time.Now()
		cancel()
		g.OK = err == nil
		if err != nil {
			g.Err = err.Error()
		} else {
			g.Rev = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				g.Found, g.Val, g.ModRev = true, string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision
			}
		}
		r.mu.Lock()
		r.reads = append(r.reads, g)
		r.mu.Unlock()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// run watches [key, end) from w.from until ctx ends. clientv3 resumes a
// watch whose stream broke by itself; when it gives up instead (the
// channel closes), the watch is made again from the revision after the
// last event seen, as an application using clientv3 does.
func (w *watcher) run(ctx context.Context, cli *clientv3.Client) {
	next := w.from
	first := true
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithRange(w.end), clientv3.WithRev(next)}
		if first {
			opts = append(opts, clientv3.WithCreatedNotify())
		}
		for resp := range cli.Watch(ctx, w.key, opts...) {
			if resp.Created && first {
				first = false
				close(w.created)
			}
			if err := resp.Err(); err != nil {
				w.mu.Lock()
				w.errs = append(w.errs, fmt.Sprintf("at next revision %d: %v", next, err))
				w.mu.Unlock()
				break
			}
			now := time.Now()
			w.mu.Lock()
			for _, e := range resp.Events {
				w.events = append(w.events, event{Rev: e.Kv.ModRevision, Key: string(e.Kv.Key),
					Del: e.Type == mvccpb.DELETE, Val: string(e.Kv.Value), At: now})
				if e.Kv.ModRevision > w.last {
					w.last = e.Kv.ModRevision
				}
				next = e.Kv.ModRevision + 1
			}
			w.mu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		w.restarts++
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (w *watcher) reached(rev int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last >= rev
}

func (r *record) allReached(rev int64) bool {
	for _, w := range r.watchers {
		if !w.reached(rev) {
			return false
		}
	}
	return true
}

// replay reads etcd's history of the prefix from rev from to rev to with a
// watch on the members themselves.
func replay(cli *clientv3.Client, prefix string, from, to int64) ([]event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var evs []event
	if from > to {
		return nil, nil
	}
	for resp := range cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			return evs, err
		}
		for _, e := range resp.Events {
			if e.Kv.ModRevision > to {
				return evs, nil
			}
			evs = append(evs, event{Rev: e.Kv.ModRevision, Key: string(e.Kv.Key),
				Del: e.Type == mvccpb.DELETE, Val: string(e.Kv.Value)})
			if e.Kv.ModRevision == to {
				return evs, nil
			}
		}
	}
	return evs, fmt.Errorf("the watch ended before revision %d: %v", to, ctx.Err())
}

func (r *record) summary() string {
	var acked, failed, reads, readErrs [2]int
	for _, w := range r.writes {
		if w.OK {
			acked[w.Node]++
		} else {
			failed[w.Node]++
		}
	}
	for _, g := range r.reads {
		if g.OK {
			reads[g.Node]++
		} else {
			readErrs[g.Node]++
		}
	}
	s := ""
	for n := 0; n < 2; n++ {
		s += fmt.Sprintf("%s: %d writes acked, %d failed, %d reads, %d failed; ", nodeNames[n],
			acked[n], failed[n], reads[n], readErrs[n])
	}
	restarts := 0
	for _, w := range r.watchers {
		restarts += w.restarts
	}
	return s + fmt.Sprintf("%d watches re-created", restarts)
}
