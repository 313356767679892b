#!/bin/bash
# Bad input of every kind: a clear message, a non-zero exit, nothing changed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

S=$TMP/store
"$VOLFS" init --store "$S" >/dev/null
"$VOLFS" --store "$S" create keep >/dev/null
v() { "$VOLFS" --store "$S" "$@"; }

# bad CODE PATTERN -- CMD...: CMD fails as expect_fail says and $S is unchanged
before=$(state "$S")
bad() {
	expect_fail "$@"
	[[ $(state "$S") == "$before" ]] || fail "'${*:4}' changed the store"
}

# volume names
long=$(printf 'a%.0s' {1..200})
for name in "../x" "" "a/b" "$long" ".hidden" "_x" "a b" "x:y" "$(printf 'v%.0s' {1..129})"; do
	bad 1 "create: invalid volume name '.*': use 1-128 of A-Z a-z 0-9 _ \. - starting with a letter or digit" \
		-- v create "$name"
done
bad 1 "invalid volume name '-o'" -- v create -- -o
bad 2 "create: option '-o' needs an argument" -- v create -o
bad 1 "inspect: invalid volume name '\.\./x'" -- v inspect ../x
bad 1 "rm: invalid volume name 'a/b'" -- v rm a/b

# block sizes
for bs in 3000 2048 2M abc 0 1K 128KB 4k4 -4K 99999999999999999999999 18446744073709551615K; do
	bad 1 "create: block size $bs must be a power of two from 4K to 1M" -- v create new -o "block_size=$bs"
done
bad 2 "create: option block_size needs a value" -- v create new -o block_size=
bad 2 "create: unknown option 'colour=red' \(known: block_size\)" -- v create new -o colour=red
bad 2 "create: unknown option 'blocksize=4K'" -- v create new -o block_size=4K,blocksize=4K

# usage errors
bad 2 "unknown command 'frobnicate'" -- v frobnicate
bad 2 "create: missing volume name" -- v create
bad 2 "inspect: missing volume name" -- v inspect
bad 2 "rm: missing volume name" -- v rm
bad 2 "create: unexpected argument 'b'" -- v create a b
bad 2 "list: unexpected argument 'x'" -- v list x
bad 2 "init: unexpected argument 'x'" -- "$VOLFS" init --store "$TMP/new" x
[[ ! -e $TMP/new ]] || fail "init with a bad argument made a directory"
bad 2 "unknown option '--frob'" -- v --frob list
bad 2 "list: unknown option '--frob'" -- v list --frob
bad 2 "list: unknown option '-x'" -- v list -x
bad 2 "option '--store' needs an argument" -- "$VOLFS" list --store
expect_fail 2 "Usage: volfs" -- "$VOLFS"

# fsck.volfs: usage errors exit 16, as fsck(8) says, and change nothing
fsck=$(dirname "$VOLFS")/fsck.volfs
if [[ -x $fsck ]]; then
	bad 16 "fsck.volfs: '$S' is not a volume name .*fsck.volfs --store $S" -- "$fsck" -n "$S"
	bad 16 "fsck.volfs: -n, -y and -p exclude one another" -- "$fsck" -n -y --store "$S"
	bad 16 "usage: fsck.volfs" -- "$fsck" --frob --store "$S"
fi

# a duplicate name; volumes that do not exist
bad 1 "create: volume 'keep' exists already" -- v create keep
bad 1 "inspect: no volume named 'nope'" -- v inspect nope
bad 1 "rm: no volume named 'nope'" -- v rm nope

# init over a store, into a non-empty directory, a file, a missing parent
bad 1 "store $S: is a volfs store already" -- "$VOLFS" init --store "$S"
mkdir "$TMP/full" && echo data >"$TMP/full/file"
expect_fail 1 "store $TMP/full: directory is not empty" -- "$VOLFS" init --store "$TMP/full"
[[ $(ls -A "$TMP/full") == file ]] || fail "init changed a non-empty directory"
echo data >"$TMP/file"
expect_fail 1 "store $TMP/file: not a directory" -- "$VOLFS" init --store "$TMP/file"
expect_fail 1 "store $TMP/file: not a directory" -- "$VOLFS" --store "$TMP/file" list
expect_fail 1 "store $TMP/no/such: parent directory does not exist" -- "$VOLFS" init --store "$TMP/no/such"
[[ ! -e $TMP/no ]] || fail "init made a missing parent"

# a missing store, an empty directory, an unreadable store
for cmd in list "create x" "inspect keep" "rm keep"; do
	# shellcheck disable=SC2086
	expect_fail 1 "store $TMP/missing: does not exist \(run 'volfs init --store $TMP/missing'\)" \
		-- "$VOLFS" --store "$TMP/missing" $cmd
	[[ ! -e $TMP/missing ]] || fail "$cmd made the missing store"
done
mkdir "$TMP/empty"
expect_fail 1 "store $TMP/empty: not initialised \(run 'volfs init --store $TMP/empty'\)" \
	-- "$VOLFS" --store "$TMP/empty" create x
[[ -z $(ls -A "$TMP/empty") ]] || fail "create wrote into an uninitialised directory"
VOLFS_STORE=$TMP/missing expect_fail 1 "store $TMP/missing: does not exist" -- "$VOLFS" list

if [[ $(id -u) == 0 ]]; then
	nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	chmod 000 "$S"
	for cmd in list "create x" "inspect keep" "rm keep"; do
		# shellcheck disable=SC2086
		expect_fail 1 "store $S: Permission denied" -- "${nobody[@]}" "$VOLFS" --store "$S" $cmd
	done
	chmod 700 "$S"
	[[ $(state "$S") == "$before" ]] || fail "an unreadable store changed"
else
	echo "skipping the unreadable-store case: it needs root to switch to an unprivileged user"
fi

# a store of a format this volfs does not read (meta "format" is a be32)
set_format() {   # STORE FORMAT
	mdb_dump -s meta "$1/index" >"$TMP/meta.dump"
	python3 - "$TMP/meta.dump" "$2" <<'PY'
import sys
path, fmt = sys.argv[1], int(sys.argv[2])
# mdb_load does not know the header line db_pagesize that mdb_dump writes
lines = [l for l in open(path).read().split("\n") if not l.startswith("db_pagesize=")]
keys = [i for i, l in enumerate(lines) if l.startswith(" ") and bytes.fromhex(l[1:]).rstrip(b"\0") == b"format"]
assert len(keys) == 1, "no format key in the meta dump"
lines[keys[0] + 1] = " %08x" % fmt
open(path, "w").write("\n".join(lines))
PY
	mdb_load -s meta -f "$TMP/meta.dump" "$1/index"
}

# refused STORE PATTERN CMD...: each volfs CMD on STORE fails with "store STORE:
# PATTERN", init refuses to take STORE over, and STORE is left as it was
refused() {
	S=$1 before=$(state "$1")
	local pattern=$2 cmd
	shift 2
	for cmd in "$@"; do
		# shellcheck disable=SC2086
		bad 1 "store $S: $pattern" -- v $cmd
	done
	bad 1 "store $S: is a volfs store already" -- "$VOLFS" init --store "$S"
}

cp -a "$S" "$TMP/future"
set_format "$TMP/future" 7
refused "$TMP/future" "store format 7 is newer than this volfs reads \(4\)" \
	list "create x" "inspect keep" "rm keep"
cp -a "$S" "$TMP/past"
set_format "$TMP/past" 1
refused "$TMP/past" "store format 1 is not one this volfs reads \(4\)" list "create x"

# format 2 (before the write-ahead log) is read, and marked 4 by a read-write open
format_of() { mdb_dump -s meta "$1/index" | grep -A1 '^ 666f726d6174' | tail -1 | tr -d ' '; }
cp -a "$S" "$TMP/v2"
set_format "$TMP/v2" 2
"$VOLFS" --store "$TMP/v2" inspect keep >/dev/null || fail "a format 2 store cannot be read"
[[ $(format_of "$TMP/v2") == 00000002 ]] || fail "a read-only command changed the format"
"$VOLFS" --store "$TMP/v2" create fresh || fail "a format 2 store cannot be written"
[[ $(format_of "$TMP/v2") == 00000004 ]] || fail "format 2 was not marked 4 (it is $(format_of "$TMP/v2"))"

# an index LMDB reports corrupt: its meta pages overwritten
cp -a "$TMP/store" "$TMP/corrupt"
python3 -c 'import sys; sys.stdout.write("garbage\n" * 1024)' |
	dd of="$TMP/corrupt/index/data.mdb" conv=notrunc status=none
refused "$TMP/corrupt" "index is corrupt" list "create x" "inspect keep" "rm keep"

# an LMDB file with a record but without the databases of volfs (as when the
# main database's page is damaged): corrupt, not "not initialised"
mkdir -p "$TMP/alien/index"
printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n hello\n world\nDATA=END\n' |
	mdb_load "$TMP/alien/index" || fail "mdb_load"
refused "$TMP/alien" "index is corrupt .*run fsck.volfs" list "create x"

# an index with nothing in it (an init that never committed): init takes it over
mkdir -p "$TMP/half/index"
printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\nDATA=END\n' |
	mdb_load "$TMP/half/index" || fail "mdb_load"
S=$TMP/half
before=$(state "$S")
bad 1 "store $S: not initialised \(run 'volfs init --store $S'\)" -- v list
out=$("$VOLFS" init --store "$S" 2>&1) || fail "init over an empty index: $out"
[[ $(v list 2>&1 | head -1) == *NAME* ]] || fail "list after init over an empty index: $(v list 2>&1)"

# after all that, the original store still works
[[ $("$VOLFS" --store "$TMP/store" list | tail -n +2 | awk '{print $1}') == keep ]] || fail "store damaged"
echo "bad_input: all passed"
