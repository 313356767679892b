/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfs_internal.h — state shared by vfs.c (names, attributes, batching) and
 * vfs_data.c (file data and write buffering).
 *
 * Invariants:
 *  1. vfs->txn is the batch: the one write transaction that every change
 *     joins.  It is touched only with vfs->lock held.  An operation makes
 *     all its checks before its first change, so a change that fails can only
 *     fail for an internal reason (I/O, corruption) — and that breaks the
 *     batch: it is aborted and the volume turns read-only (vfs->broken).
 *  2. Chunk files named by a batch are on disk (syncfs) before the batch
 *     commits, or logs the records that name them (vfs_make_durable);
 *     chunks_unsynced tells whether any were written since.  The cleaner
 *     syncs the files of its pass itself, before it names them (invariant
 *     8), so those do not count.
 *  3. A block is either buffered (a wblock of its vnode) or as the index
 *     says; a read looks at the buffer first.  Buffered blocks never lie past
 *     the file's size.  A buffer is clean when it holds what the index holds
 *     (no changes marked, none journaled): loaded and not yet changed, or
 *     written back by the cleaner and kept.  Writing a clean buffer back is
 *     freeing it.  Every change to a buffer's bytes is marked and gives it a
 *     new generation (vfs->wb_gen counts them).
 *  4. Every extent lies below the file's size: truncation trims or drops
 *     what it cuts, so bytes past EOF are never stored.
 *  5. dirty_bytes counts buffered block memory; a writer that finds it past
 *     opts.dirty_limit writes buffers back until it is a step below, so
 *     memory stays bounded by the limit plus one write.  The chunk cache
 *     (chunk_cache.h) gets what the buffers leave of the limit: a read
 *     keeps a chunk only within that budget, and a new buffer first drops
 *     cached chunks until buffers and cache fit the limit together.
 *  6. LMDB's writer lock is a mutex owned by the thread that began the write
 *     transaction, and only that thread can release it.  So one thread per
 *     volume, the txn thread, begins, commits and aborts every batch; other
 *     threads ask it (txn_call) while holding vfs->lock, which also keeps the
 *     batch out of anyone else's hands meanwhile.
 *  7. The journal (index/schema.h) holds records only of blocks that are
 *     buffered.  A buffer's journaled bytes never pass VFS_JOURNAL_BLOCKS
 *     blocks, and journal_bytes never passes opts.dirty_limit (it bounds the
 *     replay after a crash).  An fsync or a commit interval that finds it
 *     three quarters full writes back the most journaled buffers until it is
 *     a step below that, never every buffer at once.  The records' bytes are
 *     in the write-ahead log, whose space is reused round and round: one
 *     that finds a buffer's oldest record more than half the log behind the
 *     head writes back the buffers that old and a sixteenth of the log
 *     younger (index/wal.h invariant 5).  The cleaner thread works ahead of
 *     both bounds (invariant 8), so that fsync rarely meets them.  A
 *     journaled buffer changes only by writes (truncation and hole punching
 *     write it back first), and writing a block back, or replacing or
 *     dropping it, deletes its records in the same batch.  So after a
 *     crash, the extent with its records laid over it is the block as of
 *     the last commit.
 *  8. The cleaner writes a buffer back in three steps: with the lock it
 *     borrows the buffer's bytes (wblock.lent) and notes its generation;
 *     without the lock it writes their chunk (the slow part: hashing, a
 *     file) and, once per pass, makes the files durable (syncfs); with the
 *     lock again it puts the extent and deletes the block's records only if
 *     the buffer still has that generation and stored length, and keeps the
 *     buffer, clean.  Otherwise what it borrowed is stale: its chunk is
 *     discarded unless a record names it.  Lent bytes never change and are
 *     never freed while lent: a change first gives the buffer a copy of its
 *     own (wb_own), and dropping the buffer leaves them to the cleaner, which
 *     frees at the end of its pass whatever a buffer no longer holds.  So a
 *     write never waits for a chunk file being written by the cleaner, the
 *     cleaner never stores bytes older than the buffer's, and its pass costs
 *     the lock no copying.
 */
#ifndef VOLFS_FS_VFS_INTERNAL_H
#define VOLFS_FS_VFS_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "vfs.h"

struct wblock {
	uint64_t block;
	uint32_t len;        /* bytes from the block's start that hold data */
	uint32_t dirty_lo;   /* [dirty_lo, dirty_hi): changed since the block was */
	uint32_t dirty_hi;   /* loaded or last journaled (empty when equal) */
	uint32_t journaled;  /* bytes of it in the journal: records exist iff > 0 */
	uint64_t journal_lsn; /* journaled: log position of its oldest record's bytes */
	uint32_t next_seq;   /* of its next journal record */
	bool lent;           /* data is borrowed by the cleaner's pass (invariant 8) */
	uint64_t gen;        /* changes whenever its bytes do (invariant 3) */
	uint8_t *data;       /* block_size bytes; zero past len */
};

/* An inode the kernel or an open file holds; the index has its attributes. */
struct vnode {
	uint64_t ino;
	uint64_t nlookup;    /* kernel references: lookups minus forgets */
	uint32_t nopen;      /* open files */
	bool kernel_dirty;   /* opened for writing since the last snapshot: the kernel's
			      * page cache may hold writes we have not seen */
	struct wblock *wb;   /* buffered blocks, sorted by block number */
	size_t nwb, wbcap;
	uint64_t read_next;  /* where a sequential reader of it would read next */
	uint64_t read_ahead; /* blocks below this were prefetched for it */
	struct vnode *hnext;
};

struct vfs {
	struct store *store;
	struct idx_volume vol;
	char name[2 * IDX_NAME_MAX + 2];   /* "NAME" or "NAME@SNAP", for messages */
	uint32_t block_size;
	bool rdonly;
	bool journal_visible;            /* read-only view of a live tree: reads lay the
					  * journal over extents (a rw daemon may write it) */
	struct vfs_options opts;

	pthread_mutex_t lock;
	/* --- protected by lock --- */
	struct idx_view view;
	struct idx_txn *txn;             /* the batch, or NULL */
	struct timespec txn_begun;
	uint64_t txn_changes;
	bool chunks_unsynced;
	bool broken;                     /* an internal error: read-only from now on */
	uint64_t dirty_bytes;            /* buffer memory, clean buffers included */
	uint64_t wb_gen;                 /* the last generation given to a buffer */
	struct timespec dirty_since;     /* buffered changes older than this are durable */
	uint64_t journal_bytes;          /* bytes of the buffers' journal records */
	uint64_t journal_lsn_floor;      /* no journaled buffer's journal_lsn is below */
	bool settling;                   /* vfs_commit() writes journaled blocks back */
	bool free_due;                   /* the last commit left dead chunks: free them */
	bool freeing;                    /* the batch was begun by the flusher to free them */
	struct vnode **htab;
	size_t hsize, hcount;
	bool stopping;
	/* --- end of lock's fields --- */

	struct chunk_cache *cache;       /* verified chunks that reads read (invariant 5) */
	bool kernel_times;               /* set once, before serving: see vfs.h */
	vfs_writeback_fn kernel_writeback;   /* set once, before serving */
	void *kernel_writeback_arg;

	pthread_cond_t wake;             /* the flusher's and cleaner's timer, with lock */
	pthread_t flusher;
	bool flusher_started;
	pthread_t cleaner;
	bool cleaner_started;

	/* the txn thread (invariant 6) and its one request at a time */
	pthread_t txn_thread;
	bool txn_thread_started;
	pthread_mutex_t txn_mutex;
	pthread_cond_t txn_cond;
	int txn_request;                 /* enum txn_request, with txn_mutex */
	struct idx_txn *txn_arg;         /* in: to commit/abort; out: begun */
	int txn_result;
};

/*
 * Bytes of one block the journal may hold, in blocks: past it the block is
 * written back at fsync.  Four rather than one made random 8 KiB writes with
 * fsync 1.1x as fast on 128 KiB blocks and 2.1x on 16 KiB blocks, in one
 * quick run of each (docs/performance.md).
 */
#define VFS_JOURNAL_BLOCKS 4
/* Most changes a batch collects before it commits. */
#define VFS_BATCH_MAX_CHANGES 10000
/*
 * Most bytes a batch logs before it commits: bounds the work of a replay and
 * the pages LMDB holds in memory for the open batch (batch_max_log() also
 * keeps it within an eighth of the log).  Journal records' bytes are in the log
 * and their LMDB records small, so 64 MiB holds few pages; it made random
 * 8 KiB writes with fsync 4-20% faster than 16 MiB in three paired runs
 * (docs/performance.md), with less than half as many commits.
 */
#define VFS_BATCH_MAX_LOG (64ull << 20)
/* Shortest time a batch keeps LMDB's writer lock when others wait for it. */
#define VFS_HANDOVER_MS 20

/* ---- vfs.c, for vfs_data.c (all with vfs->lock held) ---------------- */

/* The transaction to read with: the batch if open, else a new read txn. */
int vfs_read_txn(struct vfs *vfs, struct idx_txn **ret_txn);
/* Releases what vfs_read_txn() gave (the batch stays). */
void vfs_read_done(struct vfs *vfs, struct idx_txn *txn);
/* The batch, opened if needed; -EROFS for read-only volumes. */
int vfs_write_txn(struct vfs *vfs, struct idx_txn **ret_txn);
/* Ends a change of the batch: @r < 0 from a change breaks the volume. */
int vfs_changed(struct vfs *vfs, int r);
/* Commits the batch (syncing chunks first). */
int vfs_commit(struct vfs *vfs);
/*
 * fsync's durability point: the batch so far survives a crash once this
 * returns 0.  Chunks are synced, then the batch's changes since the last such
 * point go to the write-ahead log (one flush); the batch stays open.  If the
 * log fails, the batch commits instead.
 */
int vfs_make_durable(struct vfs *vfs);

struct vnode *vnode_find(struct vfs *vfs, uint64_t ino);
struct vnode *vnode_get(struct vfs *vfs, uint64_t ino);     /* NULL: -ENOMEM */
void vnode_put_if_idle(struct vfs *vfs, struct vnode *vn);  /* frees an unused vnode */

void vfs_now(struct timespec *ts);
/* Does an access at @now move atime, by relatime's rule (Linux's default)? */
bool vfs_atime_due(const struct idx_inode *in, const struct timespec *now);
void vfs_stat_of(const struct vfs *vfs, uint64_t ino, const struct idx_inode *in,
		 struct stat *st);
int vfs_inode_get(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, struct idx_inode *ret);
int vfs_inode_put(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, const struct idx_inode *in);

/* ---- vfs_data.c, for vfs.c (all with vfs->lock held) ----------------- */

/* Sets the size of a regular file, dropping or trimming what lies past it. */
int data_truncate(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, struct idx_inode *in,
		  uint64_t size);
/* Deletes every extent of @ino (the inode is being freed); drops its buffers and journal. */
int data_free(struct vfs *vfs, struct idx_txn *txn, uint64_t ino);
/*
 * st_blocks of @ino counting its buffered blocks too (as local filesystems
 * count delayed allocation): in->blocks covers only what is written back.
 */
uint64_t data_buffered_blocks(struct vfs *vfs, struct idx_txn *txn, uint64_t ino,
			      const struct idx_inode *in);
/* Writes back the buffered blocks of @vn into the batch. */
int data_flush_vnode(struct vfs *vfs, struct vnode *vn);
/*
 * Makes what @vn's buffers changed durable with the batch, the fsync way:
 * small changes go into the journal, the rest is written back.
 */
int data_journal_vnode(struct vfs *vfs, struct vnode *vn);
/* At a read-write open: buffers again what the journal of a crashed daemon holds. */
int data_replay_journal(struct vfs *vfs);
/* Writes back every buffered block. */
int data_flush_all(struct vfs *vfs);
/* Writes back every journaled buffer (the log failed: idx_txn_log_usable()). */
int data_flush_journaled(struct vfs *vfs);
/*
 * Makes every buffered change durable with the batch, data_journal_vnode()
 * for each file, after trimming a journal past its high-water mark.
 */
int data_journal_all(struct vfs *vfs);
/* Frees the buffers of @vn without writing them (the file is gone). */
void data_drop_buffers(struct vfs *vfs, struct vnode *vn);

/*
 * The cleaner's three steps (invariant 8); the lock is held for the first
 * and the last, not for the second.  data_clean_pick() returns the work, or
 * NULL when the journal is a step below its bounds (or on -ENOMEM);
 * data_clean_install() frees it and returns how many buffers it cleaned, or
 * a negative errno.
 */
struct clean_item {
	uint64_t ino, block, gen;
	uint32_t len;                /* stored length when lent */
	bool inline_ok;              /* block 0 of a small file: no chunk (store_block) */
	int result;                  /* of chunk_prepare(); 1: no chunk to write */
	bool installed;
	struct idx_chunk_id id;
	uint8_t *data;               /* the buffer's bytes, lent (invariant 8) */
};

struct clean_work {
	bool synced;                 /* the chunk files written are on disk */
	size_t n;
	struct clean_item item[];    /* by file and block */
};

struct clean_work *data_clean_pick(struct vfs *vfs);
void data_clean_write(struct vfs *vfs, struct clean_work *w);
int data_clean_install(struct vfs *vfs, struct clean_work *w);

/*
 * For tests: called by a write that read @nread blocks without the lock,
 * before it takes the lock again, so that a test can change them meanwhile.
 * NULL.
 */
extern void (*data_preload_hook)(struct vfs *vfs, uint64_t ino, unsigned nread);

#endif
