# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by the paired benchmarks (sourced): a server's CPU time, and that
# time per request answered.
cpu_ns() {  # pid: CPU time of all its threads so far, in ns
  cat /proc/"$1"/task/*/schedstat | awk '{t += $1} END {printf "%.0f", t}'
}
per_request() {  # ns wrk-output-file: ns per request wrk counted
  awk -v c="$1" '/requests in/ {printf "%.1f", c / $1}' "$2"
}
