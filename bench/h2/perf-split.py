# SPDX-License-Identifier: MIT
# Where kumo's HTTP/2 server spends its CPU: reads `perf script -F
# comm,tid,period,ip,sym,dso` output of a `perf record --call-graph dwarf`
# on build/examples/hello and prints three tables: the self time by kind of
# code, the time by goroutine (reader, writer, stream, scheduler) crossed with
# that kind, and the inclusive time of the functions a request passes
# through. With US_PER_REQ (the server's CPU µs per request measured over
# the same load) every share is also given in ns per request.
#
# usage: perf script -i perf.data -F comm,tid,period,ip,sym,dso | python3 perf-split.py [US_PER_REQ]
import re
import sys
from collections import Counter, defaultdict

us_per_req = float(sys.argv[1]) if len(sys.argv) > 1 else None

ALLOC = re.compile(r'^(_int_malloc|_int_free|__GI___libc_malloc|malloc|__libc_malloc|cfree.*|__GI___libc_free|'
                   r'free|__libc_free|calloc|__libc_calloc|_int_realloc|realloc|__libc_realloc|unlink_chunk.*|'
                   r'malloc_consolidate|tcache_.*|_int_free_merge_chunk|_int_free_create_chunk|'
                   r'_int_free_maybe_consolidate|alloc_perturb|checked_request2size|sysmalloc)$')
STRING = re.compile(r'^__(mem|str)\w*|^(memcpy|memmove|memset|memcmp|strlen|strcmp|strncmp)$')
# kumo's runtime: scheduler, context switches, parking, channels, sync, timers, netpoller, groups.
RUNTIME = re.compile(r'^(km__ctx\w*|km__park\w*|km__runq\w*|km__execute|km__schedule\w*|km__ready\w*|'
                     r'km__g_\w*|km__curg|km__getp|km_go|km_yield|g_entry|km_cond_\w+|km_mutex_\w+|'
                     r'km_wg_\w+|km__wait\w*|km__clause\w*|km__timer\w*|km__poll\w*|km__netpoll\w*|'
                     r'km__cancel\w*|km__group\w*|km_group\w*|km_now|km__deadline\w*|remove_at|'
                     r'km__stack\w*|km__gpool\w*|km__wake\w*|km__sched\w*|findrunnable|steal\w*|'
                     r'km__fd\w*|km__io\w*|km_read|km_write|km__offload\w*|sem_\w+|km__sleep\w*|'
                     r'km__sema\w*|km__lock\w*|km__unlock\w*|km__spin\w*|heap_\w+|sift\w*|park\w*|'
                     r'ready\w*|runq\w*|wake\w*|wakeup\w*|km__m_\w*|km__p_\w*|km__worker\w*)$')
KERNEL_SYSCALL = [('send', re.compile(r'send|write')), ('recv', re.compile(r'recv|read')),
                  ('epoll', re.compile(r'epoll')), ('futex', re.compile(r'futex|pthread_cond|sem_')),
                  ('clock', re.compile(r'clock|nanosleep'))]
INCLUSIVE = [
    'reader', 'writer', 'run', 'nghttp2_session_mem_recv', 'nghttp2_session_mem_send',
    'on_begin_headers', 'on_header', 'on_frame_recv', 'on_stream_close', 'on_frame_send',
    'km__h2_data_read', 'km__h2_unlock', 'on_stream', 'km_go', 'km__group_init', 'km__group_run',
    'km__group_fini', 'handle', 'request_head', 'km__stream_run', 'km_http_router_serve',
    'km_http_send', 'send_head', 'head_fields', 'km__h2_respond', 'nghttp2_submit_response',
    'km__h2_write', 'km__h2_ring_put', 'km__h2s_finish', 'km__h2_drain', 'km__h2_input_ended',
    'km__h2_stream_set_group', 'km__h2_stream_release', 'km__h2_stream_new', 'stream_free',
    'km__timeout_close', 'access_log', 'km_read', 'km_write', 'gather', 'km_cond_wait_dl',
    'km_cond_signal', 'km_cond_broadcast', 'km_mutex_lock', 'km_mutex_unlock', 'km_wg_add',
    'km_wg_done', 'km__ctx_swap_raw', 'km__execute', 'km__poll_wait'
]


def kind(frames):
    """frames: [(sym, dso)] leaf first. The kind of code the sample is in."""
    sym, dso = frames[0]
    if 'kernel' in dso:
        ks = [s for s, d in frames if 'kernel' in d]
        for s, d in frames:
            if 'kernel' not in d:
                if any('syscall' in k.lower() or k.startswith(('__x64_sys', '__sys_')) for k in ks):
                    for name, rx in KERNEL_SYSCALL:
                        if rx.search(s):
                            return f'kernel: {name}'
                    return 'kernel: other system calls'
                # entered from ordinary code: an interrupt (a reschedule
                # IPI when another task takes the core: the neighbours'
                # load), or a page fault (new heap or stack pages)
                if any('page_fault' in k or 'do_user_addr_fault' in k for k in ks):
                    return 'kernel: page faults'
                return 'kernel: interrupts, preemption'
        return 'kernel: no user frame'
    if 'nghttp2' in dso:
        for s, d in frames:
            if 'nghttp2' not in d:
                break
            if re.search(r'(^|_)hd_|huff|deflate|inflate', s):
                return 'nghttp2: HPACK'
        return 'nghttp2: session and framing'
    if ALLOC.match(sym):
        return 'malloc/free (libc)'
    if 'libc' in dso:
        if STRING.match(sym):
            return 'libc: memcpy/strlen/...'
        return f'libc: other'
    if 'vdso' in dso:
        return 'clock_gettime (vdso)'
    if RUNTIME.match(sym):
        return 'kumo runtime (switch, park, cond, mutex, spawn, netpoll)'
    return 'kumo http + h2 code'


def goroutine(frames):
    names = [s for s, _ in frames]
    if 'g_entry' in names:
        i = names.index('g_entry')
        return names[i - 1] if i > 0 else 'g_entry'
    return 'scheduler (no goroutine)'


samples, total = [], 0
cur = None
for line in sys.stdin:
    line = line.rstrip('\n')
    if not line.strip():
        if cur and cur[1]:
            samples.append(cur)
        cur = None
        continue
    if not line.startswith('\t') and not line.startswith(' '):
        parts = line.split()
        period = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
        cur = (period, [])
        continue
    m = re.match(r'\s*[0-9a-f]+ (.*) \((.*)\)$', line)
    if m and cur is not None:
        sym = re.sub(r'\+0x[0-9a-f]+$', '', m.group(1))
        cur[1].append((sym, m.group(2)))
if cur and cur[1]:
    samples.append(cur)
# An inlined frame ("f (inlined)") is in the object of the function it was
# inlined into: the next frame that names one.
for _, fr in samples:
    for i in range(len(fr) - 1, -1, -1):
        if fr[i][1] == 'inlined':
            fr[i] = (fr[i][0], fr[i + 1][1] if i + 1 < len(fr) else '?')

total = sum(p for p, _ in samples)
by_kind, by_g, cross, incl, alloc_from, fault_from = (Counter(), Counter(), defaultdict(Counter), Counter(),
                                                      Counter(), Counter())
for p, fr in samples:
    k, g = kind(fr), goroutine(fr)
    by_kind[k] += p
    by_g[g] += p
    cross[g][k] += p
    for name in set(s for s, _ in fr):
        if name in INCLUSIVE:
            incl[name] += p
    if k in ('kernel: page faults', 'kernel: interrupts, preemption'):
        fault_from[next(s for s, d in fr if 'kernel' not in d)] += p
    if k == 'malloc/free (libc)':
        # the first kumo (or nghttp2) frame above the allocator
        for s, d in fr:
            if 'libc' not in d and not ALLOC.match(s) and s not in ('km__malloc', 'km__free', 'km__calloc',
                                                                     'h2_malloc', 'h2_free', 'h2_calloc',
                                                                     'h2_realloc'):
                alloc_from[s] += p
                break


def pct(x):
    return f'{100 * x / total:5.1f}%'


def ns(x):
    return f'{us_per_req * 1e3 * x / total:7.0f}' if us_per_req else ''


def table(title, rows):
    print(f'\n{title}')
    w = max(len(r[0]) for r in rows) if rows else 10
    for name, x in rows:
        print(f'  {name.ljust(w)}  {pct(x)}  {ns(x)}')


print(f'{len(samples)} samples' + (f'; {us_per_req:g} µs of server CPU per request (ns/request in the last column)'
                                   if us_per_req else ''))
table('Self time by kind of code', by_kind.most_common())
table('Self time by goroutine', by_g.most_common(12))
for g, _ in by_g.most_common(5):
    table(f'  {g}: by kind', cross[g].most_common(8))
table('Inclusive time (a sample counts for every listed function on its stack)',
      [(n, incl[n]) for n in sorted(incl, key=lambda n: -incl[n])])
table('malloc/free time by the caller that allocated or freed', alloc_from.most_common(15))
if fault_from:
    table('Page faults, interrupts by the user-space function they interrupted', fault_from.most_common(10))
