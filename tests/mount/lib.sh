# shellcheck shell=bash
# tests/mount/lib.sh — sourced by the mount tests.  $1 (or $VOLFS) is the
# volfs binary; $MOUNT_VOLFS, if set, is the mount(8) helper mount.volfs.
#
# Two modes:
#   real      a temporary store with volumes mounted through the real kernel;
#             needs root and /dev/fuse, else the test exits 77 saying why.
#   VOLFS_TEST_DIR=/some/dir
#             nothing is mounted: the checks run on a fresh subdirectory of
#             that plain directory, to validate the suite itself against a
#             local filesystem (mt_umount / mt_mount are then no-ops).
#
# Every mount made here is undone by the EXIT trap, by `volfs umount`, then
# fusermount3 -u, then umount -l as a last resort: a test never leaves a
# mount behind.

VOLFS=${1:-${VOLFS:-}}
if [[ -n $VOLFS && $VOLFS != /* && -e $VOLFS ]]; then VOLFS=$PWD/$VOLFS; fi
MOUNT_VOLFS=${MOUNT_VOLFS:-}

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
note() { echo "# $*" >&2; }

MT_PLAIN=0
[[ -n ${VOLFS_TEST_DIR:-} ]] && MT_PLAIN=1

if (( MT_PLAIN )); then
	[[ -d $VOLFS_TEST_DIR ]] || fail "VOLFS_TEST_DIR=$VOLFS_TEST_DIR is not a directory"
	TMP=$(mktemp -d "$VOLFS_TEST_DIR/volfs-mt-XXXXXX")
else
	[[ $(id -u) == 0 ]] || skip "the mount tests need root (they mount, and switch to other uids)"
	[[ -c /dev/fuse ]] || skip "/dev/fuse is missing: no FUSE in this kernel or container"
	[[ -n $VOLFS && -x $VOLFS ]] || fail "usage: $0 PATH-TO-volfs (or VOLFS=...)"
	# Until the daemon exists, there is nothing to test.
	"$VOLFS" help mount >/dev/null 2>&1 ||
		skip "this volfs has no 'mount' command ('$VOLFS help mount' failed)"
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/volfs-mt-XXXXXX")
fi
chmod 755 "$TMP"   # the cases run as an unprivileged user must reach in
STORE=$TMP/store
MT_MOUNTS=()       # mount points this test mounted (real mode)

# The pids of the daemons serving this test's store: the processes whose
# command line names the store, or that hold a file of it open.
mt_daemon_pids() {
	{
		pgrep -f -- "$STORE" || true
		fuser "$STORE"/run/* 2>/dev/null | tr -s ' ' '\n' || true
	} | grep -E '^[0-9]+$' | grep -vx "$$" | sort -un
}

# mt_daemon_of DIR: the pids of this store's daemons whose command line
# names DIR.
mt_daemon_of() {
	local p
	for p in $(mt_daemon_pids); do
		[[ " $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" == *" $1 "* ]] && echo "$p"
	done
	return 0
}

# mt_kill_daemon DIR: SIGKILL to the one daemon of this store serving DIR (a crash).
mt_kill_daemon() {
	local pids
	mapfile -t pids < <(mt_daemon_of "$1")
	(( ${#pids[@]} == 1 )) || fail "want the one daemon of $1, found: ${pids[*]:-none}"
	kill -9 "${pids[0]}"
}

# mt_is_mounted DIR: DIR is listed in /proc/mounts (also when its daemon is
# dead and stat fails with ENOTCONN, where `mountpoint -q` says no).
mt_is_mounted() {
	local dir
	dir=$(realpath -m "$1")
	awk -v d="$dir" '$2 == d { found = 1 } END { exit !found }' /proc/mounts
}

MT_ON_EXIT=()      # functions run at exit before the unmounting (mt_on_exit)

# mt_on_exit FUNCTION: FUNCTION runs at exit, before lib.sh unmounts what is
# left (say, to stop a server whose files hold a mount).
mt_on_exit() { MT_ON_EXIT+=("$1"); }

mt_cleanup() {
	local rc=$? dir i
	set +e
	for i in "${MT_ON_EXIT[@]}"; do "$i"; done
	for (( i = ${#MT_MOUNTS[@]} - 1; i >= 0; i-- )); do
		dir=${MT_MOUNTS[i]}
		mt_is_mounted "$dir" || continue
		echo "cleanup: $dir is still mounted" >&2
		timeout 60 "$VOLFS" --store "$STORE" umount "$dir" >/dev/null 2>&1
		mt_is_mounted "$dir" && fusermount3 -u "$dir" 2>/dev/null
		mt_is_mounted "$dir" && umount -l "$dir" 2>/dev/null
		mt_is_mounted "$dir" && echo "cleanup: COULD NOT UNMOUNT $dir" >&2
	done
	# Other mounts under TMP (a tmpfs a test put on a mount point, …).
	awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r dir; do umount -l "$dir" 2>/dev/null; done
	if [[ -d $STORE ]]; then
		for i in $(mt_daemon_pids); do
			echo "cleanup: daemon $i still running, killing it" >&2
			kill -9 "$i" 2>/dev/null
		done
	fi
	chmod -R u+rwx "$TMP" 2>/dev/null
	rm -rf "$TMP"
	exit "$rc"
}
trap mt_cleanup EXIT
trap 'exit 130' INT TERM

# v ARG...: the volfs command on this test's store.
v() { "$VOLFS" --store "$STORE" "$@"; }

# mt_store: initialise the store (real mode only).
mt_store() {
	(( MT_PLAIN )) && return 0
	[[ -d $STORE/index ]] && return 0
	v init >/dev/null || fail "volfs init --store $STORE failed"
}

# mt_create NAME [OPTS]: a volume (real mode only).
mt_create() {
	(( MT_PLAIN )) && return 0
	mt_store
	local name=$1
	shift
	v create "$name" "$@" >/dev/null || fail "volfs create $name $* failed"
}

# mt_mount NAME DIR [ARG...]: mounts volume NAME on DIR (made if missing) with
# `volfs mount` and checks it is a live fuse.volfs mount once that returns.
# In plain mode DIR becomes a plain directory (kept across "remounts").
mt_mount() {
	local name=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	(( MT_PLAIN )) && return 0
	MT_MOUNTS+=("$dir")
	v mount "$name" "$dir" "$@" || fail "volfs mount $name $dir $* exited $?"
	mt_check_mounted "$dir"
}

# mt_helper_mount NAME DIR OPTS: the same through mount.volfs (the mount(8)
# helper) with -o store=STORE[,OPTS]; returns 1 when there is no helper.
mt_helper_mount() {
	local name=$1 dir=$2 opts=${3:+,$3}
	mkdir -p "$dir"
	(( MT_PLAIN )) && return 0
	[[ -n $MOUNT_VOLFS && -x $MOUNT_VOLFS ]] || return 1
	MT_MOUNTS+=("$dir")
	"$MOUNT_VOLFS" "$name" "$dir" -o "store=$STORE$opts" ||
		fail "mount.volfs $name $dir -o store=$STORE$opts exited $?"
	mt_check_mounted "$dir"
}

# mt_check_mounted DIR: a live mount of type fuse.volfs with allow_other and
# default_permissions (the options are in /proc/mounts' 4th field for FUSE:
# default_permissions,allow_other appear there).
mt_check_mounted() {
	local dir line
	dir=$(realpath "$1")
	mountpoint -q "$dir" || fail "$dir is not a mount point after mounting"
	line=$(awk -v d="$dir" '$2 == d' /proc/mounts | tail -n 1)
	[[ $(awk '{print $3}' <<<"$line") == fuse.volfs ]] || fail "$dir: want type fuse.volfs, /proc/mounts says: $line"
	[[ $line == *allow_other* ]] || fail "$dir: mounted without allow_other: $line"
	[[ $line == *default_permissions* ]] || fail "$dir: mounted without default_permissions: $line"
	stat "$dir" >/dev/null || fail "$dir: stat of the mount failed"
}

# mt_umount DIR: `volfs umount DIR`; afterwards DIR is no mount and no daemon
# of this store is left.
mt_umount() {
	local dir=$1 i
	(( MT_PLAIN )) && return 0
	timeout 300 "$VOLFS" --store "$STORE" umount "$dir" || fail "volfs umount $dir exited $?"
	! mt_is_mounted "$dir" || fail "$dir is still mounted after volfs umount returned"
	# umount returns once the daemon has committed and exited
	i=$(mt_daemon_of "$dir")
	[[ -z $i ]] || fail "volfs umount $dir returned while its daemon (pid $i) still runs"
}

# mt_setup [CREATE-OPTS...]: the common case, one volume "vol" mounted on
# $MNT (in plain mode: a fresh directory of VOLFS_TEST_DIR).
mt_setup() {
	MNT=$TMP/mnt
	mt_create vol "$@"
	mt_mount vol "$MNT"
}

# mt_checked_writer FIRST ACKS CLIENT...: a database's checked writer.  One
# session of the SQL client CLIENT (reading statements from its stdin, and
# printing each result row as its bare value, unbuffered) inserts rows
# FIRST, FIRST+1, … into ck (k, v = md5 of k), a transaction each, until the
# client fails or the writer is killed.  k is appended to ACKS once its
# COMMIT has returned: the client runs the SELECT that echoes k only then.
mt_checked_writer() {
	local k=$1 acks=$2 line
	shift 2
	coproc SQL { "$@" 2>&1; }
	for (( ; ; k++ )); do
		echo "BEGIN; INSERT INTO ck VALUES ($k, md5('$k')); COMMIT; SELECT 'ok $k';" >&"${SQL[1]}" || return 3
		read -r line <&"${SQL[0]}" || return 3
		[[ $line == "ok $k" ]] || { echo "writer: $line" >&2; return 3; }
		echo "$k" >>"$acks"
	done
}

# mt_server_trials: the course of a database server's test (postgres.sh,
# mariadb.sh) on the volume "vol" mounted on $MNT, with the server running.
# The test defines: server_start, server_stop (clean), server_kill (SIGKILL
# to all its processes), server_recovered (its log of the last start says it
# recovered from a crash), writer FIRST ACKS (mt_checked_writer with the
# server's client), load SECONDS (the benchmark's load; returns when it ends
# or fails), and check WANT (the data checks; WANT is the last row the writer
# saw committed, the row after it may be there too; prints the rows found).
#  1. Both loads, a clean stop, umount and mount: the server starts, and the
#     checks pass.
#  2. Twice: the daemon killed with SIGKILL under both loads, then the server
#     (it cannot outlive its storage in a real crash either); mounted again,
#     the server recovers, and the checks pass.
mt_server_trials() {
	local acks=$TMP/acks k last round w b
	: >"$acks"
	writer 1 "$acks" 2>"$TMP/writer.err" &
	w=$!
	load 8 >"$TMP/load.log" 2>&1 || fail "the load failed: $(tail -n 5 "$TMP/load.log")"
	kill "$w"
	wait "$w" 2>/dev/null || true
	last=$(tail -n 1 "$acks")
	(( last > 0 )) || fail "the writer committed nothing: $(cat "$TMP/writer.err")"
	server_stop
	mt_umount "$MNT"
	mt_mount vol "$MNT"
	server_start
	k=$(check "$last")
	note "the writer's $k rows and the load's intact after a clean stop, umount and mount"

	for round in 1 2; do
		: >"$acks"
		writer $((k + 1)) "$acks" 2>"$TMP/writer.err" &
		w=$!
		load 600 >/dev/null 2>&1 &
		b=$!
		for _ in $(seq 600); do
			(( $(wc -l <"$acks") >= 300 )) && break
			kill -0 "$w" 2>/dev/null || fail "round $round: the writer stopped: $(cat "$TMP/writer.err")"
			sleep 0.1
		done
		sleep 1   # the load's clients are well under way too
		mt_kill_daemon "$MNT"
		server_kill
		wait "$w" "$b" 2>/dev/null || true
		last=$(tail -n 1 "$acks")
		umount -l "$MNT" || fail "umount -l of the dead mount failed"
		mt_mount vol "$MNT"
		server_start
		server_recovered || fail "round $round: the server did not recover from the crash (its log, above)"
		k=$(check "$last")
		note "round $round: killed after row $last had committed; the table holds $k"
	done
	server_stop
	mt_umount "$MNT"
}

# json FILE EXPR: prints the python expression EXPR over the JSON in FILE (as j).
json() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
