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
 */
#ifndef VOLFS_INDEX_WAL_H
#define VOLFS_INDEX_WAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idx_env;
struct idx_txn;

/* Opens (creating it durably if needed) @dir/wal for a read-write environment. */
int wal_open(const char *dir, int *ret_fd);

/* Records a put or a delete of @txn (a logged transaction) for its next frame. */
int wal_note_put(struct idx_txn *txn, int db, const MDB_val *key, const MDB_val *val);
int wal_note_del(struct idx_txn *txn, int db, const MDB_val *key);

/* Writes what @txn changed since its last frame as a frame, then flushes it. */
int wal_write_frame(struct idx_txn *txn);

/*
 * Applies to @mtxn, a write transaction just begun, the valid frames of the
 * log (invariant 3); *ret_frames says how many.  -EUCLEAN if a frame whose
 * checksum holds cannot be applied.
 */
int wal_replay(struct idx_env *env, MDB_txn *mtxn, unsigned *ret_frames);

/* How many valid frames wait to be replayed on top of transaction @last_txnid. */
int wal_pending(int fd, uint64_t last_txnid, unsigned *ret_frames);

#endif
