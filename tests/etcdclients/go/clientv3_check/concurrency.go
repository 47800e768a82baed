// SPDX-License-Identifier: MIT
// The concurrency package's checks: Mutex, Election, STM.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

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

// checkSTM runs n concurrent STM transfers of 1 between two accounts,
// each retried on conflict; the sum must hold and every transfer count.
func checkSTM() {
	check("concurrency stm (serializable snapshot)", func(ctx context.Context) error {
		if _, err := cli.Put(ctx, k("stm/a"), "100"); err != nil {
			return err
		}
		if _, err := cli.Put(ctx, k("stm/b"), "0"); err != nil {
			return err
		}
		const n = 10
		errc := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				_, err := concurrency.NewSTM(cli, func(s concurrency.STM) error {
					var a, b int
					fmt.Sscan(s.Get(k("stm/a")), &a)
					fmt.Sscan(s.Get(k("stm/b")), &b)
					s.Put(k("stm/a"), fmt.Sprint(a-1))
					s.Put(k("stm/b"), fmt.Sprint(b+1))
					return nil
				}, concurrency.WithAbortContext(ctx))
				errc <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errc; err != nil {
				return err
			}
		}
		gr, err := cli.Get(ctx, k("stm/"), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		return want("accounts", kvs(gr.Kvs), fmt.Sprintf("stm/a=%d,stm/b=%d", 100-n, n))
	})
}
