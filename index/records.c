/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * records.c — the unversioned records: store metadata and counters, volumes,
 * trees, snapshots, chunk reference counts and the dead list, orphans.
 * Layouts are in schema.h.
 *
 * Invariants kept here:
 *  1. A chunk record's refs counts the extent versions that name it; a record
 *     with refs == 0 is on the dead list, and only such a record is.
 *  2. Counters only grow: an id is never handed out twice.
 */
#include <errno.h>
#include <stdlib.h>

#include <xxhash.h>

#include "internal.h"
#include "wal.h"

static int get(struct idx_txn *txn, enum dbi_index db, const void *key, size_t klen,
	       MDB_val *ret_val)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	return idx_errno(mdb_get(txn->mdb, idx_dbi(txn, db), &k, ret_val));
}

static int put(struct idx_txn *txn, enum dbi_index db, const void *key, size_t klen,
	       const void *val, size_t vlen, unsigned flags)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	return idx_put(txn, db, &k, &v, flags);
}

static int del(struct idx_txn *txn, enum dbi_index db, const void *key, size_t klen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	return idx_del(txn, db, &k);
}

/*
 * Calls @step for every record at or after key @start (@slen bytes; from the
 * first record if 0) whose key starts with the first @plen bytes of @start,
 * in key order, until @step returns non-zero.
 */
typedef int (*scan_fn)(const MDB_val *key, const MDB_val *val, void *arg);

static int scan_from(struct idx_txn *txn, enum dbi_index db, const void *start, size_t slen,
		     size_t plen, scan_fn step, void *arg)
{
	MDB_cursor *cur;
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, db), &cur));
	if (r < 0)
		return r;
	MDB_val k = { .mv_size = slen, .mv_data = (void *)start }, v;
	int rc = mdb_cursor_get(cur, &k, &v, slen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && (plen == 0 || memcmp(k.mv_data, start, plen) == 0)) {
		r = step(&k, &v, arg);
		if (r)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc && rc != MDB_NOTFOUND)
		r = idx_errno(rc);
	mdb_cursor_close(cur);
	return r;
}

/* Every record whose key starts with @prefix (all records if @plen is 0). */
static int scan(struct idx_txn *txn, enum dbi_index db, const void *prefix, size_t plen,
		scan_fn step, void *arg)
{
	return scan_from(txn, db, prefix, plen, plen, step, arg);
}

/* ---- meta ------------------------------------------------------------- */

int idx_meta_set_format(struct idx_txn *txn, uint32_t format)
{
	uint8_t be[4];
	put_be32(be, format);
	return put(txn, DBI_META, META_FORMAT, strlen(META_FORMAT), be, 4, 0);
}

int idx_meta_init(struct idx_txn *txn, const struct idx_meta *meta)
{
	MDB_val v;
	uint8_t be[8];
	int r = get(txn, DBI_META, META_FORMAT, strlen(META_FORMAT), &v);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;

	r = idx_meta_set_format(txn, meta->format);
	if (r < 0)
		return r;
	r = put(txn, DBI_META, META_SECRET, strlen(META_SECRET), meta->secret, IDX_SECRET_SIZE, 0);
	if (r < 0)
		return r;
	put_be64(be, (uint64_t)meta->created_ns);
	r = put(txn, DBI_META, META_CREATED, strlen(META_CREATED), be, 8, 0);
	if (r < 0)
		return r;
	put_be64(be, 1);
	r = put(txn, DBI_META, META_NEXT_VOLUME, strlen(META_NEXT_VOLUME), be, 8, 0);
	if (r < 0)
		return r;
	return put(txn, DBI_META, META_NEXT_TREE, strlen(META_NEXT_TREE), be, 8, 0);
}

int idx_meta_get(struct idx_txn *txn, struct idx_meta *ret_meta)
{
	MDB_val v;
	int r = get(txn, DBI_META, META_FORMAT, strlen(META_FORMAT), &v);
	if (r == -ENOENT)
		return -ENODATA;
	if (r < 0)
		return r;
	if (v.mv_size != 4)
		return -EUCLEAN;
	uint32_t format = get_be32(v.mv_data);
	if (format < IDX_FORMAT_OLDEST || format > IDX_FORMAT_VERSION) {
		/* written on this error too, so that the caller can name the format */
		ret_meta->format = format;
		return -EPROTONOSUPPORT;
	}

	struct idx_meta m = { .format = format };
	r = get(txn, DBI_META, META_SECRET, strlen(META_SECRET), &v);
	if (r < 0)
		return r == -ENOENT ? -EUCLEAN : r;
	if (v.mv_size != IDX_SECRET_SIZE)
		return -EUCLEAN;
	memcpy(m.secret, v.mv_data, IDX_SECRET_SIZE);
	r = get(txn, DBI_META, META_CREATED, strlen(META_CREATED), &v);
	if (r < 0)
		return r == -ENOENT ? -EUCLEAN : r;
	if (v.mv_size != 8)
		return -EUCLEAN;
	m.created_ns = (int64_t)get_be64(v.mv_data);
	*ret_meta = m;
	return 0;
}

int idx_counter_next(struct idx_txn *txn, enum idx_counter which, uint64_t *ret_id)
{
	const char *key = which == IDX_COUNTER_VOLUME ? META_NEXT_VOLUME : META_NEXT_TREE;
	MDB_val v;
	uint8_t be[8];
	int r = get(txn, DBI_META, key, strlen(key), &v);
	if (r < 0)
		return r == -ENOENT ? -EUCLEAN : r;
	if (v.mv_size != 8)
		return -EUCLEAN;
	uint64_t id = get_be64(v.mv_data);
	put_be64(be, id + 1);
	r = put(txn, DBI_META, key, strlen(key), be, 8, 0);
	if (r < 0)
		return r;
	*ret_id = id;
	return 0;
}

/* ---- volumes ------------------------------------------------------------ */

static int check_name(const char *name)
{
	size_t len = strlen(name);
	return len == 0 || len > IDX_NAME_MAX ? -EINVAL : 0;
}

static void volume_encode(const struct idx_volume *vol, struct disk_volume *d)
{
	d->id = htobe64(vol->id);
	d->tree = htobe64(vol->tree);
	d->block_size = htobe32(vol->block_size);
	d->flags = htobe32(vol->flags);
	d->quota = htobe64(vol->quota);
	d->created_ns = htobe64((uint64_t)vol->created_ns);
}

static int volume_decode(const MDB_val *v, struct idx_volume *ret_vol)
{
	struct disk_volume d;
	if (v->mv_size != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	*ret_vol = (struct idx_volume){
		.id = be64toh(d.id),
		.tree = be64toh(d.tree),
		.block_size = be32toh(d.block_size),
		.flags = be32toh(d.flags),
		.quota = be64toh(d.quota),
		.created_ns = (int64_t)be64toh(d.created_ns),
	};
	return 0;
}

int idx_volume_get(struct idx_txn *txn, const char *name, struct idx_volume *ret_vol)
{
	MDB_val v;
	int r = check_name(name);
	if (r < 0)
		return r;
	r = get(txn, DBI_VOLUMES, name, strlen(name), &v);
	if (r < 0)
		return r;
	return volume_decode(&v, ret_vol);
}

static int volume_put(struct idx_txn *txn, const char *name, const struct idx_volume *vol,
		      unsigned flags)
{
	struct disk_volume d;
	int r = check_name(name);
	if (r < 0)
		return r;
	volume_encode(vol, &d);
	return put(txn, DBI_VOLUMES, name, strlen(name), &d, sizeof(d), flags);
}

int idx_volume_add(struct idx_txn *txn, const char *name, const struct idx_volume *vol)
{
	return volume_put(txn, name, vol, MDB_NOOVERWRITE);
}

int idx_volume_update(struct idx_txn *txn, const char *name, const struct idx_volume *vol)
{
	MDB_val v;
	int r = check_name(name);
	if (r < 0)
		return r;
	r = get(txn, DBI_VOLUMES, name, strlen(name), &v);
	if (r < 0)
		return r;
	return volume_put(txn, name, vol, 0);
}

int idx_volume_del(struct idx_txn *txn, const char *name)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	return del(txn, DBI_VOLUMES, name, strlen(name));
}

struct volume_scan {
	idx_volume_fn fn;
	void *arg;
};

static int volume_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct volume_scan *s = arg;
	char name[IDX_NAME_MAX + 1];
	struct idx_volume vol;
	if (k->mv_size == 0 || k->mv_size > IDX_NAME_MAX || volume_decode(v, &vol) < 0)
		return -EUCLEAN;
	memcpy(name, k->mv_data, k->mv_size);
	name[k->mv_size] = 0;
	return s->fn(name, &vol, s->arg);
}

int idx_volume_foreach(struct idx_txn *txn, idx_volume_fn fn, void *arg)
{
	struct volume_scan s = { fn, arg };
	return scan(txn, DBI_VOLUMES, NULL, 0, volume_step, &s);
}

/* ---- trees ------------------------------------------------------------- */

static int tree_decode(const MDB_val *v, struct idx_tree *ret_tree)
{
	struct disk_tree d;
	if (v->mv_size != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	*ret_tree = (struct idx_tree){
		.volume = be64toh(d.volume),
		.parent = be64toh(d.parent),
		.parent_gen = be64toh(d.parent_gen),
		.gen = be64toh(d.gen),
		.snap_gen = be64toh(d.snap_gen),
		.next_ino = be64toh(d.next_ino),
		.flags = be32toh(d.flags),
	};
	return 0;
}

int idx_tree_get(struct idx_txn *txn, uint64_t tree, struct idx_tree *ret_tree)
{
	uint8_t key[8];
	MDB_val v;
	put_be64(key, tree);
	int r = get(txn, DBI_TREES, key, 8, &v);
	if (r < 0)
		return r;
	return tree_decode(&v, ret_tree);
}

int idx_tree_put(struct idx_txn *txn, uint64_t tree, const struct idx_tree *t)
{
	uint8_t key[8];
	struct disk_tree d = {
		.volume = htobe64(t->volume),
		.parent = htobe64(t->parent),
		.parent_gen = htobe64(t->parent_gen),
		.gen = htobe64(t->gen),
		.snap_gen = htobe64(t->snap_gen),
		.next_ino = htobe64(t->next_ino),
		.flags = htobe32(t->flags),
	};
	if (t->gen == 0 || t->snap_gen >= t->gen)
		return -EINVAL;
	put_be64(key, tree);
	return put(txn, DBI_TREES, key, 8, &d, sizeof(d), 0);
}

struct tree_scan {
	idx_tree_fn fn;
	void *arg;
};

static int tree_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct tree_scan *s = arg;
	struct idx_tree t;
	if (k->mv_size != 8 || tree_decode(v, &t) < 0)
		return -EUCLEAN;
	return s->fn(get_be64(k->mv_data), &t, s->arg);
}

int idx_tree_foreach(struct idx_txn *txn, idx_tree_fn fn, void *arg)
{
	struct tree_scan s = { fn, arg };
	return scan(txn, DBI_TREES, NULL, 0, tree_step, &s);
}

/* ---- snapshots ----------------------------------------------------------- */

/* key: be64 volume | name */
static int snapshot_key(uint64_t volume, const char *name, uint8_t key[8 + IDX_NAME_MAX],
			size_t *ret_len)
{
	int r = check_name(name);
	if (r < 0)
		return r;
	size_t len = strlen(name);
	put_be64(key, volume);
	memcpy(key + 8, name, len);
	*ret_len = 8 + len;
	return 0;
}

static int snapshot_decode(const MDB_val *v, struct idx_snapshot *ret_snap)
{
	struct disk_snapshot d;
	if (v->mv_size != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	*ret_snap = (struct idx_snapshot){
		.tree = be64toh(d.tree),
		.gen = be64toh(d.gen),
		.created_ns = (int64_t)be64toh(d.created_ns),
	};
	return 0;
}

int idx_snapshot_get(struct idx_txn *txn, uint64_t volume, const char *name,
		     struct idx_snapshot *ret_snap)
{
	uint8_t key[8 + IDX_NAME_MAX];
	size_t klen;
	MDB_val v;
	int r = snapshot_key(volume, name, key, &klen);
	if (r < 0)
		return r;
	r = get(txn, DBI_SNAPSHOTS, key, klen, &v);
	if (r < 0)
		return r;
	return snapshot_decode(&v, ret_snap);
}

int idx_snapshot_add(struct idx_txn *txn, uint64_t volume, const char *name,
		     const struct idx_snapshot *snap)
{
	uint8_t key[8 + IDX_NAME_MAX];
	size_t klen;
	struct disk_snapshot d = {
		.tree = htobe64(snap->tree),
		.gen = htobe64(snap->gen),
		.created_ns = htobe64((uint64_t)snap->created_ns),
	};
	int r = snapshot_key(volume, name, key, &klen);
	if (r < 0)
		return r;
	return put(txn, DBI_SNAPSHOTS, key, klen, &d, sizeof(d), MDB_NOOVERWRITE);
}

int idx_snapshot_del(struct idx_txn *txn, uint64_t volume, const char *name)
{
	uint8_t key[8 + IDX_NAME_MAX];
	size_t klen;
	int r = snapshot_key(volume, name, key, &klen);
	if (r < 0)
		return r;
	return del(txn, DBI_SNAPSHOTS, key, klen);
}

struct snapshot_scan {
	idx_snapshot_fn fn;
	void *arg;
};

static int snapshot_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct snapshot_scan *s = arg;
	char name[IDX_NAME_MAX + 1];
	struct idx_snapshot snap;
	size_t len = k->mv_size - 8;
	if (k->mv_size <= 8 || len > IDX_NAME_MAX || snapshot_decode(v, &snap) < 0)
		return -EUCLEAN;
	memcpy(name, (const uint8_t *)k->mv_data + 8, len);
	name[len] = 0;
	return s->fn(name, &snap, s->arg);
}

int idx_snapshot_foreach(struct idx_txn *txn, uint64_t volume, idx_snapshot_fn fn, void *arg)
{
	struct snapshot_scan s = { fn, arg };
	uint8_t prefix[8];
	put_be64(prefix, volume);
	return scan(txn, DBI_SNAPSHOTS, prefix, 8, snapshot_step, &s);
}

/* ---- chunks -------------------------------------------------------------- */

static int chunk_decode(const MDB_val *v, struct idx_chunk *ret_chunk)
{
	struct disk_chunk d;
	if (v->mv_size != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	*ret_chunk = (struct idx_chunk){ .refs = be64toh(d.refs), .length = be32toh(d.length) };
	return 0;
}

static int chunk_store_record(struct idx_txn *txn, const struct idx_chunk_id *id,
			      const struct idx_chunk *c)
{
	struct disk_chunk d = { .refs = htobe64(c->refs), .length = htobe32(c->length) };
	return put(txn, DBI_CHUNKS, id->bytes, IDX_CHUNK_ID_SIZE, &d, sizeof(d), 0);
}

int idx_chunk_get(struct idx_txn *txn, const struct idx_chunk_id *id, struct idx_chunk *ret_chunk)
{
	MDB_val v;
	int r = get(txn, DBI_CHUNKS, id->bytes, IDX_CHUNK_ID_SIZE, &v);
	if (r < 0)
		return r;
	return chunk_decode(&v, ret_chunk);
}

int idx_chunk_ref(struct idx_txn *txn, const struct idx_chunk_id *id, uint32_t length)
{
	struct idx_chunk c;
	int r = idx_chunk_get(txn, id, &c);
	if (r == -ENOENT) {
		c = (struct idx_chunk){ .refs = 0, .length = length };
	} else if (r < 0) {
		return r;
	} else if (c.length != length) {
		return -EINVAL;
	}
	if (c.refs == 0 && r == 0) {
		/* revived: off the dead list, its file is still wanted */
		r = del(txn, DBI_DEADCHUNKS, id->bytes, IDX_CHUNK_ID_SIZE);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	c.refs++;
	return chunk_store_record(txn, id, &c);
}

int idx_chunk_unref(struct idx_txn *txn, const struct idx_chunk_id *id)
{
	struct idx_chunk c;
	int r = idx_chunk_get(txn, id, &c);
	if (r == -ENOENT || (r == 0 && c.refs == 0))
		return -EUCLEAN;
	if (r < 0)
		return r;
	c.refs--;
	r = chunk_store_record(txn, id, &c);
	if (r < 0 || c.refs > 0)
		return r;
	return put(txn, DBI_DEADCHUNKS, id->bytes, IDX_CHUNK_ID_SIZE, "", 0, 0);
}

struct chunk_scan {
	idx_chunk_fn fn;
	void *arg;
	struct idx_txn *txn;   /* to look up records of the dead list */
};

static int chunk_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct chunk_scan *s = arg;
	struct idx_chunk_id id;
	struct idx_chunk c;
	if (k->mv_size != IDX_CHUNK_ID_SIZE || chunk_decode(v, &c) < 0)
		return -EUCLEAN;
	memcpy(id.bytes, k->mv_data, IDX_CHUNK_ID_SIZE);
	return s->fn(&id, &c, s->arg);
}

int idx_chunk_foreach(struct idx_txn *txn, idx_chunk_fn fn, void *arg)
{
	struct chunk_scan s = { fn, arg, txn };
	return scan(txn, DBI_CHUNKS, NULL, 0, chunk_step, &s);
}

static int dead_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct chunk_scan *s = arg;
	struct idx_chunk_id id;
	struct idx_chunk c;
	(void)v;
	if (k->mv_size != IDX_CHUNK_ID_SIZE)
		return -EUCLEAN;
	memcpy(id.bytes, k->mv_data, IDX_CHUNK_ID_SIZE);
	int r = idx_chunk_get(s->txn, &id, &c);
	/*
	 * A dead entry whose record is gone is a half-finished forget: pass it on
	 * as dead, so that gc completes it instead of every writer failing on it
	 * (fsck reports it).
	 */
	if (r == -ENOENT)
		c = (struct idx_chunk){ .refs = 0, .length = 0 };
	else if (r < 0)
		return r;
	return s->fn(&id, &c, s->arg);
}

int idx_dead_chunk_foreach(struct idx_txn *txn, idx_chunk_fn fn, void *arg)
{
	struct chunk_scan s = { fn, arg, txn };
	return scan(txn, DBI_DEADCHUNKS, NULL, 0, dead_step, &s);
}

static int stop_at_first(const struct idx_chunk_id *id, const struct idx_chunk *c, void *arg)
{
	(void)id, (void)c, (void)arg;
	return 1;
}

int idx_dead_chunk_any(struct idx_txn *txn)
{
	return idx_dead_chunk_foreach(txn, stop_at_first, NULL);
}

int idx_chunk_forget(struct idx_txn *txn, const struct idx_chunk_id *id)
{
	struct idx_chunk c;
	int r = idx_chunk_get(txn, id, &c);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && c.refs > 0)
		return -EBUSY;
	bool had_record = r == 0;
	r = del(txn, DBI_DEADCHUNKS, id->bytes, IDX_CHUNK_ID_SIZE);
	if (r < 0 && r != -ENOENT)
		return r;
	if (!had_record)
		return r;   /* only the dead entry was left: -ENOENT if not even that */
	return del(txn, DBI_CHUNKS, id->bytes, IDX_CHUNK_ID_SIZE);
}

/* ---- orphans --------------------------------------------------------------- */

int idx_orphan_add(struct idx_txn *txn, uint64_t tree, uint64_t ino)
{
	uint8_t key[16];
	put_be64(key, tree);
	put_be64(key + 8, ino);
	return put(txn, DBI_ORPHANS, key, 16, "", 0, 0);
}

int idx_orphan_del(struct idx_txn *txn, uint64_t tree, uint64_t ino)
{
	uint8_t key[16];
	put_be64(key, tree);
	put_be64(key + 8, ino);
	return del(txn, DBI_ORPHANS, key, 16);
}

struct orphan_scan {
	idx_orphan_fn fn;
	void *arg;
};

static int orphan_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct orphan_scan *s = arg;
	(void)v;
	if (k->mv_size != 16)
		return -EUCLEAN;
	return s->fn(get_be64(k->mv_data), get_be64((const uint8_t *)k->mv_data + 8), s->arg);
}

int idx_orphan_foreach(struct idx_txn *txn, idx_orphan_fn fn, void *arg)
{
	struct orphan_scan s = { fn, arg };
	return scan(txn, DBI_ORPHANS, NULL, 0, orphan_step, &s);
}

/* ---- the write journal (schema.h) ------------------------------------------- */


int idx_journal_put(struct idx_txn *txn, uint64_t tree, const struct idx_journal_rec *rec,
		    uint64_t *ret_lsn)
{
	uint8_t key[JOURNAL_KEY_SIZE];
	if (rec->length == 0)
		return -EINVAL;
	put_be64(key, tree);
	put_be64(key + 8, rec->ino);
	put_be64(key + 16, rec->block);
	put_be32(key + 24, rec->seq);
	uint64_t lsn;
	int r = wal_note_data(txn, rec->data, rec->length, &lsn);
	if (r < 0)
		return r;
	uint8_t val[1 + sizeof(struct disk_journal_ref)];
	struct disk_journal_ref ref = {
		.offset = htobe32(rec->offset), .length = htobe32(rec->length),
		.lsn = htobe64(lsn), .hash = htobe64(XXH3_64bits_withSeed(rec->data, rec->length, lsn)),
	};
	val[0] = JOURNAL_LOGGED;
	memcpy(val + 1, &ref, sizeof(ref));
	MDB_val k = { .mv_size = sizeof(key), .mv_data = key };
	MDB_val v = { .mv_size = sizeof(val), .mv_data = val };
	r = idx_put(txn, DBI_JOURNAL, &k, &v, 0);
	if (r == 0)
		*ret_lsn = lsn;
	return r;
}

int journal_value_decode(const MDB_val *v, struct idx_journal_rec *ret)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size == 1 + sizeof(struct disk_journal_ref) && p[0] == JOURNAL_LOGGED) {
		struct disk_journal_ref ref;
		memcpy(&ref, p + 1, sizeof(ref));
		ret->offset = be32toh(ref.offset);
		ret->length = be32toh(ref.length);
		ret->data = NULL;
		ret->lsn = be64toh(ref.lsn);
		ret->hash = be64toh(ref.hash);
		return ret->length ? 0 : -EUCLEAN;
	}
	/* formats 2 and 3: the offset (below 2^24, so its first byte is 0) and the bytes */
	if (v->mv_size <= 4 || p[0] != 0 || v->mv_size - 4 > UINT32_MAX)
		return -EUCLEAN;
	ret->offset = get_be32(p);
	ret->length = (uint32_t)(v->mv_size - 4);
	ret->data = p + 4;
	ret->lsn = ret->hash = 0;
	return 0;
}

int idx_journal_read(struct idx_txn *txn, const struct idx_journal_rec *rec, void *dst)
{
	if (rec->data) {
		memcpy(dst, rec->data, rec->length);
		return 0;
	}
	int r = wal_read_data(txn, rec->lsn, dst, rec->length);
	if (r == -ENODATA ||
	    (r == 0 && XXH3_64bits_withSeed(dst, rec->length, rec->lsn) != rec->hash))
		return -ESTALE;
	return r;
}

int journal_decode(const MDB_val *k, const MDB_val *v, struct idx_journal_rec *ret)
{
	if (k->mv_size != JOURNAL_KEY_SIZE)
		return -EUCLEAN;
	const uint8_t *kb = k->mv_data;
	ret->ino = get_be64(kb + 8);
	ret->block = get_be64(kb + 16);
	ret->seq = get_be32(kb + 24);
	return journal_value_decode(v, ret);
}

struct journal_scan {
	idx_journal_fn fn;
	void *arg;
};

static int journal_step(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct journal_scan *s = arg;
	struct idx_journal_rec rec;
	int r = journal_decode(k, v, &rec);
	return r < 0 ? r : s->fn(&rec, s->arg);
}

int idx_journal_foreach(struct idx_txn *txn, uint64_t tree, idx_journal_fn fn, void *arg)
{
	struct journal_scan s = { fn, arg };
	uint8_t prefix[8];
	put_be64(prefix, tree);
	return scan(txn, DBI_JOURNAL, prefix, sizeof(prefix), journal_step, &s);
}

int idx_journal_foreach_block(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t block,
			      idx_journal_fn fn, void *arg)
{
	struct journal_scan s = { fn, arg };
	uint8_t prefix[24];
	put_be64(prefix, tree);
	put_be64(prefix + 8, ino);
	put_be64(prefix + 16, block);
	return scan(txn, DBI_JOURNAL, prefix, sizeof(prefix), journal_step, &s);
}

/* The block of the first journal record it is given: stops the scan. */
static int first_journal_block(const MDB_val *k, const MDB_val *v, void *arg)
{
	(void)v;
	if (k->mv_size != JOURNAL_KEY_SIZE)
		return -EUCLEAN;
	*(uint64_t *)arg = get_be64((const uint8_t *)k->mv_data + 16);
	return 1;
}

int idx_journal_next_block(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t from,
			   uint64_t *ret_block)
{
	uint8_t start[24];
	put_be64(start, tree);
	put_be64(start + 8, ino);
	put_be64(start + 16, from);
	/* records of this file (tree, ino) at or after block @from */
	int r = scan_from(txn, DBI_JOURNAL, start, sizeof(start), 16, first_journal_block,
			  ret_block);
	return r == 0 ? -ENOENT : r < 0 ? r : 0;
}

/* Deletes the records at or after key prefix @from for as long as @in_range holds. */
static int journal_del_range(struct idx_txn *txn, const uint8_t *from, size_t plen,
			     bool (*in_range)(const MDB_val *k, const void *arg), const void *arg)
{
	MDB_cursor *cur;
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, DBI_JOURNAL), &cur));
	if (r < 0)
		return r;
	for (;;) {
		/* each pass deletes the first record left in the range */
		MDB_val k = { .mv_size = plen, .mv_data = (void *)from }, v;
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND || (rc == 0 && !in_range(&k, arg)))
			break;
		r = rc ? idx_errno(rc) : idx_cursor_del(txn, cur);
		if (r < 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

/* [tree | ino | first, tree | ino | end): the key range of some blocks of a file */
struct block_range {
	uint8_t lo[24];
	uint8_t hi[24];
};

static bool below_hi(const MDB_val *k, const void *arg)
{
	const struct block_range *br = arg;
	return k->mv_size >= 24 && memcmp(k->mv_data, br->hi, 24) < 0;
}

int idx_journal_del_blocks(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t first,
			   uint64_t end)
{
	struct block_range br;
	if (first >= end)
		return 0;
	put_be64(br.lo, tree);
	put_be64(br.lo + 8, ino);
	put_be64(br.lo + 16, first);
	memcpy(br.hi, br.lo, 16);
	put_be64(br.hi + 16, end);
	return journal_del_range(txn, br.lo, sizeof(br.lo), below_hi, &br);
}

static bool same_tree(const MDB_val *k, const void *arg)
{
	return k->mv_size >= 8 && memcmp(k->mv_data, arg, 8) == 0;
}

int idx_journal_del_tree(struct idx_txn *txn, uint64_t tree)
{
	uint8_t prefix[8];
	put_be64(prefix, tree);
	return journal_del_range(txn, prefix, sizeof(prefix), same_tree, prefix);
}
