// SPDX-License-Identifier: MIT
// Drives one etcd-compatible endpoint with etcd's own Go client (clientv3
// and its concurrency package, unmodified) and prints one line per check:
// "ok   NAME" or "FAIL NAME: detail"; exits 1 if any check failed.
//
// usage: clientv3_check [-prefix P] [-timeout D] [-progress-interval D] HOST:PORT
//
// Every key lives under a prefix unique to the run, so the same server can
// be checked twice. The compaction check runs last: it discards history.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
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
	failed  int
	passed  int
)

// check runs fn with a deadline and prints its verdict; a check that hangs
// past the deadline fails instead of hanging the run.
func check(name string, fn func(ctx context.Context) error) {
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

// ---- KV ----

func checkKV() {
	var rev1 int64
	check("kv put/get", func(ctx context.Context) error {
		pr, err := cli.Put(ctx, k("kv/a"), "1")
		if err != nil {
			return err
		}
		rev1 = pr.Header.Revision
		gr, err := cli.Get(ctx, k("kv/a"))
		if err != nil {
			return err
		}
		if len(gr.Kvs) != 1 {
			return fmt.Errorf("%d kvs", len(gr.Kvs))
		}
		kv := gr.Kvs[0]
		if kv.ModRevision != rev1 || kv.CreateRevision != rev1 || kv.Version != 1 {
			return fmt.Errorf("create %d mod %d version %d, put was at %d", kv.CreateRevision, kv.ModRevision, kv.Version, rev1)
		}
		if gr.Header.Revision < rev1 {
			return fmt.Errorf("header revision %d < %d", gr.Header.Revision, rev1)
		}
		return want("value", string(kv.Value), "1")
	})
	check("kv put prev kv", func(ctx context.Context) error {
		pr, err := cli.Put(ctx, k("kv/a"), "2", clientv3.WithPrevKV())
		if err != nil {
			return err
		}
		if pr.PrevKv == nil {
			return errors.New("no prev kv")
		}
		if pr.PrevKv.ModRevision != rev1 {
			return fmt.Errorf("prev mod revision %d want %d", pr.PrevKv.ModRevision, rev1)
		}
		return want("prev", string(pr.PrevKv.Value), "1")
	})
	check("kv get at revision", func(ctx context.Context) error {
		gr, err := cli.Get(ctx, k("kv/a"), clientv3.WithRev(rev1))
		if err != nil {
			return err
		}
		return want("kvs", kvs(gr.Kvs), "kv/a=1")
	})
	check("kv get prefix", func(ctx context.Context) error {
		for _, s := range []string{"b", "c", "d"} {
			if _, err := cli.Put(ctx, k("kv/"+s), s); err != nil {
				return err
			}
		}
		if _, err := cli.Put(ctx, k("kw"), "outside"); err != nil {
			return err
		}
		gr, err := cli.Get(ctx, k("kv/"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if gr.Count != 4 || gr.More {
			return fmt.Errorf("count %d more %v", gr.Count, gr.More)
		}
		return want("kvs", kvs(gr.Kvs), "kv/a=2,kv/b=b,kv/c=c,kv/d=d")
	})
	check("kv get limit", func(ctx context.Context) error {
		gr, err := cli.Get(ctx, k("kv/"), clientv3.WithPrefix(), clientv3.WithLimit(2))
		if err != nil {
			return err
		}
		if gr.Count != 4 || !gr.More {
			return fmt.Errorf("count %d more %v, want 4 true", gr.Count, gr.More)
		}
		return want("kvs", kvs(gr.Kvs), "kv/a=2,kv/b=b")
	})
	check("kv get sort", func(ctx context.Context) error {
		gr, err := cli.Get(ctx, k("kv/"), clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(3))
		if err != nil {
			return err
		}
		if err := want("by key descending", kvs(gr.Kvs), "kv/d=d,kv/c=c,kv/b=b"); err != nil {
			return err
		}
		// kv/a was written first and last: newest modification first.
		gr, err = cli.Get(ctx, k("kv/"), clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend))
		if err != nil {
			return err
		}
		if err := want("by mod revision descending", kvs(gr.Kvs), "kv/d=d,kv/c=c,kv/b=b,kv/a=2"); err != nil {
			return err
		}
		gr, err = cli.Get(ctx, k("kv/"), clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		if err != nil {
			return err
		}
		return want("by create revision ascending", kvs(gr.Kvs), "kv/a=2,kv/b=b,kv/c=c,kv/d=d")
	})
	check("kv get range/from key/mod revision filter", func(ctx context.Context) error {
		gr, err := cli.Get(ctx, k("kv/b"), clientv3.WithRange(k("kv/d")))
		if err != nil {
			return err
		}
		if err := want("range [b, d)", kvs(gr.Kvs), "kv/b=b,kv/c=c"); err != nil {
			return err
		}
		gr, err = cli.Get(ctx, k("kv/c"), clientv3.WithFromKey(), clientv3.WithLimit(3))
		if err != nil {
			return err
		}
		if err := want("from kv/c", kvs(gr.Kvs), "kv/c=c,kv/d=d,kw=outside"); err != nil {
			return err
		}
		gr, err = cli.Get(ctx, k("kv/"), clientv3.WithPrefix(), clientv3.WithMinModRev(rev1+2))
		if err != nil {
			return err
		}
		return want("mod revision >= first put + 2", kvs(gr.Kvs), "kv/b=b,kv/c=c,kv/d=d")
	})
	check("kv get keys/count only", func(ctx context.Context) error {
		gr, err := cli.Get(ctx, k("kv/"), clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return err
		}
		if err := want("keys only", kvs(gr.Kvs), "kv/a=,kv/b=,kv/c=,kv/d="); err != nil {
			return err
		}
		gr, err = cli.Get(ctx, k("kv/"), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if gr.Count != 4 || len(gr.Kvs) != 0 {
			return fmt.Errorf("count only: count %d, %d kvs", gr.Count, len(gr.Kvs))
		}
		return nil
	})
	check("kv 1 MiB value", func(ctx context.Context) error {
		big := strings.Repeat("0123456789abcdef", 1<<16)
		if _, err := cli.Put(ctx, k("big"), big); err != nil {
			return err
		}
		gr, err := cli.Get(ctx, k("big"))
		if err != nil {
			return err
		}
		if len(gr.Kvs) != 1 || string(gr.Kvs[0].Value) != big {
			return errors.New("value read back differs")
		}
		_, err = cli.Delete(ctx, k("big"))
		return err
	})
	check("kv range of 2000 keys", func(ctx context.Context) error {
		for t := 0; t < 20; t++ {
			var ops []clientv3.Op
			for i := 0; i < 100; i++ {
				ops = append(ops, clientv3.OpPut(k(fmt.Sprintf("many/%04d", t*100+i)), strings.Repeat("v", 100)))
			}
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				return err
			}
		}
		gr, err := cli.Get(ctx, k("many/"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if gr.Count != 2000 || len(gr.Kvs) != 2000 || gr.More {
			return fmt.Errorf("count %d, %d kvs, more %v", gr.Count, len(gr.Kvs), gr.More)
		}
		for i, kv := range gr.Kvs {
			if string(kv.Key) != k(fmt.Sprintf("many/%04d", i)) {
				return fmt.Errorf("key %d is %s", i, kv.Key)
			}
		}
		dr, err := cli.Delete(ctx, k("many/"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if dr.Deleted != 2000 {
			return fmt.Errorf("deleted %d", dr.Deleted)
		}
		return nil
	})
	check("kv delete prev kv", func(ctx context.Context) error {
		dr, err := cli.Delete(ctx, k("kv/c"), clientv3.WithPrevKV())
		if err != nil {
			return err
		}
		if dr.Deleted != 1 {
			return fmt.Errorf("deleted %d", dr.Deleted)
		}
		if err := want("prev kvs", kvs(dr.PrevKvs), "kv/c=c"); err != nil {
			return err
		}
		dr, err = cli.Delete(ctx, k("kv/c"))
		if err != nil {
			return err
		}
		if dr.Deleted != 0 {
			return fmt.Errorf("deleting a missing key deleted %d", dr.Deleted)
		}
		return nil
	})
	check("kv delete prefix", func(ctx context.Context) error {
		dr, err := cli.Delete(ctx, k("kv/"), clientv3.WithPrefix(), clientv3.WithPrevKV())
		if err != nil {
			return err
		}
		if dr.Deleted != 3 {
			return fmt.Errorf("deleted %d", dr.Deleted)
		}
		if err := want("prev kvs", kvs(dr.PrevKvs), "kv/a=2,kv/b=b,kv/d=d"); err != nil {
			return err
		}
		gr, err := cli.Get(ctx, k("k"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		return want("left", kvs(gr.Kvs), "kw=outside")
	})
}

// ---- Txn ----

func checkTxn() {
	var modrev int64
	setup := func(ctx context.Context) error {
		if _, err := cli.Put(ctx, k("txn/x"), "one"); err != nil {
			return err
		}
		pr, err := cli.Put(ctx, k("txn/x"), "two")
		if err != nil {
			return err
		}
		modrev = pr.Header.Revision
		return nil
	}
	// txn runs If(cmp) Then(put then=...) Else(get) and checks the branch taken.
	txn := func(ctx context.Context, cmp clientv3.Cmp, wantOK bool) error {
		tr, err := cli.Txn(ctx).If(cmp).
			Then(clientv3.OpPut(k("txn/then"), "yes"), clientv3.OpGet(k("txn/then"))).
			Else(clientv3.OpGet(k("txn/x"))).Commit()
		if err != nil {
			return err
		}
		if tr.Succeeded != wantOK {
			return fmt.Errorf("succeeded %v want %v", tr.Succeeded, wantOK)
		}
		if wantOK {
			if len(tr.Responses) != 2 || tr.Responses[0].GetResponsePut() == nil {
				return fmt.Errorf("then responses: %v", tr.Responses)
			}
			return want("then get", kvs(tr.Responses[1].GetResponseRange().Kvs), "txn/then=yes")
		}
		if len(tr.Responses) != 1 || tr.Responses[0].GetResponseRange() == nil {
			return fmt.Errorf("else responses: %v", tr.Responses)
		}
		return want("else get", kvs(tr.Responses[0].GetResponseRange().Kvs), "txn/x=two")
	}
	check("txn compare value", func(ctx context.Context) error {
		if err := setup(ctx); err != nil {
			return err
		}
		if err := txn(ctx, clientv3.Compare(clientv3.Value(k("txn/x")), "=", "two"), true); err != nil {
			return fmt.Errorf("equal: %v", err)
		}
		if err := txn(ctx, clientv3.Compare(clientv3.Value(k("txn/x")), "=", "one"), false); err != nil {
			return fmt.Errorf("unequal: %v", err)
		}
		return txn(ctx, clientv3.Compare(clientv3.Value(k("txn/x")), ">", "three"), true)
	})
	check("txn compare version", func(ctx context.Context) error {
		if err := txn(ctx, clientv3.Compare(clientv3.Version(k("txn/x")), "=", 2), true); err != nil {
			return fmt.Errorf("version 2: %v", err)
		}
		if err := txn(ctx, clientv3.Compare(clientv3.Version(k("txn/x")), "<", 2), false); err != nil {
			return fmt.Errorf("version < 2: %v", err)
		}
		// A missing key has version 0: the "create if absent" idiom.
		return txn(ctx, clientv3.Compare(clientv3.Version(k("txn/absent")), "=", 0), true)
	})
	check("txn compare mod revision", func(ctx context.Context) error {
		if err := txn(ctx, clientv3.Compare(clientv3.ModRevision(k("txn/x")), "=", modrev), true); err != nil {
			return fmt.Errorf("equal: %v", err)
		}
		return txn(ctx, clientv3.Compare(clientv3.ModRevision(k("txn/x")), "=", modrev-1), false)
	})
	check("txn compare create revision", func(ctx context.Context) error {
		return txn(ctx, clientv3.Compare(clientv3.CreateRevision(k("txn/x")), "=", modrev-1), true)
	})
	check("txn nested", func(ctx context.Context) error {
		inner := clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value(k("txn/x")), "=", "two")},
			[]clientv3.Op{clientv3.OpPut(k("txn/inner"), "in")}, nil)
		tr, err := cli.Txn(ctx).Then(inner, clientv3.OpGet(k("txn/inner"))).Commit()
		if err != nil {
			return err
		}
		if len(tr.Responses) != 2 || tr.Responses[0].GetResponseTxn() == nil {
			return fmt.Errorf("responses: %v", tr.Responses)
		}
		if !tr.Responses[0].GetResponseTxn().Succeeded {
			return errors.New("inner txn did not succeed")
		}
		return want("get after inner put", kvs(tr.Responses[1].GetResponseRange().Kvs), "txn/inner=in")
	})
	check("txn of 129 ops is ErrTooManyOps", func(ctx context.Context) error {
		var ops []clientv3.Op
		for i := 0; i < 129; i++ {
			ops = append(ops, clientv3.OpPut(k(fmt.Sprintf("txn/many/%d", i)), "x"))
		}
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		if err != rpctypes.ErrTooManyOps {
			return fmt.Errorf("got %v, want %v (etcd's default --max-txn-ops is 128)", err, rpctypes.ErrTooManyOps)
		}
		return nil
	})
	check("txn multi-op atomic revision", func(ctx context.Context) error {
		tr, err := cli.Txn(ctx).Then(
			clientv3.OpPut(k("txn/m1"), "a"), clientv3.OpPut(k("txn/m2"), "b"),
			clientv3.OpDelete(k("txn/then"))).Commit()
		if err != nil {
			return err
		}
		gr, err := cli.Get(ctx, k("txn/m"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if len(gr.Kvs) != 2 || gr.Kvs[0].ModRevision != tr.Header.Revision || gr.Kvs[1].ModRevision != tr.Header.Revision {
			return fmt.Errorf("writes of one txn not at its revision %d: %v", tr.Header.Revision, gr.Kvs)
		}
		return nil
	})
}

// ---- Watch ----

// collect reads n events (progress notifications skipped) from wc.
func collect(ctx context.Context, wc clientv3.WatchChan, n int) ([]*clientv3.Event, error) {
	var evs []*clientv3.Event
	for len(evs) < n {
		select {
		case wr, ok := <-wc:
			if !ok {
				return evs, fmt.Errorf("watch closed after %d events", len(evs))
			}
			if err := wr.Err(); err != nil {
				return evs, fmt.Errorf("after %d events: %v", len(evs), err)
			}
			evs = append(evs, wr.Events...)
		case <-ctx.Done():
			return evs, fmt.Errorf("%d of %d events before the deadline", len(evs), n)
		}
	}
	return evs, nil
}

// evstr renders events as TYPE key=value@rev.
func evstr(evs []*clientv3.Event) string {
	var b []string
	for _, e := range evs {
		b = append(b, fmt.Sprintf("%s %s=%s@%d", e.Type, strings.TrimPrefix(string(e.Kv.Key), pfx),
			e.Kv.Value, e.Kv.ModRevision))
	}
	return strings.Join(b, ",")
}

// quiet fails if wc delivers an event within d.
func quiet(wc clientv3.WatchChan, d time.Duration) error {
	select {
	case wr := <-wc:
		if len(wr.Events) > 0 {
			return fmt.Errorf("unexpected events: %s", evstr(wr.Events))
		}
	case <-time.After(d):
	}
	return nil
}

func checkWatch() {
	var revs []int64
	var first int64
	check("watch prefix put/delete in order", func(ctx context.Context) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("w/"), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		select { // created: the watch is in place before the writes
		case wr := <-wc:
			if !wr.Created {
				return fmt.Errorf("first response not created: %+v", wr)
			}
		case <-ctx.Done():
			return errors.New("no created response")
		}
		ops := []func() (int64, error){
			func() (int64, error) { r, err := cli.Put(ctx, k("w/a"), "1"); return rev(r, err) },
			func() (int64, error) { r, err := cli.Put(ctx, k("w/b"), "2"); return rev(r, err) },
			func() (int64, error) { r, err := cli.Put(ctx, k("other"), "x"); return rev(r, err) },
			func() (int64, error) { r, err := cli.Put(ctx, k("w/a"), "3"); return rev(r, err) },
			func() (int64, error) { r, err := cli.Delete(ctx, k("w/b")); return drev(r, err) },
		}
		for _, op := range ops {
			r, err := op()
			if err != nil {
				return err
			}
			revs = append(revs, r)
		}
		first = revs[0]
		evs, err := collect(ctx, wc, 4)
		if err != nil {
			return err
		}
		exp := fmt.Sprintf("PUT w/a=1@%d,PUT w/b=2@%d,PUT w/a=3@%d,DELETE w/b=@%d", revs[0], revs[1], revs[3], revs[4])
		if err := want("events", evstr(evs), exp); err != nil {
			return err
		}
		if evs[2].Kv.Version != 2 || evs[2].Kv.CreateRevision != revs[0] || evs[2].IsModify() != true {
			return fmt.Errorf("third event: version %d create %d", evs[2].Kv.Version, evs[2].Kv.CreateRevision)
		}
		return quiet(wc, 200*time.Millisecond)
	})
	check("watch events of one txn", func(ctx context.Context) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("wt/"), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		<-wc
		tr, err := cli.Txn(ctx).Then(clientv3.OpPut(k("wt/b"), "1"), clientv3.OpPut(k("elsewhere"), "2"),
			clientv3.OpPut(k("wt/a"), "3")).Commit()
		if err != nil {
			return err
		}
		// One revision for all, in the txn's order.
		r := tr.Header.Revision
		evs, err := collect(ctx, wc, 2)
		if err != nil {
			return err
		}
		if err := want("events", evstr(evs), fmt.Sprintf("PUT wt/b=1@%d,PUT wt/a=3@%d", r, r)); err != nil {
			return err
		}
		return quiet(wc, 200*time.Millisecond)
	})
	check("watch with rev replays history", func(ctx context.Context) error {
		if first == 0 {
			return errors.New("needs the previous check")
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("w/"), clientv3.WithPrefix(), clientv3.WithRev(revs[1]))
		evs, err := collect(ctx, wc, 3)
		if err != nil {
			return err
		}
		exp := fmt.Sprintf("PUT w/b=2@%d,PUT w/a=3@%d,DELETE w/b=@%d", revs[1], revs[3], revs[4])
		if err := want("events", evstr(evs), exp); err != nil {
			return err
		}
		return quiet(wc, 200*time.Millisecond)
	})
	check("watch prev kv", func(ctx context.Context) error {
		if first == 0 {
			return errors.New("needs the previous check")
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("w/a"), clientv3.WithRev(first), clientv3.WithPrevKV())
		evs, err := collect(ctx, wc, 2)
		if err != nil {
			return err
		}
		if evs[0].PrevKv != nil {
			return fmt.Errorf("creation has a prev kv: %v", evs[0].PrevKv)
		}
		if evs[1].PrevKv == nil {
			return errors.New("update has no prev kv")
		}
		if string(evs[1].PrevKv.Value) != "1" || evs[1].PrevKv.ModRevision != first {
			return fmt.Errorf("prev kv %s@%d want 1@%d", evs[1].PrevKv.Value, evs[1].PrevKv.ModRevision, first)
		}
		// A delete's prev kv carries the deleted value.
		wc2 := cli.Watch(wctx, k("w/b"), clientv3.WithRev(revs[4]), clientv3.WithPrevKV())
		evs, err = collect(ctx, wc2, 1)
		if err != nil {
			return err
		}
		if evs[0].Type != mvccpb.DELETE || evs[0].PrevKv == nil || string(evs[0].PrevKv.Value) != "2" {
			return fmt.Errorf("delete event %s prev %v", evstr(evs), evs[0].PrevKv)
		}
		return nil
	})
	check("watch filter put", func(ctx context.Context) error {
		if first == 0 {
			return errors.New("needs the previous check")
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("w/"), clientv3.WithPrefix(), clientv3.WithRev(first), clientv3.WithFilterPut())
		evs, err := collect(ctx, wc, 1)
		if err != nil {
			return err
		}
		return want("events", evstr(evs), fmt.Sprintf("DELETE w/b=@%d", revs[4]))
	})
	check("watch resume from saved revision", func(ctx context.Context) error {
		const total = 30
		wctx, cancel := context.WithCancel(ctx)
		wc := cli.Watch(wctx, k("r/"), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		<-wc
		var mu sync.Mutex
		var written []string
		werr := make(chan error, 1)
		go func() { // a writer that keeps going while the watch is down
			for i := 0; i < total; i++ {
				r, err := cli.Put(ctx, k(fmt.Sprintf("r/%d", i%3)), fmt.Sprint(i))
				if err != nil {
					werr <- err
					return
				}
				mu.Lock()
				written = append(written, fmt.Sprintf("PUT r/%d=%d@%d", i%3, i, r.Header.Revision))
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
			werr <- nil
		}()
		got, err := collect(ctx, wc, 5)
		cancel()
		if err != nil {
			return err
		}
		// Whatever the first watch delivered past the fifth event is seen too.
	drain:
		for {
			select {
			case wr, ok := <-wc:
				if !ok {
					break drain
				}
				got = append(got, wr.Events...)
			case <-time.After(2 * time.Second):
				return errors.New("watch channel not closed after cancel")
			}
		}
		saved := got[len(got)-1].Kv.ModRevision
		n := len(got)
		if err := <-werr; err != nil {
			return err
		}
		wc = cli.Watch(ctx, k("r/"), clientv3.WithPrefix(), clientv3.WithRev(saved+1))
		rest, err := collect(ctx, wc, total-n)
		if err != nil {
			return fmt.Errorf("resumed at %d after %d events: %v", saved+1, n, err)
		}
		got = append(got, rest...)
		if err := want("events", evstr(got), strings.Join(written, ",")); err != nil {
			return err
		}
		return quiet(wc, 200*time.Millisecond)
	})
	if notify > 0 {
		check("watch progress notify (periodic)", func(ctx context.Context) error {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			wc := cli.Watch(wctx, k("idle/"), clientv3.WithPrefix(), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
			<-wc
			pr, err := cli.Put(ctx, k("unwatched"), "y")
			if err != nil {
				return err
			}
			// An idle watch hears from the server within a few intervals.
			limit := time.After(3*notify + time.Second)
			for {
				select {
				case wr, ok := <-wc:
					if !ok {
						return errors.New("watch closed")
					}
					if err := wr.Err(); err != nil {
						return err
					}
					if !wr.IsProgressNotify() {
						return fmt.Errorf("unexpected response %+v", wr)
					}
					if wr.Header.Revision < pr.Header.Revision {
						return fmt.Errorf("progress at revision %d, before the last write %d", wr.Header.Revision, pr.Header.Revision)
					}
					return nil
				case <-limit:
					return fmt.Errorf("no progress notification within %v", 3*notify+time.Second)
				}
			}
		})
	}
	check("watch progress notify (request progress)", func(ctx context.Context) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("p/"), clientv3.WithPrefix(), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
		<-wc
		pr, err := cli.Put(ctx, k("unwatched"), "x")
		if err != nil {
			return err
		}
		if err := cli.RequestProgress(wctx); err != nil {
			return err
		}
		for {
			select {
			case wr, ok := <-wc:
				if !ok {
					return errors.New("watch closed")
				}
				if err := wr.Err(); err != nil {
					return err
				}
				if len(wr.Events) > 0 {
					return fmt.Errorf("unexpected events %s", evstr(wr.Events))
				}
				if !wr.IsProgressNotify() {
					continue
				}
				if wr.Header.Revision < pr.Header.Revision {
					return fmt.Errorf("progress at revision %d, before the last write %d", wr.Header.Revision, pr.Header.Revision)
				}
				return nil
			case <-ctx.Done():
				return errors.New("no progress notification")
			}
		}
	})
}

func rev(r *clientv3.PutResponse, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.Header.Revision, nil
}

func drev(r *clientv3.DeleteResponse, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	if r.Deleted != 1 {
		return 0, fmt.Errorf("deleted %d", r.Deleted)
	}
	return r.Header.Revision, nil
}

// ---- Lease ----

func checkLease() {
	var id clientv3.LeaseID
	check("lease grant", func(ctx context.Context) error {
		gr, err := cli.Grant(ctx, 30)
		if err != nil {
			return err
		}
		if gr.ID == 0 || gr.TTL != 30 {
			return fmt.Errorf("id %x ttl %d", gr.ID, gr.TTL)
		}
		id = gr.ID
		return nil
	})
	check("lease keepalive channel", func(ctx context.Context) error {
		gr, err := cli.Grant(ctx, 5)
		if err != nil {
			return err
		}
		kctx, cancel := context.WithCancel(ctx)
		ch, err := cli.KeepAlive(kctx, gr.ID)
		if err != nil {
			cancel()
			return err
		}
		select {
		case r, ok := <-ch:
			if !ok || r == nil {
				cancel()
				return errors.New("keepalive channel closed")
			}
			if r.ID != gr.ID || r.TTL <= 0 || r.TTL > 5 {
				cancel()
				return fmt.Errorf("response id %x ttl %d", r.ID, r.TTL)
			}
		case <-ctx.Done():
			cancel()
			return errors.New("no keepalive response")
		}
		cancel()
		_, err = cli.Revoke(ctx, gr.ID)
		return err
	})
	check("lease keepalive keeps a key past its ttl", func(ctx context.Context) error {
		gr, err := cli.Grant(ctx, 2)
		if err != nil {
			return err
		}
		if _, err := cli.Put(ctx, k("lease/kept"), "x", clientv3.WithLease(gr.ID)); err != nil {
			return err
		}
		kctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := cli.KeepAlive(kctx, gr.ID)
		if err != nil {
			return err
		}
		n := 0
		end := time.After(3500 * time.Millisecond)
	wait:
		for {
			select {
			case r, ok := <-ch:
				if !ok {
					return fmt.Errorf("keepalive channel closed after %d responses", n)
				}
				if r.TTL != 2 {
					return fmt.Errorf("keepalive response ttl %d", r.TTL)
				}
				n++
			case <-end:
				break wait
			}
		}
		if n < 3 {
			return fmt.Errorf("%d keepalive responses in 3.5 s for a 2 s lease", n)
		}
		r, err := cli.Get(ctx, k("lease/kept"))
		if err != nil {
			return err
		}
		if len(r.Kvs) != 1 {
			return errors.New("key gone though its lease was kept alive")
		}
		cancel()
		_, err = cli.Revoke(ctx, gr.ID)
		return err
	})
	check("lease keepalive once", func(ctx context.Context) error {
		if id == 0 {
			return errors.New("no lease")
		}
		r, err := cli.KeepAliveOnce(ctx, id)
		if err != nil {
			return err
		}
		if r.ID != id || r.TTL != 30 {
			return fmt.Errorf("id %x ttl %d", r.ID, r.TTL)
		}
		return nil
	})
	check("lease time to live attached keys", func(ctx context.Context) error {
		if id == 0 {
			return errors.New("no lease")
		}
		for _, s := range []string{"a", "b"} {
			if _, err := cli.Put(ctx, k("lease/"+s), s, clientv3.WithLease(id)); err != nil {
				return err
			}
		}
		gr, err := cli.Get(ctx, k("lease/a"))
		if err != nil {
			return err
		}
		if len(gr.Kvs) != 1 || clientv3.LeaseID(gr.Kvs[0].Lease) != id {
			return fmt.Errorf("key's lease: %v", gr.Kvs)
		}
		tr, err := cli.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
		if err != nil {
			return err
		}
		if tr.ID != id || tr.GrantedTTL != 30 || tr.TTL <= 0 || tr.TTL > 30 {
			return fmt.Errorf("id %x granted %d ttl %d", tr.ID, tr.GrantedTTL, tr.TTL)
		}
		var keys []string
		for _, key := range tr.Keys {
			keys = append(keys, strings.TrimPrefix(string(key), pfx))
		}
		if len(keys) == 2 && keys[0] > keys[1] {
			keys[0], keys[1] = keys[1], keys[0]
		}
		return want("keys", strings.Join(keys, ","), "lease/a,lease/b")
	})
	check("lease leases", func(ctx context.Context) error {
		if id == 0 {
			return errors.New("no lease")
		}
		lr, err := cli.Leases(ctx)
		if err != nil {
			return err
		}
		for _, l := range lr.Leases {
			if l.ID == id {
				return nil
			}
		}
		return fmt.Errorf("%x not among %v", id, lr.Leases)
	})
	check("lease revoke deletes keys", func(ctx context.Context) error {
		if id == 0 {
			return errors.New("no lease")
		}
		wc := cli.Watch(ctx, k("lease/"), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		<-wc
		rr, err := cli.Revoke(ctx, id)
		if err != nil {
			return err
		}
		gr, err := cli.Get(ctx, k("lease/"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if len(gr.Kvs) != 0 {
			return fmt.Errorf("keys left: %s", kvs(gr.Kvs))
		}
		evs, err := collect(ctx, wc, 2)
		if err != nil {
			return fmt.Errorf("watching the revoke: %v", err)
		}
		for _, e := range evs {
			if e.Type != mvccpb.DELETE || e.Kv.ModRevision != rr.Header.Revision {
				return fmt.Errorf("events %s, revoke at %d", evstr(evs), rr.Header.Revision)
			}
		}
		tr, err := cli.TimeToLive(ctx, id)
		if err != nil {
			return err
		}
		if tr.TTL != -1 {
			return fmt.Errorf("revoked lease has ttl %d", tr.TTL)
		}
		_, err = cli.KeepAliveOnce(ctx, id)
		if err != rpctypes.ErrLeaseNotFound {
			return fmt.Errorf("keepalive of a revoked lease: %v, want %v", err, rpctypes.ErrLeaseNotFound)
		}
		return nil
	})
	check("lease expiry deletes keys", func(ctx context.Context) error {
		gr, err := cli.Grant(ctx, 2)
		if err != nil {
			return err
		}
		if _, err := cli.Put(ctx, k("lease/short"), "x", clientv3.WithLease(gr.ID)); err != nil {
			return err
		}
		for {
			r, err := cli.Get(ctx, k("lease/short"))
			if err != nil {
				return err
			}
			if len(r.Kvs) == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return errors.New("key outlived its lease")
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// ---- concurrency ----

func checkConcurrency() {
	check("concurrency mutex", func(ctx context.Context) error {
		s1, err := concurrency.NewSession(cli, concurrency.WithTTL(10), concurrency.WithContext(ctx))
		if err != nil {
			return err
		}
		defer s1.Close()
		s2, err := concurrency.NewSession(cli, concurrency.WithTTL(10), concurrency.WithContext(ctx))
		if err != nil {
			return err
		}
		defer s2.Close()
		m1 := concurrency.NewMutex(s1, k("lock"))
		m2 := concurrency.NewMutex(s2, k("lock"))
		if err := m1.Lock(ctx); err != nil {
			return fmt.Errorf("first lock: %v", err)
		}
		locked := make(chan error, 1)
		go func() { locked <- m2.Lock(ctx) }()
		select {
		case err := <-locked:
			return fmt.Errorf("second lock returned (%v) while the first holds it", err)
		case <-time.After(500 * time.Millisecond):
		}
		if err := m1.Unlock(ctx); err != nil {
			return fmt.Errorf("first unlock: %v", err)
		}
		select {
		case err := <-locked:
			if err != nil {
				return fmt.Errorf("second lock: %v", err)
			}
		case <-ctx.Done():
			return errors.New("second lock still blocked after the first unlock")
		}
		return m2.Unlock(ctx)
	})
	check("concurrency election", func(ctx context.Context) error {
		s1, err := concurrency.NewSession(cli, concurrency.WithTTL(10), concurrency.WithContext(ctx))
		if err != nil {
			return err
		}
		defer s1.Close()
		s2, err := concurrency.NewSession(cli, concurrency.WithTTL(10), concurrency.WithContext(ctx))
		if err != nil {
			return err
		}
		defer s2.Close()
		e1 := concurrency.NewElection(s1, k("elect"))
		e2 := concurrency.NewElection(s2, k("elect"))
		if err := e1.Campaign(ctx, "alice"); err != nil {
			return fmt.Errorf("campaign: %v", err)
		}
		lr, err := e1.Leader(ctx)
		if err != nil {
			return fmt.Errorf("leader: %v", err)
		}
		if err := want("leader", kvs(lr.Kvs)[strings.Index(kvs(lr.Kvs), "=")+1:], "alice"); err != nil {
			return err
		}
		octx, ocancel := context.WithCancel(ctx)
		defer ocancel()
		obs := concurrency.NewElection(s2, k("elect")).Observe(octx)
		next := func() (string, error) {
			select {
			case r, ok := <-obs:
				if !ok || len(r.Kvs) == 0 {
					return "", errors.New("observe channel closed")
				}
				return string(r.Kvs[0].Value), nil
			case <-ctx.Done():
				return "", errors.New("observe: nothing before the deadline")
			}
		}
		v, err := next()
		if err != nil {
			return err
		}
		if err := want("observed", v, "alice"); err != nil {
			return err
		}
		won := make(chan error, 1)
		go func() { won <- e2.Campaign(ctx, "bob") }()
		select {
		case err := <-won:
			return fmt.Errorf("second campaign returned (%v) while the first leads", err)
		case <-time.After(500 * time.Millisecond):
		}
		if err := e1.Resign(ctx); err != nil {
			return fmt.Errorf("resign: %v", err)
		}
		select {
		case err := <-won:
			if err != nil {
				return fmt.Errorf("second campaign: %v", err)
			}
		case <-ctx.Done():
			return errors.New("second campaign still blocked after the resign")
		}
		v, err = next()
		if err != nil {
			return err
		}
		if err := want("observed after resign", v, "bob"); err != nil {
			return err
		}
		lr, err = e1.Leader(ctx)
		if err != nil {
			return err
		}
		if len(lr.Kvs) != 1 || string(lr.Kvs[0].Value) != "bob" {
			return fmt.Errorf("leader after resign: %s", kvs(lr.Kvs))
		}
		return e2.Resign(ctx)
	})
}

// ---- Maintenance, Cluster, errors ----

func checkCluster() {
	check("maintenance status", func(ctx context.Context) error {
		st, err := cli.Status(ctx, endp)
		if err != nil {
			return err
		}
		if st.Version == "" || st.Header == nil || st.Header.MemberId == 0 || st.Leader == 0 || st.DbSize <= 0 {
			return fmt.Errorf("status %+v", st)
		}
		if st.Header.Revision <= 1 {
			return fmt.Errorf("status revision %d after writes", st.Header.Revision)
		}
		return nil
	})
	check("cluster member list", func(ctx context.Context) error {
		ml, err := cli.MemberList(ctx)
		if err != nil {
			return err
		}
		if len(ml.Members) < 1 {
			return errors.New("no members")
		}
		for _, m := range ml.Members {
			if m.ID == 0 || len(m.ClientURLs) == 0 {
				return fmt.Errorf("member %+v", m)
			}
		}
		return nil
	})
}

func checkCompacted() {
	check("get at compacted revision is ErrCompacted", func(ctx context.Context) error {
		pr, err := cli.Put(ctx, k("c"), "1")
		if err != nil {
			return err
		}
		old := pr.Header.Revision
		pr, err = cli.Put(ctx, k("c"), "2")
		if err != nil {
			return err
		}
		if _, err := cli.Compact(ctx, pr.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
			return fmt.Errorf("compact: %v", err)
		}
		_, err = cli.Get(ctx, k("c"), clientv3.WithRev(old))
		if err != rpctypes.ErrCompacted {
			return fmt.Errorf("got %v, want %v", err, rpctypes.ErrCompacted)
		}
		gr, err := cli.Get(ctx, k("c"), clientv3.WithRev(pr.Header.Revision))
		if err != nil {
			return fmt.Errorf("at the compaction revision: %v", err)
		}
		if err := want("at the compaction revision", kvs(gr.Kvs), "c=2"); err != nil {
			return err
		}
		_, err = cli.Compact(ctx, old)
		if err != rpctypes.ErrCompacted {
			return fmt.Errorf("compacting again below: got %v, want %v", err, rpctypes.ErrCompacted)
		}
		return nil
	})
	check("watch at compacted revision is canceled", func(ctx context.Context) error {
		wc := cli.Watch(ctx, k("c"), clientv3.WithRev(1))
		select {
		case wr, ok := <-wc:
			if !ok {
				return errors.New("closed without a response")
			}
			if wr.CompactRevision == 0 || !wr.Canceled || wr.Err() != rpctypes.ErrCompacted {
				return fmt.Errorf("compact revision %d canceled %v err %v", wr.CompactRevision, wr.Canceled, wr.Err())
			}
			return nil
		case <-ctx.Done():
			return errors.New("no response")
		}
	})
	check("future revision is ErrFutureRev", func(ctx context.Context) error {
		_, err := cli.Get(ctx, k("c"), clientv3.WithRev(1<<40))
		if err != rpctypes.ErrFutureRev {
			return fmt.Errorf("got %v, want %v", err, rpctypes.ErrFutureRev)
		}
		return nil
	})
}

func checkErrors() {
	check("empty key is ErrEmptyKey", func(ctx context.Context) error {
		_, err := cli.Put(ctx, "", "x")
		if err != rpctypes.ErrEmptyKey {
			return fmt.Errorf("got %v, want %v", err, rpctypes.ErrEmptyKey)
		}
		return nil
	})
	check("put with unknown lease is ErrLeaseNotFound", func(ctx context.Context) error {
		_, err := cli.Put(ctx, k("nolease"), "x", clientv3.WithLease(0x7eadbeef))
		if err != rpctypes.ErrLeaseNotFound {
			return fmt.Errorf("got %v, want %v", err, rpctypes.ErrLeaseNotFound)
		}
		return nil
	})
	check("txn writing a key twice is ErrDuplicateKey", func(ctx context.Context) error {
		_, err := cli.Txn(ctx).Then(clientv3.OpPut(k("dup"), "1"), clientv3.OpPut(k("dup"), "2")).Commit()
		if err != rpctypes.ErrDuplicateKey {
			return fmt.Errorf("got %v, want %v", err, rpctypes.ErrDuplicateKey)
		}
		return nil
	})
}

func main() {
	flag.StringVar(&pfx, "prefix", "", "key prefix (default: unique to the run)")
	flag.DurationVar(&timeout, "timeout", 10*time.Second, "deadline of each check")
	flag.DurationVar(&notify, "progress-interval", 0,
		"the server's watch progress interval; 0: no check of periodic progress notifications")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: clientv3_check [-prefix P] [-timeout D] [-progress-interval D] HOST:PORT")
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
		// The expected errors (compacted, future revision) would each log a
		// retry warning; only errors reach stderr.
		LogConfig: &zap.Config{
			Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
			Encoding:         "console",
			EncoderConfig:    zap.NewDevelopmentEncoderConfig(),
			OutputPaths:      []string{"stderr"},
			ErrorOutputPaths: []string{"stderr"},
		},
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
	checkCluster()
	checkErrors()
	checkCompacted()

	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
