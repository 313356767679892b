#!/usr/bin/env python3
"""tests/mount/snapshot.py DIR: prints one line per entry under DIR, sorted:
the path, type, mode, owner, size, inode, link count, mtime and ctime in
nanoseconds, device number, symlink target, xattrs and a sha256 of the
content (read in full, holes included).  Two snapshots of one tree taken
before an unmount and after the next mount must be equal."""
import hashlib, os, stat, sys

root = sys.argv[1]
lines = []
def entries():
    yield root   # the top directory itself, then everything under it
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            yield os.path.join(dirpath, name)

for path in entries():
    if True:
        st = os.lstat(path)
        rel = os.path.relpath(path, root)
        extra = ""
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
            extra = h.hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            extra = "-> " + os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            extra = "dev %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        xattrs = ""
        if not stat.S_ISLNK(st.st_mode):
            xattrs = ",".join("%s=%s" % (k, os.getxattr(path, k, follow_symlinks=False).hex())
                              for k in sorted(os.listxattr(path, follow_symlinks=False)))
        lines.append("%s mode=%o uid=%d gid=%d size=%d ino=%d nlink=%d mtime=%d ctime=%d xattr=[%s] %s" % (
            rel, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_ino, st.st_nlink,
            st.st_mtime_ns, st.st_ctime_ns, xattrs, extra))
for line in sorted(lines):
    print(line)
