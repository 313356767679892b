#!/bin/bash
# tests/crash/powerloss.sh VOLFS FSCK WORKLOAD PL_REPLAY PLSHIM — power-loss trials.
#
# The crash trials (crash.sh) kill the daemon; the kernel still writes what
# the daemon had written.  Here the power goes: what the disk under the store
# had not been told to make durable may be lost, torn or kept, in any mix.
#
# A run: init a store, create a volume, copy the store (cp -a) as the disk at
# the start; mount the volume in the foreground with plshim.so preloaded,
# which logs every write, name change and barrier the daemon (and LMDB in it)
# makes under the store, with the bytes (pl_log.h); run the crash trials'
# workload on it for VOLFS_POWERLOSS_RUN_MS, with the shim's ack mode stamping
# each line of its log of fsync-acknowledged writes with CLOCK_MONOTONIC;
# stop the workload, unmount.  Then each trial: pick a crash point k in the
# log (from the trial's seed), build the disk as a power cut at k may have
# left it (pl_replay.c: what a returned barrier covers is kept, everything
# else before k kept, dropped or torn at random), and check it like a crash
# trial: `fsck.volfs -n` on the disk as found must exit 0, the volume mounts
# (no shim) with no manual step, every write the workload saw acknowledged
# before k's time is there with the right bytes (workload verify), and after
# unmounting `fsck.volfs -n` exits 0 again.
#
# Two runs when there are two trials or more: block_size=4K with commit=1
# (chunks at once, background commits) and 128K with commit=5 (buffered
# blocks); trials alternate between them.
#
#   VOLFS_POWERLOSS_TRIALS   number of trials (default 3)
#   VOLFS_POWERLOSS_SEED     seed of the first trial (default: from the clock; printed)
#   VOLFS_POWERLOSS_RUN_MS   how long the workload runs in each run (default 2000)
#   VOLFS_POWERLOSS_KEEP=1   keep the work directory (logs, failed disks)
#
# An ASan build of volfs needs the shim to come after the sanitizer's runtime:
# ASAN_OPTIONS gets verify_asan_link_order=0.  Exit 77 (skip) without root or
# /dev/fuse; prints "powerloss trials: N passed, N failed".
set -uo pipefail

usage="usage: powerloss.sh VOLFS FSCK WORKLOAD PL_REPLAY PLSHIM"
VOLFS=${1:?$usage}
FSCK=${2:?$usage}
WORKLOAD=${3:?$usage}
REPLAY=${4:?$usage}
SHIM=${5:?$usage}
skip() { echo "SKIP: $*" >&2; exit 77; }
[[ $(id -u) == 0 ]] || skip "the power-loss trials need root (they mount volumes through FUSE)"
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: no FUSE in this kernel or container"
[[ -f $SHIM ]] || { echo "FAIL: no shim $SHIM" >&2; exit 1; }

TRIALS=${VOLFS_POWERLOSS_TRIALS:-3}
SEED=${VOLFS_POWERLOSS_SEED:-$(( $(date +%s) % 100000 ))}
RUN_MS=${VOLFS_POWERLOSS_RUN_MS:-2000}
KEEP=${VOLFS_POWERLOSS_KEEP:-0}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/volfs-pl-XXXXXX")
MNT=$TMP/mnt
mkdir -p "$MNT"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

is_mounted() {
	awk -v d="$(realpath -m "$MNT")" '$2 == d { f = 1 } END { exit !f }' /proc/mounts
}

wait_mounted() {   # PID: wait until $MNT is a mount, or PID died
	for _ in $(seq 200); do
		is_mounted && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

daemons=()
cleanup() {
	local rc=$? pid
	set +e
	if is_mounted; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
		is_mounted && echo "cleanup: COULD NOT UNMOUNT $MNT" >&2
	fi
	for pid in "${daemons[@]}"; do
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	done
	for pid in $(pgrep -f -- "$TMP/"); do
		[[ $pid == "$$" ]] || kill -9 "$pid" 2>/dev/null
	done
	if [[ $KEEP == 1 ]]; then echo "# kept $TMP" >&2; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- one logged run ------------------------------------------------------------
# logged_run R BS OPTS: leaves $TMP/r$R/{disk0,shim.log,ack.ts} (volume "v"), or
# sets $why and fails
logged_run() {
	local r=$1 bs=$2 opts=$3 dir=$TMP/r$1 dpid wpid
	local store=$dir/store
	mkdir -p "$dir"
	"$VOLFS" --store "$store" init >/dev/null || { why="volfs init failed"; return 1; }
	"$VOLFS" --store "$store" create v -o "block_size=$bs" >/dev/null ||
		{ why="volfs create failed"; return 1; }
	cp -a "$store" "$dir/disk0" || { why="cp failed"; return 1; }
	LD_PRELOAD=$SHIM PLSHIM_LOG=$dir/shim.log PLSHIM_ROOT=$store \
		"$VOLFS" --store "$store" mount -f -o "$opts" v "$MNT" 2>"$dir/daemon.err" &
	dpid=$!
	daemons+=("$dpid")
	wait_mounted "$dpid" || { why="mount with the shim failed: $(tail -n 3 "$dir/daemon.err")"; return 1; }
	LD_PRELOAD=$SHIM PLSHIM_ACKLOG=$dir/ack.log PLSHIM_ACKTS=$dir/ack.ts \
		"$WORKLOAD" run "$MNT" "$dir/ack.log" "$(( SEED + r ))" 2>"$dir/run.err" &
	wpid=$!
	sleep "$(( RUN_MS / 1000 )).$(printf %03d $(( RUN_MS % 1000 )))"
	kill -TERM "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	if ! timeout 120 "$VOLFS" --store "$store" umount "$MNT"; then
		why="umount of the logged run failed"; return 1
	fi
	for _ in $(seq 600); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$dpid" 2>/dev/null; then why="the daemon did not exit"; return 1; fi
	wait "$dpid"
	local rc=$?
	if (( rc != 0 )) || grep -q 'ERROR: \(Address\|Undefined\|Leak\)Sanitizer\|runtime error:' "$dir/daemon.err"; then
		why="the logged daemon exited $rc: $(grep -m 3 -e ERROR -e 'runtime error' "$dir/daemon.err")"
		return 1
	fi
	[[ -s $dir/shim.log ]] || { why="the shim logged nothing"; return 1; }
	[[ -s $dir/ack.ts ]] || { why="the workload acknowledged nothing: $(tail -n 2 "$dir/run.err")"; return 1; }
	return 0
}

nruns=$(( TRIALS >= 2 ? 2 : 1 ))
declare -a run_ok run_desc
echo "# powerloss trials: $TRIALS, seeds $SEED..$(( SEED + TRIALS - 1 )) (VOLFS_POWERLOSS_SEED to repeat), $nruns logged run(s) of ${RUN_MS} ms"
for (( r = 0; r < nruns; r++ )); do
	if (( (SEED + r) % 2 )); then bs=4K; opts=commit=1; else bs=128K; opts=commit=5; fi
	run_desc[r]="block $bs, $opts"
	why=
	if logged_run "$r" "$bs" "$opts"; then
		run_ok[r]=1
		echo "# run $r (${run_desc[r]}): $(wc -l <"$TMP/r$r/ack.ts") acknowledged writes," \
			"$(( $(stat -c %s "$TMP/r$r/shim.log") / 1024 )) KiB of log"
	else
		run_ok[r]=0
		echo "FAIL run $r (${run_desc[r]}): $why"
		for f in "$TMP/r$r/daemon.err" "$TMP/r$r/run.err"; do
			[[ -s $f ]] && sed "s|^|    ${f##*/}: |" "$f" | head -n 30
		done
	fi
	is_mounted && umount -l "$MNT"
done

# ---- trials ------------------------------------------------------------------------
passed=0 failed=0
for (( t = 0; t < TRIALS; t++ )); do
	seed=$(( SEED + t ))
	r=$(( t % nruns ))
	dir=$TMP/r$r
	out=$TMP/t$t
	ok=1 why='' summary=''
	if (( !run_ok[r] )); then
		ok=0; why="its logged run failed"
	else
		rm -rf "$out"
		cp -a "$dir/disk0" "$out"
		if ! rline=$("$REPLAY" "$dir/shim.log" "$out" "$seed" 2>"$TMP/replay.$t.err"); then
			ok=0; why="pl_replay failed: $(cat "$TMP/replay.$t.err")"
		fi
	fi
	if (( ok )); then
		cutoff=$(sed -n 's/.* cutoff=\([0-9]*\).*/\1/p' <<<"$rline")
		# the workload's log, as far as it had been written before the power went
		awk -v c="$cutoff" '$1 + 0 < c + 0 { sub(/^[0-9]+ /, ""); print }' "$dir/ack.ts" >"$TMP/ack.$t"
		"$FSCK" -n --store "$out" >"$TMP/fsck0.$t.out" 2>&1
		rc=$?
		(( rc == 0 )) || { ok=0; why="fsck.volfs -n on the disk as found exited $rc"; }
	fi
	if (( ok )) && ! "$VOLFS" --store "$out" mount v "$MNT" 2>"$TMP/mount.$t.err"; then
		ok=0; why="${why:+$why; }mount after the power loss failed"
	fi
	if (( ok )); then
		if ! "$WORKLOAD" verify "$MNT" "$TMP/ack.$t" "$(( SEED + r ))" 2>"$TMP/verify.$t.err"; then
			ok=0; why="acknowledged data lost"
		fi
		summary=$(tail -n 1 "$TMP/verify.$t.err")
		if ! timeout 120 "$VOLFS" --store "$out" umount "$MNT"; then
			ok=0; why="${why:+$why; }umount failed"
		fi
	fi
	if (( ok )); then
		"$FSCK" -n --store "$out" >"$TMP/fsck.$t.out" 2>&1
		rc=$?
		(( rc == 0 )) || { ok=0; why="fsck.volfs -n after the remount exited $rc"; }
	fi
	if (( ok )); then
		passed=$(( passed + 1 ))
		echo "ok   trial $t (seed $seed, run $r: ${run_desc[r]}; ${rline:-}): ${summary#workload: }"
		grep -hE '^leftovers of a crash' "$TMP/fsck0.$t.out" | sed 's/^/     fsck before mount: /'
		rm -rf "$out"
	else
		failed=$(( failed + 1 ))
		echo "FAIL trial $t (seed $seed, run $r: ${run_desc[r]}; ${rline:-}): $why"
		for f in "$TMP/replay.$t.err" "$TMP/fsck0.$t.out" "$TMP/mount.$t.err" \
			 "$TMP/verify.$t.err" "$TMP/fsck.$t.out"; do
			[[ -s $f ]] && sed "s|^|    ${f##*/}: |" "$f" | head -n 30
		done
		is_mounted && { timeout 60 "$VOLFS" --store "$out" umount "$MNT" || umount -l "$MNT"; }
	fi
done
echo "powerloss trials: $passed passed, $failed failed"
(( failed == 0 ))
