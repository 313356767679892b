/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scan.c — raw, version-level access to the index for fsck (see scan.h).
 *
 * Rules:
 *  1. Walks read with their own cursors and never write; repairs are
 *     separate calls, made after a walk.
 *  2. Decoding here repeats the layouts of schema.h independently of
 *     versioned.c and records.c, and is stricter: it is what fsck holds the
 *     records to (docs/invariants.md I3, I12, I13, the shape part of I33).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "scan.h"
#include "wal.h"

_Static_assert((int)IDX_DB_COUNT == (int)DBI_COUNT, "idx_db and dbi_index differ");
_Static_assert((int)IDX_DB_INODES == (int)DBI_INODES && (int)IDX_DB_ORPHANS == (int)DBI_ORPHANS &&
	       (int)IDX_DB_CHANGES == (int)DBI_CHANGES && (int)IDX_DB_JOURNAL == (int)DBI_JOURNAL,
	       "idx_db and dbi_index must list the databases in the same order");

static const char *const db_names[IDX_DB_COUNT] = {
	[IDX_DB_META] = DB_META,
	[IDX_DB_VOLUMES] = DB_VOLUMES,
	[IDX_DB_TREES] = DB_TREES,
	[IDX_DB_SNAPSHOTS] = DB_SNAPSHOTS,
	[IDX_DB_INODES] = DB_INODES,
	[IDX_DB_DIRENTS] = DB_DIRENTS,
	[IDX_DB_EXTENTS] = DB_EXTENTS,
	[IDX_DB_XATTRS] = DB_XATTRS,
	[IDX_DB_CHUNKS] = DB_CHUNKS,
	[IDX_DB_DEADCHUNKS] = DB_DEADCHUNKS,
	[IDX_DB_ORPHANS] = DB_ORPHANS,
	[IDX_DB_CHANGES] = DB_CHANGES,
	[IDX_DB_JOURNAL] = DB_JOURNAL,
};

const char *idx_db_name(enum idx_db db)
{
	return db < IDX_DB_COUNT ? db_names[db] : "?";
}

bool idx_db_versioned(enum idx_db db)
{
	return db == IDX_DB_INODES || db == IDX_DB_DIRENTS || db == IDX_DB_EXTENTS ||
	       db == IDX_DB_XATTRS;
}

/* ---- raw walks ------------------------------------------------------------ */

static int walk_dbi(struct idx_txn *txn, MDB_dbi dbi, idx_raw_fn fn, void *arg,
		    uint64_t *ret_count)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0;
	int r = idx_errno(mdb_cursor_open(txn->mdb, dbi, &cur));
	if (r < 0)
		return r;
	MDB_val prev;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		/* LMDB keeps keys sorted; a damaged page need not be */
		if (n > 0 && mdb_cmp(txn->mdb, dbi, &prev, &k) >= 0) {
			r = -EUCLEAN;
			break;
		}
		prev = k;
		n++;
		if (fn) {
			r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
			if (r)
				break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = idx_errno(rc);
	mdb_cursor_close(cur);
	if (ret_count)
		*ret_count = n;
	return r;
}

int idx_scan_raw(struct idx_txn *txn, enum idx_db db, idx_raw_fn fn, void *arg,
		 uint64_t *ret_count)
{
	if (db >= IDX_DB_COUNT)
		return -EINVAL;
	return walk_dbi(txn, idx_dbi(txn, (enum dbi_index)db), fn, arg, ret_count);
}

int idx_scan_lmdb(struct idx_txn *txn, uint64_t *ret_records)
{
	uint64_t a = 0, b = 0;
	int r = 0;
	/*
	 * LMDB's FREE_DBI (0) and MAIN_DBI (1): the free list and the named
	 * databases.  LMDB opens a cursor on the free list only in a read-only
	 * transaction.
	 */
	if (txn->rdonly)
		r = walk_dbi(txn, 0, NULL, NULL, &a);
	if (r == 0)
		r = walk_dbi(txn, 1, NULL, NULL, &b);
	if (r == 0 && ret_records)
		*ret_records = a + b;
	return r;
}

/* ---- shapes of unversioned records ---------------------------------------------- */

static bool name_ok(const uint8_t *p, size_t len, size_t max)
{
	static const char extra[] = "_.-";
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !memchr(extra, c, 3)))
			return false;
	}
	return true;
}

static bool key_is(const void *key, size_t klen, const char *s)
{
	return klen == strlen(s) && memcmp(key, s, klen) == 0;
}

const char *idx_record_check(enum idx_db db, const void *key, size_t klen,
			     const void *val, size_t vlen)
{
	switch (db) {
	case IDX_DB_META:
		if (key_is(key, klen, META_FORMAT))
			return vlen == 4 ? NULL : "format is not 4 bytes";
		if (key_is(key, klen, META_SECRET))
			return vlen == IDX_SECRET_SIZE ? NULL : "secret is not 192 bytes";
		if (key_is(key, klen, META_CREATED) || key_is(key, klen, META_NEXT_VOLUME) ||
		    key_is(key, klen, META_NEXT_TREE) || key_is(key, klen, META_LOG_HEAD))
			return vlen == 8 ? NULL : "value is not 8 bytes";
		if (key_is(key, klen, META_LOG_SIZE))
			return vlen == 8 && wal_size_valid(get_be64(val)) ? NULL :
			       "log size is not 8 bytes of a multiple of 4096 from 64 KiB to 1 TiB";
		return "unknown meta key";
	case IDX_DB_VOLUMES:
		if (!name_ok(key, klen, IDX_NAME_MAX))
			return "invalid volume name";
		return vlen == sizeof(struct disk_volume) ? NULL : "value is not 40 bytes";
	case IDX_DB_TREES:
		if (klen != 8)
			return "key is not 8 bytes";
		return vlen == sizeof(struct disk_tree) ? NULL : "value is not 52 bytes";
	case IDX_DB_SNAPSHOTS:
		if (klen <= 8 || !name_ok((const uint8_t *)key + 8, klen - 8, IDX_NAME_MAX))
			return "invalid snapshot key";
		return vlen == sizeof(struct disk_snapshot) ? NULL : "value is not 24 bytes";
	case IDX_DB_CHUNKS:
		if (klen != IDX_CHUNK_ID_SIZE)
			return "key is not 16 bytes";
		return vlen == sizeof(struct disk_chunk) ? NULL : "value is not 12 bytes";
	case IDX_DB_DEADCHUNKS:
		if (klen != IDX_CHUNK_ID_SIZE)
			return "key is not 16 bytes";
		return vlen == 0 ? NULL : "value is not empty";
	case IDX_DB_ORPHANS:
		if (klen != 16)
			return "key is not 16 bytes";
		return vlen == 0 ? NULL : "value is not empty";
	case IDX_DB_CHANGES: {
		/* tree | gen | db | logical key (format.md §4.9) */
		const uint8_t *k = key;
		if (klen < 17 + 8)
			return "key too short";
		if (get_be64(k + 8) == 0)
			return "generation 0";
		if (k[16] < DBI_INODES || k[16] > DBI_XATTRS)
			return "database byte is not 4..7";
		if ((k[16] == DBI_INODES && klen != 17 + 8) || (k[16] == DBI_EXTENTS && klen != 17 + 16))
			return "logical key of the wrong size";
		if ((k[16] == DBI_DIRENTS || k[16] == DBI_XATTRS) &&
		    (klen < 17 + 8 + 2 || k[klen - 1] != 0 || memchr(k + 25, 0, klen - 26)))
			return "logical key name not terminated by 00";
		return vlen == 8 ? NULL : "value is not 8 bytes";
	}
	case IDX_DB_JOURNAL: {
		/* tree | ino | block | seq -> 'L' ref, or offset | bytes (format.md §4.10) */
		if (klen != JOURNAL_KEY_SIZE)
			return "key is not 28 bytes";
		struct idx_journal_rec rec;
		MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
		/* fsck holds offset + length to the volume's block size */
		return journal_value_decode(&v, &rec) < 0 ? "value is neither a log reference nor "
							    "an offset and bytes" : NULL;
	}
	default:
		return "a versioned database";
	}
}

int idx_decode_volume(const void *val, size_t vlen, struct idx_volume *ret)
{
	struct disk_volume d;
	if (vlen != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, val, sizeof(d));
	*ret = (struct idx_volume){
		.id = be64toh(d.id), .tree = be64toh(d.tree),
		.block_size = be32toh(d.block_size), .flags = be32toh(d.flags),
		.quota = be64toh(d.quota), .created_ns = (int64_t)be64toh(d.created_ns),
	};
	return 0;
}

int idx_decode_tree(const void *val, size_t vlen, struct idx_tree *ret)
{
	struct disk_tree d;
	if (vlen != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, val, sizeof(d));
	*ret = (struct idx_tree){
		.volume = be64toh(d.volume), .parent = be64toh(d.parent),
		.parent_gen = be64toh(d.parent_gen), .gen = be64toh(d.gen),
		.snap_gen = be64toh(d.snap_gen), .next_ino = be64toh(d.next_ino),
		.flags = be32toh(d.flags),
	};
	return 0;
}

int idx_decode_snapshot(const void *val, size_t vlen, struct idx_snapshot *ret)
{
	struct disk_snapshot d;
	if (vlen != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, val, sizeof(d));
	*ret = (struct idx_snapshot){
		.tree = be64toh(d.tree), .gen = be64toh(d.gen),
		.created_ns = (int64_t)be64toh(d.created_ns),
	};
	return 0;
}

int idx_decode_chunk(const void *val, size_t vlen, struct idx_chunk *ret)
{
	struct disk_chunk d;
	if (vlen != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, val, sizeof(d));
	*ret = (struct idx_chunk){ .refs = be64toh(d.refs), .length = be32toh(d.length) };
	return 0;
}

void idx_decode_journal(const void *key, const void *val, size_t vlen, uint64_t *ret_tree,
			struct idx_journal_rec *ret)
{
	MDB_val k = { .mv_size = JOURNAL_KEY_SIZE, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	*ret_tree = get_be64(key);
	*ret = (struct idx_journal_rec){ 0 };
	journal_decode(&k, &v, ret);   /* idx_record_check() passed it */
}

uint64_t idx_decode_be64(const void *p)
{
	return get_be64(p);
}

/* ---- versions --------------------------------------------------------------- */

static void time_decode(const struct disk_time *d, struct timespec *ts)
{
	ts->tv_sec = (time_t)(int64_t)be64toh(d->sec);
	ts->tv_nsec = be32toh(d->nsec);
}

static const char *parse_value(struct idx_version *v, const uint8_t *p, size_t len)
{
	switch (v->db) {
	case IDX_DB_INODES: {
		struct disk_inode d;
		if (len != sizeof(d))
			return "inode value is not 100 bytes";
		memcpy(&d, p, sizeof(d));
		v->inode = (struct idx_inode){
			.mode = be32toh(d.mode), .uid = be32toh(d.uid), .gid = be32toh(d.gid),
			.nlink = be32toh(d.nlink), .flags = be32toh(d.flags),
			.size = be64toh(d.size), .rdev = be64toh(d.rdev),
			.parent = be64toh(d.parent), .blocks = be64toh(d.blocks),
		};
		time_decode(&d.atime, &v->inode.atime);
		time_decode(&d.mtime, &v->inode.mtime);
		time_decode(&d.ctime, &v->inode.ctime);
		time_decode(&d.btime, &v->inode.btime);
		return NULL;
	}
	case IDX_DB_DIRENTS: {
		struct disk_dirent d;
		if (len != sizeof(d))
			return "dirent value is not 9 bytes";
		memcpy(&d, p, sizeof(d));
		v->dirent = (struct idx_dirent){ .ino = be64toh(d.ino), .type = d.type };
		return NULL;
	}
	case IDX_DB_EXTENTS: {
		struct disk_extent d;
		static const uint8_t zero[IDX_CHUNK_ID_SIZE];
		if (len < sizeof(d))
			return "extent value is shorter than 21 bytes";
		memcpy(&d, p, sizeof(d));
		v->extent = (struct idx_extent){ .kind = d.kind, .length = be32toh(d.length) };
		if (v->extent.length == 0)
			return "extent length is 0";
		if (d.kind == IDX_EXTENT_CHUNK) {
			if (len != sizeof(d))
				return "chunk extent value is not 21 bytes";
			memcpy(v->extent.chunk.bytes, d.chunk, IDX_CHUNK_ID_SIZE);
		} else if (d.kind == IDX_EXTENT_INLINE) {
			if (v->extent.length > IDX_INLINE_MAX)
				return "inline extent longer than 4096 bytes";
			if (len != sizeof(d) + v->extent.length)
				return "inline extent value does not hold its length";
			if (memcmp(d.chunk, zero, sizeof(zero)) != 0)
				return "inline extent with a chunk id";
			v->extent.inline_data = p + sizeof(d);
		} else {
			return "extent kind is neither 1 nor 2";
		}
		return NULL;
	}
	case IDX_DB_XATTRS:
		if (len > IDX_XATTR_VALUE_MAX)
			return "xattr value longer than 65536 bytes";
		v->xattr_value = p;
		v->xattr_len = len;
		return NULL;
	default:
		return "not a versioned database";
	}
}

const char *idx_version_parse(enum idx_db db, const void *key, size_t klen, const void *val,
			      size_t vlen, struct idx_version *ret)
{
	const uint8_t *k = key, *vb = val;
	struct idx_version v = { .db = db, .key = key, .klen = klen };
	*ret = v;
	if (!idx_db_versioned(db))
		return "not a versioned database";
	if (klen < 8 + 8 + 8)
		return "key too short";
	v.tree = get_be64(k);
	v.gen = ~get_be64(k + klen - 8);
	v.lkey = k + 8;
	v.lkey_len = klen - 16;
	v.ino = get_be64(k + 8);
	switch (db) {
	case IDX_DB_INODES:
		if (klen != 24)
			return "inode key is not 24 bytes";
		break;
	case IDX_DB_EXTENTS:
		if (klen != 32)
			return "extent key is not 32 bytes";
		v.block = get_be64(k + 16);
		break;
	default: {
		/* tree | ino | name | 00 | ~gen */
		size_t max = db == IDX_DB_DIRENTS ? IDX_FILENAME_MAX : IDX_XATTR_NAME_MAX;
		if (klen < 8 + 8 + 1 + 1 + 8)
			return "name key too short";
		v.name = (const char *)k + 16;
		v.namelen = klen - 16 - 1 - 8;
		if (k[klen - 9] != 0)
			return "name not terminated by 00";
		if (v.namelen > max)
			return "name too long";
		if (memchr(v.name, 0, v.namelen))
			return "name holds a NUL byte";
		if (db == IDX_DB_DIRENTS && memchr(v.name, '/', v.namelen))
			return "file name holds '/'";
		break;
	}
	}
	if (v.gen == 0)
		return "generation 0";
	if (vlen < 1)
		return "empty value";
	if (vb[0] == VERSION_TOMBSTONE) {
		if (vlen != 1)
			return "tombstone with a payload";
		v.tombstone = true;
	} else if (vb[0] == VERSION_VALUE) {
		const char *why = parse_value(&v, vb + 1, vlen - 1);
		if (why)
			return why;
	} else {
		return "value tag is neither V nor T";
	}
	*ret = v;
	return NULL;
}

struct version_walk {
	enum idx_db db;
	idx_version_fn fn;
	void *arg;
};

static int version_step(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct version_walk *w = arg;
	struct idx_version v;
	const char *why = idx_version_parse(w->db, key, klen, val, vlen, &v);
	return w->fn(&v, why, w->arg);
}

int idx_scan_versions(struct idx_txn *txn, enum idx_db db, idx_version_fn fn, void *arg)
{
	struct version_walk w = { db, fn, arg };
	if (!idx_db_versioned(db))
		return -EINVAL;
	return idx_scan_raw(txn, db, version_step, &w, NULL);
}

int idx_scan_versions_tree(struct idx_txn *txn, enum idx_db db, uint64_t tree,
			   idx_version_fn fn, void *arg)
{
	struct version_walk w = { db, fn, arg };
	MDB_cursor *cur;
	uint8_t t[8];
	if (!idx_db_versioned(db))
		return -EINVAL;
	put_be64(t, tree);
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, (enum dbi_index)db), &cur));
	if (r < 0)
		return r;
	MDB_val k = { .mv_size = 8, .mv_data = t }, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, t, 8) == 0) {
		r = version_step(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &w);
		if (r)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = idx_errno(rc);
	mdb_cursor_close(cur);
	return r;
}

/* ---- repairs ------------------------------------------------------------------ */

int idx_raw_put(struct idx_txn *txn, enum idx_db db, const void *key, size_t klen,
		const void *val, size_t vlen)
{
	if (txn->rdonly)
		return -EROFS;
	if (db >= IDX_DB_COUNT)
		return -EINVAL;
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	return idx_put(txn, (enum dbi_index)db, &k, &v, 0);
}

int idx_raw_del(struct idx_txn *txn, enum idx_db db, const void *key, size_t klen)
{
	if (txn->rdonly)
		return -EROFS;
	if (db >= IDX_DB_COUNT)
		return -EINVAL;
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	return idx_del(txn, (enum dbi_index)db, &k);
}

int idx_raw_dead_set(struct idx_txn *txn, const struct idx_chunk_id *id, bool dead)
{
	if (txn->rdonly)
		return -EROFS;
	MDB_val k = { .mv_size = IDX_CHUNK_ID_SIZE, .mv_data = (void *)id->bytes };
	if (dead) {
		MDB_val v = { .mv_size = 0, .mv_data = (void *)"" };
		return idx_put(txn, DBI_DEADCHUNKS, &k, &v, 0);
	}
	int r = idx_del(txn, DBI_DEADCHUNKS, &k);
	return r == -ENOENT ? 0 : r;
}

int idx_raw_chunk_set(struct idx_txn *txn, const struct idx_chunk_id *id,
		      const struct idx_chunk *c)
{
	if (txn->rdonly)
		return -EROFS;
	struct disk_chunk d = { .refs = htobe64(c->refs), .length = htobe32(c->length) };
	MDB_val k = { .mv_size = IDX_CHUNK_ID_SIZE, .mv_data = (void *)id->bytes };
	MDB_val v = { .mv_size = sizeof(d), .mv_data = &d };
	int r = idx_put(txn, DBI_CHUNKS, &k, &v, 0);
	if (r < 0)
		return r;
	return idx_raw_dead_set(txn, id, c->refs == 0);
}
