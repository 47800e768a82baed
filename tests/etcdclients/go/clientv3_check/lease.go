// SPDX-License-Identifier: MIT
// Lease checks: grant, keepalive (stream and once), time to live, revoke, expiry.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

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
				break
			}
			select {
			case <-ctx.Done():
				return errors.New("key outlived its lease")
			case <-time.After(100 * time.Millisecond):
			}
		}
		// An expired lease is gone as a revoked one is.
		if _, err := cli.KeepAliveOnce(ctx, gr.ID); err != rpctypes.ErrLeaseNotFound {
			return fmt.Errorf("keepalive of an expired lease: got %v, want %v", err, rpctypes.ErrLeaseNotFound)
		}
		return nil
	})
	check("kv put ignore value/lease", func(ctx context.Context) error {
		gr, err := cli.Grant(ctx, 30)
		if err != nil {
			return err
		}
		defer cli.Revoke(context.Background(), gr.ID)
		if _, err := cli.Put(ctx, k("ign"), "kept", clientv3.WithLease(gr.ID)); err != nil {
			return err
		}
		if _, err := cli.Put(ctx, k("ign"), "new", clientv3.WithIgnoreLease()); err != nil {
			return fmt.Errorf("ignore lease: %v", err)
		}
		r, err := cli.Get(ctx, k("ign"))
		if err != nil {
			return err
		}
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "new" || clientv3.LeaseID(r.Kvs[0].Lease) != gr.ID {
			return fmt.Errorf("after ignore lease: %v", r.Kvs)
		}
		// Without WithLease the put detaches the key, value ignored or not.
		if _, err := cli.Put(ctx, k("ign"), "", clientv3.WithIgnoreValue()); err != nil {
			return fmt.Errorf("ignore value: %v", err)
		}
		r, err = cli.Get(ctx, k("ign"))
		if err != nil {
			return err
		}
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "new" || r.Kvs[0].Version != 3 || r.Kvs[0].Lease != 0 {
			return fmt.Errorf("after ignore value: %v", r.Kvs)
		}
		if _, err := cli.Put(ctx, k("ign/missing"), "", clientv3.WithIgnoreValue()); err != rpctypes.ErrKeyNotFound {
			return fmt.Errorf("ignore value of a missing key: got %v, want %v", err, rpctypes.ErrKeyNotFound)
		}
		return nil
	})
}
