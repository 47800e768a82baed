#!/bin/sh
# Writes compile_commands.json for clangd: one entry per source file.
dir=$1; cmd=$2; shift 2
printf '[\n'
sep=''
for f in "$@"; do
  printf '%s  {"directory": "%s", "file": "%s", "command": "%s -c %s"}' "$sep" "$dir" "$f" "$cmd" "$f"
  sep=',
'
done
printf '\n]\n'
