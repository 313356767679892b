/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfs.h — the filesystem core of one mounted volume, without FUSE.
 *
 * Every operation returns 0 (or a byte count) or a negative errno; only the
 * FUSE adapter (fuse_ops.c) turns results into replies.  Permission checks
 * are the kernel's (default_permissions); the core enforces what the kernel
 * cannot: name rules, directory emptiness, types, and POSIX time updates.
 *
 * Concurrency: one mutex (vfs->lock) guards the index transaction and the
 * in-memory inode table.  Chunk files are read, hashed and written outside
 * it.  Group commit: operations join one open write transaction, committed
 * by the flusher thread every commit interval, when it grows large, or at
 * once for fsync (see docs/durability.md).
 */
#ifndef VOLFS_FS_VFS_H
#define VOLFS_FS_VFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "store.h"

struct vfs;

struct vfs_options {
	bool rdonly;                   /* also forced for snapshots         */
	uint64_t dirty_limit;          /* bytes of buffered writes, at most */
	unsigned commit_interval_ms;   /* bound on undurable time           */
	bool verify_dedup;             /* compare bytes on a dedup hit      */
};

#define VFS_DIRTY_LIMIT_DEFAULT     (256ull << 20)
#define VFS_COMMIT_INTERVAL_DEFAULT 5000u

/* Who is asking: for the owner of new inodes. */
struct vfs_ctx {
	uid_t uid;
	gid_t gid;
	mode_t umask;
};

/*
 * Opens volume @spec ("NAME" or "NAME@SNAPSHOT", the latter read-only) of an
 * open store.  The caller holds the volume lock for a writable open.
 * Reclaims the orphans a crashed daemon left.  -ENOENT: no such volume or
 * snapshot.
 */
int vfs_open(struct store *store, const char *spec, const struct vfs_options *opts,
	     struct vfs **ret_vfs);
/*
 * For tools that change a volume while it is not mounted (they hold its
 * lock): replays the journal a daemon that died left for it, if any, as a
 * read-write mount would.
 */
int vfs_recover(struct store *store, const char *volume);
/* Writes back everything, commits, frees; NULL is fine. */
int vfs_close(struct vfs *vfs);
/* Writes back all buffered data and commits durably. */
int vfs_sync(struct vfs *vfs);
/*
 * Starts the background threads, stopped by vfs_close(): the flusher (the
 * commit interval) and the cleaner (write-back ahead of the journal's bounds).
 */
int vfs_start_threads(struct vfs *vfs);
uint32_t vfs_block_size(const struct vfs *vfs);
bool vfs_is_rdonly(const struct vfs *vfs);

/* ---- names and attributes ------------------------------------------- */

/* Looks up @name in @dir and counts one kernel reference to the result. */
int vfs_lookup(struct vfs *vfs, uint64_t dir, const char *name, struct stat *ret_st);
/* The kernel dropped @n references to @ino; the last one may free it. */
void vfs_forget(struct vfs *vfs, uint64_t ino, uint64_t n);
int vfs_getattr(struct vfs *vfs, uint64_t ino, struct stat *ret_st);

enum vfs_set {
	VFS_SET_MODE      = 1 << 0,
	VFS_SET_UID       = 1 << 1,
	VFS_SET_GID       = 1 << 2,
	VFS_SET_SIZE      = 1 << 3,
	VFS_SET_ATIME     = 1 << 4,
	VFS_SET_MTIME     = 1 << 5,
	VFS_SET_ATIME_NOW = 1 << 6,
	VFS_SET_MTIME_NOW = 1 << 7,
	VFS_SET_CTIME     = 1 << 8,
	VFS_SET_KILL_SUIDGID = 1 << 9,
};
int vfs_setattr(struct vfs *vfs, uint64_t ino, const struct stat *st, unsigned set,
		struct stat *ret_st);
/* Is the caller a member of group @gid?  (@arg: the caller, for the adapter.) */
typedef bool (*vfs_in_group_fn)(void *arg, gid_t gid);
/*
 * Clears S_ISUID, and S_ISGID if group execute is set, of regular file @ino:
 * what a write, a truncate or an O_TRUNC open by the unprivileged does to the
 * file.  With @in_group, S_ISGID without group execute goes too when the
 * caller is not in the file's group (Linux since 6.0; asked only then).
 * Changes nothing (and takes no batch) when no bit is to go.
 */
int vfs_kill_suidgid(struct vfs *vfs, uint64_t ino, vfs_in_group_fn in_group, void *arg);

/* ---- making and removing names (each counts a reference to the result) */

int vfs_mknod(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
	      mode_t mode, dev_t rdev, struct stat *ret_st);
int vfs_mkdir(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
	      mode_t mode, struct stat *ret_st);
int vfs_symlink(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
		const char *target, struct stat *ret_st);
int vfs_link(struct vfs *vfs, uint64_t ino, uint64_t dir, const char *name, struct stat *ret_st);
int vfs_unlink(struct vfs *vfs, uint64_t dir, const char *name);
int vfs_rmdir(struct vfs *vfs, uint64_t dir, const char *name);

enum vfs_rename_flags {
	VFS_RENAME_NOREPLACE = 1 << 0,
	VFS_RENAME_EXCHANGE  = 1 << 1,
};
int vfs_rename(struct vfs *vfs, uint64_t dir, const char *name, uint64_t newdir,
	       const char *newname, unsigned flags);
/* Copies up to @size bytes of the target into @buf; returns the length. */
ssize_t vfs_readlink(struct vfs *vfs, uint64_t ino, char *buf, size_t size);

/* ---- files ---------------------------------------------------------------- */

/* Counts an open file; O_TRUNC truncates.  -EISDIR for directories is the caller's. */
int vfs_open_file(struct vfs *vfs, uint64_t ino, int flags);
/* Creates (or with !O_EXCL opens) @name and opens it; counts a reference and an open. */
int vfs_create(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
	       mode_t mode, int flags, struct stat *ret_st);
/* @access: a read by a program (not the kernel filling a page to write it): atime. */
ssize_t vfs_read(struct vfs *vfs, uint64_t ino, void *buf, size_t size, off_t off, bool access);
ssize_t vfs_write(struct vfs *vfs, uint64_t ino, const void *buf, size_t size, off_t off);
/* Writes back the file's buffered data (close(2) reports write-back errors here). */
int vfs_flush(struct vfs *vfs, uint64_t ino);
/* The last close of an open file; an unlinked file may be freed. */
int vfs_release(struct vfs *vfs, uint64_t ino);
/* Makes the file's data and the metadata reaching it durable. */
int vfs_fsync(struct vfs *vfs, uint64_t ino, bool datasync);
int vfs_fallocate(struct vfs *vfs, uint64_t ino, int mode, off_t off, off_t len);
/* SEEK_DATA / SEEK_HOLE; -ENXIO past the end or with no data after @off. */
int vfs_lseek(struct vfs *vfs, uint64_t ino, off_t off, int whence, off_t *ret_off);
/* Shares whole aligned blocks' chunks, copies the rest. */
ssize_t vfs_copy_file_range(struct vfs *vfs, uint64_t ino_in, off_t off_in,
			    uint64_t ino_out, off_t off_out, size_t len);

/* ---- directories ------------------------------------------------------------ */

/*
 * Lists @dir from position @pos (0 = start; "." is 0, ".." is 1, entries
 * follow), calling @fill until it returns non-zero (the buffer is full).  A
 * directory handle (struct vfs_dir, from vfs_opendir) remembers the last name
 * so that listing resumes in O(log n) even as entries come and go.
 * @fill gets the position after the entry.  With @plus, every entry but "."
 * and ".." counts a lookup reference, and @fill gets full attributes.
 */
struct vfs_dir;
typedef int (*vfs_fill_fn)(void *arg, const char *name, const struct stat *st, off_t next);
int vfs_opendir(struct vfs *vfs, uint64_t ino, struct vfs_dir **ret_dir);
int vfs_readdir(struct vfs *vfs, struct vfs_dir *dir, off_t pos, bool plus,
		vfs_fill_fn fill, void *arg);
void vfs_releasedir(struct vfs *vfs, struct vfs_dir *dir);
int vfs_fsyncdir(struct vfs *vfs, uint64_t ino);

int vfs_statfs(struct vfs *vfs, struct statvfs *ret_st);

/*
 * Takes snapshot @name of the mounted volume at one point in time: has the
 * kernel write back what it holds (see vfs_set_kernel_writeback), writes
 * back every buffered block into the batch, takes the snapshot in the same
 * transaction and commits it durably.  Every write(2) that returned before
 * the call is in it.
 */
int vfs_snapshot(struct vfs *vfs, const char *name);

/*
 * How to make the kernel write back the dirty pages it holds for an inode
 * and wait until we have them (the daemon: a FUSE inode invalidation, which
 * launders dirty pages).  vfs_snapshot() calls it, without the volume lock,
 * for every inode opened for writing since the last snapshot: syncfs(2) on a
 * FUSE mount does not wait for write-back that is still on its way to us.
 */
typedef int (*vfs_writeback_fn)(void *arg, uint64_t ino);
/*
 * Under FUSE's writeback cache the kernel keeps the mtime and ctime of
 * files it writes, shows them to stat(2) and sends them by setattr; then a
 * write that reaches us must not set its own (later) times.
 */
void vfs_set_kernel_times(struct vfs *vfs, bool on);
void vfs_set_kernel_writeback(struct vfs *vfs, vfs_writeback_fn fn, void *arg);

/* ---- extended attributes ------------------------------------------------------- */

/* Return the value's size; with @size 0 only the size; -ERANGE if @size is too small. */
ssize_t vfs_getxattr(struct vfs *vfs, uint64_t ino, const char *name, void *buf, size_t size);
/* trusted.* names are listed only for uid 0 (the kernel hides their values too). */
ssize_t vfs_listxattr(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t ino, char *buf,
		      size_t size);
/* @flags: XATTR_CREATE, XATTR_REPLACE. */
int vfs_setxattr(struct vfs *vfs, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags);
int vfs_removexattr(struct vfs *vfs, uint64_t ino, const char *name);

#endif
