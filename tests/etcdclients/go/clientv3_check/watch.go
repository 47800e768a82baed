// SPDX-License-Identifier: MIT
// Watch checks: order, replay, prev kv, filters, resume, progress.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

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
	check("watch replays 4001 events of large txns", func(ctx context.Context) error {
		if manyRev == 0 {
			return errors.New("needs the check \"kv range of 2000 keys, paginated at a revision\"")
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wc := cli.Watch(wctx, k("many/"), clientv3.WithPrefix(), clientv3.WithRev(manyRev))
		evs, err := collect(ctx, wc, 4001)
		if err != nil {
			return err
		}
		if len(evs) != 4001 {
			return fmt.Errorf("%d events", len(evs))
		}
		// 20 txns of 100 puts, one put between pages, one delete of all.
		for i, e := range evs {
			n, typ, rev := i%2000, mvccpb.PUT, manyRev+int64(i/100)
			switch {
			case i == 2000:
				n, rev = 0, manyRev+20
			case i > 2000:
				n, typ, rev = i-2001, mvccpb.DELETE, manyRev+21
			}
			if e.Type != typ || string(e.Kv.Key) != k(fmt.Sprintf("many/%04d", n)) || e.Kv.ModRevision != rev {
				return fmt.Errorf("event %d: %s", i, evstr([]*clientv3.Event{e}))
			}
		}
		return quiet(wc, 200*time.Millisecond)
	})
	check("watch with require leader", func(ctx context.Context) error {
		// Kubernetes' watches carry this metadata (their own gRPC stream).
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		wc := cli.Watch(wctx, k("rl"), clientv3.WithCreatedNotify())
		select {
		case wr := <-wc:
			if err := wr.Err(); err != nil || !wr.Created {
				return fmt.Errorf("created %v err %v", wr.Created, err)
			}
		case <-ctx.Done():
			return errors.New("no created response")
		}
		pr, err := cli.Put(ctx, k("rl"), "x")
		if err != nil {
			return err
		}
		evs, err := collect(ctx, wc, 1)
		if err != nil {
			return err
		}
		return want("events", evstr(evs), fmt.Sprintf("PUT rl=x@%d", pr.Header.Revision))
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
	check("watch cancel one of many on a stream", func(ctx context.Context) error {
		// Watches from contexts with the same metadata share one gRPC stream.
		ctxs := make([]context.Context, 3)
		cancels := make([]context.CancelFunc, 3)
		wcs := make([]clientv3.WatchChan, 3)
		for i := range wcs {
			ctxs[i], cancels[i] = context.WithCancel(ctx)
			defer cancels[i]()
			wcs[i] = cli.Watch(ctxs[i], k(fmt.Sprintf("m/%d", i)), clientv3.WithCreatedNotify())
			<-wcs[i]
		}
		cancels[1]()
		select { // the canceled one closes
		case _, ok := <-wcs[1]:
			for ok {
				_, ok = <-wcs[1]
			}
		case <-ctx.Done():
			return errors.New("canceled watch not closed")
		}
		for i := range wcs {
			if _, err := cli.Put(ctx, k(fmt.Sprintf("m/%d", i)), fmt.Sprint(i)); err != nil {
				return err
			}
		}
		for _, i := range []int{0, 2} {
			evs, err := collect(ctx, wcs[i], 1)
			if err != nil {
				return fmt.Errorf("watch %d: %v", i, err)
			}
			if string(evs[0].Kv.Value) != fmt.Sprint(i) {
				return fmt.Errorf("watch %d: %s", i, evstr(evs))
			}
		}
		return nil
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
