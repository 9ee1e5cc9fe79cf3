#!/usr/bin/env bash
# Run every berth benchmark one after the other; print their markdown. With OUTDIR, also keep
# each script's output (stdout: the tables, stderr: progress) there.
#   bash bench/all.sh [OUTDIR]
# Needs: a built dist/ (npm run build), runc, conmon, busybox-static; docker.io and podman for
# the comparisons (skipped when absent).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-}
[ -n "$out" ] && mkdir -p "$out"
status=0
for b in run-rm api-breakdown ops memory build registry commit; do
  echo "### bench/$b.mjs" >&2
  if [ -n "$out" ]; then
    node "bench/$b.mjs" >"$out/$b.md" 2>"$out/$b.log" || status=1
    cat "$out/$b.md"
  else
    node "bench/$b.mjs" || status=1
  fi
  echo
done
exit $status
