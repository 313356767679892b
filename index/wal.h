/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wal.h — the write-ahead log of the daemon's batch (index/wal; format in
 * docs/format.md §4.11).  Only index/ sees it.
 *
 * A logged write transaction records every put and delete it makes.  At a
 * durability point (fsync) the changes since the last one go to the log as
 * one checksummed frame and the log is fdatasync'd: one flush, where an LMDB
 * commit needs two and writes every page the batch touched.  The
 * transaction itself stays open and commits later as usual.
 *
 * Invariants:
 *  1. The log belongs to LMDB's writer: only the holder of the writer lock
 *     reads or writes it, so one log serves the whole store.
 *  2. Frames carry the id of the transaction they continue (T) and count up
 *     from 0.  They are valid while the last committed transaction is T - 1;
 *     once T (or anything later) commits they are stale, and nothing needs
 *     to erase them.
 *  3. Every write transaction, before its first change, replays the valid
 *     frames it finds (they are what a crashed or aborted batch T promised)
 *     and commits them: so no later transaction can be built on a state
 *     that lacks an acknowledged fsync.
 *  4. A frame is written only after the one before it was flushed; replay
 *     stops at the first frame whose header, order or checksum is wrong (a
 *     frame being written when the power went), and never looks past it.
 *  5. Positions only grow; byte lsn is at offset lsn % size of the file.
 *     The frames of a batch start at the head that the last logged commit
 *     (or replay) recorded in meta, after every byte logged before.  A frame
 *     is written only over bytes no committed journal record names: below
 *     the tail + the log's size, where the tail is at most the lowest
 *     position a committed record names.  Bytes a batch's records stopped
 *     naming are reused only once that batch committed, so a reader on a
 *     snapshot at most one commit old finds them, and an older one finds
 *     their checksum wrong (-ESTALE) and reads again.
 */
#ifndef VOLFS_INDEX_WAL_H
#define VOLFS_INDEX_WAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idx_env;
struct idx_txn;

/* The log's size (meta "log_size"): fixed while bytes in it are named. */
#define WAL_SIZE_DEFAULT (1ull << 30)
#define WAL_SIZE_MIN (64ull << 10)
#define WAL_SIZE_MAX (1ull << 40)
bool wal_size_valid(uint64_t size);

/*
 * Opens (creating it durably if needed) @dir/wal for a read-write
 * environment: *ret_fd to read it, *ret_direct_fd (O_DIRECT; -1 where the
 * file system has no direct I/O, or without @direct) to write frames.
 */
int wal_open(const char *dir, bool direct, int *ret_fd, int *ret_direct_fd);

/* Records a put or a delete of @txn (a logged transaction) for its next frame. */
int wal_note_put(struct idx_txn *txn, int db, const MDB_val *key, const MDB_val *val);
int wal_note_del(struct idx_txn *txn, int db, const MDB_val *key);

/* Puts @len bytes into @txn's next frame: *ret_lsn, their position in the log. */
int wal_note_data(struct idx_txn *txn, const void *data, size_t len, uint64_t *ret_lsn);

/*
 * Writes what @txn changed since its last frame as a frame, then flushes it.
 * -ENOSPC if the frame would overwrite bytes that records may name
 * (invariant 5).  After any failure no further frame can be written.
 */
int wal_write_frame(struct idx_txn *txn);

/* Where a logged txn just begun (after the replay) writes its frames. */
int wal_begin(struct idx_txn *txn);
/*
 * Before a logged txn commits: its records name bytes of its next frame, so
 * that frame goes first (unless the log failed: then the caller has written
 * those blocks back, idx_txn_log_usable()).  Then the head moves past the
 * txn's frames, whose bytes committed records may name (invariant 5).
 */
int wal_end(struct idx_txn *txn);

/* Reads @len bytes at log position @lsn. */
int wal_read_data(struct idx_txn *txn, uint64_t lsn, void *buf, size_t len);

/*
 * Applies to @mtxn, a write transaction just begun, the valid frames of the
 * log (invariant 3), and moves the head past them; *ret_frames says how
 * many.  -EUCLEAN if a frame whose checksum holds cannot be applied.
 */
int wal_replay(struct idx_env *env, MDB_txn *mtxn, unsigned *ret_frames);

/*
 * How many valid frames wait to be replayed on top of transaction
 * @last_txnid, from the head @rtxn (a txn of that state) sees.
 */
int wal_pending(struct idx_env *env, MDB_txn *rtxn, uint64_t last_txnid, unsigned *ret_frames);

#endif
