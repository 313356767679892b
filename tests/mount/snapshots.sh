#!/bin/bash
# Snapshots of a mounted volume being written: a writer appends numbered
# 4 KiB records to a file on the read-write mount while `volfs snapshot
# create` takes 5 snapshots; each, mounted read-only beside the rw mount,
# holds a prefix of whole records (0..N-1, none torn), at least every record
# whose write() returned before the command began, and no fewer than the
# snapshot before.  Read-only mounts refuse writes (EROFS); a mounted
# snapshot cannot be removed, nor a mounted volume rolled back (nor rolled
# back past a mounted snapshot); after unmounting, rollback gives exactly
# the snapshot's content.  A clone is mounted read-write beside its origin.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(( MT_PLAIN )) && skip "snapshots need the real volfs mount (VOLFS_TEST_DIR is set)"

FAILS=()
soft() { echo "FAIL (continuing): $*" >&2; FAILS+=("$*"); }

REC=4096
mt_create vol
MNT=$TMP/rw
mt_mount vol "$MNT"

# data written and fsync'd before any snapshot: in every one of them
python3 - "$MNT/pre" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"written before the snapshots\n" * 1000)
os.fsync(fd)
os.close(fd)
PY
pre_sum=$(sha256sum <"$MNT/pre")

# the writer: record i is 256 lines "%015d\n" % i; after each write() returns,
# the count of records written goes to $TMP/count (on the local filesystem).
# Paced (16 records a millisecond at most): it must outlast the snapshots, and
# buffered writes into the page cache take a few microseconds each.
cat >"$TMP/writer.py" <<'PY'
import os, sys, time
path, count, stop = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
cf = os.open(count, os.O_WRONLY | os.O_CREAT, 0o644)
i = 0
while not os.path.exists(stop) and i < 200000:
    rec = (b"%015d\n" % i) * 256
    assert os.write(fd, rec) == len(rec)
    i += 1
    os.pwrite(cf, b"%015d\n" % i, 0)
    if i % 16 == 0:
        time.sleep(0.001)
os.close(fd)
PY
python3 "$TMP/writer.py" "$MNT/log" "$TMP/count" "$TMP/stop" &
writer=$!
stop_writer() { touch "$TMP/stop"; wait "$writer" 2>/dev/null || true; }
mt_on_exit stop_writer
sleep 0.5

declare -A LOWER
for i in 1 2 3 4 5; do
	sleep 0.3
	LOWER[$i]=$((10#$(cat "$TMP/count" 2>/dev/null || echo 0)))
	out=$(v snapshot create "vol@s$i" 2>&1) || fail "snapshot create vol@s$i of the mounted volume: $out"
	[[ $out == "vol@s$i" ]] || fail "snapshot create output: $out"
done
kill -0 "$writer" 2>/dev/null || fail "the writer died while the snapshots were taken"
stop_writer
total=$(( $(stat -c %s "$MNT/log") / REC ))
note "writer wrote $total records; lower bounds s1..s5: ${LOWER[1]} ${LOWER[2]} ${LOWER[3]} ${LOWER[4]} ${LOWER[5]}"

# check_log FILE LOWER: whole records 0..N-1, N >= LOWER; prints N
cat >"$TMP/check.py" <<'PY'
import sys
path, lower = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
if len(data) % 4096:
    sys.exit(f"{path}: size {len(data)} is not whole 4 KiB records (a torn write)")
n = len(data) // 4096
for i in range(n):
    want = (b"%015d\n" % i) * 256
    rec = data[i * 4096:(i + 1) * 4096]
    if rec != want:
        bad = next(j for j in range(4096) if rec[j] != want[j])
        end = i
        while end < n and data[end * 4096:(end + 1) * 4096] == bytes(4096):
            end += 1
        zeros = f"; records {i}..{end - 1} (bytes {i * 4096}..{end * 4096 - 1}) are all zeros" if end > i else ""
        sys.exit(f"{path}: record {i} of {n} is wrong at byte {bad}: {rec[bad:bad+16]!r}{zeros}")
if n < lower:
    sys.exit(f"{path}: {n} records, but {lower} write()s had returned before the snapshot began")
print(n)
PY

prev=0
declare -A NREC SUM
for i in 1 2 3 4 5; do
	mt_mount "vol@s$i" "$TMP/s$i"
	# (soft: the checks after this one still run)
	n=$(python3 "$TMP/check.py" "$TMP/s$i/log" "${LOWER[$i]}") ||
		{ soft "snapshot s$i is not a point-in-time prefix of whole records (see above)"
		  n=$(( $(stat -c %s "$TMP/s$i/log") / REC )); }
	(( n >= prev )) || fail "snapshot s$i has $n records, fewer than s$((i - 1))'s $prev"
	(( n <= total )) || fail "snapshot s$i has $n records, more than were written ($total)"
	[[ $(sha256sum <"$TMP/s$i/pre") == "$pre_sum" ]] || fail "snapshot s$i: the fsync'd file differs"
	NREC[$i]=$n
	SUM[$i]=$(sha256sum <"$TMP/s$i/log")
	prev=$n
done
note "records per snapshot s1..s5: ${NREC[1]} ${NREC[2]} ${NREC[3]} ${NREC[4]} ${NREC[5]}"
# the rw mount still has all of it, and is writable beside 5 read-only mounts
python3 "$TMP/check.py" "$MNT/log" "$total" >/dev/null || fail "the live volume's log"
echo more >"$MNT/after" || fail "the rw mount stopped taking writes beside read-only mounts"

# read-only mounts: every change is EROFS
for i in 1 5; do
	d=$TMP/s$i
	for cmd in "echo x >'$d/new'" "echo x >>'$d/log'" "rm '$d/pre'" "mkdir '$d/dir'" \
		   "mv '$d/pre' '$d/moved'" "truncate -s 0 '$d/log'" "touch '$d/pre'" "ln -s x '$d/sym'"; do
		if err=$(bash -c "$cmd" 2>&1); then
			fail "on read-only snapshot mount: '$cmd' succeeded"
		fi
		[[ $err == *"Read-only file system"* ]] || fail "'$cmd' on a snapshot: want EROFS, got: $err"
	done
	[[ $(sha256sum <"$d/pre") == "$pre_sum" ]] || fail "s$i changed"
done
# the same snapshot mounted twice
mt_mount vol@s3 "$TMP/s3b"
[[ $(sha256sum <"$TMP/s3b/log") == "${SUM[3]}" ]] || fail "second mount of s3 differs"
mt_umount "$TMP/s3b"

# refused while mounted: the message says so, nothing changes.  How much of
# s5 is unique follows the live volume's commits, and its buffered writes
# (the log's tail, "after") commit on their own within the commit interval
# (fsync only logs them).  A snapshot commits them at once: one taken and
# removed first leaves nothing to commit, so that only a refused command
# could change the list.
v snapshot create vol@settle >/dev/null && v snapshot rm vol@settle >/dev/null ||
	fail "snapshot create and rm of vol@settle"
v snapshot list --json >"$TMP/before.json"
live_sum=$(sha256sum <"$MNT/log")
expect_refused() {   # PATTERN CMD...
	local pattern=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	(( rc != 0 )) || { soft "'$*' succeeded; want it refused"; return 0; }
	grep -qE -- "$pattern" <<<"$out" || soft "'$*': message '$out' does not match /$pattern/"
}
expect_refused "snapshot 'vol@s2' is mounted" v snapshot rm vol@s2
expect_refused "volume 'vol' is mounted" v rollback vol@s5
expect_refused "volume 'vol' is mounted" v rollback -r vol@s2
expect_refused "is mounted" v rm vol
v snapshot list --json >"$TMP/after.json"
cmp -s "$TMP/before.json" "$TMP/after.json" ||
	{ diff "$TMP/before.json" "$TMP/after.json" >&2; fail "a refused command changed the snapshot list"; }
[[ $(sha256sum <"$MNT/log") == "$live_sum" ]] || fail "a refused command changed the live volume's log"
[[ $(sha256sum <"$TMP/s2/log") == "${SUM[2]}" ]] || fail "s2 changed under its mount"

# a clone, mounted read-write beside its origin and the snapshots
v clone vol@s1 cl >/dev/null || fail "clone of a snapshot of a mounted volume"
mt_mount cl "$TMP/cl"
[[ $(sha256sum <"$TMP/cl/log") == "${SUM[1]}" ]] || fail "the clone differs from its snapshot"
echo clone >>"$TMP/cl/log"
echo only-in-clone >"$TMP/cl/mine"
[[ ! -e $MNT/mine ]] || fail "a file written in the clone appeared in its origin"
[[ $(sha256sum <"$TMP/s1/log") == "${SUM[1]}" ]] || fail "writing the clone changed its snapshot"
mt_umount "$TMP/cl"

# unmount the volume; rollback past a mounted snapshot (s4) is refused
rm -f "$MNT/after"
mt_umount "$MNT"
mt_umount "$TMP/s5"
expect_refused "mounted" v rollback -r vol@s3
if mountpoint -q "$TMP/s4"; then
	[[ $(sha256sum <"$TMP/s4/log") == "${SUM[4]}" ]] ||
		soft "the mount of s4 changed under it (rollback went past it)"
fi
for i in 4 3 2 1; do mt_umount "$TMP/s$i"; done
expect_refused "clones depend on 'vol@s1': cl" v snapshot rm vol@s1
v snapshot list --json >"$TMP/list.json"
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert all("unique_bytes" in s for s in j), j' \
	"$TMP/list.json" || fail "snapshot list --json"

# rollback now: to s3, destroying s4 and s5 (if still there)
v rollback -r vol@s3 >/dev/null || fail "rollback -r vol@s3 after unmounting"
mt_mount vol "$MNT"
[[ $(sha256sum <"$MNT/log") == "${SUM[3]}" ]] || fail "after rollback, log is not s3's"
[[ $(sha256sum <"$MNT/pre") == "$pre_sum" ]] || fail "after rollback, pre differs"
[[ ! -e $MNT/after ]] || fail "after rollback, a file made after s3 is there"
[[ $(stat -c %s "$MNT/log") == $(( NREC[3] * REC )) ]] || fail "after rollback: log size"
names=$(v snapshot list vol | tail -n +2 | awk '{print $1}' | tr '\n' ' ')
[[ $names == "vol@s1 vol@s2 vol@s3 " ]] || fail "after rollback -r, snapshots: $names"
# and the volume is writable and snapshottable again
echo again >>"$MNT/log"
v snapshot create vol@s6 >/dev/null || fail "snapshot after rollback"
mt_umount "$MNT"

# removal in order leaves no chunk
v rm cl >/dev/null || fail "rm cl"
for s in s1 s2 s3 s6; do v snapshot rm "vol@$s" >/dev/null || fail "snapshot rm vol@$s"; done
v rm vol >/dev/null || fail "rm vol"
n=$(find "$STORE/chunks" -type f | wc -l)
(( n == 0 )) || fail "$n chunk files left after removing everything"

if (( ${#FAILS[@]} )); then
	printf 'FAIL: %s\n' "${FAILS[@]}" >&2
	exit 1
fi
echo ok
