#!/bin/bash
# A real database server on a volume: PostgreSQL, its whole data directory on
# the mount, run as an unprivileged uid, through lib.sh's mt_server_trials:
# pgbench's TPC-B load (4 clients) and a checked writer; a clean stop and
# remount, then twice the daemon killed under load and the server recovering
# from its WAL.  The checks: amcheck's verify_heapam on every table and
# bt_index_check (with heapallindexed) on every B-tree index; TPC-B's
# balances agree (accounts, tellers, branches and history each sum every
# transaction's delta once); the writer's rows are exactly 1..K with their
# values, K the last row it saw committed or the one under way.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
[[ -x $pgbin/initdb && -x $pgbin/pgbench ]] ||
	skip "no PostgreSQL server (Debian's postgresql package) in /usr/lib/postgresql"
command -v psql >/dev/null || skip "no psql"
mt_setup
(( MT_PLAIN )) && skip "the server's data directory must be on a mount this test can kill"

uid=65534   # the server refuses to run as root
data=$MNT/pgdata
sock=$TMP/sock
mkdir -m 700 "$data" "$sock"
chown "$uid:$uid" "$data" "$sock"
as_server() { setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"; }
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$sock" -U server -d postgres -c "$1"; }
log=$sock/server.log   # written by the server's uid

# A server left running would hold the mount: kill it before lib.sh's cleanup.
postmaster=
server_kill() {
	[[ -n $postmaster ]] && kill -0 "$postmaster" 2>/dev/null || return 0
	kill -STOP "$postmaster"   # no new backends while its children are killed
	pkill -9 -P "$postmaster" || true
	kill -9 "$postmaster"
}
mt_on_exit server_kill

as_server "$pgbin/initdb" -D "$data" -U server -A trust >"$TMP/initdb.log" 2>&1 ||
	fail "initdb on the mount failed: $(tail -n 5 "$TMP/initdb.log")"
server_start() {
	# a killed server's lock files (on the volume; the socket's is gone
	# after a real crash's reboot)
	rm -f "$data/postmaster.pid" "$sock"/.s.PGSQL.*
	truncate -c -s 0 "$log"   # this start's log only (the server's uid made the file)
	as_server "$pgbin/pg_ctl" -D "$data" -l "$log" -w -t 120 \
		-o "-c listen_addresses='' -k $sock -c shared_buffers=32MB -c max_wal_size=256MB" start >/dev/null ||
		fail "the server did not start: $(tail -n 5 "$log")"
	postmaster=$(head -n 1 "$data/postmaster.pid")
}
server_stop() {
	as_server "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || fail "the server did not stop"
	postmaster=
}
server_recovered() {
	grep -q 'database system was not properly shut down' "$log" || { tail -n 5 "$log"; return 1; }
}
server_start
sql "CREATE EXTENSION amcheck" >/dev/null
sql "CREATE TABLE ck (k int PRIMARY KEY, v text NOT NULL)" >/dev/null
"$pgbin/pgbench" -h "$sock" -U server -i -q -s 4 postgres >"$TMP/init.log" 2>&1 ||
	fail "pgbench -i failed: $(tail -n 5 "$TMP/init.log")"

writer() {   # FIRST ACKS
	mt_checked_writer "$1" "$2" stdbuf -oL psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$sock" -U server -d postgres
}

# check WANT: the data checks; WANT is the last row the writer saw
# committed, and the row after it may be there too.  Prints the rows found.
check() {
	local want=$1 bad sums rows k n wrong s
	bad=$(sql "SELECT c.relname || ': ' || v.msg FROM pg_class c, verify_heapam(c.oid) v
		WHERE c.relkind = 'r' AND c.relpersistence = 'p' LIMIT 5") ||
		fail "verify_heapam failed to run (above)"
	[[ -z $bad ]] || fail "verify_heapam finds the tables corrupt: $bad"
	sql "SELECT bt_index_check(c.oid, true) FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'btree' AND c.relpersistence = 'p'" >/dev/null ||
		fail "bt_index_check finds an index corrupt (above)"
	sums=$(sql "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),
		(SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)") ||
		fail "reading the TPC-B balances failed (above)"
	IFS='|' read -r -a s <<<"$sums"
	[[ ${s[0]} == "${s[1]}" && ${s[1]} == "${s[2]}" && ${s[2]} == "${s[3]}" ]] ||
		fail "TPC-B balances disagree (accounts|tellers|branches|history): $sums"
	rows=$(sql "SELECT coalesce(max(k), 0), count(*), count(*) FILTER (WHERE v <> md5(k::text)) FROM ck") ||
		fail "reading the writer's rows failed (above)"
	IFS='|' read -r k n wrong <<<"$rows"
	(( n == k && wrong == 0 )) || fail "the writer's rows: $n rows up to $k, $wrong with a wrong value"
	(( k == want || k == want + 1 )) || fail "the writer saw $want rows committed, the table holds $k"
	echo "$k"
}

load() {   # SECONDS
	"$pgbin/pgbench" -h "$sock" -U server -n -c 4 -j 2 -T "$1" postgres
}

mt_server_trials
echo "postgres: all passed"
