// SPDX-License-Identifier: MIT
// Auth checks: the server as it starts (authentication off), and with -auth users, roles and authentication on.
package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

// authClient dials endp as user; the caller closes it.
func authClient(user, pw string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints: []string{endp}, DialTimeout: 5 * time.Second, Username: user, Password: pw,
		DialOptions: []grpc.DialOption{grpc.WithBlock()}, LogConfig: logConfig(),
	})
}

// checkAuthOff: a server with authentication off, as both start.
func checkAuthOff() {
	check("auth off: empty lists, no enable without root", func(ctx context.Context) error {
		ul, err := cli.UserList(ctx)
		if err != nil {
			return fmt.Errorf("user list: %v", err)
		}
		rl, err := cli.RoleList(ctx)
		if err != nil {
			return fmt.Errorf("role list: %v", err)
		}
		if len(ul.Users) != 0 || len(rl.Roles) != 0 {
			return fmt.Errorf("users %v roles %v", ul.Users, rl.Roles)
		}
		if _, err := cli.UserGet(ctx, "nobody"); err != rpctypes.ErrUserNotFound {
			return fmt.Errorf("user get: got %v, want %v", err, rpctypes.ErrUserNotFound)
		}
		if _, err := cli.AuthEnable(ctx); err != rpctypes.ErrRootUserNotExist {
			return fmt.Errorf("auth enable: got %v, want %v", err, rpctypes.ErrRootUserNotExist)
		}
		if _, err := cli.AuthDisable(ctx); err != nil {
			return fmt.Errorf("auth disable: %v", err)
		}
		return nil
	})
	check("auth off: a client with credentials still works", func(ctx context.Context) error {
		c, err := authClient("someone", "pw")
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Put(ctx, k("cred"), "x"); err != nil {
			return err
		}
		gr, err := c.Get(ctx, k("cred"))
		if err != nil {
			return err
		}
		return want("get", kvs(gr.Kvs), "cred=x")
	})
}

// checkAuth (-auth) adds a user and a role, turns authentication on and off
// again: last, so that a server that fails to turn it off fails nothing else.
func checkAuth() {
	role, user := strings.Trim(pfx, "/")+"-readers", strings.Trim(pfx, "/")+"-reader"
	role = strings.ReplaceAll(role, "/", "-")
	user = strings.ReplaceAll(user, "/", "-")
	check("auth users and roles", func(ctx context.Context) error {
		if _, err := cli.RoleAdd(ctx, role); err != nil {
			return fmt.Errorf("role add: %v", err)
		}
		if _, err := cli.RoleGrantPermission(ctx, role, k("auth/"), clientv3.GetPrefixRangeEnd(k("auth/")),
			clientv3.PermissionType(clientv3.PermRead)); err != nil {
			return fmt.Errorf("grant permission: %v", err)
		}
		if _, err := cli.UserAdd(ctx, user, "secret"); err != nil {
			return fmt.Errorf("user add: %v", err)
		}
		if _, err := cli.UserGrantRole(ctx, user, role); err != nil {
			return fmt.Errorf("grant role: %v", err)
		}
		ug, err := cli.UserGet(ctx, user)
		if err != nil {
			return fmt.Errorf("user get: %v", err)
		}
		if err := want("user's roles", strings.Join(ug.Roles, ","), role); err != nil {
			return err
		}
		rg, err := cli.RoleGet(ctx, role)
		if err != nil {
			return fmt.Errorf("role get: %v", err)
		}
		if len(rg.Perm) != 1 || string(rg.Perm[0].Key) != k("auth/") || rg.Perm[0].PermType != clientv3.PermRead {
			return fmt.Errorf("role's permissions: %v", rg.Perm)
		}
		ul, err := cli.UserList(ctx)
		if err != nil {
			return fmt.Errorf("user list: %v", err)
		}
		if !strings.Contains(","+strings.Join(ul.Users, ",")+",", ","+user+",") {
			return fmt.Errorf("%s not in user list %v", user, ul.Users)
		}
		_, err = cli.UserAdd(ctx, user, "again")
		if err != rpctypes.ErrUserAlreadyExist {
			return fmt.Errorf("adding the user twice: got %v, want %v", err, rpctypes.ErrUserAlreadyExist)
		}
		return nil
	})
	check("auth enable, permissions, disable", func(ctx context.Context) error {
		if _, err := cli.Put(ctx, k("auth/x"), "1"); err != nil {
			return err
		}
		if _, err := cli.UserAdd(ctx, "root", "rootpw"); err != nil && err != rpctypes.ErrUserAlreadyExist {
			return fmt.Errorf("user add root: %v", err)
		}
		if _, err := cli.RoleAdd(ctx, "root"); err != nil && err != rpctypes.ErrRoleAlreadyExist {
			return fmt.Errorf("role add root: %v", err)
		}
		if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
			return fmt.Errorf("grant root: %v", err)
		}
		if _, err := cli.AuthEnable(ctx); err != nil {
			return fmt.Errorf("auth enable: %v", err)
		}
		root, err := authClient("root", "rootpw")
		if err != nil {
			return fmt.Errorf("root client: %v", err)
		}
		defer root.Close()
		// Whatever happens next, authentication ends off.
		defer root.AuthDisable(context.Background())
		if _, err := cli.Get(ctx, k("auth/x")); err != rpctypes.ErrUserEmpty {
			return fmt.Errorf("unauthenticated get: got %v, want %v", err, rpctypes.ErrUserEmpty)
		}
		if _, err := authClient(user, "wrong"); err != rpctypes.ErrAuthFailed {
			return fmt.Errorf("wrong password: got %v, want %v", err, rpctypes.ErrAuthFailed)
		}
		rd, err := authClient(user, "secret")
		if err != nil {
			return fmt.Errorf("reader client: %v", err)
		}
		defer rd.Close()
		gr, err := rd.Get(ctx, k("auth/x"))
		if err != nil {
			return fmt.Errorf("reader get: %v", err)
		}
		if err := want("reader get", kvs(gr.Kvs), "auth/x=1"); err != nil {
			return err
		}
		if _, err := rd.Put(ctx, k("auth/x"), "2"); err != rpctypes.ErrPermissionDenied {
			return fmt.Errorf("reader put: got %v, want %v", err, rpctypes.ErrPermissionDenied)
		}
		if _, err := rd.Get(ctx, k("elsewhere")); err != rpctypes.ErrPermissionDenied {
			return fmt.Errorf("reader get outside its range: got %v, want %v", err, rpctypes.ErrPermissionDenied)
		}
		if _, err := root.Put(ctx, k("auth/x"), "3"); err != nil {
			return fmt.Errorf("root put: %v", err)
		}
		if _, err := root.AuthDisable(ctx); err != nil {
			return fmt.Errorf("auth disable: %v", err)
		}
		gr, err = cli.Get(ctx, k("auth/x"))
		if err != nil {
			return fmt.Errorf("get after auth disable: %v", err)
		}
		if err := want("after auth disable", kvs(gr.Kvs), "auth/x=3"); err != nil {
			return err
		}
		if _, err := cli.UserDelete(ctx, user); err != nil {
			return fmt.Errorf("user delete: %v", err)
		}
		if _, err := cli.RoleDelete(ctx, role); err != nil {
			return fmt.Errorf("role delete: %v", err)
		}
		return nil
	})
}
