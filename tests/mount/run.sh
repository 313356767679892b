#!/bin/bash
# tests/mount/run.sh VOLFS [CREATE-OPTION...] -- PROGRAM [ARG...]
# Creates volume "vol" (with the options given), mounts it, runs PROGRAM with
# @MNT@ in its arguments replaced by the mount point, @REF@ by a fresh
# directory on the local filesystem (to compare with) and @REMOUNT@ by a shell
# command that unmounts and mounts the volume again, then unmounts: the test
# fails if PROGRAM fails, the unmount fails, or the daemon printed an error.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
shift
create_opts=()
while (( $# )) && [[ $1 != -- ]]; do
	create_opts+=("$1")
	shift
done
[[ ${1-} == -- ]] || fail "usage: $0 VOLFS [CREATE-OPTION...] -- PROGRAM [ARG...]"
shift
(( $# )) || fail "no program"

mt_setup "${create_opts[@]}"
REF=$TMP/ref
mkdir "$REF"
args=()
# @REMOUNT@: a shell command that unmounts and mounts the volume again
remount=true
if (( ! MT_PLAIN )); then
	remount=$(printf '%q --store %q umount %q && %q --store %q mount vol %q' \
		"$VOLFS" "$STORE" "$MNT" "$VOLFS" "$STORE" "$MNT")
fi
for a in "$@"; do
	a=${a//@MNT@/"$MNT"}
	a=${a//@REMOUNT@/"$remount"}
	args+=("${a//@REF@/"$REF"}")
done
rc=0
"${args[@]}" || rc=$?
(( rc == 0 || rc == 77 )) || echo "FAIL: ${args[*]} exited $rc" >&2
mt_umount "$MNT"
exit "$rc"
