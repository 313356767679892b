#!/bin/bash
# Load on one mount: three fsx processes at once (each against its own
# reference directory), then one file bigger than the default dirty limit
# written sequentially, read back after a remount; the daemon's peak memory
# stays near the dirty limit (256 MiB by default) plus a constant.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FSX=${2:?usage: $0 VOLFS PATH-TO-mount_fsx}

mt_setup
pids=()
for i in 1 2 3; do
	mkdir "$MNT/p$i" "$TMP/ref$i"
	"$FSX" -S $((20 + i)) -N 1500 "$MNT/p$i" "$TMP/ref$i" >"$TMP/fsx$i.log" 2>&1 &
	pids+=($!)
done
rc=0
for i in 1 2 3; do
	wait "${pids[i - 1]}" || { rc=$?; echo "fsx $i (seed $((20 + i))) failed ($rc):" >&2; tail -n 60 "$TMP/fsx$i.log" >&2; }
done
(( rc == 0 )) || fail "fsx failed while running alongside two others"

# 600 MiB in 1 MiB writes, no two blocks alike
sum=$(python3 - "$MNT/big" <<'PY'
import hashlib, os, sys
h = hashlib.sha256()
block = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for i in range(600):
        b = i.to_bytes(8, "little") + block[8 + i:] + block[8:8 + i]
        h.update(b)
        f.write(b)
print(h.hexdigest())
PY
)
if (( ! MT_PLAIN )); then
	pid=$(mt_daemon_of "$MNT")
	[[ -n $pid ]] || fail "cannot find the daemon of $MNT"
	peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	note "daemon peak resident memory: $((peak / 1024)) MiB"
	if ldd "$VOLFS" | grep -q libasan; then
		note "not checking the peak memory of a daemon built with ASan"
	elif (( peak > (256 + 128) * 1024 )); then
		fail "daemon peak memory $((peak / 1024)) MiB, want at most the dirty limit (256 MiB) + 128 MiB"
	fi
fi
mt_umount "$MNT"
mt_mount vol "$MNT"
got=$(sha256sum <"$MNT/big" | awk '{print $1}')
[[ $got == "$sum" ]] || fail "600 MiB file: sha256 $got after remount, wrote $sum"
[[ $(stat -c %s "$MNT/big") == $((600 << 20)) ]] || fail "600 MiB file has $(stat -c %s "$MNT/big") bytes"
mt_umount "$MNT"
echo "stress: all passed"
