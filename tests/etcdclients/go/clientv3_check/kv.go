// SPDX-License-Identifier: MIT
// KV and Txn checks, and the errors etcd answers them with.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
)

// manyRev: the revision of the first of 20 txns of 100 puts each, all
// then one more put and a delete of all ("kv range of 2000 keys, paginated
// at a revision"); watch.go replays them.
var manyRev int64

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
	check("kv range of 2000 keys, paginated at a revision", func(ctx context.Context) error {
		for t := 0; t < 20; t++ {
			var ops []clientv3.Op
			for i := 0; i < 100; i++ {
				ops = append(ops, clientv3.OpPut(k(fmt.Sprintf("many/%04d", t*100+i)), strings.Repeat("v", 100)))
			}
			tr, err := cli.Txn(ctx).Then(ops...).Commit()
			if err != nil {
				return err
			}
			if t == 0 {
				manyRev = tr.Header.Revision
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
		// Pages of 300 at the revision of the first page, as Kubernetes
		// lists: a write between pages changes nothing.
		rev, n, key, end := int64(0), 0, k("many/"), clientv3.GetPrefixRangeEnd(k("many/"))
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(300)}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			page, err := cli.Get(ctx, key, opts...)
			if err != nil {
				return err
			}
			if rev == 0 {
				rev = page.Header.Revision
				if _, err := cli.Put(ctx, k("many/0000"), "changed"); err != nil {
					return err
				}
			}
			for _, kv := range page.Kvs {
				if string(kv.Key) != k(fmt.Sprintf("many/%04d", n)) || string(kv.Value) == "changed" {
					return fmt.Errorf("page item %d: %s=%s", n, kv.Key, kv.Value)
				}
				n++
			}
			if !page.More {
				break
			}
			key = string(page.Kvs[len(page.Kvs)-1].Key) + "\x00"
		}
		if n != 2000 {
			return fmt.Errorf("%d keys in pages", n)
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
	check("txn compare over a prefix", func(ctx context.Context) error {
		// Every key of the range must match (txn/m1, txn/m2 come later).
		if _, err := cli.Put(ctx, k("txn/p/1"), "same"); err != nil {
			return err
		}
		if _, err := cli.Put(ctx, k("txn/p/2"), "same"); err != nil {
			return err
		}
		if err := txn(ctx, clientv3.Compare(clientv3.Value(k("txn/p/")), "=", "same").WithPrefix(), true); err != nil {
			return fmt.Errorf("all equal: %v", err)
		}
		if _, err := cli.Put(ctx, k("txn/p/3"), "other"); err != nil {
			return err
		}
		return txn(ctx, clientv3.Compare(clientv3.Value(k("txn/p/")), "=", "same").WithPrefix(), false)
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
