#!/bin/bash
# The cleaner under load.  With a 4 MiB dirty limit, fsync'd random small
# writes over a 4 MiB file of 128 KiB blocks fill the journal past the
# cleaner's mark (three quarters of the limit, less two steps) again and
# again, so it writes buffers back, their chunks without the volume lock,
# while the writer goes on.  Reads (page cache dropped) equal the model all
# along, and after a remount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mt_create vol
MNT=$TMP/mnt
mt_mount vol "$MNT" -o dirty_limit=4M
python3 - "$MNT/f" "$TMP/model" <<'PY'
import os, random, sys
path, model_path = sys.argv[1], sys.argv[2]
size = 4 << 20
rng = random.Random(7)
model = bytearray(rng.randbytes(size))
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, model, 0)
os.fsync(fd)
for i in range(8000):
    n = rng.randrange(1, 8192)
    off = rng.randrange(0, size - n)
    data = rng.randbytes(n)
    os.pwrite(fd, data, off)
    model[off:off + n] = data
    if i % 8 == 7:
        os.fsync(fd)
    if i % 1000 == 999:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # read from the daemon
        if os.pread(fd, size, 0) != model:
            sys.exit("the file differs from its model after write %d" % i)
os.close(fd)
with open(model_path, "wb") as f:
    f.write(model)
PY
mt_umount "$MNT"
mt_mount vol "$MNT"
cmp "$MNT/f" "$TMP/model" || fail "the file differs from its model after a remount"
mt_umount "$MNT"
