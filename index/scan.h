/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scan.h — raw, version-level access to the index, for fsck.
 *
 * index.h shows the store as views: the visible version of each key.  fsck
 * must also see what no view shows — every version of every key, records
 * that do not decode, LMDB's own tables — and must be able to repair what
 * the normal API refuses to write (a reference count set to an exact value,
 * a record that does not decode deleted).  That is this interface.  Nothing
 * but fsck should need it.
 *
 * Conventions are index.h's: 0 or -errno; LMDB's codes are mapped (a page
 * LMDB finds damaged is -EUCLEAN); pointers passed to callbacks are valid
 * only during the call.  A callback's non-zero return stops the walk and is
 * returned.  Callbacks must not write to the database being walked; collect
 * first, then repair.
 */
#ifndef VOLFS_INDEX_SCAN_H
#define VOLFS_INDEX_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

/* The named databases, in the order of docs/format.md §4. */
enum idx_db {
	IDX_DB_META,
	IDX_DB_VOLUMES,
	IDX_DB_TREES,
	IDX_DB_SNAPSHOTS,
	IDX_DB_INODES,
	IDX_DB_DIRENTS,
	IDX_DB_EXTENTS,
	IDX_DB_XATTRS,
	IDX_DB_CHUNKS,
	IDX_DB_DEADCHUNKS,
	IDX_DB_ORPHANS,
	IDX_DB_CHANGES,
	IDX_DB_JOURNAL,
	IDX_DB_COUNT
};

/* "inodes", …: the LMDB name of @db. */
const char *idx_db_name(enum idx_db db);
/* inodes, dirents, extents, xattrs. */
bool idx_db_versioned(enum idx_db db);

/* ---- raw records ------------------------------------------------------ */

typedef int (*idx_raw_fn)(const void *key, size_t klen, const void *val, size_t vlen,
			  void *arg);
/*
 * Calls @fn for every record of @db in key order.  *ret_count (may be NULL)
 * is the number of records visited.  A damaged page ends the walk with
 * -EUCLEAN (LMDB cannot step past it, or keys come out of order).
 */
int idx_scan_raw(struct idx_txn *txn, enum idx_db db, idx_raw_fn fn, void *arg,
		 uint64_t *ret_count);
/*
 * Walks LMDB's own two tables, the table of named databases and the free
 * list, touching every page they name.  -EUCLEAN if a page is damaged.
 */
int idx_scan_lmdb(struct idx_txn *txn, uint64_t *ret_records);

/*
 * Whether a record of a non-versioned database has the shape format.md gives
 * it (key and value sizes, names): NULL if so, else a short reason.
 */
const char *idx_record_check(enum idx_db db, const void *key, size_t klen,
			     const void *val, size_t vlen);

/* Decoders of unversioned values: 0, or -EUCLEAN if the size is wrong. */
int idx_decode_volume(const void *val, size_t vlen, struct idx_volume *ret);
int idx_decode_tree(const void *val, size_t vlen, struct idx_tree *ret);
int idx_decode_snapshot(const void *val, size_t vlen, struct idx_snapshot *ret);
int idx_decode_chunk(const void *val, size_t vlen, struct idx_chunk *ret);
/* A journal record (its shape checked by idx_record_check() first). */
void idx_decode_journal(const void *key, const void *val, size_t vlen, uint64_t *ret_tree,
			struct idx_journal_rec *ret);
/* A be64 value (meta counters, the volume id of a snapshot key, tree keys). */
uint64_t idx_decode_be64(const void *p);

/* ---- versions ------------------------------------------------------------ */

/* One version of a versioned record, its key taken apart and its value decoded. */
struct idx_version {
	enum idx_db db;
	uint64_t tree;
	uint64_t ino;              /* inodes, extents, xattrs: the inode; dirents: the directory */
	uint64_t block;            /* extents */
	const char *name;          /* dirents, xattrs: not NUL-terminated */
	size_t namelen;
	uint64_t gen;
	bool tombstone;
	/* the logical key (between the tree and the generation), for grouping */
	const uint8_t *lkey;
	size_t lkey_len;
	/* when !tombstone, the value by database: */
	struct idx_inode inode;
	struct idx_dirent dirent;
	struct idx_extent extent;  /* inline_data points into the index */
	const void *xattr_value;
	size_t xattr_len;
	/* the raw record */
	const void *key;
	size_t klen;
};

/*
 * Parses a record of versioned database @db: NULL with *ret filled in, or a
 * short reason why the record breaks format.md §4.5 (I3, I12, I13, I33's
 * shape).  Extent lengths are checked against IDX_INLINE_MAX for inline
 * data only; the volume's block size is the caller's to check.
 */
const char *idx_version_parse(enum idx_db db, const void *key, size_t klen, const void *val,
			      size_t vlen, struct idx_version *ret);

/*
 * Calls @fn for every version in @db (a versioned database), in key order:
 * all trees (doomed ones too), all generations, tombstones included.  A
 * record that does not parse is passed with @why set (and @v only holding
 * db, key and klen); otherwise @why is NULL.
 */
typedef int (*idx_version_fn)(const struct idx_version *v, const char *why, void *arg);
int idx_scan_versions(struct idx_txn *txn, enum idx_db db, idx_version_fn fn, void *arg);
/* The same, for the versions of one tree only. */
int idx_scan_versions_tree(struct idx_txn *txn, enum idx_db db, uint64_t tree,
			   idx_version_fn fn, void *arg);

/* ---- repairs (write transactions only) --------------------------------- */

/* Writes a record as given, replacing one with the same key. */
int idx_raw_put(struct idx_txn *txn, enum idx_db db, const void *key, size_t klen,
		const void *val, size_t vlen);
/* Deletes the record with exactly this key; -ENOENT. */
int idx_raw_del(struct idx_txn *txn, enum idx_db db, const void *key, size_t klen);
/*
 * Writes chunk @id's record with exactly @c (I10), and puts it on the dead
 * list if c->refs is 0, takes it off otherwise (I11).
 */
int idx_raw_chunk_set(struct idx_txn *txn, const struct idx_chunk_id *id,
		      const struct idx_chunk *c);
/* Puts @id on the dead list (@dead) or takes it off; idempotent. */
int idx_raw_dead_set(struct idx_txn *txn, const struct idx_chunk_id *id, bool dead);

#endif
