#!/usr/bin/env bash
# The demo server with `flask tick` every minute beside it (the first at once); both stop together.
#   scripts/run_with_tick.sh .venv/bin run --host 127.0.0.1 --port 5000
set -u
bin="$1"
shift
(
  child=
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 0' TERM
  while true; do
    "$bin/flask" tick --quiet &
    child=$!
    wait "$child"
    sleep 60 &
    child=$!
    wait "$child"
  done
) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
"$bin/flask" "$@"
