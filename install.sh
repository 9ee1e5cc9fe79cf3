#!/usr/bin/env bash
# Quick start, command 1: install berth and run a container, offline.
#   - Debian packages (runc, conmon, busybox-static, catatonit, tini), npm dependencies, build
#   - `berth` and `berthd` on PATH (/usr/local/bin)
#   - a `busybox` image made from /bin/busybox (no registry needed), and a container from it
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
bash scripts/setup.sh
ln -sf "$PWD/dist/berth.mjs" /usr/local/bin/berth
ln -sf "$PWD/dist/berthd.mjs" /usr/local/bin/berthd
if ! berth image inspect busybox:latest >/dev/null 2>&1; then
  tarball=$(mktemp --suffix=.tar)
  bash scripts/busybox-rootfs.sh "$tarball"
  berth import --change 'CMD ["sh"]' "$tarball" busybox:latest
  rm -f "$tarball"
fi
berth run --rm busybox echo "Hello from a berth container: $(berth version --format '{{.Server.Version}}')"
