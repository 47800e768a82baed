#!/bin/sh
# Runs every test given (Check binaries, or tests/integ/*.sh scripts, which
# get the build directory as their argument), prints each one's summary and
# a closing "N passed, N failed, N skipped" line; exits non-zero if anything
# failed. A script reports checks it could not run (a peer missing) as
# "skip: reason" lines and ", N skipped" on its summary line; a Check binary
# that ran no check fails. Any skip fails the run too, unless KM_ALLOW_SKIP=1
# (a developer's machine without some peer): CI runs everything.
build=$1; shift
case "$build" in
  *asan*) export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:${ASAN_OPTIONS:-}"
          export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" ;;
  *tsan*) export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}" ;;
esac
# Sanitized builds run several times slower; give Check's per-test timeout room.
case "$build" in *san*) export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} ;; esac
pass=0; fail=0; skip=0; bad=""; reasons=""
for t in "$@"; do
  case "$t" in
    *.sh)
      out=$(bash "$t" "$build" 2>&1); rc=$?
      line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?' | tail -n 1)
      if [ -n "$line" ]; then
        n=$(printf '%s' "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        k=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) skipped$/\1/p')
        why=$(printf '%s\n' "$out" | sed -n 's/^skip: //p')
        nwhy=$(printf '%s' "$why" | grep -c .)
        # A skip said but not counted, or counted but not said: both count.
        [ "${k:-0}" -gt "$nwhy" ] || k=$nwhy
        pass=$((pass + n)); fail=$((fail + f)); skip=$((skip + k))
        [ -n "$why" ] && reasons="$reasons$(printf '%s\n' "$why" | sed "s|^|  $t: |")
"
        [ "$k" -gt 0 ] && [ -z "$why" ] && reasons="$reasons  $t: $k skipped (no reason given)
"
        [ $rc -ne 0 ] && [ "$f" -eq 0 ] && fail=$((fail + 1))
      else
        fail=$((fail + 1))
      fi
      if [ $rc -ne 0 ] || [ -z "$line" ]; then
        bad="$bad $t"
        printf '%s\n' "$out" | tail -n 40
      fi
      printf '%-40s %s\n' "$t" "${line:-crashed (exit $rc)}"
      continue ;;
  esac
  out=$("$t" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
  if [ -n "$line" ]; then
    n=$(printf '%s' "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(printf '%s' "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    pass=$((pass + n - f - e)); fail=$((fail + f + e))
    # A binary whose suite ran no check proves nothing.
    if [ "$n" -eq 0 ]; then fail=$((fail + 1)); rc=1; line="$line (no checks ran)"; fi
  else
    fail=$((fail + 1))
  fi
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    bad="$bad $t"
    printf '%s\n' "$out" | grep -vE '^[0-9]+%: Checks' | tail -n 40
  fi
  printf '%-40s %s\n' "${t#$build/tests/}" "${line:-crashed (exit $rc)}"
done
# The failures again at the end, where a log's tail shows them.
[ -z "$bad" ] || echo "failed:$bad"
if [ "$skip" -gt 0 ]; then
  echo "skipped:"
  printf '%s' "$reasons"
  [ "${KM_ALLOW_SKIP:-0}" = 1 ] || echo "skips fail the run (KM_ALLOW_SKIP=1 allows them)"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ -z "$bad" ] || exit 1
[ "$skip" -eq 0 ] || [ "${KM_ALLOW_SKIP:-0}" = 1 ]
