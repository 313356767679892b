/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chunk.h — the content-addressed chunk store: STORE/chunks/ab/<32 hex>.
 *
 * Invariants (docs/invariants.md has the numbered list fsck checks):
 *  1. A chunk file's name is the keyed XXH3-128 of its bytes (the key is the
 *     store's secret), written as 32 lowercase hex digits of the canonical
 *     (big-endian) hash; it lives in chunks/<hex[0..1]>/.
 *  2. A chunk file is complete when it has its name: it is written under
 *     tmp/ and published by link(2) or rename(2) (never replacing a name);
 *     it is not modified while it has that name.  (A dead chunk's file may
 *     be renamed back into tmp/ and reused: see chunk.c.)
 *  3. A block of all zeros is never a chunk (it is a hole).
 *  4. Every chunk an index record names has a file from before that
 *     record's transaction commits: chunk_put() checks inside the
 *     transaction, which no gc of another process can interleave with.
 *  5. A chunk file is removed (or taken for reuse) only by gc, inside the
 *     write transaction that forgets its dead record: chunk_gc(), or the
 *     taker thread between chunk_gc_start() and chunk_gc_finish().
 *
 * Functions return 0 or a negative errno, and do not log.
 */
#ifndef VOLFS_FS_CHUNK_H
#define VOLFS_FS_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

struct chunk_store;

#define CHUNK_HEX_SIZE 33                    /* 32 hex digits and a NUL     */
#define CHUNK_RELPATH_SIZE (7 + 3 + 33)      /* "chunks/ab/" + hex + NUL */

enum chunk_flags {
	CHUNK_SYNC   = 1 << 0,   /* fsync the file and its directory before returning    */
	CHUNK_VERIFY = 1 << 1,   /* chunk_put(): compare a live chunk's bytes before sharing */
};

enum chunk_store_flags {
	CHUNK_STORE_CLEAN_TMP = 1 << 0,   /* remove leftovers in tmp/ of dead processes */
	CHUNK_STORE_RECYCLE = 1 << 1,     /* gc keeps dead chunks' files for reuse (chunk.c) */
};

/*
 * Asks the file system to spread the fan-out directories of the chunks/
 * directory under @store_dirfd (the top-directory hint, FS_TOPDIR_FL), so
 * that new chunk files, made in them, do not all go to one place.  Best
 * effort: a file system without the hint ignores it.
 */
void chunk_store_spread(int store_dirfd);

/* @store_dir is the store's top directory; @secret is IDX_SECRET_SIZE bytes. */
int chunk_store_open(const char *store_dir, const uint8_t *secret, unsigned flags,
		     struct chunk_store **ret_cs);
void chunk_store_close(struct chunk_store *cs);       /* NULL is fine */
/*
 * Waits until the files chunk_gc() handed to the recycling thread are in
 * its pool or removed (CHUNK_STORE_RECYCLE; else there are none).
 */
void chunk_store_drain(struct chunk_store *cs);
/*
 * The most bytes the files of the pool keep for writes to overwrite
 * (chunk.c, "Recycling"); files past it are emptied.  256 MiB unless set.
 */
void chunk_store_set_recycle_bytes(struct chunk_store *cs, uint64_t bytes);
/* The disk is full, or nearly: removes the files of the pool that hold bytes. */
void chunk_store_release_pool(struct chunk_store *cs);

/* The chunk id (keyed hash) of @len bytes. */
void chunk_id_of(const struct chunk_store *cs, const void *data, size_t len,
		 struct idx_chunk_id *ret_id);
bool chunk_is_zero(const void *data, size_t len);
void chunk_id_to_hex(const struct idx_chunk_id *id, char out[CHUNK_HEX_SIZE]);
int chunk_id_from_hex(const char *hex, struct idx_chunk_id *ret_id);   /* -EINVAL */
/* "chunks/ab/abcd…", relative to the store directory. */
void chunk_relpath(const struct idx_chunk_id *id, char out[CHUNK_RELPATH_SIZE]);

/*
 * Makes sure the chunk file for @id (the id of @data) exists: writes it under
 * tmp/ and links it into place.  If a file of that name exists already, its
 * bytes are compared with @data, and a file that differs (a crash's
 * leftover, or damage) is replaced.
 */
int chunk_write(struct chunk_store *cs, const struct idx_chunk_id *id,
		const void *data, size_t len, unsigned flags);
/*
 * Reads chunk @id of exactly @len bytes into @buf and verifies its hash.
 * -ENOENT if the file is missing; -EIO if its length or hash is wrong (then
 * @buf holds no data worth using).
 */
int chunk_read(struct chunk_store *cs, const struct idx_chunk_id *id, void *buf, size_t len);
/*
 * Starts reading chunk @id into the page cache and returns without waiting
 * for the disk (readahead(2)), so that a chunk_read() soon after finds it
 * there.  A hint: a missing file or any error is ignored.
 */
void chunk_prefetch(struct chunk_store *cs, const struct idx_chunk_id *id, size_t len);
/* Removes the file of chunk @id; a missing file is not an error. */
int chunk_unlink(struct chunk_store *cs, const struct idx_chunk_id *id);

/*
 * Stores @data (1..block size bytes, not all zeros) as a chunk within write
 * transaction @txn: hashes it, writes the file unless the index already holds
 * a live chunk of that id (comparing bytes first if CHUNK_VERIFY), and checks
 * that the file exists.  It takes no reference: idx_extent_put() does.
 */
int chunk_put(struct chunk_store *cs, struct idx_txn *txn, const void *data, size_t len,
	      unsigned flags, struct idx_chunk_id *ret_id);

/*
 * chunk_put() in two halves, so that the slow half runs outside the
 * transaction: chunk_prepare() hashes @data and writes its file, as
 * chunk_write();
 * chunk_put_prepared(), inside the write transaction, makes sure the file is
 * still there (a gc may have removed a dead chunk's file meanwhile: then it
 * writes it again from @data).  It returns 1 where it otherwise returns 0
 * if the file under the name was written since the batch's gc began
 * (chunk_gc_start): by this call, or by anyone after gc took the file that
 * chunk_prepare() may have found and synced.
 * A prepared chunk that no record ends up naming is removed at the next
 * crash recovery or by fsck.
 */
int chunk_prepare(struct chunk_store *cs, const void *data, size_t len, unsigned flags,
		  struct idx_chunk_id *ret_id);
int chunk_put_prepared(struct chunk_store *cs, struct idx_txn *txn, const struct idx_chunk_id *id,
		       const void *data, size_t len, unsigned flags);
/*
 * Removes the file of a prepared chunk that will not be put after all,
 * inside write transaction @txn, unless a record names the chunk (then the
 * file is that record's; not if the record is dead and the batch's gc took
 * its file: then this file is the prepared one).  Whoever prepared the same
 * chunk meanwhile finds
 * the file gone in chunk_put_prepared() and writes it again.
 */
int chunk_discard_prepared(struct chunk_store *cs, struct idx_txn *txn,
			   const struct idx_chunk_id *id);

/*
 * Removes the file and the record of every dead chunk (reference count 0),
 * within write transaction @txn.  *ret_freed (may be NULL) counts them.
 */
int chunk_gc(struct chunk_store *cs, struct idx_txn *txn, uint64_t *ret_freed);

/*
 * chunk_gc() without the wait, for a batch that runs on while the files go
 * (chunk.c, "Recycling"; with CHUNK_STORE_RECYCLE, else it takes them at once).
 * chunk_gc_start(), before the batch @txn changes anything, lists the dead
 * chunks and has a thread take their files meanwhile.  chunk_gc_finish(),
 * as the batch's last change before it commits, stops the thread and
 * forgets the records of the chunks whose files it took; with @txn NULL,
 * before an abort, it only stops it.  Every batch that started must
 * finish, before it commits or aborts: the thread may take files only
 * while the batch holds the index's writer lock.  chunk_gc_start()
 * returns -EBUSY if the last one did not.
 */
int chunk_gc_start(struct chunk_store *cs, struct idx_txn *txn);
int chunk_gc_finish(struct chunk_store *cs, struct idx_txn *txn);
/* For tests: while held, the thread takes nothing; chunk_gc_wait() waits until it is idle. */
void chunk_gc_hold(struct chunk_store *cs, bool hold);
void chunk_gc_wait(struct chunk_store *cs);

#endif
