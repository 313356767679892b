/* SPDX-License-Identifier: GPL-2.0-or-later */
/* internal.h — shared by the index/ sources; nothing outside index/ sees LMDB. */
#ifndef VOLFS_INDEX_INTERNAL_H
#define VOLFS_INDEX_INTERNAL_H

#include <endian.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "index.h"
#include "schema.h"

enum dbi_index {
	DBI_META,
	DBI_VOLUMES,
	DBI_TREES,
	DBI_SNAPSHOTS,
	DBI_INODES,
	DBI_DIRENTS,
	DBI_EXTENTS,
	DBI_XATTRS,
	DBI_CHUNKS,
	DBI_DEADCHUNKS,
	DBI_ORPHANS,
	DBI_CHANGES,
	DBI_JOURNAL,
	DBI_COUNT
};

/* The change log stores these numbers on disk (schema.h, invariant 4). */
_Static_assert(DBI_INODES == 4 && DBI_DIRENTS == 5 && DBI_EXTENTS == 6 && DBI_XATTRS == 7,
	       "versioned databases are numbered in the change log");
/* ... and the write-ahead log numbers them all (format.md §4.11). */
_Static_assert(DBI_META == 0 && DBI_CHUNKS == 8 && DBI_ORPHANS == 10 && DBI_JOURNAL == 12 &&
	       DBI_COUNT == 13, "databases are numbered in the write-ahead log");

/* The operations of the logged transaction's next frame (wal.c). */
struct wal_buf {
	uint8_t *data;
	size_t len, cap;
};

struct idx_env {
	MDB_env *mdb;
	MDB_dbi dbi[DBI_COUNT];
	bool rdonly;
	/*
	 * Every transaction holds this shared for its whole life; changing the
	 * map size (which LMDB allows only with no transaction active in the
	 * process) holds it exclusively.
	 */
	pthread_rwlock_t map_lock;
	/* index/wait.lock: shared by writers waiting to begin (see idx_env_writer_waiting) */
	int wait_fd;      /* taken shared while waiting                    */
	int probe_fd;     /* a second open file: probed exclusively        */
	int wal_fd;       /* index/wal (wal.h); read-only: O_RDONLY, -1 if none */
	int wal_direct_fd; /* index/wal again, O_DIRECT, for frames; -1 if the fs refuses */
	/* LMDB has one write transaction at a time: at most one logged txn uses these */
	struct wal_buf wal_buf;
	uint64_t wal_capacity;  /* the log's size, as of the last write txn's begin */
	uint64_t wal_tail;      /* no committed record names a position below (wal.h 5) */
	bool wal_legacy;        /* the store has no log head yet: format 3 frames count */
};

struct idx_txn {
	struct idx_env *env;
	MDB_txn *mdb;
	bool rdonly;
	bool map_full;          /* a write hit MDB_MAP_FULL: LMDB poisoned the txn */
	/* a logged write transaction (IDX_TXN_LOGGED; wal.h) */
	bool logged;
	bool wal_failed;        /* a frame failed to write: no further frames */
	bool wal_data;          /* the next frame holds bytes a record names */
	uint32_t wal_seq;       /* of the next frame */
	uint32_t wal_ops;       /* operations waiting for the next frame */
	uint64_t wal_start;     /* log position of the txn's first frame */
	uint64_t wal_off;       /* where the next frame goes */
	/* Point lookups reuse one cursor per database; iterations open their own. */
	MDB_cursor *cursor[DBI_COUNT];
};

/* Maps an LMDB (or system) return code to a negative errno. */
int idx_errno(int rc);

/* mdb_put/mdb_cursor_put for index/: notes a full map for idx_update(). */
int idx_put(struct idx_txn *txn, enum dbi_index db, MDB_val *key, MDB_val *val, unsigned flags);
int idx_cursor_put(struct idx_txn *txn, MDB_cursor *cur, MDB_val *key, MDB_val *val, unsigned flags);
int idx_del(struct idx_txn *txn, enum dbi_index db, MDB_val *key);
int idx_cursor_del(struct idx_txn *txn, MDB_cursor *cur);
/* Puts @head followed by @body as one value (reserved and filled in place). */
int idx_put_joined(struct idx_txn *txn, enum dbi_index db, MDB_val *key,
		   const void *head, size_t head_len, const void *body, size_t body_len);

/*
 * Decodes a journal value (schema.h): for a record of format 4, data is
 * NULL and lsn, hash say where its bytes are; -EUCLEAN if malformed.
 * Does not fill ino, block, seq.
 */
int journal_value_decode(const MDB_val *v, struct idx_journal_rec *ret);
#define JOURNAL_KEY_SIZE 28   /* tree, ino, block, seq */
/* Decodes a whole journal record, key (ino, block, seq) and value; -EUCLEAN if malformed. */
int journal_decode(const MDB_val *k, const MDB_val *v, struct idx_journal_rec *ret);

/* A cursor on @db owned by @txn, positioned nowhere in particular. */
int idx_cursor(struct idx_txn *txn, enum dbi_index db, MDB_cursor **ret_cursor);

static inline MDB_dbi idx_dbi(const struct idx_txn *txn, enum dbi_index db)
{
	return txn->env->dbi[db];
}

/* Big-endian loads and stores through memcpy: index memory is unaligned. */
static inline void put_be64(void *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static inline void put_be32(void *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static inline uint64_t get_be64(const void *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline uint32_t get_be32(const void *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }

#endif
