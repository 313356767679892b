#!/bin/bash
# A real database on a volume: SQLite (database.py), in WAL mode with
# synchronous=FULL and in rollback-journal mode with synchronous=EXTRA (what
# makes each COMMIT durable in that mode: FULL does not fsync the directory
# after the journal's unlink, the commit point).
#  1. Transactions, then umount and mount: the database passes
#     integrity_check and holds exactly what its transactions made.
#  2. The daemon killed with SIGKILL while transactions run: mounted again,
#     the database passes integrity_check, and every transaction whose
#     COMMIT had returned is there (counted once the worker's fsync of the
#     directory after it returned too: database.py says why); the one under
#     way may be there too, whole.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
db() { python3 "$(dirname "$0")/database.py" "$@"; }

python3 -c 'import sqlite3' 2>/dev/null || skip "python3 has no sqlite3 module"
mt_setup

for mode in wal delete; do
	db run "$MNT/$mode.db" "$mode" 1 300 "$TMP/$mode.log" || fail "$mode: the transactions failed"
	k=$(db check "$MNT/$mode.db" "$mode" 1) || fail "$mode: the database is wrong (above)"
	[[ $k == 300 ]] || fail "$mode: $k transactions committed, want 300"
done
mt_umount "$MNT"
mt_mount vol "$MNT"
for mode in wal delete; do
	k=$(db check "$MNT/$mode.db" "$mode" 1) ||
		fail "$mode: the database is wrong after umount and mount (above)"
	[[ $k == 300 ]] || fail "$mode: $k transactions after umount and mount, want 300"
done
note "300 transactions in each mode, intact after umount and mount"

if (( MT_PLAIN )); then
	echo "database: all passed (no daemon to kill on a plain directory)"
	exit 0
fi

for mode in wal delete; do
	log=$TMP/kill-$mode.log
	: >"$log"
	db run "$MNT/kill-$mode.db" "$mode" 2 0 "$log" 2>"$TMP/kill-$mode.err" &
	worker=$!
	for _ in $(seq 600); do
		(( $(wc -l <"$log") >= 200 )) && break
		kill -0 "$worker" 2>/dev/null || fail "$mode: the transactions stopped: $(cat "$TMP/kill-$mode.err")"
		sleep 0.1
	done
	mt_kill_daemon "$MNT"
	# the worker stops with an error (3), or a signal should a page of its mapping be lost
	rc=0
	wait "$worker" || rc=$?
	(( rc != 0 )) || fail "$mode: the transactions went on after the daemon was killed"
	umount -l "$MNT" || fail "umount -l of the dead mount failed"
	mt_mount vol "$MNT"
	last=$(tail -n 1 "$log")
	k=$(db check "$MNT/kill-$mode.db" "$mode" 2) || fail "$mode: the database is wrong after the kill (above)"
	(( k == last || k == last + 1 )) ||
		fail "$mode: $last transactions had committed before the kill, the database holds $k"
	note "$mode: killed after transaction $last had committed; the database holds $k"
done
mt_umount "$MNT"
echo "database: all passed"
