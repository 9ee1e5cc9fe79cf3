#!/usr/bin/env bash
# Make a root filesystem tarball from Debian's busybox-static: /bin/busybox, one symlink per
# applet, and the files a container expects (/etc/passwd, /etc/group, empty /proc /sys /dev /tmp).
# Usage: scripts/busybox-rootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "busybox-rootfs: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var/tmp}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
chmod 700 "$dir/root"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  [ -e "$dir/$applet" ] && continue
  mkdir -p "$dir/$(dirname "$applet")"
  ln -s /bin/busybox "$dir/$applet"
done
cat >"$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat >"$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
tty:x:5:
wheel:x:10:root
www-data:x:33:
nogroup:x:65534:
G
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime='2024-01-01 00:00:00' -C "$dir" -cf "$out" .
