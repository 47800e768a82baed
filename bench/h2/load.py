# SPDX-License-Identifier: MIT
# Runs one h2load and measures the server and h2load itself over exactly its
# measured period, printing one line of key=value results.
#
# usage: python3 load.py CLIENT_CPU LOGFILE SERVER_PIDS -- H2LOAD_ARGS...
#
# h2load (timing-based: -D with --warm-up-time) prints "Main benchmark
# duration is started" once its warm-up is over and "... is over" when it
# stops counting; it only counts requests completed between the two. So the
# CPU time of the server (every task of every pid in SERVER_PIDS) and of
# h2load is sampled when those lines arrive (stdbuf -oL keeps them
# unbuffered), which leaves connection setup, warm-up and teardown out of the
# per-request figures. Per task, /proc/PID/task/TID/schedstat gives the time
# on a CPU and the time spent runnable waiting for one (ns), /proc/PID/stat
# utime and stime (clock ticks) the user/kernel split.
import os
import re
import subprocess
import sys
import threading
import time

TCK = os.sysconf('SC_CLK_TCK')


def sample(pids):
    """(ns on CPU, ns waiting for a CPU, utime ticks, stime ticks) over all tasks."""
    run = wait = ut = st = 0
    for pid in pids:
        try:
            tids = os.listdir(f'/proc/{pid}/task')
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                    a = f.read().split()
                run += int(a[0])
                wait += int(a[1])
            except (OSError, IndexError, ValueError):
                pass
        try:
            with open(f'/proc/{pid}/stat') as f:
                s = f.read()
            rest = s[s.rindex(')') + 2:].split()
            ut += int(rest[11])
            st += int(rest[12])
        except (OSError, ValueError, IndexError):
            pass
    return run, wait, ut, st


class Tasks:
    """The latest schedstat of every task of one process, polled, so that
    threads which exit (h2load's worker ends right after its "over" line)
    still count with their last reading."""

    def __init__(self, pid, interval=0.02):
        self.pid, self.last, self.lock, self.done = pid, {}, threading.Lock(), False
        self.thread = threading.Thread(target=self.poll, args=(interval,), daemon=True)
        self.thread.start()

    def read(self):
        try:
            tids = os.listdir(f'/proc/{self.pid}/task')
        except OSError:
            return
        for tid in tids:
            try:
                with open(f'/proc/{self.pid}/task/{tid}/schedstat') as f:
                    a = f.read().split()
                with self.lock:
                    self.last[tid] = (int(a[0]), int(a[1]))
            except (OSError, IndexError, ValueError):
                pass

    def poll(self, interval):
        while not self.done:
            self.read()
            time.sleep(interval)

    def sample(self):
        """(ns on CPU, ns waiting) summed over every task seen so far."""
        self.read()
        with self.lock:
            return sum(v[0] for v in self.last.values()), sum(v[1] for v in self.last.values())


def us(v):
    """h2load's '812us', '1.23ms', '2.01s' in microseconds, or nan."""
    m = re.fullmatch(r'([0-9.]+)(us|ms|s)', v or '')
    if not m:
        return 'nan'
    return f"{float(m.group(1)) * {'us': 1, 'ms': 1e3, 's': 1e6}[m.group(2)]:.1f}"


def main():
    cpu, log, spids = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split()]
    args = sys.argv[sys.argv.index('--') + 1:]
    cmd = ['taskset', '-c', cpu, 'stdbuf', '-oL', 'h2load'] + args
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    h2 = Tasks(p.pid)
    lines, s0, s1, l0, l1, t0, t1 = [], None, None, None, None, None, None
    for line in p.stdout:
        if 'Main benchmark duration is started' in line:
            t0, s0, l0 = time.monotonic(), sample(spids), h2.sample()
        elif 'Main benchmark duration is over' in line:
            t1, s1, l1 = time.monotonic(), sample(spids), h2.sample()
        if not line.startswith('progress:'):
            lines.append(line)
    h2.done = True
    _, status, ru = os.wait4(p.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    out = ''.join(lines)
    with open(log, 'a') as f:
        f.write('h2load ' + ' '.join(args) + '\n' + out)

    kv = {'h2load_rc': rc}
    m = re.search(r'^finished in [0-9.]+s, ([0-9.]+) req/s', out, re.M)
    kv['rps'] = m.group(1) if m else 'nan'
    m = re.search(r'^requests: .* (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout', out, re.M)
    ok, failed, errored, timeout = m.groups() if m else ('0', 'nan', 'nan', 'nan')
    kv.update(requests=ok, failed=failed, errored=errored, timeout=timeout)
    m = re.search(r'^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx', out, re.M)
    kv['non2xx'] = sum(int(x) for x in m.groups()[1:]) if m else 'nan'
    m = re.search(r'^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)', out, re.M)
    lmin, lmax, lmean, lsd = m.groups() if m else ('', '', '', '')
    kv.update(lat_min_us=us(lmin), lat_max_us=us(lmax), lat_mean_us=us(lmean), lat_sd_us=us(lsd))
    m = re.search(r'^Application protocol: (\S+)', out, re.M)
    kv['proto'] = m.group(1) if m else 'none'

    n = int(ok)
    if s0 is None or s1 is None or n == 0:
        kv['window'] = 'missing'
    else:
        wall = t1 - t0
        per = lambda ns: f'{ns / 1e3 / n:.3f}'              # ns over the window -> µs/request
        tick = lambda t: f'{t * 1e6 / TCK / n:.3f}'         # ticks -> µs/request
        kv.update(window_s=f'{wall:.3f}',
                  cpu_us_per_req=per(s1[0] - s0[0]),
                  user_us_per_req=tick(s1[2] - s0[2]), sys_us_per_req=tick(s1[3] - s0[3]),
                  cpu_util=f'{(s1[0] - s0[0]) / 1e9 / wall:.3f}',
                  wait_ms_per_s=f'{(s1[1] - s0[1]) / 1e6 / wall:.1f}',
                  h2load_us_per_req=per(l1[0] - l0[0]),
                  h2load_util=f'{(l1[0] - l0[0]) / 1e9 / wall:.3f}',
                  h2load_wait_ms_per_s=f'{(l1[1] - l0[1]) / 1e6 / wall:.1f}')
    # The whole h2load run (warm-up and connection setup included), from wait4.
    kv['h2load_total_cpu_s'] = f'{ru.ru_utime + ru.ru_stime:.3f}'
    print(' '.join(f'{k}={v}' for k, v in kv.items()))


if __name__ == '__main__':
    main()
