#!/bin/bash
# A real database server on a volume: MariaDB (InnoDB), its whole data
# directory on the mount, through lib.sh's mt_server_trials: sysbench's
# oltp_write_only load (4 threads) and a checked writer; a clean stop and
# remount, then twice the daemon killed under load and the server recovering
# from its redo log.  InnoDB writes its files with O_DIRECT and native AIO
# and fsyncs them, a path the page cache's write-back never takes.  The
# checks: CHECK TABLE … EXTENDED on every table; the writer's rows are
# exactly 1..K with their values, K the last row it saw committed or the one
# under way.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null ||
	skip "no MariaDB server (Debian's mariadb-server package)"
command -v sysbench >/dev/null || skip "no sysbench (Debian's sysbench package)"
id mysql >/dev/null 2>&1 || skip "no mysql user (made by Debian's mariadb-server package)"
mt_setup
(( MT_PLAIN )) && skip "the server's data directory must be on a mount this test can kill"

data=$MNT/mysql
run=$TMP/run   # socket, pid file and error log: off the volume, as in /run
mkdir -m 700 "$data" "$run"
chown mysql:mysql "$data" "$run"
sock=$run/socket
log=$run/error.log
client() { mariadb --no-defaults -S "$sock" -u root "$@"; }
sql() { client -N -B -e "$1" sb; }

server=
server_kill() {
	[[ -n $server ]] && kill -0 "$server" 2>/dev/null || return 0
	kill -9 "$server"
	wait "$server" 2>/dev/null || true
}
mt_on_exit server_kill

mariadb-install-db --no-defaults --user=mysql --datadir="$data" --auth-root-authentication-method=normal \
	>"$TMP/install.log" 2>&1 || fail "mariadb-install-db on the mount failed: $(tail -n 5 "$TMP/install.log")"
server_start() {
	truncate -c -s 0 "$log"
	mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$sock" --pid-file="$run/pid" \
		--skip-networking --log-error="$log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
	server=$!
	for _ in $(seq 600); do
		client -e 'SELECT 1' >/dev/null 2>&1 && return 0
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	fail "the server did not start: $(tail -n 5 "$log")"
}
server_stop() {
	client -e 'SHUTDOWN' || fail "the server refused to shut down"
	wait "$server" || fail "the server exited $? on shutdown: $(tail -n 5 "$log")"
	server=
}
server_recovered() {
	grep -q 'Starting crash recovery' "$log" || { tail -n 5 "$log"; return 1; }
}
server_start
client -e 'CREATE DATABASE sb'
sql "CREATE TABLE ck (k int PRIMARY KEY, v char(32) NOT NULL) ENGINE=InnoDB"
bench=(sysbench oltp_write_only --db-driver=mysql --mysql-socket="$sock" --mysql-user=root
	--mysql-db=sb --tables=4 --table-size=20000)
"${bench[@]}" prepare >"$TMP/prepare.log" 2>&1 || fail "sysbench prepare failed: $(tail -n 5 "$TMP/prepare.log")"

writer() {   # FIRST ACKS
	mt_checked_writer "$1" "$2" mariadb --no-defaults -S "$sock" -u root -n -N -B sb
}

load() {   # SECONDS
	"${bench[@]}" --threads=4 --time="$1" run
}

check() {   # WANT
	local want=$1 bad rows k n wrong
	bad=$(client -N -B -e 'CHECK TABLE sbtest1, sbtest2, sbtest3, sbtest4, ck EXTENDED' sb |
		awk -F '\t' '$3 != "status" || $4 != "OK"') || fail "CHECK TABLE failed to run (above)"
	[[ -z $bad ]] || fail "CHECK TABLE finds: $bad"
	rows=$(sql "SELECT coalesce(max(k), 0), count(*),
		coalesce(sum(CAST(v AS BINARY) <> CAST(md5(k) AS BINARY)), 0) FROM ck") ||
		fail "reading the writer's rows failed (above)"
	read -r k n wrong <<<"$rows"
	(( n == k && wrong == 0 )) || fail "the writer's rows: $n rows up to $k, $wrong with a wrong value"
	(( k == want || k == want + 1 )) || fail "the writer saw $want rows committed, the table holds $k"
	echo "$k"
}

mt_server_trials
echo "mariadb: all passed"
