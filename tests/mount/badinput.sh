#!/bin/bash
# Mounting refused with a clear message, a non-zero exit and nothing mounted:
# a volume that does not exist; a mount point that is missing, not a
# directory or already a mount; an unknown -o option; a store that is missing
# or not initialised; a second read-write mount of a mounted volume.  Then a
# daemon killed with SIGKILL: its dead mount lazily unmounted, the volume
# mounts again at once with what was fsynced.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(( MT_PLAIN )) && skip "bad input needs the real volfs mount (VOLFS_TEST_DIR is set)"

mounts_of_tmp() { awk -v t="$TMP/" 'index($2, t) == 1' /proc/mounts; }

# refused PATTERN -- CMD...: CMD exits non-zero, its stderr matches the
# extended regular expression PATTERN (case-insensitive), and the mounts under
# $TMP are what they were.
refused() {
	local pattern=$1 rc=0 err before
	shift 2
	[[ $1 == v ]] && set -- "$VOLFS" --store "$STORE" "${@:2}"
	before=$(mounts_of_tmp)
	timeout 60 "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	err=$(<"$TMP/err")
	(( rc != 0 )) || fail "'$*' succeeded; stderr: $err"
	(( rc != 124 )) || fail "'$*' hung (killed after 60 s)"
	grep -qiE -- "$pattern" <<<"$err" || fail "'$*' exited $rc; stderr '$err' does not match /$pattern/"
	[[ $(mounts_of_tmp) == "$before" ]] || fail "'$*' changed the mounts: $(mounts_of_tmp)"
	note "refused as it should: $* -> $rc: $err"
}

mt_create vol
mkdir "$TMP/m" "$TMP/m2"
echo data >"$TMP/file"

# volfs mount and mount.volfs alike
helper=()
[[ -n $MOUNT_VOLFS && -x $MOUNT_VOLFS ]] && helper=("$MOUNT_VOLFS")
(( ${#helper[@]} )) || note "no mount.volfs given (MOUNT_VOLFS): checking 'volfs mount' only"

refused "nope.*(no volume|not exist|no such)|(no volume|not exist|no such).*nope" -- v mount nope "$TMP/m"
refused "$TMP/missing.*(not exist|no such)" -- v mount vol "$TMP/missing"
[[ ! -e $TMP/missing ]] || fail "mount made the missing mount point"
refused "not a directory" -- v mount vol "$TMP/file"
refused "frobnicate" -- v mount vol "$TMP/m" -o frobnicate
refused "frobnicate" -- v mount vol "$TMP/m" -o ro,frobnicate=3
refused "$TMP/nostore.*(not exist|no such)" -- "$VOLFS" --store "$TMP/nostore" mount vol "$TMP/m"
[[ ! -e $TMP/nostore ]] || fail "mount made the missing store"
mkdir "$TMP/empty"
refused "not initiali[sz]ed" -- "$VOLFS" --store "$TMP/empty" mount vol "$TMP/m"
[[ -z $(ls -A "$TMP/empty") ]] || fail "mount wrote into an uninitialised store: $(ls -A "$TMP/empty")"
if (( ${#helper[@]} )); then
	refused "nope" -- "${helper[@]}" nope "$TMP/m" -o "store=$STORE"
	refused "not a directory" -- "${helper[@]}" vol "$TMP/file" -o "store=$STORE"
	refused "frobnicate" -- "${helper[@]}" vol "$TMP/m" -o "store=$STORE,frobnicate"
	refused "not initiali[sz]ed" -- "${helper[@]}" vol "$TMP/m" -o "store=$TMP/empty"
fi

# a mount point that is a mount already: another filesystem, or a volfs mount
mount -t tmpfs -o size=1M volfs-test "$TMP/m"
MT_MOUNTS+=("$TMP/m")
refused "already|is a mount" -- v mount vol "$TMP/m"
umount "$TMP/m"
mt_create other
mt_mount other "$TMP/m"
refused "already|is a mount" -- v mount vol "$TMP/m"

# one read-write mount per volume
mt_mount vol "$TMP/m2"
mkdir "$TMP/m3"
refused "already mounted|in use|locked" -- v mount vol "$TMP/m3"
(( ${#helper[@]} )) && refused "already mounted|in use|locked" -- "${helper[@]}" vol "$TMP/m3" -o "store=$STORE"
refused "mounted" -- v rm vol
mountpoint -q "$TMP/m2" || fail "a refused second mount unmounted the first"
echo still >"$TMP/m2/alive" || fail "the first mount stopped working after a refused second mount"

# umount of what is not a volfs mount
refused "not.*mount" -- v umount "$TMP/m3"
mount -t tmpfs -o size=1M volfs-test "$TMP/m3"
MT_MOUNTS+=("$TMP/m3")
refused "not.*volfs|not.*mount" -- v umount "$TMP/m3"
umount "$TMP/m3"

# the daemon killed: the volume mounts again at once, with what was fsynced
python3 - "$TMP/m2/synced" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"fsynced before the kill\n" * 1000)
os.fsync(fd)
os.close(fd)
PY
mapfile -t pids < <(mt_daemon_of "$TMP/m2")
if (( ${#pids[@]} != 1 )); then
	# not by its command line: the daemons of this store but the other one's
	note "daemon of $TMP/m2 not found by its command line (${pids[*]:-none})"
	mapfile -t other < <(mt_daemon_of "$TMP/m")
	pids=()
	for p in $(mt_daemon_pids); do
		[[ " ${other[*]} " == *" $p "* ]] || pids+=("$p")
	done
fi
(( ${#pids[@]} >= 1 )) || fail "cannot find the daemon serving $TMP/m2"
note "killing daemon ${pids[*]} of $TMP/m2 with SIGKILL"
kill -9 "${pids[@]}"
for _ in $(seq 100); do
	alive=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	(( alive )) || break
	sleep 0.1
done
(( ! alive )) || fail "daemon ${pids[*]} survived SIGKILL"
if mt_is_mounted "$TMP/m2"; then
	err=$(stat "$TMP/m2" 2>&1) && note "stat of the dead mount worked?" ||
		grep -q "not connected" <<<"$err" || note "stat of the dead mount: $err"
	umount -l "$TMP/m2" || fail "umount -l of the dead mount failed"
fi
start=$(date +%s%N)
mt_mount vol "$TMP/m2"
note "mounted again $(( ($(date +%s%N) - start) / 1000000 )) ms after the kill's cleanup"
[[ $(head -n 1 "$TMP/m2/synced") == "fsynced before the kill" ]] || fail "fsynced data lost by SIGKILL"
[[ $(wc -l <"$TMP/m2/synced") == 1000 ]] || fail "fsynced file has $(wc -l <"$TMP/m2/synced") lines, want 1000"
echo again >"$TMP/m2/after" || fail "cannot write after remounting"
mt_umount "$TMP/m2"
mt_umount "$TMP/m"
[[ -z $(mounts_of_tmp) ]] || fail "mounts left: $(mounts_of_tmp)"
echo "badinput: all passed"
