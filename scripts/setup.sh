#!/usr/bin/env bash
# Install what berth needs on Debian 12 (idempotent): system packages, npm dependencies, the
# build. Used by install.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for bin in /usr/sbin/runc:runc /usr/bin/conmon:conmon /bin/busybox:busybox-static /usr/bin/catatonit:catatonit /usr/bin/tini-static:tini /sbin/ip:iproute2 /bin/ps:procps /usr/bin/unshare:util-linux /usr/bin/skopeo:skopeo /usr/bin/openssl:openssl /usr/bin/tmux:tmux /usr/bin/docker-registry:docker-registry /usr/bin/zstd:zstd /usr/bin/bzip2:bzip2 /usr/bin/xz:xz-utils; do
  [ -e "${bin%%:*}" ] || need+=("${bin##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "berth setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
