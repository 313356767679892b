#!/bin/bash
# tests/crash/crash.sh VOLFS FSCK WORKLOAD — crash trials.
#
# Each trial: a fresh volume on one store, mounted through the real kernel
# (`volfs mount`); the workload (workload.c) appends, creates small files by
# rename, and rewrites pages of a database-like file, logging to a file
# outside the mount every write that fsync acknowledged; at a random moment
# (seeded) the daemon is killed with SIGKILL; the dead mount is lazily
# unmounted; the volume is mounted again; every acknowledged write must be
# there with the right bytes; after unmounting, `fsck.volfs -n` must find the
# store clean (exit 0).
#
#   VOLFS_CRASH_TRIALS   number of trials (default 3)
#   VOLFS_CRASH_SEED     seed of the first trial (default: from the clock; printed)
#
# Exit 77 (skip) without root or /dev/fuse; prints "crash trials: N passed, N failed".
set -uo pipefail

VOLFS=${1:?usage: crash.sh VOLFS FSCK WORKLOAD}
FSCK=${2:?usage: crash.sh VOLFS FSCK WORKLOAD}
WORKLOAD=${3:?usage: crash.sh VOLFS FSCK WORKLOAD}
skip() { echo "SKIP: $*" >&2; exit 77; }
[[ $(id -u) == 0 ]] || skip "the crash trials need root (they mount volumes through FUSE)"
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: no FUSE in this kernel or container"

TRIALS=${VOLFS_CRASH_TRIALS:-3}
SEED=${VOLFS_CRASH_SEED:-$(( $(date +%s) % 100000 ))}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/volfs-crash-XXXXXX")
STORE=$TMP/store
MNT=$TMP/mnt
mkdir -p "$MNT"

v() { "$VOLFS" --store "$STORE" "$@"; }

is_mounted() {
	awk -v d="$(realpath -m "$MNT")" '$2 == d { f = 1 } END { exit !f }' /proc/mounts
}

# The daemon serving $MNT: its run/mount-<pid> record names the mount point first.
daemon_pid() {
	local rec real
	real=$(realpath -m "$MNT")
	for rec in "$STORE"/run/mount-*; do
		[[ -e $rec ]] || continue
		if [[ $(head -n 1 "$rec") == "$real" ]]; then
			local pid=${rec##*/mount-}
			kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
		fi
	done
	pgrep -f -- "mount.* $MNT\$" | head -n 1
}

cleanup() {
	local rc=$? pid
	set +e
	if is_mounted; then
		timeout 30 "$VOLFS" --store "$STORE" umount "$MNT" >/dev/null 2>&1
		is_mounted && umount -l "$MNT" 2>/dev/null
		is_mounted && echo "cleanup: COULD NOT UNMOUNT $MNT" >&2
	fi
	for pid in $(pgrep -f -- "$STORE"); do
		[[ $pid == "$$" ]] || kill -9 "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

v init >/dev/null || { echo "FAIL: volfs init" >&2; exit 1; }

passed=0 failed=0
echo "# crash trials: $TRIALS, seeds $SEED..$(( SEED + TRIALS - 1 )) (VOLFS_CRASH_SEED to repeat)"
for (( t = 0; t < TRIALS; t++ )); do
	seed=$(( SEED + t ))
	RANDOM=$seed
	vol=t$t
	# rotate block sizes and commit intervals: 4 KiB blocks hit chunks at
	# once, 128 KiB ones buffer; commit=1 lets the flusher journal and commit
	# in between; the smallest dirty limit has fsync trim a full journal
	case $(( t % 3 )) in
	0) bs=128K; opts=commit=5 ;;
	1) bs=4K; opts=commit=1 ;;
	2) bs=16K; opts=commit=1,dirty_limit=1M ;;
	esac
	delay_ms=$(( 300 + RANDOM % 2700 ))
	log=$TMP/log.$t
	ok=1
	why=
	v create "$vol" -o block_size=$bs >/dev/null || { ok=0; why="create failed"; }
	if (( ok )) && ! v mount -o "$opts" "$vol" "$MNT"; then ok=0; why="mount failed"; fi
	if (( ok )); then
		"$WORKLOAD" run "$MNT" "$log" "$seed" 2>"$TMP/run.$t.err" &
		wpid=$!
		sleep "$(( delay_ms / 1000 )).$(printf %03d $(( delay_ms % 1000 )))"
		dpid=$(daemon_pid)
		if [[ -z $dpid ]]; then
			ok=0; why="no daemon found for $MNT"
		else
			kill -9 "$dpid"
			# the kernel fails the workload's requests once the device is closed
			for _ in $(seq 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
		fi
		umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
	fi
	if (( ok )) && ! v mount "$vol" "$MNT"; then ok=0; why="mount after the crash failed"; fi
	if (( ok )); then
		if ! "$WORKLOAD" verify "$MNT" "$log" "$seed" 2>"$TMP/verify.$t.err"; then
			ok=0; why="acknowledged data lost"
		fi
		if ! timeout 120 "$VOLFS" --store "$STORE" umount "$MNT"; then
			ok=0; why="${why:+$why; }umount failed"
		fi
	fi
	if (( ok )); then
		"$FSCK" -n --store "$STORE" >"$TMP/fsck.$t.out" 2>&1
		rc=$?
		if (( rc != 0 )); then ok=0; why="fsck.volfs -n exited $rc"; fi
	fi
	summary=$(tail -n 1 "$TMP/verify.$t.err" 2>/dev/null)
	if (( ok )); then
		passed=$(( passed + 1 ))
		echo "ok   trial $t (seed $seed, block $bs, $opts, kill after ${delay_ms} ms): ${summary#workload: }"
		grep -E '^leftovers of a crash' "$TMP/fsck.$t.out" | sed 's/^/     fsck: /'
	else
		failed=$(( failed + 1 ))
		echo "FAIL trial $t (seed $seed, block $bs, $opts, kill after ${delay_ms} ms): $why"
		for f in "$TMP/run.$t.err" "$TMP/verify.$t.err" "$TMP/fsck.$t.out"; do
			[[ -s $f ]] && sed "s|^|    ${f##*/}: |" "$f" | head -n 30
		done
		is_mounted && { timeout 60 "$VOLFS" --store "$STORE" umount "$MNT" || umount -l "$MNT"; }
	fi
done
echo "crash trials: $passed passed, $failed failed"
(( failed == 0 ))
