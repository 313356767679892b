/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * index.h — the metadata index of a volfs store: one LMDB environment holding
 * every record (see schema.h for the exact layouts and docs/format.md).
 *
 * Conventions:
 *  - Every function returns 0 (or a documented positive value) on success and a
 *    negative errno on failure. LMDB's own codes never leave index/:
 *      not found -> -ENOENT, key exists -> -EEXIST, map full (after growing) ->
 *      -ENOSPC, corrupt/invalid file -> -EUCLEAN, unsupported format ->
 *      -EPROTONOSUPPORT, anything else -> -EIO.
 *  - ret_* out-parameters are written only on success.
 *  - Pointers into the index returned by a lookup (xattr values, inline
 *    extent bytes, names passed to callbacks) are valid only until the next
 *    write in the same transaction or the end of the transaction.
 *  - A thread holds at most one transaction at a time; a write transaction is
 *    used by one thread only.  Read transactions may be used from any thread
 *    (the environment is opened with MDB_NOTLS) but not by two at once.
 *  - Commits are synchronous (LMDB's default durability): when
 *    idx_txn_commit() returns 0, the transaction survives power loss.  Group
 *    commit is done by callers batching many operations into one transaction;
 *    such a transaction can also be made durable before it commits, through
 *    the write-ahead log (idx_txn_log_sync()).
 */
#ifndef VOLFS_INDEX_H
#define VOLFS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct idx_env;
struct idx_txn;

/* ---- environment and transactions ---------------------------------- */

enum idx_env_flags {
	IDX_ENV_CREATE = 1 << 0,  /* create data.mdb if missing (init only)  */
	IDX_ENV_RDONLY = 1 << 1,  /* read-only: no write transactions        */
	/* log frames by buffered writes, as where the file system has no direct I/O (tests) */
	IDX_ENV_LOG_BUFFERED = 1 << 2,
};

/*
 * Opens the LMDB environment in directory @dir.  @initial_map_size of 0 picks
 * the default; tests pass a small one to exercise growth.
 * Returns -ENOENT if @dir has no data.mdb and IDX_ENV_CREATE is not given,
 * -ENODATA if data.mdb holds nothing yet (an init that never committed),
 * -EUCLEAN if LMDB finds the files corrupt or not LMDB files at all, or an
 * LMDB file with records but without volfs's databases.
 */
int idx_env_open(const char *dir, unsigned flags, uint64_t initial_map_size,
		 struct idx_env **ret_env);
void idx_env_close(struct idx_env *env);          /* NULL is fine */
uint64_t idx_env_map_size(struct idx_env *env);   /* current map size, bytes */

enum idx_txn_flags {
	IDX_TXN_RDONLY = 1 << 0,
	IDX_TXN_LOGGED = 1 << 1,  /* a write txn whose changes idx_txn_log_sync() logs */
};

/*
 * Begins a transaction.  A write transaction first grows the map when less
 * than a quarter of it is free, so that the map does not fill in the middle
 * of a transaction.
 */
int idx_txn_begin(struct idx_env *env, unsigned flags, struct idx_txn **ret_txn);
/*
 * True while another thread or process waits to begin a write transaction.
 * LMDB has one writer per environment, across processes: a holder that
 * batches many operations into one transaction (the daemon's group commit)
 * polls this and commits early so that others get their turn.  Waiters hold
 * a shared flock on index/wait.lock while they wait, so a waiter that dies
 * stops counting at once.
 */
bool idx_env_writer_waiting(struct idx_env *env);

/*
 * Makes the changes of @txn (begun with IDX_TXN_LOGGED) so far survive a
 * crash without committing it: they go to the write-ahead log index/wal as
 * one frame, which is flushed (one fdatasync).  If the transaction never
 * commits — the process dies, or it aborts — the next write transaction of
 * any process replays the frames and commits them before anything else
 * (wal.h).  After a failure nothing more can be logged: commit instead.
 */
int idx_txn_log_sync(struct idx_txn *txn);
/* Bytes @txn has logged, including what waits for its next frame. */
uint64_t idx_txn_log_bytes(const struct idx_txn *txn);
/* The log position @txn's next byte would get, and the log's size (0, 0: not logged). */
uint64_t idx_txn_log_head(const struct idx_txn *txn);
uint64_t idx_txn_log_size(const struct idx_txn *txn);
/*
 * Can @txn still log?  Not after a frame failed (full disk, I/O error, or
 * no room: wal.h invariant 5).  Then the journal records it put since its
 * last frame name bytes that were never written: the caller must write
 * their blocks back (deleting them) before it commits.
 */
bool idx_txn_log_usable(const struct idx_txn *txn);
/* Does @txn's next frame hold bytes that its journal records name? */
bool idx_txn_log_holds_data(const struct idx_txn *txn);
/*
 * Sets the log's size (meta "log_size"; default 1 GiB), which only a store
 * whose log holds no bytes a record names can change (-EBUSY).
 */
int idx_log_set_size(struct idx_txn *txn, uint64_t size);
/* How many frames of the log wait to be committed (by their batch, or a replay). */
int idx_env_log_pending(struct idx_env *env, unsigned *ret_frames);
/*
 * Makes what this process reads include every change a batch made durable
 * through the log: if frames wait, a read-write environment begins a write
 * transaction (so a live batch commits and hands LMDB's lock over, or a dead
 * one's frames are replayed); a read-only one asks a live batch to commit and
 * waits for it up to 200 ms (a dead one's frames wait for the next
 * read-write opener).
 */
int idx_env_catch_up(struct idx_env *env);

/* Commits and frees @txn, also on failure (then nothing was written). */
int idx_txn_commit(struct idx_txn *txn);
/* Aborts and frees @txn; NULL is fine. */
void idx_txn_abort(struct idx_txn *txn);
bool idx_txn_is_rdonly(const struct idx_txn *txn);

/*
 * Runs @fn in a write transaction and commits it.  If the map fills during
 * @fn (-ENOSPC from LMDB's MDB_MAP_FULL), the transaction is aborted, the map
 * is doubled and @fn runs again, so @fn must have no effect outside the
 * transaction that it cannot repeat.  Returns @fn's error, or the commit's.
 */
typedef int (*idx_update_fn)(struct idx_txn *txn, void *arg);
int idx_update(struct idx_env *env, idx_update_fn fn, void *arg);

/* ---- store metadata -------------------------------------------------- */

#define IDX_FORMAT_VERSION 4
/*
 * The oldest format read.  Format 3 added index/wal; format 4 keeps the
 * journal's bytes in it.  An older store is marked 4 at its first
 * read-write open (idx_meta_set_format()), so that a volfs that would
 * ignore the log, or not find journal bytes there, refuses it from then on.
 */
#define IDX_FORMAT_OLDEST 2
#define IDX_SECRET_SIZE 192     /* bytes of the XXH3 key (>= XXH3_SECRET_SIZE_MIN) */

struct idx_meta {
	uint32_t format;                   /* IDX_FORMAT_VERSION             */
	uint8_t secret[IDX_SECRET_SIZE];   /* chunk-name key, random at init */
	int64_t created_ns;                /* CLOCK_REALTIME at init         */
};

/* Writes the meta record of a new store; -EEXIST if the store has one. */
int idx_meta_init(struct idx_txn *txn, const struct idx_meta *meta);
/*
 * Reads the meta record: -ENODATA if there is none (not a volfs store, or an
 * init that never committed), -EPROTONOSUPPORT if the format is not one from
 * IDX_FORMAT_OLDEST to IDX_FORMAT_VERSION (ret_meta->format is still filled in
 * for the message).
 */
int idx_meta_get(struct idx_txn *txn, struct idx_meta *ret_meta);
/* Rewrites the format number of an existing store. */
int idx_meta_set_format(struct idx_txn *txn, uint32_t format);

enum idx_counter {
	IDX_COUNTER_VOLUME,   /* volume ids */
	IDX_COUNTER_TREE,     /* tree ids   */
};
/* Allocates the next id (starting at 1) of a store-wide counter. */
int idx_counter_next(struct idx_txn *txn, enum idx_counter which, uint64_t *ret_id);

/* ---- volumes, trees, snapshots (unversioned) -------------------------- */

#define IDX_NAME_MAX 128   /* volume and snapshot names, bytes, without NUL */

struct idx_volume {
	uint64_t id;
	uint64_t tree;          /* the live tree                            */
	uint32_t block_size;    /* bytes; power of two, 4 KiB .. 1 MiB      */
	uint32_t flags;         /* enum idx_volume_flags                    */
	uint64_t quota;         /* bytes, 0 = none                          */
	int64_t created_ns;
};

enum idx_volume_flags {
	IDX_VOLUME_NO_VERIFY_DEDUP = 1 << 0,  /* share equal hashes without comparing bytes */
};

int idx_volume_get(struct idx_txn *txn, const char *name, struct idx_volume *ret_vol);
int idx_volume_add(struct idx_txn *txn, const char *name, const struct idx_volume *vol); /* -EEXIST */
int idx_volume_update(struct idx_txn *txn, const char *name, const struct idx_volume *vol); /* -ENOENT */
int idx_volume_del(struct idx_txn *txn, const char *name);                                /* -ENOENT */
/* Calls @fn in name order; a non-zero return from @fn stops and is returned. */
typedef int (*idx_volume_fn)(const char *name, const struct idx_volume *vol, void *arg);
int idx_volume_foreach(struct idx_txn *txn, idx_volume_fn fn, void *arg);

struct idx_tree {
	uint64_t volume;        /* owning volume id                              */
	uint64_t parent;        /* tree this one was cloned from, 0 = none      */
	uint64_t parent_gen;    /* generation of @parent it sees                 */
	uint64_t gen;           /* current (writable) generation G, >= 1        */
	uint64_t snap_gen;      /* newest generation a snapshot holds S, < G    */
	uint64_t next_ino;      /* next inode number to hand out                */
	uint32_t flags;         /* enum idx_tree_flags                          */
};

enum idx_tree_flags {
	IDX_TREE_DOOMED = 1 << 0,   /* being removed by idx_tree_reap() */
};

int idx_tree_get(struct idx_txn *txn, uint64_t tree, struct idx_tree *ret_tree);
int idx_tree_put(struct idx_txn *txn, uint64_t tree, const struct idx_tree *t);
typedef int (*idx_tree_fn)(uint64_t tree, const struct idx_tree *t, void *arg);
int idx_tree_foreach(struct idx_txn *txn, idx_tree_fn fn, void *arg);

struct idx_snapshot {
	uint64_t tree;
	uint64_t gen;
	int64_t created_ns;
};

int idx_snapshot_get(struct idx_txn *txn, uint64_t volume, const char *name,
		     struct idx_snapshot *ret_snap);
int idx_snapshot_add(struct idx_txn *txn, uint64_t volume, const char *name,
		     const struct idx_snapshot *snap);                      /* -EEXIST */
int idx_snapshot_del(struct idx_txn *txn, uint64_t volume, const char *name);
typedef int (*idx_snapshot_fn)(const char *name, const struct idx_snapshot *snap, void *arg);
int idx_snapshot_foreach(struct idx_txn *txn, uint64_t volume, idx_snapshot_fn fn, void *arg);

/* ---- views: which versions a reader or writer sees ------------------- */

#define IDX_VIEW_DEPTH 32   /* longest chain of clones-of-clones */

/*
 * A view of a tree at one generation, with the chain of parents a clone falls
 * through to.  A record version written at generation g in level i's tree is
 * visible if it is the newest version of its key there with g <= level[i].gen;
 * a key with no version in level i falls through to level i+1.
 *
 * A writable view writes at level[0] (tree, gen = G).  It may overwrite a
 * version in place only if that version's gen > snap_gen (no snapshot can see
 * it); otherwise it adds a new version at G.
 * Invariant: a writable view is valid only while its tree's G and S are
 * unchanged; whoever takes a snapshot of a tree rebuilds the views on it.
 */
struct idx_view {
	unsigned depth;          /* levels in use, 1 .. IDX_VIEW_DEPTH */
	bool writable;
	uint64_t snap_gen;       /* S of level[0].tree when the view was built */
	struct idx_view_level {
		uint64_t tree;
		uint64_t gen;
	} level[IDX_VIEW_DEPTH];
};

/* The writable view of @tree's current generation. -ENOENT, -ELOOP (chain too deep). */
int idx_view_live(struct idx_txn *txn, uint64_t tree, struct idx_view *ret_view);
/* A read-only view of @tree at generation @gen (a snapshot). */
int idx_view_at(struct idx_txn *txn, uint64_t tree, uint64_t gen, struct idx_view *ret_view);

/* ---- inodes ------------------------------------------------------------ */

#define IDX_ROOT_INO 1   /* the root directory of every tree (FUSE_ROOT_ID) */

struct idx_inode {
	uint32_t mode;           /* type and permission bits, as st_mode */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t flags;          /* reserved, 0 */
	uint64_t size;
	uint64_t rdev;
	uint64_t parent;         /* directories: parent directory (root: itself); else 0 */
	uint64_t blocks;         /* 512-byte units stored for the file (st_blocks) */
	struct timespec atime, mtime, ctime, btime;
};

/* Allocates a fresh inode number in the view's writable tree. */
int idx_ino_alloc(struct idx_txn *txn, const struct idx_view *view, uint64_t *ret_ino);
int idx_inode_get(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  struct idx_inode *ret_inode);
int idx_inode_put(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const struct idx_inode *inode);
int idx_inode_del(struct idx_txn *txn, const struct idx_view *view, uint64_t ino);
typedef int (*idx_inode_fn)(uint64_t ino, const struct idx_inode *inode, void *arg);
/* Every inode visible in @view, in inode-number order. */
int idx_inode_foreach(struct idx_txn *txn, const struct idx_view *view,
		      idx_inode_fn fn, void *arg);

/* ---- directory entries ----------------------------------------------- */

#define IDX_FILENAME_MAX 255

struct idx_dirent {
	uint64_t ino;
	uint8_t type;            /* DT_REG, DT_DIR, ... */
};

/* Names are byte strings of 1..IDX_FILENAME_MAX bytes with no '/' or NUL. */
int idx_dirent_get(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		   const char *name, size_t namelen, struct idx_dirent *ret_de);
int idx_dirent_put(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		   const char *name, size_t namelen, const struct idx_dirent *de);
int idx_dirent_del(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		   const char *name, size_t namelen);
typedef int (*idx_dirent_fn)(const char *name, size_t namelen,
			     const struct idx_dirent *de, void *arg);
/*
 * The entries of @dir visible in @view in byte order of their names, starting
 * strictly after @after (NULL: from the first).  A non-zero return from @fn
 * stops the walk and is returned.
 */
int idx_dirent_foreach(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		       const char *after, size_t afterlen, idx_dirent_fn fn, void *arg);

/* ---- extents: a file's blocks ---------------------------------------- */

#define IDX_CHUNK_ID_SIZE 16
#define IDX_INLINE_MAX 4096   /* largest inline extent, bytes */

struct idx_chunk_id {
	uint8_t bytes[IDX_CHUNK_ID_SIZE];   /* XXH3-128, canonical (big-endian) */
};

enum idx_extent_kind {
	IDX_EXTENT_CHUNK = 1,    /* data in a chunk file      */
	IDX_EXTENT_INLINE = 2,   /* data in the record itself */
};

struct idx_extent {
	uint8_t kind;                 /* enum idx_extent_kind                 */
	uint32_t length;              /* bytes of data, <= the block size      */
	struct idx_chunk_id chunk;    /* IDX_EXTENT_CHUNK                      */
	const void *inline_data;      /* IDX_EXTENT_INLINE; see lifetime rule  */
};

/*
 * An absent extent is a hole (reads as zeros).  idx_extent_put() takes a
 * reference on the new extent's chunk and drops the reference of a version it
 * overwrites in place; idx_extent_del() likewise drops one.  The caller makes
 * sure the chunk file exists before the transaction commits (fs/chunk.c).
 */
int idx_extent_get(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		   uint64_t block, struct idx_extent *ret_ext);
int idx_extent_put(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		   uint64_t block, const struct idx_extent *ext);
int idx_extent_del(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		   uint64_t block);
typedef int (*idx_extent_fn)(uint64_t block, const struct idx_extent *ext, void *arg);
/* The extents of @ino visible in @view with block >= @first, in block order. */
int idx_extent_foreach(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		       uint64_t first, idx_extent_fn fn, void *arg);

/* ---- extended attributes --------------------------------------------- */

#define IDX_XATTR_NAME_MAX 255
#define IDX_XATTR_VALUE_MAX 65536

int idx_xattr_get(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const char *name, const void **ret_value, size_t *ret_len);
int idx_xattr_put(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const char *name, const void *value, size_t len);
int idx_xattr_del(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const char *name);
typedef int (*idx_xattr_fn)(const char *name, const void *value, size_t len, void *arg);
int idx_xattr_foreach(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		      idx_xattr_fn fn, void *arg);

/* ---- chunk reference counts ------------------------------------------ */

struct idx_chunk {
	uint64_t refs;      /* record versions naming this chunk */
	uint32_t length;    /* bytes */
};

int idx_chunk_get(struct idx_txn *txn, const struct idx_chunk_id *id, struct idx_chunk *ret_chunk);
/*
 * Counts one more reference, creating the record (refs = 1) if there is none
 * and taking the chunk off the dead list if it was there.  -EINVAL if a
 * record exists with another length (a hash collision or corruption).
 */
int idx_chunk_ref(struct idx_txn *txn, const struct idx_chunk_id *id, uint32_t length);
/*
 * Counts one reference less; at zero the record stays, with refs = 0, and the
 * chunk goes on the dead list for idx_chunk_forget() once its file is gone.
 * -EUCLEAN if the count is already zero or the record is missing.
 */
int idx_chunk_unref(struct idx_txn *txn, const struct idx_chunk_id *id);
typedef int (*idx_chunk_fn)(const struct idx_chunk_id *id, const struct idx_chunk *c, void *arg);
int idx_chunk_foreach(struct idx_txn *txn, idx_chunk_fn fn, void *arg);
/* The chunks whose count reached zero; their files may still exist. */
int idx_dead_chunk_foreach(struct idx_txn *txn, idx_chunk_fn fn, void *arg);
/* 1 if any chunk is dead (on that list), 0 if none, or an error. */
int idx_dead_chunk_any(struct idx_txn *txn);
/*
 * Deletes the record of a dead chunk (refs == 0) and its dead entry; -EBUSY
 * if it has references.  A dead entry left without its record goes too.
 */
int idx_chunk_forget(struct idx_txn *txn, const struct idx_chunk_id *id);

/* ---- orphans: inodes unlinked while still open ------------------------ */

int idx_orphan_add(struct idx_txn *txn, uint64_t tree, uint64_t ino);
int idx_orphan_del(struct idx_txn *txn, uint64_t tree, uint64_t ino);   /* -ENOENT */
typedef int (*idx_orphan_fn)(uint64_t tree, uint64_t ino, void *arg);
int idx_orphan_foreach(struct idx_txn *txn, idx_orphan_fn fn, void *arg);

/* ---- the write journal: fsync'd partial-block writes (schema.h) ------- */

struct idx_journal_rec {
	uint64_t ino, block;
	uint32_t seq;            /* order within the block: later records win */
	uint32_t offset;         /* within the block */
	uint32_t length;         /* > 0 */
	/* The bytes: given to a put; a record read back has them only from format 3 or
	 * before (see the lifetime rule at the top), else NULL and they are in the log. */
	const void *data;
	uint64_t lsn;            /* data == NULL: their position in the log (wal.h) */
	uint64_t hash;           /* data == NULL: XXH3-64 of them, seeded with lsn */
};

/*
 * Puts @rec into @txn, a logged txn that can still log: its bytes go into
 * the log's next frame, *ret_lsn says where.
 */
int idx_journal_put(struct idx_txn *txn, uint64_t tree, const struct idx_journal_rec *rec,
		    uint64_t *ret_lsn);
/*
 * Copies the bytes of @rec (from a read of @txn) to @dst.  -ESTALE if the
 * log no longer holds them: their space was reused after a commit that
 * @txn does not see deleted the record (a newer txn reads the block
 * elsewhere), or they are damaged.
 */
int idx_journal_read(struct idx_txn *txn, const struct idx_journal_rec *rec, void *dst);
/* Deletes the records of blocks [@first, @end) of @ino. */
int idx_journal_del_blocks(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t first,
			   uint64_t end);
/* Deletes every record of @tree. */
int idx_journal_del_tree(struct idx_txn *txn, uint64_t tree);
typedef int (*idx_journal_fn)(const struct idx_journal_rec *rec, void *arg);
/* The records of @tree in (ino, block, seq) order; -EUCLEAN for a malformed one. */
int idx_journal_foreach(struct idx_txn *txn, uint64_t tree, idx_journal_fn fn, void *arg);
/* The records of one block, in seq order. */
int idx_journal_foreach_block(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t block,
			      idx_journal_fn fn, void *arg);

/* The first block >= @from of @ino that has records: -ENOENT if none. */
int idx_journal_next_block(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t from,
			   uint64_t *ret_block);

/* ---- removal of whole trees ------------------------------------------ */

/*
 * Deletes at most @budget records (every version of inodes, dirents, extents,
 * xattrs, orphans, journal records) of @tree, dropping the chunk references of its extents.
 * When nothing is left it deletes the tree record too and returns 1;
 * returns 0 when records remain (call again in a new transaction).
 */
int idx_tree_reap(struct idx_txn *txn, uint64_t tree, size_t budget);
/*
 * Rollback: deletes every version of @tree newer than generation @gen (the
 * change log names them), at most @budget per call; 1 when none is left.
 * The caller then sets the tree's G to @gen + 1 and S to @gen.
 */
int idx_tree_rollback(struct idx_txn *txn, uint64_t tree, uint64_t gen, size_t budget);

/*
 * Deleting the snapshot at generation @gen of @tree: drops the versions no
 * reader but @gen sees, given the next older snapshot @prev (0: none) and
 * the next newer reader @next (the next snapshot, or the tree's G).  Cost:
 * the versions written in (gen, next].  A dry run changes nothing; *ret (may
 * be NULL) counts the versions and the bytes of chunks whose last reference
 * they hold (for `snapshot list`).
 */
struct idx_drop {
	uint64_t versions;
	uint64_t bytes;
};
int idx_tree_drop_generation(struct idx_txn *txn, uint64_t tree, uint64_t prev, uint64_t gen,
			     uint64_t next, bool dry_run, struct idx_drop *ret);

/* Counts every record version (and orphan entry) of @tree. */
int idx_tree_record_count(struct idx_txn *txn, uint64_t tree, uint64_t *ret_count);

#endif
