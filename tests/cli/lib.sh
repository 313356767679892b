# shellcheck shell=bash
# tests/cli/lib.sh — sourced by the command-line tests: $1 is the volfs binary.
VOLFS=${1:?usage: $0 PATH-TO-volfs}
[[ $VOLFS == /* ]] || VOLFS=$PWD/$VOLFS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/volfs-cli-XXXXXX")
chmod 755 "$TMP"   # the cases run as an unprivileged user must reach in
trap 'chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail CODE PATTERN -- CMD...: CMD exits with CODE, its stderr matches
# the extended regular expression PATTERN, and its stdout is empty.
expect_fail() {
	local code=$1 pattern=$2 rc=0 out err
	shift 2
	[[ ${1-} == -- ]] && shift
	out=$("$@" 2>"$TMP/stderr") || rc=$?
	err=$(<"$TMP/stderr")
	[[ $rc == "$code" ]] || fail "'$*' exited $rc, want $code; stderr: $err"
	grep -qE -- "$pattern" <<<"$err" || fail "'$*': stderr '$err' does not match /$pattern/"
	[[ -z $out ]] || fail "'$*' printed to stdout: $out"
}

# state STORE: what a refused command must leave as it was — the volume list,
# the index's bytes and the names and sizes of every file in the store.
state() {
	"$VOLFS" --store "$1" list 2>&1 || true
	md5sum <"$1/index/data.mdb" 2>/dev/null || echo "no index"
	find "$1" -mindepth 1 ! -name lock.mdb -printf '%P %y %s\n' 2>/dev/null | sort
}

# json FILE EXPR: prints the python expression EXPR over the JSON in FILE (as j).
json() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
