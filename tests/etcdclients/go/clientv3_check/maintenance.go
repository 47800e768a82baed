// SPDX-License-Identifier: MIT
// Maintenance and Cluster checks: status, members, alarms, hashes, snapshot.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/ioutil"
)

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
		// One member: it leads, and every service names the same cluster.
		if st.Leader != st.Header.MemberId {
			return fmt.Errorf("leader %x, member %x", st.Leader, st.Header.MemberId)
		}
		if st.RaftTerm == 0 || st.RaftIndex == 0 {
			return fmt.Errorf("raft term %d index %d", st.RaftTerm, st.RaftIndex)
		}
		ml, err := cli.MemberList(ctx)
		if err != nil {
			return err
		}
		gr, err := cli.Get(ctx, k("any"))
		if err != nil {
			return err
		}
		if len(ml.Members) != 1 || ml.Members[0].ID != st.Header.MemberId {
			return fmt.Errorf("members %v, status from %x", ml.Members, st.Header.MemberId)
		}
		if ml.Header.ClusterId != st.Header.ClusterId || gr.Header.ClusterId != st.Header.ClusterId ||
			gr.Header.MemberId != st.Header.MemberId || st.Header.ClusterId == 0 {
			return fmt.Errorf("cluster ids: status %x members %x kv %x; member ids: status %x kv %x",
				st.Header.ClusterId, ml.Header.ClusterId, gr.Header.ClusterId, st.Header.MemberId, gr.Header.MemberId)
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

func checkMaintenance() {
	check("maintenance alarms, defragment, hash kv", func(ctx context.Context) error {
		ar, err := cli.AlarmList(ctx)
		if err != nil {
			return fmt.Errorf("alarm list: %v", err)
		}
		if len(ar.Alarms) != 0 {
			return fmt.Errorf("alarms: %v", ar.Alarms)
		}
		if _, err := cli.Defragment(ctx, endp); err != nil {
			return fmt.Errorf("defragment: %v", err)
		}
		pr, err := cli.Put(ctx, k("hash"), "x")
		if err != nil {
			return err
		}
		h1, err := cli.HashKV(ctx, endp, pr.Header.Revision)
		if err != nil {
			return fmt.Errorf("hash kv: %v", err)
		}
		if _, err := cli.Put(ctx, k("hash"), "y"); err != nil {
			return err
		}
		h2, err := cli.HashKV(ctx, endp, pr.Header.Revision)
		if err != nil {
			return fmt.Errorf("hash kv: %v", err)
		}
		if h1.Hash != h2.Hash {
			return fmt.Errorf("hash at revision %d changed with a later write: %x then %x", pr.Header.Revision, h1.Hash, h2.Hash)
		}
		h3, err := cli.HashKV(ctx, endp, 0)
		if err != nil {
			return fmt.Errorf("hash kv: %v", err)
		}
		if h3.Hash == h1.Hash {
			return fmt.Errorf("hash unchanged (%x) by a write", h1.Hash)
		}
		return nil
	})
	check("maintenance snapshot (sha256 trailer)", func(ctx context.Context) error {
		rc, err := cli.Snapshot(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := ioutil.ReadAll(rc)
		if err != nil {
			return fmt.Errorf("after %d bytes: %v", len(b), err)
		}
		// etcdctl snapshot restore checks the digest the server appends.
		if len(b) <= sha256.Size {
			return fmt.Errorf("%d bytes", len(b))
		}
		sum := sha256.Sum256(b[:len(b)-sha256.Size])
		if !bytes.Equal(sum[:], b[len(b)-sha256.Size:]) {
			return fmt.Errorf("%d bytes without a sha256 of the rest at the end", len(b))
		}
		return nil
	})
}
