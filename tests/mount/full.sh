#!/bin/bash
# A full disk: the store on a 256 MiB tmpfs, filled through a volume.
#  1. Writes of 16 MiB files, each fsync'd, until one fails with ENOSPC.  It
#     must fail while the store's file system still has room (the space
#     reserve: new data stops short of it, so that the index can commit), and
#     the volume's statfs then says at most a file's worth is left.
#  2. Half of the files removed: their space comes back to the file system
#     within a few commit intervals, with nothing else written, and a new
#     20 MiB file can be written and fsync'd.
#  3. umount and mount: every file whose fsync returned reads back as
#     written, and fsck.volfs -n finds the store clean.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(( MT_PLAIN )) && skip "needs a store on a small file system of its own"
mkdir -p "$STORE"
mount -t tmpfs -o size=256M volfs-full "$STORE" || skip "cannot mount a tmpfs"
fsck=$(dirname "$VOLFS")/fsck.volfs
mt_setup

free_mib() { python3 -c 'import os, sys; s = os.statvfs(sys.argv[1]); print(s.f_bavail * s.f_frsize >> 20)' "$1"; }

python3 - "$MNT" "$TMP/written" <<'PY' || fail "filling the volume (above)"
import errno, hashlib, os, sys
mnt, out = sys.argv[1], sys.argv[2]
with open(out, "w") as log:
    for i in range(64):
        path = f"{mnt}/f{i}"
        data = os.urandom(16 << 20)
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            print(f"# file {i}: {e}", file=sys.stderr)
            sys.exit(0)
        log.write(f"{hashlib.sha256(data).hexdigest()}  f{i}\n")
sys.exit("64 files of 16 MiB fitted in a 256 MiB file system")
PY
n=$(wc -l <"$TMP/written")
store_free=$(free_mib "$STORE")
vol_free=$(free_mib "$MNT")
note "$n files written and fsync'd before ENOSPC; the store's file system has $store_free MiB free, the volume says $vol_free"
(( n >= 4 )) || fail "only $n files of 16 MiB fitted"
(( store_free >= 32 )) || fail "new data took the store's file system down to $store_free MiB: no room left for the index"
(( vol_free <= 16 )) || fail "the volume refused a write but says $vol_free MiB are free"

before=$(free_mib "$STORE")
for (( i = 0; i < n / 2; i++ )); do rm "$MNT/f$i"; done
sed -i "1,$(( n / 2 ))d" "$TMP/written"
for _ in $(seq 300); do
	(( $(free_mib "$STORE") >= before + 16 * (n / 2) - 8 )) && break
	sleep 0.1
done
after=$(free_mib "$STORE")
(( after >= before + 16 * (n / 2) - 8 )) ||
	fail "$(( n / 2 )) files of 16 MiB removed, but the store's file system went only from $before to $after MiB free in 30 s"
note "removed $(( n / 2 )) files: the store's file system went from $before to $after MiB free"
head -c $(( 20 << 20 )) /dev/urandom >"$TMP/new"
dd if="$TMP/new" of="$MNT/new" bs=1M conv=fsync status=none || fail "writing 20 MiB after the removal failed"
echo "$(sha256sum <"$TMP/new" | cut -d' ' -f1)  new" >>"$TMP/written"

mt_umount "$MNT"
mt_mount vol "$MNT"
(cd "$MNT" && sha256sum --quiet -c "$TMP/written") || fail "files differ after umount and mount (above)"
mt_umount "$MNT"
"$fsck" -n --store "$STORE" >"$TMP/fsck.out" 2>&1 || fail "fsck.volfs -n exited $?: $(cat "$TMP/fsck.out")"
echo "full: all passed"
