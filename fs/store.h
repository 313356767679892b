/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h — a volfs store on the host: its directories, its index and its
 * chunk store.
 *
 *   STORE/            mode 0700
 *     index/          LMDB environment (data.mdb, lock.mdb), and wait.lock
 *                     (writers waiting for LMDB's lock hold it shared)
 *     chunks/ab/…     chunk files
 *     tmp/            chunks being written
 *     run/            vol-<id>.lock: held (flock) by whoever mounts or
 *                     removes the volume
 *
 * Functions return 0 or a negative errno and do not log.  Their errors mean:
 *   -ENOENT           the store directory does not exist
 *   -ENOTDIR          it is not a directory
 *   -EACCES, -EPERM   it cannot be read or written
 *   -ENODATA          it is not an initialised volfs store
 *   -EEXIST           store_init(): there is a store (or other files) there
 *   -EPROTONOSUPPORT  its format version is not one this volfs reads
 *   -EUCLEAN          LMDB reports the index corrupt
 */
#ifndef VOLFS_FS_STORE_H
#define VOLFS_FS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "chunk.h"
#include "index.h"

#define STORE_DEFAULT_PATH "/var/lib/volfs"

struct store {
	char *path;                  /* as given, for messages          */
	int dirfd;                   /* the store directory             */
	struct idx_env *idx;
	struct chunk_store *chunks;
	struct idx_meta meta;
	int64_t space_unchecked;     /* atomic: store_space_admit()'s */
};

enum store_flags {
	STORE_RDONLY = 1 << 0,
	/*
	 * Read-write, but without the recovery a read-write open does (finishing
	 * interrupted removals, which frees dead chunks): for fsck, which must
	 * check reference counts before anything is freed on their word.
	 */
	STORE_NO_RECOVERY = 1 << 1,
	/*
	 * For a process that frees and writes chunks over a long life (the
	 * daemon): the files of dead chunks are reused, not unlinked.
	 */
	STORE_RECYCLE = 1 << 2,
};

/* --store if given, else $VOLFS_STORE if set and non-empty, else STORE_DEFAULT_PATH. */
const char *store_path_resolve(const char *opt);

/* Creates a new store at @path (the directory may exist if it is empty). */
int store_init(const char *path);
int store_open(const char *path, unsigned flags, struct store **ret_store);
void store_close(struct store *store);     /* NULL is fine */

/*
 * The space reserve: bytes of the store's file system that new data may not
 * take, so that the index and its log can always commit.  A full file system
 * must not stop them: freeing anything takes a commit (the deletion, then
 * gc), and a mount after a crash a replay.  1/32 of the file system, at
 * least 64 MiB, at most 1 GiB, and never more than a quarter of it.
 */
uint64_t store_space_reserve(const struct statvfs *st);
/*
 * 0 if @bytes of new data may be written (a write, or a new inode): the file
 * system's free space stays above the reserve once they are.  Else gives
 * back what the pool of dead chunks' files holds and asks again; -ENOSPC if
 * the space is still short.  It asks the file system again only once the
 * bytes admitted since the last time reach half of what was then left above
 * the reserve (64 MiB at most), so writes far from full cost no system call.
 */
int store_space_admit(struct store *store, uint64_t bytes);

/*
 * Takes the lock of volume @volume_id without waiting; -EBUSY if another
 * process holds it (the volume is mounted, or being removed).  The lock goes
 * with the returned descriptor: close it, or let the process die, to free it.
 */
int store_lock_volume(struct store *store, uint64_t volume_id, int *ret_fd);
/*
 * The lock of snapshot @snapshot of volume @volume_id (run/snap-<id>-<name>.lock):
 * held shared by every read-only mount of it, exclusively by whoever removes
 * it (or rolls back past it).  -EBUSY if held against us.
 */
int store_lock_snapshot(struct store *store, uint64_t volume_id, const char *snapshot,
			bool shared, int *ret_fd);
/*
 * Releases an exclusive snapshot lock and removes its file, unlinked while
 * still held: lock files exist only while someone holds them, and a
 * refused command leaves none behind.  (A mount whose open(2) of the file
 * came just before the unlink and whose flock(2) came just after would hold
 * a lock nobody else sees: a window of microseconds, documented.)
 */
void store_unlock_snapshot_remove(struct store *store, uint64_t volume_id, const char *snapshot,
				  int fd);

#endif
