#!/bin/bash
# Ways of mounting and unmounting: `volfs mount -f` in the foreground until
# `volfs umount`, which it survives with exit 0 and no error; an unmount by
# umount(8) or fusermount3 -u, after which the daemon has committed and gone;
# mount.volfs with ro; many quick mount/umount cycles; the mount's options.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(( MT_PLAIN )) && skip "mount modes need the real volfs mount (VOLFS_TEST_DIR is set)"

mt_create vol
M=$TMP/m
mkdir "$M"

# wait_for COND...: up to 20 s for COND to hold
wait_for() {
	local i
	for i in $(seq 200); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# the foreground: a child of ours until unmounted
MT_MOUNTS+=("$M")
v mount vol "$M" -f >"$TMP/fg.out" 2>"$TMP/fg.err" &
fg=$!
wait_for mountpoint -q "$M" || fail "volfs mount -f: $M did not become a mount point; stderr: $(cat "$TMP/fg.err")"
kill -0 "$fg" 2>/dev/null || fail "volfs mount -f exited while mounted"
mt_check_mounted "$M"
echo foreground >"$M/fg"
ino=$(stat -c %i "$M/fg")
v umount "$M" || fail "volfs umount of a foreground mount failed"
rc=0
wait "$fg" || rc=$?
(( rc == 0 )) || fail "volfs mount -f exited $rc after volfs umount; stderr: $(cat "$TMP/fg.err")"
! grep -qiE "error|fail|warn" "$TMP/fg.err" || fail "volfs mount -f printed: $(cat "$TMP/fg.err")"
! mountpoint -q "$M" || fail "still mounted after volfs umount"

# a crash (SIGSEGV, as LMDB gives on a damaged index) says so and points
# to fsck.volfs; the process dies of the signal; the volume mounts again
v mount vol "$M" -f 2>"$TMP/segv.err" &
fg=$!
wait_for mountpoint -q "$M" || fail "volfs mount -f: $M did not become a mount point"
daemon=$(mt_daemon_of "$M")
[[ -n $daemon ]] || fail "no daemon serves $M"
kill -SEGV "$daemon"
rc=0
wait "$fg" || rc=$?
(( rc == 128 + 11 )) || fail "volfs mount -f after SIGSEGV exited $rc, not by the signal"
grep -q "^volfs: crashed (segmentation fault); .*fsck.volfs -n" "$TMP/segv.err" ||
	fail "volfs mount -f said nothing useful on SIGSEGV: $(cat "$TMP/segv.err")"
! mt_is_mounted "$M" || umount -l "$M" || fail "umount -l of the crashed mount failed"
mt_mount vol "$M"
[[ $(<"$M/fg") == foreground ]] || fail "lost the file written before the crash's mount"
mt_umount "$M"

# unmounted by umount(8) and by fusermount3 -u: the daemon commits and exits
for how in "umount" "fusermount3 -u"; do
	mt_mount vol "$M"
	[[ $(<"$M/fg") == foreground ]] || fail "lost the file written in the foreground"
	[[ $(stat -c %i "$M/fg") == "$ino" ]] || fail "inode number changed across a remount: $ino, now $(stat -c %i "$M/fg")"
	echo "by $how" >"$M/by"
	$how "$M" || fail "$how $M failed"
	no_daemon() { [[ -z $(mt_daemon_of "$M") ]]; }
	wait_for no_daemon || fail "the daemon is still running 20 s after $how: $(mt_daemon_of "$M")"
	mt_mount vol "$M"
	[[ $(<"$M/by") == "by $how" ]] || fail "data written before '$how' lost: '$(cat "$M/by")'"
	mt_umount "$M"
done

# the mount(8) helper, read-only
if mt_helper_mount vol "$M" ro; then
	line=$(grep " $(realpath "$M") " /proc/mounts)
	[[ $(awk '{print $4}' <<<"$line") == ro,* ]] || fail "mount.volfs -o ro: not read-only: $line"
	[[ $(<"$M/fg") == foreground ]] || fail "read-only mount does not show the data"
	! (echo x >"$M/new") 2>/dev/null || fail "wrote to a read-only mount"
	mt_umount "$M"
	mt_helper_mount vol "$M"
	echo helper >"$M/helper" || fail "cannot write on a read-write mount by mount.volfs"
	mt_umount "$M"
else
	note "no mount.volfs given (MOUNT_VOLFS): skipping its checks"
fi

# mount and unmount quickly, over and over: every cycle sees the last one's write
for i in $(seq 10); do
	mt_mount vol "$M"
	if (( i > 1 )); then
		[[ $(<"$M/counter") == $((i - 1)) ]] || fail "cycle $i: counter is '$(cat "$M/counter")', want $((i - 1))"
	fi
	echo "$i" >"$M/counter"
	mt_umount "$M"
done

# other users reach the mount (allow_other) and the kernel checks permissions
mt_mount vol "$M"
mkdir "$M/open" "$M/closed"
chmod 777 "$M/open"
chmod 700 "$M/closed"
setpriv --reuid=1000 --regid=1000 --clear-groups touch "$M/open/byuser" || fail "uid 1000 cannot create in a 0777 directory"
[[ $(stat -c %u "$M/open/byuser") == 1000 ]] || fail "a file made by uid 1000 is owned by $(stat -c %u "$M/open/byuser")"
! setpriv --reuid=1000 --regid=1000 --clear-groups ls "$M/closed" 2>/dev/null || fail "uid 1000 listed a 0700 root directory"
mt_umount "$M"

# A read-only mount of the live volume, beside the read-write one, sees page
# writes an fsync made durable while the read-write daemon still buffers
# their blocks (a long commit interval keeps them from being written back):
# it reads them from the journal.
mt_create pages
R=$TMP/ro
mt_mount pages "$M" -o commit=600
head -c $((512 * 1024)) /dev/urandom >"$TMP/pages.want"
cp "$TMP/pages.want" "$M/db"
sync "$M/db"
for page in 3 17 40; do
	head -c 8192 /dev/urandom >"$TMP/page"
	dd if="$TMP/page" of="$TMP/pages.want" bs=8K seek=$page conv=notrunc status=none
	dd if="$TMP/page" of="$M/db" bs=8K seek=$page conv=notrunc,fsync status=none
done
mt_mount pages "$R" -o ro
cmp "$TMP/pages.want" "$R/db" || fail "a read-only mount does not see page writes that fsync made durable"
mt_umount "$R"
mt_umount "$M"
mt_mount pages "$M"
cmp "$TMP/pages.want" "$M/db" || fail "page writes lost across a remount"
mt_umount "$M"
echo "modes: all passed"
