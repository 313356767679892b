#!/bin/bash
# Happy paths of the admin tool: init, create, list, inspect, rm, --help.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

S=$TMP/store
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'

# init: the layout of DESIGN.md, mode 0700
"$VOLFS" init --store "$S" | grep -q "initialised store $S" || fail "init output"
[[ $(stat -c %a "$S") == 700 ]] || fail "store mode $(stat -c %a "$S")"
for d in index chunks tmp run; do [[ -d $S/$d ]] || fail "no $d/"; done
[[ -f $S/index/data.mdb ]] || fail "no index/data.mdb"

# create: global --store before the command, and after it; every size syntax
[[ $("$VOLFS" --store "$S" create db -o block_size=16K) == db ]] || fail "create db output"
"$VOLFS" create web --store "$S" >/dev/null
"$VOLFS" --store "$S" create big -o block_size=1MiB >/dev/null
"$VOLFS" --store "$S" create small -o block_size=4096 >/dev/null
"$VOLFS" --store "$S" create mid -o block_size=64k >/dev/null
"$VOLFS" --store "$S" create A.b_c-9 -o block_size=8KiB,block_size=32768 >/dev/null
long=$(printf 'v%.0s' {1..128})
"$VOLFS" --store "$S" create "$long" >/dev/null

# list: a header, one line per volume in name order (each a new process)
"$VOLFS" --store "$S" list >"$TMP/list"
head -n1 "$TMP/list" | grep -qE '^NAME +CREATED +SIZE +FILES +SHARED$' || fail "list header: $(head -n1 "$TMP/list")"
[[ $(tail -n +2 "$TMP/list" | awk '{print $1}' | tr '\n' ' ') == "A.b_c-9 big db mid small $long web " ]] ||
	fail "list names: $(cat "$TMP/list")"
grep -qE "^db +$iso +0B +0 +0$" "$TMP/list" || fail "list line of db: $(grep '^db ' "$TMP/list")"

"$VOLFS" --store "$S" list --json >"$TMP/list.json"
[[ $(json "$TMP/list.json" 'len(j)') == 7 ]] || fail "list --json length"
[[ $(json "$TMP/list.json" '[v["name"] for v in j][2]') == db ]] || fail "list --json order"

# inspect: JSON with every field
check_inspect() {   # NAME BLOCK_SIZE
	"$VOLFS" --store "$S" inspect "$1" >"$TMP/inspect.json" || fail "inspect $1"
	python3 - "$TMP/inspect.json" "$1" "$2" <<'PY' || fail "inspect $1: $(cat "$TMP/inspect.json")"
import json, re, sys
j = json.load(open(sys.argv[1]))
assert j["name"] == sys.argv[2], j
assert j["block_size"] == int(sys.argv[3]), j
assert isinstance(j["id"], int) and j["id"] >= 1, j
assert isinstance(j["tree"], int) and j["tree"] >= 1, j
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", j["created"]), j
assert j["generation"] == 1, j
assert (j["files"], j["size_bytes"], j["blocks"], j["blocks_shared"]) == (0, 0, 0, 0), j
assert j["snapshots"] == [], j
PY
}
check_inspect db 16384
check_inspect web 131072
check_inspect big 1048576
check_inspect small 4096
check_inspect mid 65536
check_inspect A.b_c-9 32768
check_inspect "$long" 131072

# rm: gone from the list, and the name can be used again (with a new id)
old_id=$(json "$TMP/inspect.json" 'j["id"]')
"$VOLFS" --store "$S" inspect db >"$TMP/db.json"
db_id=$(json "$TMP/db.json" 'j["id"]')
[[ $("$VOLFS" --store "$S" rm db) == db ]] || fail "rm output"
"$VOLFS" --store "$S" list | grep -q '^db ' && fail "db still listed after rm"
expect_fail 1 "inspect: no volume named 'db'" -- "$VOLFS" --store "$S" inspect db
[[ ! -e $S/run/vol-$db_id.lock ]] || fail "lock file of a removed volume left behind"
"$VOLFS" --store "$S" create db -o block_size=8K >/dev/null
check_inspect db 8192
new_id=$(json "$TMP/inspect.json" 'j["id"]')
(( new_id > old_id )) || fail "re-created db has id $new_id, not a new one"

# VOLFS_STORE is honoured; --store wins over it
VOLFS_STORE=$S "$VOLFS" list | grep -q '^web ' || fail "VOLFS_STORE not used"
VOLFS_STORE=$TMP/nowhere "$VOLFS" --store "$S" list | grep -q '^web ' || fail "--store does not win"
VOLFS_STORE=$TMP/s2 "$VOLFS" init >/dev/null
VOLFS_STORE=$TMP/s2 "$VOLFS" create other >/dev/null
[[ $("$VOLFS" --store "$TMP/s2" list | tail -n +2 | awk '{print $1}') == other ]] || fail "VOLFS_STORE init/create"

# an empty VOLFS_STORE means the default store
if [[ ! -e /var/lib/volfs ]]; then
	expect_fail 1 "store /var/lib/volfs: does not exist" -- env VOLFS_STORE= "$VOLFS" list
	expect_fail 1 "store /var/lib/volfs: does not exist" -- env -u VOLFS_STORE "$VOLFS" list
fi

# rm is refused while the volume's lock is held (as by a mount)
"$VOLFS" --store "$S" inspect web >"$TMP/web.json"
lock=$S/run/vol-$(json "$TMP/web.json" 'j["id"]').lock
flock "$lock" sleep 30 >/dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do flock -n "$lock" true || break; sleep 0.1; done
flock -n "$lock" true && fail "could not take the lock of web"
expect_fail 1 "rm: volume 'web' is mounted" -- "$VOLFS" --store "$S" rm web
"$VOLFS" --store "$S" list | grep -q '^web ' || fail "web gone after a refused rm"
kill $(ps -o pid= --ppid "$holder") "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
"$VOLFS" --store "$S" rm web >/dev/null
"$VOLFS" --store "$S" list | grep -q '^web ' && fail "web still listed"

# An init that crashed before its meta record: not a store, and init finishes it
mkdir -p "$TMP/half"/{index,chunks,tmp,run}
expect_fail 1 "not initialised \(run 'volfs init --store $TMP/half'\)" -- "$VOLFS" --store "$TMP/half" list
"$VOLFS" init --store "$TMP/half" >/dev/null
"$VOLFS" --store "$TMP/half" create x >/dev/null

# An existing empty directory can become a store
mkdir "$TMP/empty"
"$VOLFS" init --store "$TMP/empty" >/dev/null
"$VOLFS" --store "$TMP/empty" list | grep -q '^NAME' || fail "store in an empty directory"

# --help everywhere: usage on stdout, exit 0
for c in init create list inspect rm help; do
	"$VOLFS" "$c" --help | grep -q "^Usage: volfs $c" || fail "$c --help"
	"$VOLFS" "$c" -h | grep -q "^Usage: volfs $c" || fail "$c -h"
	"$VOLFS" help "$c" | grep -q "^Usage: volfs $c" || fail "help $c"
done
for h in --help -h help; do
	"$VOLFS" $h | grep -q '^Usage: volfs \[--store DIR\] COMMAND' || fail "volfs $h"
done
"$VOLFS" --version | grep -qE '^volfs [0-9]+\.[0-9]+' || fail "--version"

echo "admin: all passed"
