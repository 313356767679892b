#!/bin/bash
# tools/demo.sh — on a fresh Debian 12 machine, from a clean clone, as root:
# install the packages, build, make a store in a temporary directory, create
# a volume, mount it, use it like a local disk, unmount it and mount it again
# (the data is still there, and identical files share their chunks).
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/run --deps-only
if [[ ! -f build-demo/build.ninja ]]; then
	rm -rf build-demo
	meson setup build-demo >/dev/null
fi
ninja -C build-demo >/dev/null
volfs=$PWD/build-demo/tools/volfs

demo=$(mktemp -d "${TMPDIR:-/tmp}/volfs-demo-XXXXXX")
export VOLFS_STORE=$demo/store
mnt=$demo/mnt
mkdir "$mnt"
cleanup() { mountpoint -q "$mnt" && "$volfs" umount "$mnt" || true; }
trap cleanup EXIT
run() { echo "\$ $*"; "$@"; echo; }
volfs() { "$volfs" "$@"; }

echo "# a store in $VOLFS_STORE (VOLFS_STORE is set, so no --store needed)"
echo
run volfs init
run volfs create pgdata -o block_size=16K
run volfs create uploads
run volfs list
run volfs mount uploads "$mnt"
run grep " $mnt " /proc/mounts
run sh -c "echo 'hello from a volfs volume' > $mnt/hello.txt"
run mkdir -p "$mnt/photos/2026"
run dd if=/dev/urandom of="$mnt/photos/2026/a.jpg" bs=1M count=4 status=none
run cp "$mnt/photos/2026/a.jpg" "$mnt/photos/2026/copy-of-a.jpg"
run sha256sum "$mnt/photos/2026/a.jpg" "$mnt/photos/2026/copy-of-a.jpg"
run ls -lR "$mnt"
run volfs umount "$mnt"
echo "# mounted again: the data is still there"
echo
run volfs mount uploads "$mnt"
run cat "$mnt/hello.txt"
run sha256sum "$mnt/photos/2026/a.jpg"
run volfs umount "$mnt"
echo "# the copy shares the original's chunks (blocks_shared)"
echo
run volfs inspect uploads
echo "# done; the store is left in $VOLFS_STORE (rm -rf $demo to remove it)."
echo "# mount.volfs also works: mount -t volfs -o store=$VOLFS_STORE uploads $mnt"
