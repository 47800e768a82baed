#!/bin/bash
# SPDX-License-Identifier: MIT
# Fault sweep: runs each unit test of a fault build once to record the
# injection sites it reaches, then once per site with that site failing,
# and reports crashes, fatal aborts, sanitizer reports and hangs.
#
#   scripts/fault-sweep.sh [--build DIR] [--all | --slice | MODULE...]
#                          [--budget SECONDS] [--hits K] [--timeout SECONDS] [--fresh]
#
# DIR is a fault build: build-asan-faults by default, or build-tsan-faults
# (make SAN=tsan FAULTS=1 tests) for races on the error paths.
# --all sweeps every unit test; --slice the CI subset (store, serve and etcd, 240 s
# by default); MODULE names tests/unit/<MODULE>. --hits K also fails the
# 2nd..K-th hit of sites reached that often. A run is a hang past
# --timeout (120 s) or three times the clean run. Progress is kept in
# DIR/fault-sweep/ (done.txt), so a run stopped by its budget resumes where
# it stopped (runs that found a bug run again); --fresh starts over. Exits 1 if any run found a bug.
set -u
build=build-asan-faults budget=600 hits=1 per_run=120 fresh=0 mods=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --budget) budget=${2%s}; shift ;;
    --hits) hits=$2; shift ;;
    --timeout) per_run=${2%s}; shift ;;
    --fresh) fresh=1 ;;
    --all) mods=(ALL) ;;
    --slice) mods=(store serve etcd); [ "$budget" = 600 ] && budget=240 ;;
    -h|--help) sed -n 3,14p "$0"; exit 0 ;;
    -*) echo "fault-sweep: unknown option $1" >&2; exit 2 ;;
    *) mods+=("$1") ;;
  esac
  shift
done
[ ${#mods[@]} -gt 0 ] || { echo "fault-sweep: name --all, --slice or modules" >&2; exit 2; }
[ -d "$build/tests" ] || { echo "fault-sweep: no $build/tests (make SAN=asan FAULTS=1 tests)" >&2; exit 2; }

state=$build/fault-sweep
[ $fresh = 1 ] && rm -rf "$state"
mkdir -p "$state/sites" "$state/bugs"
touch "$state/done.txt"

# Unit tests only: the fuzz replays hold no error paths worth failing, and
# the */faults tests arm their own faults.
tests=()
if [ "${mods[0]}" = ALL ]; then
  for t in "$build"/tests/*/*; do
    case "$t" in */fuzz/*|*/faults) continue ;; esac
    [ -x "$t" ] && tests+=("$t")
  done
else
  for m in "${mods[@]}"; do
    for t in "$build/tests/$m"/*; do
      case "$t" in */faults) continue ;; esac
      [ -x "$t" ] && tests+=("$t")
    done
  done
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}

# Classifies one run's output and exit status: "ok" (the test passed, or
# failed its assertions and exited normally) or the kind of bug. expect:
# the aborts the clean run printed too (tests that check misuse aborts).
classify() {
  local out=$1 rc=$2 expect=${3:-0}
  [ "$rc" = 124 ] && { echo hang; return; }
  [ "$(grep -c 'kumo: fatal' "$out")" -gt "$expect" ] && { echo fatal; return; }
  grep -qE 'ERROR: AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer' "$out" && { echo sanitizer; return; }
  grep -qE 'Test timeout expired' "$out" && { echo hang; return; }
  grep -qE ':E:.*(signal|Early exit)' "$out" && { echo crash; return; }
  # A test that failed an assertion abandons what it held: its leaks are
  # not the library's. One whose only failure is t_run's leak count, or
  # LeakSanitizer's report after passing, leaked on an error path.
  if grep -q ':F:' "$out"; then
    grep ':F:' "$out" | grep -qv 'leaked [0-9]* allocations' || { echo leak; return; }
    echo ok; return
  fi
  grep -q 'ERROR: LeakSanitizer' "$out" && { echo leak; return; }
  grep -qE '^[0-9]+%: Checks: ' "$out" || { echo crash; return; }
  echo ok
}

start=$(date +%s)
runs=0 nbugs=0 skipped=0
out=$(mktemp); trap 'rm -f "$out"' EXIT
over() { [ $(( $(date +%s) - start )) -ge "$budget" ]; }

for t in "${tests[@]}"; do
  name=${t#$build/tests/}
  sites=$state/sites/${name//\//_}.txt
  if [ ! -s "$sites" ]; then
    over && break
    rm -f "$sites.raw"
    t0=$(date +%s)
    KM_FAULT_SITES=$sites.raw timeout $((per_run * 5)) "$t" > "$out" 2>&1
    echo $(( $(date +%s) - t0 )) > "$sites.secs"
    grep -c 'kumo: fatal' "$out" > "$sites.fatal"
    # every process appended its sites: add the hits up per site
    awk '{ h[$1 " " $2] += $3 } END { for (k in h) print k, h[k] }' "$sites.raw" 2>/dev/null \
      | sort > "$sites"
    rm -f "$sites.raw"
    [ -s "$sites" ] || echo "none - 0" > "$sites"
  fi
  # a run may take a few times as long as the clean one before it hangs
  limit=$(( 3 * $(cat "$sites.secs" 2>/dev/null || echo 0) ))
  [ $limit -ge "$per_run" ] || limit=$per_run
  while read -r site kind count; do
    [ "$site" = none ] && continue
    for ((n = 1; n <= hits && n <= count; n++)); do
      key="$name $site:$n"
      # a run that was clean stays done; one that found a bug runs again
      grep -qxF "$key ok" "$state/done.txt" && continue
      if over; then skipped=$((skipped + 1)); continue; fi
      CK_FORK=yes KM_FAULT=$site:$n timeout "$limit" "$t" > "$out" 2>&1
      rc=$?
      runs=$((runs + 1))
      verdict=$(classify "$out" $rc "$(cat "$sites.fatal" 2>/dev/null || echo 0)")
      log=$state/bugs/${name//\//_}@${site//[\/:]/_}@$n.log
      if [ "$verdict" = ok ]; then
        echo "$key ok" >> "$state/done.txt"
        rm -f "$log"
      else
        echo "$key bug" >> "$state/done.txt"
        { echo "test: $name  fault: $site:$n ($kind)  verdict: $verdict  exit: $rc"; cat "$out"; } > "$log"
        nbugs=$((nbugs + 1))
        echo "BUG $verdict: $name with $site:$n ($kind) -> $log"
      fi
    done
  done < "$sites"
done

# Summary over everything recorded so far (this run and earlier ones).
nsites=$(cat "$state"/sites/*.txt 2>/dev/null | grep -vc '^none ')
total=$(awk '{ print $1, $2 }' "$state/done.txt" | sort -u | wc -l)
bugs=$(ls "$state/bugs" | wc -l)
echo "fault-sweep: ${#tests[@]} tests, $nsites test sites recorded; $runs runs now ($total in all), $skipped left for the next run (budget ${budget}s)"
if [ "$bugs" -gt 0 ]; then
  echo "fault-sweep: $bugs runs found bugs; by site (tests, verdict, first report lines):"
  for f in "$state"/bugs/*.log; do
    [ -e "$f" ] || continue
    # "test: T  fault: SITE:N (KIND)  verdict: V  exit: RC"
    read -r _ t _ site kind _ verdict _ < "$f"
    printf '%s %s %s\t%s\n' "$site" "$kind" "$verdict" "$t"
  done | sort | awk -F'\t' '{ n[$1]++; ts[$1] = ts[$1] " " $2 } END { for (k in n) print k "\t" n[k] "\t" ts[k] }' \
       | sort | while IFS=$'\t' read -r what n ts; do
    echo "  $what in $n test(s):$ts"
    f=$(ls "$state"/bugs/*@"$(echo "${what%% *}" | sed 's/:[0-9]*$//; s/[\/:]/_/g')"@* | head -n 1)
    grep -E 'kumo: fatal|ERROR: |runtime error:|SUMMARY:|leaked [0-9]+ alloc|Test timeout|signal' "$f" \
      | cut -c1-160 | awk '!seen[$0]++' | head -n 3 | sed 's/^/      /'
  done
  exit 1
fi
exit 0
