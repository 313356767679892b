#!/bin/bash
# Everything intact after umount and mount: a tree of files of awkward sizes,
# sparse files, links, special files, owners, modes, times and xattrs is
# recorded (sha256 of every file, stat of every entry, inode numbers
# included), unmounted, mounted again (by mount.volfs where there is one),
# and compared; then changed and compared again, and mounted read-only.
# Identical files share their chunks: `volfs inspect` counts the blocks.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snap() { python3 "$(dirname "$0")/snapshot.py" "$@"; }

mt_setup
T=$MNT/tree
mkdir -p "$T"/a/b/c "$T"/empty "$T"/private "$T"/many
head -c $((1 << 20)) /dev/urandom >"$TMP/onemeg"

# regular files of every awkward size
for size in 0 1 4095 4096 4097 65536 131071 131072 131073 $((1048576 + 1)) $((3 << 20)); do
	head -c "$size" /dev/urandom >"$T/size_$size"
done
printf 'nested\n' >"$T/a/b/c/deep"
# sparse: data at 0, 100 MiB and past 4 GiB; a file that is all hole
printf start >"$T/sparse"
printf middle | dd of="$T/sparse" bs=1 seek=$((100 << 20)) conv=notrunc status=none
printf end | dd of="$T/sparse" bs=1 seek=$(((4 << 30) + 10)) conv=notrunc status=none
truncate -s 64M "$T/hole"
# overwritten in the middle and truncated: what is kept is the last state
head -c $((512 << 10)) /dev/urandom >"$T/rewritten"
head -c 1000 /dev/zero | dd of="$T/rewritten" bs=1 seek=200000 conv=notrunc status=none
truncate -s 300001 "$T/rewritten"
# links, special files, owners, modes, times, xattrs
ln "$T/size_4096" "$T/a/hardlink"
ln -s ../size_1 "$T/a/rel_symlink"
ln -s /nowhere/at/all "$T/dangling"
ln -s "$(printf 'x%.0s' {1..300})" "$T/long_symlink"
mkfifo "$T/fifo"
mknod "$T/null" c 1 3
mknod "$T/blockdev" b 8 1
chmod 4755 "$T/size_1"
chmod 0600 "$T/size_0"
chmod 0700 "$T/private"
chmod 1777 "$T/empty"
chown 1000:1000 "$T/size_4095" "$T/a"
chown 65534:4242 "$T/private"
touch -h -d '2001-02-03 04:05:06.123456789' "$T/a/rel_symlink"
touch -d '1999-12-31 23:59:59.999999999' "$T/size_131072"
touch -d '2040-01-01 00:00:00.5' "$T/a/b"
python3 - "$T" <<'PY'
import os, sys
t = sys.argv[1]
os.setxattr(t + "/size_1", "user.small", b"v")
os.setxattr(t + "/size_1", "user.binary", bytes(range(256)) * 4)
os.setxattr(t + "/a", "user.dir", b"on a directory")
os.setxattr(t + "/size_0", "trusted.root", b"only root")
# POSIX ACLs: u::rw-, u:1000:r--, g::r--, m::r--, o::--- on a file, as a default on a directory
import struct
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in
    [(1, 6, 0xffffffff), (2, 4, 1000), (4, 4, 0xffffffff), (0x10, 4, 0xffffffff), (0x20, 0, 0xffffffff)])
os.setxattr(t + "/size_4097", "system.posix_acl_access", acl)
os.setxattr(t + "/a/b", "system.posix_acl_default", acl)
PY
chmod 751 "$MNT"
chown 1000:65534 "$MNT"
for i in $(seq 1000); do echo "$i" >"$T/many/file$i"; done
# identical content under two names, written separately
cat "$TMP/onemeg" >"$T/dup1"
cat "$TMP/onemeg" >"$T/dup2"
sync

snap "$MNT" >"$TMP/before"
mt_umount "$MNT"
if (( ! MT_PLAIN )); then
	v inspect vol >"$TMP/inspect.json" || fail "volfs inspect vol failed"
	bs=$(json "$TMP/inspect.json" 'j["block_size"]')
	shared=$(json "$TMP/inspect.json" 'j["blocks_shared"]')
	note "inspect after the first umount: $(tr -d '\n ' <"$TMP/inspect.json")"
	(( shared >= 2 * (1048576 / bs) )) ||
		fail "two identical 1 MiB files: blocks_shared is $shared, want at least $((2 * (1048576 / bs))) (block size $bs)"
	files=$(json "$TMP/inspect.json" 'j["files"]')
	(( files >= 1000 )) || fail "inspect counts $files files, the tree has more than 1,000"
fi

# mounted again, by the mount(8) helper when it was built
if mt_helper_mount vol "$MNT"; then
	(( MT_PLAIN )) || note "mounted again by mount.volfs"
else
	mt_mount vol "$MNT"
fi
snap "$MNT" >"$TMP/after"
diff -u "$TMP/before" "$TMP/after" >&2 || fail "the tree differs after umount and mount (- before, + after)"

# change it, and again
rm "$T/size_65536" "$T"/many/file1??
mv "$T/a/b" "$T/moved"
printf 'appended' >>"$T/size_4097"
head -c 5000 /dev/urandom | dd of="$T/sparse" bs=1 seek=$((2 << 30)) conv=notrunc status=none
setfattr_py() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())' "$@"; }
setfattr_py "$T/dup1" user.later "after the remount"
truncate -s 10 "$T/size_131073"
sync
snap "$MNT" >"$TMP/before2"
mt_umount "$MNT"
mt_mount vol "$MNT"
snap "$MNT" >"$TMP/after2"
diff -u "$TMP/before2" "$TMP/after2" >&2 || fail "the changed tree differs after umount and mount (- before, + after)"
mt_umount "$MNT"

# read-only: the same tree, and nothing can be written
if (( ! MT_PLAIN )); then
	mt_mount vol "$MNT" -o ro
	grep -E " $(realpath "$MNT") fuse.volfs ro[, ]" /proc/mounts >/dev/null ||
		fail "mounted with -o ro, but /proc/mounts says: $(grep " $(realpath "$MNT") " /proc/mounts)"
	snap "$MNT" >"$TMP/after3"
	diff -u "$TMP/before2" "$TMP/after3" >&2 || fail "the tree differs on a read-only mount"
	err=$(touch "$T/new" 2>&1) && fail "created a file on a read-only mount"
	grep -q "Read-only file system" <<<"$err" || fail "creating on a read-only mount: '$err', want EROFS"
	mt_umount "$MNT"
fi

# chunk sharing in a volume of 4 KiB blocks: two copies, and a third by
# copy_file_range (cp --reflink=never uses it where it can)
mt_create small -o block_size=4K
mt_mount small "$TMP/small"
cat "$TMP/onemeg" >"$TMP/small/one"
cat "$TMP/onemeg" >"$TMP/small/two"
cp --reflink=never "$TMP/small/one" "$TMP/small/three"
cmp "$TMP/small/one" "$TMP/small/three" || fail "cp made a different copy"
mt_umount "$TMP/small"
if (( ! MT_PLAIN )); then
	v inspect small >"$TMP/small.json"
	note "inspect small: $(tr -d '\n ' <"$TMP/small.json")"
	shared=$(json "$TMP/small.json" 'j["blocks_shared"]')
	(( shared >= 2 * 256 )) || fail "4 KiB blocks, three identical 1 MiB files: blocks_shared is $shared, want at least 512"
	blocks=$(json "$TMP/small.json" 'j["blocks"]')
	note "small: blocks $blocks, blocks_shared $shared"
fi
echo "persist: all passed"
