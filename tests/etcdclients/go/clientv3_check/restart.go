// SPDX-License-Identifier: MIT
// A server restarted under an open client (-restart): clientv3 reconnects
// by itself, re-creates its watches from the revision after the last event
// seen, keeps its lease (a short one: 5 s) alive, and the data is still
// there. A restart command that prints "stopped in N ms" has the stop
// checked too: a server must end its streams that never end by themselves
// (a watch, a lease keepalive) with a status clientv3 retries, not hold
// its shutdown for them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func checkRestart() {
	// A lease kept alive across the restart, checked after it.
	var lease clientv3.LeaseID
	var kch <-chan *clientv3.LeaseKeepAliveResponse
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	restarted := false
	stopMs := -1
	var afterRev int64
	checkFor("restart: watch resumes, data kept", 30*time.Second, func(ctx context.Context) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		lg, err := cli.Grant(ctx, 5)
		if err != nil {
			return err
		}
		lease = lg.ID
		if kch, err = cli.KeepAlive(kctx, lease); err != nil {
			return err
		}
		wc := cli.Watch(wctx, k("rs/"), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		<-wc
		pr, err := cli.Put(ctx, k("rs/a"), "before")
		if err != nil {
			return err
		}
		evs, err := collect(ctx, wc, 1)
		if err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, "sh", "-c", restart).CombinedOutput()
		if err != nil {
			return fmt.Errorf("restart command: %v: %s", err, strings.TrimSpace(string(out)))
		}
		restarted = true
		for _, line := range strings.Split(string(out), "\n") {
			fmt.Sscanf(line, "stopped in %d ms", &stopMs)
		}
		// A put may meet the connection still down; it is not retried for us.
		var after int64
		for after == 0 {
			r, err := cli.Put(ctx, k("rs/b"), "after")
			if err == nil {
				after = r.Header.Revision
				afterRev = after
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no put after the restart: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
		}
		more, err := collect(ctx, wc, 1)
		if err != nil {
			return fmt.Errorf("the watch after the restart: %v", err)
		}
		evs = append(evs, more...)
		exp := fmt.Sprintf("PUT rs/a=before@%d,PUT rs/b=after@%d", pr.Header.Revision, after)
		if err := want("events", evstr(evs), exp); err != nil {
			return err
		}
		if after != pr.Header.Revision+1 {
			return fmt.Errorf("revision %d after the restart, %d before it", after, pr.Header.Revision)
		}
		gr, err := cli.Get(ctx, k("rs/"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if err := want("data", kvs(gr.Kvs), "rs/a=before,rs/b=after"); err != nil {
			return err
		}
		return quiet(wc, 200*time.Millisecond)
	})
	checkFor("restart: lease keepalive resumes", 15*time.Second, func(ctx context.Context) error {
		if !restarted || afterRev == 0 {
			return errors.New("no restart, or no write after it")
		}
		// Responses from before the restart may still be queued: wait for
		// one whose header is at least the first write after it.
		for {
			select {
			case r, ok := <-kch:
				if !ok {
					return errors.New("keepalive channel closed")
				}
				if r.Revision < afterRev {
					continue
				}
			case <-ctx.Done():
				return errors.New("no keepalive answered after the restart")
			}
			break
		}
		tr, err := cli.TimeToLive(ctx, lease)
		if err != nil {
			return err
		}
		if tr.TTL <= 0 {
			return fmt.Errorf("lease ttl %d after the restart", tr.TTL)
		}
		_, err = cli.Revoke(ctx, lease)
		return err
	})
	if stopMs >= 0 {
		check("restart: stopped within 1 s of SIGTERM, clients connected", func(ctx context.Context) error {
			if stopMs > 1000 {
				return fmt.Errorf("stopped in %d ms (a watch and a lease keepalive open)", stopMs)
			}
			return nil
		})
	}
}
