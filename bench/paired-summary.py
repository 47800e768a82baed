#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summary of paired runs (bench/config/obs-paired.sh,
bench/http/middleware-paired.sh): each input line is one round, its key
words and then the two servers' requests/s, the reference's (a) and the
measured one's (b). Prints, per key, the median of b/a - 1 over the
rounds and its range. Usage: paired-summary.py RAW "HEADING" WIDTH..."""
import statistics
import sys

raw, heading, widths = sys.argv[1], sys.argv[2], [int(w) for w in sys.argv[3:]]
rounds = {}
for line in open(raw):
    *key, a, b = line.split()
    rounds.setdefault(tuple(key), []).append(float(b) / float(a) - 1)
print(heading)
for key, r in rounds.items():
    words = "".join(f"{k:<{w}}" for k, w in zip(key, widths))
    print(f"{words}{statistics.median(r) * 100:+.1f}%".ljust(len(words) + 33) +
          f"({min(r) * 100:+.1f}%, {max(r) * 100:+.1f}%)")
