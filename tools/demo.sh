#!/bin/bash
# tools/demo.sh — on a fresh Debian 12 machine, from a clean clone: install the
# packages, build, and show volfs administering a store in a temporary
# directory.  volfs cannot mount volumes yet, so the demo stops there.
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
run() { echo "\$ volfs $*"; "$volfs" "$@"; echo; }

echo "# a store in $VOLFS_STORE (VOLFS_STORE is set, so no --store needed)"
echo
run init
run create pgdata -o block_size=16K
run create uploads
run list
run inspect pgdata
run rm uploads
run list
echo "# done; the store is left in $VOLFS_STORE (rm -rf $demo to remove it)."
echo "# Mounting a volume (mount -t volfs, Docker's -v) is not implemented yet."
