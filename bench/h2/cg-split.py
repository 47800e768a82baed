# SPDX-License-Identifier: MIT
# Instructions and calls per request from a callgrind dump of kumo's hello
# (bench/h2/profile.sh callgrind): self cost by kind of code, the functions
# with the most self cost, and how often a request calls the functions that
# cost a switch, a lock, an allocation or a system call.
#
# Only self costs and call counts are used: kumo switches stacks between
# goroutines, which callgrind's inclusive (caller) costs do not follow.
#
# usage: python3 cg-split.py CALLGRIND_OUT REQUESTS
import re
import sys
from collections import Counter

path, nreq = sys.argv[1], int(sys.argv[2])
fn_names, fl_names, ob_names = {}, {}, {}
where = {}                      # function -> (file, object)
self_ir, calls = Counter(), Counter()
cur_fn = cur_fl = cur_ob = callee = None
after_calls = False


def name(s, table):
    m = re.match(r'\((\d+)\)(?: (.*))?', s)
    if not m:
        return s
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table.get(m.group(1), m.group(1))


for line in open(path):
    line = line.rstrip('\n')
    if line.startswith('ob='):
        cur_ob = name(line[3:], ob_names)
    elif line.startswith('fl='):
        cur_fl = name(line[3:], fl_names)
    elif line.startswith(('fi=', 'fe=')):
        name(line[3:], fl_names)
    elif line.startswith('fn='):
        cur_fn = name(line[3:], fn_names)
        where.setdefault(cur_fn, (cur_fl or '', cur_ob or ''))
    elif line.startswith('cfn='):
        callee = name(line[4:], fn_names)
    elif line.startswith(('cfl=', 'cfi=')):
        name(line[4:], fl_names)
    elif line.startswith('cob='):
        name(line[4:], ob_names)
    elif line.startswith('calls='):
        calls[re.sub(r"'\d+$", '', callee)] += int(line[6:].split()[0])
        after_calls = True
    elif line and (line[0].isdigit() or line[0] in '+-*'):
        if after_calls:         # the inclusive cost of that call: not ours
            after_calls = False
            continue
        parts = line.split()
        if len(parts) >= 2 and cur_fn:
            self_ir[cur_fn] += int(parts[1])


def kind(fn):
    fl, ob = where.get(fn, ('', ''))
    if 'malloc' in fl:
        return 'malloc/free (glibc)'
    if 'nghttp2' in ob or 'nghttp2' in fl:
        return 'nghttp2: HPACK' if 'nghttp2_hd' in fl else 'nghttp2: session, framing, header checks'
    if 'libc' in ob:
        return 'glibc: memcpy, strlen, ...'
    if '/src/rt/' in fl or '/src/sync/' in fl:
        return 'kumo runtime (switches, parking, conds, mutexes, spawn)'
    if '/src/http/h2' in fl:
        return 'kumo HTTP/2 core and server (src/http/h2-*)'
    if '/src/http/' in fl:
        return 'kumo HTTP layer (router, request, response)'
    return 'other'


total = sum(self_ir.values())
print(f'{total / nreq:,.0f} instructions (user space) per request over {nreq:,} requests\n')
print('Self instructions by kind of code:')
by = Counter()
for fn, v in self_ir.items():
    by[kind(fn)] += v
for k, v in by.most_common():
    print(f'  {k:58s} {v / nreq:7,.0f}  {100 * v / total:5.1f}%')
print('\nFunctions with the most self instructions:')
for fn, v in self_ir.most_common(30):
    fl = where.get(fn, ('', ''))[0].split('/')[-1]
    print(f'  {fn[:48]:48s} {fl[:26]:26s} {v / nreq:7,.0f}  {100 * v / total:5.1f}%')
print('\nCalls per request:')
WATCH = ['send', '__libc_send', 'read', '__libc_read', 'epoll_wait', 'km__ctx_swap_raw', 'km_go',
         'km__park', 'km__ready', 'km_cond_wait_dl', 'km_cond_signal', 'km_cond_broadcast',
         'km_mutex_lock', 'km__h2_lock', 'malloc', 'free', 'calloc', 'realloc', 'km__malloc', 'km__calloc',
         'km__free', 'h2_malloc', 'nghttp2_session_mem_send', 'nghttp2_session_mem_recv',
         'nghttp2_session_get_stream_user_data', 'nghttp2_map_find', 'km_now', 'clock_gettime',
         '__clock_gettime', 'time']
for w in WATCH:
    c = sum(v for fn, v in calls.items() if fn == w or fn.split('@')[0] == w)
    if c:
        print(f'  {w:40s} {c / nreq:7.2f}')
