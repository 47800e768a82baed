#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Drives one etcd-compatible endpoint with python-etcd3 (Debian's
# python3-etcd3, over grpcio, unmodified) and prints one line per check:
# "ok   NAME" or "FAIL NAME: detail"; exits 1 if any check failed.
#
# usage: etcd3_check.py [--timeout S] HOST:PORT
import argparse
import os
import queue
import threading
import time
import traceback

import etcd3
import grpc

passed = 0
failed = 0


def check(name, fn, limit):
    """Runs fn in a thread so a call that never returns fails the check."""
    global passed, failed
    result = {}

    def run():
        try:
            fn()
            result['ok'] = True
        except grpc.RpcError as e:
            result['err'] = 'gRPC %s: %s' % (e.code().name, e.details())
        except Exception as e:  # noqa: BLE001 (every failure is a verdict)
            result['err'] = '%s: %s' % (type(e).__name__, e) if str(e) else \
                traceback.format_exc().strip().splitlines()[-1]

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    if result.get('ok'):
        passed += 1
        print('ok   %s' % name, flush=True)
    else:
        failed += 1
        err = result.get('err', 'no answer within %g s' % limit)
        print('FAIL %s: %s' % (name, ' '.join(err.split('\n'))), flush=True)


def expect(what, got, want):
    if got != want:
        raise AssertionError('%s: got %r want %r' % (what, got, want))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--timeout', type=float, default=10.0,
                    help='deadline of each check, seconds')
    ap.add_argument('endpoint', help='HOST:PORT')
    args = ap.parse_args()
    host, _, port = args.endpoint.rpartition(':')
    # Keys live under a prefix unique to the run.
    p = '/etcd3-check/%d/' % time.time_ns()
    c = etcd3.client(host=host, port=int(port), timeout=args.timeout)
    state = {}

    def kv_put_get():
        c.put(p + 'a', 'one')
        value, meta = c.get(p + 'a')
        expect('value', value, b'one')
        expect('key', meta.key, (p + 'a').encode())
        expect('version', meta.version, 1)
        missing, meta = c.get(p + 'missing')
        expect('missing key', (missing, meta), (None, None))
        prev = c.put(p + 'a', 'two', prev_kv=True)
        expect('prev kv', prev.prev_kv.value, b'one')

    def kv_get_prefix():
        for s in 'bcd':
            c.put(p + 'pre/' + s, s.upper())
        c.put(p + 'prf', 'outside')
        got = [(m.key.decode()[len(p):], v.decode())
               for v, m in c.get_prefix(p + 'pre/')]
        expect('prefix', got, [('pre/b', 'B'), ('pre/c', 'C'), ('pre/d', 'D')])
        got = [m.key.decode()[len(p):] for v, m in
               c.get_prefix(p + 'pre/', sort_order='descend', sort_target='key')]
        expect('descending', got, ['pre/d', 'pre/c', 'pre/b'])

    def kv_delete():
        expect('delete existing', c.delete(p + 'pre/c'), True)
        expect('delete missing', c.delete(p + 'pre/c'), False)
        r = c.delete_prefix(p + 'pre/')
        expect('deleted by prefix', r.deleted, 2)
        expect('left', [v for v, m in c.get_prefix(p + 'pre/')], [])

    def kv_transaction():
        t = c.transactions
        ok, resp = c.transaction(
            compare=[t.value(p + 'a') == 'two', t.version(p + 'a') == 2],
            success=[t.put(p + 'tx', 'then'), t.get(p + 'a')],
            failure=[t.put(p + 'tx', 'else')])
        expect('succeeded', ok, True)
        expect('then get', [v for v, m in resp[1]], [b'two'])
        expect('then put', c.get(p + 'tx')[0], b'then')
        ok, resp = c.transaction(
            compare=[t.value(p + 'a') == 'nope'],
            success=[t.put(p + 'tx', 'then2')],
            failure=[t.delete(p + 'tx'), t.get(p + 'a')])
        expect('succeeded', ok, False)
        expect('else get', [v for v, m in resp[1]], [b'two'])
        expect('else delete', c.get(p + 'tx')[0], None)
        _, meta = c.get(p + 'a')
        ok, _ = c.transaction(compare=[t.mod(p + 'a') == meta.mod_revision],
                              success=[], failure=[])
        expect('mod revision compare', ok, True)
        expect('put_if_not_exists new', c.put_if_not_exists(p + 'once', '1'), True)
        expect('put_if_not_exists again', c.put_if_not_exists(p + 'once', '2'), False)
        expect('replace', c.replace(p + 'once', '1', '3'), True)
        expect('after replace', c.get(p + 'once')[0], b'3')

    def watch_prefix():
        # Returns once the server confirmed the watch (its created response).
        events, cancel = c.watch_prefix(p + 'w/')
        got = queue.Queue()

        def reader():
            try:
                for ev in events:
                    got.put(ev)
            except Exception as e:  # noqa: BLE001
                got.put(e)
        threading.Thread(target=reader, daemon=True).start()
        c.put(p + 'w/x', '1')
        c.put(p + 'other', 'not watched')
        c.delete(p + 'w/x')
        try:
            seen = []
            for _ in range(2):
                ev = got.get(timeout=5)
                if isinstance(ev, Exception):
                    raise ev
                seen.append((type(ev).__name__, ev.key.decode()[len(p):],
                             ev.value.decode()))
            expect('events', seen, [('PutEvent', 'w/x', '1'), ('DeleteEvent', 'w/x', '')])
        finally:
            cancel()

    def watch_callback():
        got = queue.Queue()
        c.put(p + 'cb', 'old')
        _, meta = c.get(p + 'cb')
        # From a past revision: the callback first gets the replayed history.
        wid = c.add_watch_callback(p + 'cb', got.put, start_revision=meta.mod_revision)
        try:
            c.put(p + 'cb', 'new')
            vals = []
            while len(vals) < 2:
                r = got.get(timeout=5)
                if isinstance(r, Exception):
                    raise r
                vals += [e.value.decode() for e in r.events]
            expect('values', vals, ['old', 'new'])
        finally:
            c.cancel_watch(wid)

    def lease_grant():
        lease = c.lease(30)
        if not lease.id:
            raise AssertionError('lease id 0')
        expect('ttl', lease.ttl, 30)
        state['lease'] = lease

    def lease_put_refresh():
        lease = state['lease']
        c.put(p + 'l/a', 'x', lease=lease)
        c.put(p + 'l/b', 'y', lease=lease.id)
        _, meta = c.get(p + 'l/a')
        expect('key lease', meta.lease_id, lease.id)
        r = lease.refresh()
        expect('refresh responses', len(r), 1)
        expect('refresh id', r[0].ID, lease.id)
        expect('refresh ttl', r[0].TTL, 30)
        ttl = lease.remaining_ttl
        if not 0 < ttl <= 30:
            raise AssertionError('remaining ttl %d' % ttl)
        expect('granted ttl', lease.granted_ttl, 30)
        expect('keys', sorted(k.decode()[len(p):] for k in lease.keys), ['l/a', 'l/b'])

    def lease_revoke():
        lease = state['lease']
        lease.revoke()
        expect('keys after revoke', [v for v, m in c.get_prefix(p + 'l/')], [])
        expect('ttl after revoke', lease.remaining_ttl, -1)

    def lease_chosen_id():
        lid = 0x5eed0000 + time.time_ns() % 0x10000
        lease = c.lease(10, lease_id=lid)
        expect('id', lease.id, lid)
        try:
            c.lease(10, lease_id=lid)
            raise AssertionError('a second grant of the same id succeeded')
        except etcd3.exceptions.PreconditionFailedError:
            pass  # etcd's ErrLeaseExist
        finally:
            lease.revoke()

    def status_members():
        st = c.status()
        if not st.version or st.db_size <= 0 or st.leader is None:
            raise AssertionError('status version %r db %r' % (st.version, st.db_size))
        members = list(c.members)
        if not members or not members[0].client_urls:
            raise AssertionError('members %r' % members)
        if not c.hash():
            raise AssertionError('hash 0')

    limit = args.timeout
    check('kv put/get', kv_put_get, limit)
    check('kv get_prefix', kv_get_prefix, limit)
    check('kv delete', kv_delete, limit)
    check('kv transaction', kv_transaction, limit)
    check('watch_prefix', watch_prefix, limit)
    check('add_watch_callback', watch_callback, limit)
    check('lease grant', lease_grant, limit)
    check('lease put/refresh', lease_put_refresh, limit)
    check('lease revoke', lease_revoke, limit)
    check('lease with a chosen id', lease_chosen_id, limit)
    check('status/members/hash', status_members, limit)
    print('%d passed, %d failed' % (passed, failed), flush=True)
    # No close(): its watch thread would report the closed channel on
    # stderr. _exit also ends a thread stuck in a failed check.
    os._exit(1 if failed else 0)


if __name__ == '__main__':
    main()
