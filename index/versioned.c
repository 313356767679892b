/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * versioned.c — records that snapshots and clones share: inodes, dirents,
 * extents, xattrs.  Key layout and value tags are in schema.h.
 *
 * Invariants:
 *  1. Visibility: in a view, a logical key's value is that of the first level
 *     (from level 0) holding a version with gen <= the level's gen; of those,
 *     the newest.  A tombstone there means "absent"; no version at any level
 *     means absent too.
 *  2. Copy-on-write: a writable view changes a version in place only if its
 *     gen > snap_gen (no snapshot or clone can see it); otherwise it adds a
 *     version at G.  So a volume without snapshots never grows versions.
 *  3. A tombstone is written only where something below it would otherwise
 *     show through; a version nobody else sees is deleted outright.
 *  4. Each extent version that names a chunk holds one reference on it: taken
 *     when the version is written, dropped when the version is overwritten in
 *     place, deleted, or reaped with its tree.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define KEY_MAX 511   /* LMDB's default key size limit */

/* A logical key: what follows the tree id and precedes the generation. */
struct lkey {
	uint8_t b[KEY_MAX - 16];
	size_t len;
};

/* A whole key: tree | logical | ~gen. */
struct vkey {
	uint8_t b[KEY_MAX];
	size_t len;
};

static void vkey_make(struct vkey *k, uint64_t tree, const struct lkey *lk, uint64_t gen)
{
	put_be64(k->b, tree);
	memcpy(k->b + 8, lk->b, lk->len);
	put_be64(k->b + 8 + lk->len, ~gen);
	k->len = 16 + lk->len;
}

static uint64_t vkey_gen(const MDB_val *k)
{
	return ~get_be64((const uint8_t *)k->mv_data + k->mv_size - 8);
}

/* Does @k (a whole key) belong to (tree, logical)? */
static bool vkey_is(const MDB_val *k, uint64_t tree, const struct lkey *lk)
{
	uint8_t t[8];
	put_be64(t, tree);
	return k->mv_size == 16 + lk->len && memcmp(k->mv_data, t, 8) == 0 &&
	       memcmp((const uint8_t *)k->mv_data + 8, lk->b, lk->len) == 0;
}

static bool is_tombstone(const MDB_val *v)
{
	return v->mv_size >= 1 && ((const uint8_t *)v->mv_data)[0] == VERSION_TOMBSTONE;
}

static int check_version(const MDB_val *v)
{
	if (v->mv_size < 1)
		return -EUCLEAN;
	uint8_t tag = ((const uint8_t *)v->mv_data)[0];
	return tag == VERSION_VALUE || tag == VERSION_TOMBSTONE ? 0 : -EUCLEAN;
}

/*
 * The version of @lk in @tree visible at @gen: 1 with *ret_val (tag included)
 * and *ret_gen, or 0 if the tree holds none.  The cursor is left on it.
 */
static int level_lookup(struct idx_txn *txn, enum dbi_index db, uint64_t tree, uint64_t gen,
			const struct lkey *lk, MDB_val *ret_val, uint64_t *ret_gen)
{
	MDB_cursor *cur;
	struct vkey key;
	int r = idx_cursor(txn, db, &cur);
	if (r < 0)
		return r;
	vkey_make(&key, tree, lk, gen);
	MDB_val k = { .mv_size = key.len, .mv_data = key.b }, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return idx_errno(rc);
	if (!vkey_is(&k, tree, lk))
		return 0;
	r = check_version(&v);
	if (r < 0)
		return r;
	*ret_val = v;
	*ret_gen = vkey_gen(&k);
	return 1;
}

/*
 * The visible value of @lk in @view from level @from down: 0 with *ret_val
 * (tag stripped), -ENOENT if absent or deleted.
 */
static int view_lookup_from(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
			    unsigned from, const struct lkey *lk, MDB_val *ret_val)
{
	for (unsigned i = from; i < view->depth; i++) {
		MDB_val v = { 0 };
		uint64_t g;
		int r = level_lookup(txn, db, view->level[i].tree, view->level[i].gen, lk, &v, &g);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (is_tombstone(&v))
			return -ENOENT;
		ret_val->mv_size = v.mv_size - 1;
		ret_val->mv_data = (uint8_t *)v.mv_data + 1;
		return 0;
	}
	return -ENOENT;
}

static int view_lookup(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
		       const struct lkey *lk, MDB_val *ret_val)
{
	return view_lookup_from(txn, db, view, 0, lk, ret_val);
}

static int check_writable(struct idx_txn *txn, const struct idx_view *view)
{
	return txn->rdonly || !view->writable ? -EROFS : 0;
}

/*
 * The writable level's current version of @lk: 1 with *ret_val and *ret_gen
 * if there is one, 0 if not.
 */
static int top_version(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
		       const struct lkey *lk, MDB_val *ret_val, uint64_t *ret_gen)
{
	return level_lookup(txn, db, view->level[0].tree, view->level[0].gen, lk, ret_val, ret_gen);
}

/*
 * Writes @len bytes of @val under @lk with tag @tag, at generation @gen of the
 * writable level: in place if a version of that gen exists.
 */
static int write_version(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
			 const struct lkey *lk, uint64_t gen, uint8_t tag,
			 const void *val, size_t len)
{
	struct vkey key;
	vkey_make(&key, view->level[0].tree, lk, gen);
	MDB_val k = { .mv_size = key.len, .mv_data = key.b };
	return idx_put_joined(txn, db, &k, &tag, 1, val, len);
}

/*
 * Puts a value for @lk (invariant 2).  If a version was overwritten in place,
 * *ret_old receives a copy of its value (tag included, at most
 * sizeof(*ret_old) bytes) and *ret_replaced is set; callers that keep
 * references in values (extents) release them.
 */
struct old_value {
	bool replaced;
	size_t len;
	uint8_t b[1 + sizeof(struct disk_extent)];
};

static void remember_old(struct old_value *old, const MDB_val *v)
{
	if (!old)
		return;
	old->replaced = true;
	old->len = v->mv_size < sizeof(old->b) ? v->mv_size : sizeof(old->b);
	memcpy(old->b, v->mv_data, old->len);
}

/* ---- the change log (schema.h, invariant 4) ------------------------- */

/* tree | gen | db | logical key */
static size_t change_key(uint8_t *k, uint64_t tree, uint64_t gen, enum dbi_index db,
			 const struct lkey *lk)
{
	put_be64(k, tree);
	put_be64(k + 8, gen);
	k[16] = (uint8_t)db;
	memcpy(k + 17, lk->b, lk->len);
	return 17 + lk->len;
}

/*
 * Records that a new version of @lk appeared at generation @gen of the
 * writable tree, hiding the version of generation @older (0: none).  Only
 * trees with a snapshot log: without one nothing is ever superseded.
 */
static int log_change(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
		      const struct lkey *lk, uint64_t gen, uint64_t older)
{
	uint8_t k[KEY_MAX], v[8];
	if (view->snap_gen == 0)
		return 0;
	MDB_val key = { .mv_size = change_key(k, view->level[0].tree, gen, db, lk), .mv_data = k };
	MDB_val val = { .mv_size = 8, .mv_data = v };
	put_be64(v, older);
	return idx_put(txn, DBI_CHANGES, &key, &val, 0);
}

/* Forgets the log entry of a version that is deleted outright. */
static int unlog_change(struct idx_txn *txn, enum dbi_index db, uint64_t tree, uint64_t gen,
			const struct lkey *lk)
{
	uint8_t k[KEY_MAX];
	MDB_val key = { .mv_size = change_key(k, tree, gen, db, lk), .mv_data = k };
	int r = idx_del(txn, DBI_CHANGES, &key);
	return r == -ENOENT ? 0 : r;
}

static int vput(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
		const struct lkey *lk, const void *val, size_t len, struct old_value *old)
{
	MDB_val v = { 0 };
	uint64_t g;
	int r = check_writable(txn, view);
	if (r < 0)
		return r;
	r = top_version(txn, db, view, lk, &v, &g);
	if (r < 0)
		return r;
	uint64_t gen = view->level[0].gen;
	if (r == 1 && g > view->snap_gen) {
		remember_old(old, &v);
		gen = g;
	} else {
		r = log_change(txn, db, view, lk, gen, r == 1 ? g : 0);
		if (r < 0)
			return r;
	}
	return write_version(txn, db, view, lk, gen, VERSION_VALUE, val, len);
}

/*
 * Deletes @lk (invariants 2 and 3): -ENOENT if it is not visible.  A version
 * removed or overwritten in place is reported through @old as in vput().
 */
static int vdel(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
		const struct lkey *lk, struct old_value *old)
{
	MDB_val v, below;
	uint64_t g;
	int r = check_writable(txn, view);
	if (r < 0)
		return r;
	r = top_version(txn, db, view, lk, &v, &g);
	if (r < 0)
		return r;
	if (r == 0) {
		/* nothing here: hide what a parent tree shows, if anything */
		r = view_lookup_from(txn, db, view, 1, lk, &below);
		if (r == 0)
			r = log_change(txn, db, view, lk, view->level[0].gen, 0);
		if (r < 0)
			return r;
		return write_version(txn, db, view, lk, view->level[0].gen, VERSION_TOMBSTONE, NULL, 0);
	}
	if (is_tombstone(&v))
		return -ENOENT;
	if (g <= view->snap_gen) {   /* a snapshot sees this version: keep it */
		r = log_change(txn, db, view, lk, view->level[0].gen, g);
		if (r < 0)
			return r;
		return write_version(txn, db, view, lk, view->level[0].gen, VERSION_TOMBSTONE, NULL, 0);
	}

	remember_old(old, &v);
	/* Would anything show through if this version went?  An older version
	 * here (the next key, if it is the same logical key), else the parents. */
	MDB_cursor *cur;
	r = idx_cursor(txn, db, &cur);
	if (r < 0)
		return r;
	MDB_val k;
	int rc = mdb_cursor_get(cur, &k, &below, MDB_NEXT);
	bool shows_through;
	if (rc == 0 && vkey_is(&k, view->level[0].tree, lk)) {
		shows_through = !is_tombstone(&below);
	} else if (rc == 0 || rc == MDB_NOTFOUND) {
		r = view_lookup_from(txn, db, view, 1, lk, &below);
		if (r < 0 && r != -ENOENT)
			return r;
		shows_through = r == 0;
	} else {
		return idx_errno(rc);
	}
	if (shows_through)
		return write_version(txn, db, view, lk, g, VERSION_TOMBSTONE, NULL, 0);

	struct vkey key;
	vkey_make(&key, view->level[0].tree, lk, g);
	k = (MDB_val){ .mv_size = key.len, .mv_data = key.b };
	r = idx_del(txn, db, &k);
	if (r < 0)
		return r;
	return unlog_change(txn, db, view->level[0].tree, g, lk);
}

/* ---- iteration over a view, merging its levels ------------------------ */

/*
 * One level's position: the next logical key under the prefix that has a
 * version visible at the level's gen, with that version's value.  The key is
 * copied, so that callbacks may write (to other databases) between steps.
 */
struct level_pos {
	MDB_cursor *cur;
	uint64_t tree, gen;
	bool done;
	struct lkey lk;        /* current logical key */
	MDB_val val;           /* its visible version, tag included */
};

/* Moves @p from the cursor's current record to the first visible version. */
static int level_settle(struct level_pos *p, const struct lkey *prefix, int rc, MDB_val *k)
{
	uint8_t t[8];
	put_be64(t, p->tree);
	for (;; rc = mdb_cursor_get(p->cur, k, &p->val, MDB_NEXT)) {
		if (rc == MDB_NOTFOUND) {
			p->done = true;
			return 0;
		}
		if (rc)
			return idx_errno(rc);
		const uint8_t *kb = k->mv_data;
		if (k->mv_size < 16 + prefix->len || memcmp(kb, t, 8) != 0 ||
		    memcmp(kb + 8, prefix->b, prefix->len) != 0) {
			p->done = true;
			return 0;
		}
		if (vkey_gen(k) > p->gen)   /* newer than this level sees */
			continue;
		int r = check_version(&p->val);
		if (r < 0)
			return r;
		p->lk.len = k->mv_size - 16;
		memcpy(p->lk.b, kb + 8, p->lk.len);
		return 0;
	}
}

/* Positions @p at the first logical key >= @start, or > @start if @after. */
static int level_seek(struct level_pos *p, const struct lkey *prefix, const struct lkey *start,
		      bool after)
{
	struct vkey key;
	put_be64(key.b, p->tree);
	memcpy(key.b + 8, start->b, start->len);
	key.len = 8 + start->len;
	if (after) {
		/* past every version of @start: its largest possible key is ~0 = gen 0 */
		memset(key.b + key.len, 0xff, 8);
		key.len += 8;
	}
	MDB_val k = { .mv_size = key.len, .mv_data = key.b };
	int rc = mdb_cursor_get(p->cur, &k, &p->val, MDB_SET_RANGE);
	return level_settle(p, prefix, rc, &k);
}

/* Moves @p past every version of its current logical key. */
static int level_next(struct level_pos *p, const struct lkey *prefix)
{
	struct lkey cur = p->lk;
	MDB_val k;
	int rc;
	do
		rc = mdb_cursor_get(p->cur, &k, &p->val, MDB_NEXT);
	while (rc == 0 && vkey_is(&k, p->tree, &cur));
	return level_settle(p, prefix, rc, &k);
}

static int lkey_cmp(const struct lkey *a, const struct lkey *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->b, b->b, n);
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* Called with a visible logical key and its value (tag stripped). */
typedef int (*visit_fn)(const struct lkey *lk, const MDB_val *val, void *arg);

/*
 * Calls @visit for every logical key under @prefix visible in @view, in key
 * order, starting at @start (inclusive, or exclusive if @after).  A non-zero
 * return from @visit stops and is returned.  @visit must not write to @db.
 */
static int view_walk(struct idx_txn *txn, enum dbi_index db, const struct idx_view *view,
		     const struct lkey *prefix, const struct lkey *start, bool after,
		     visit_fn visit, void *arg)
{
	struct level_pos *pos = calloc(view->depth, sizeof(*pos));
	int r = 0;
	if (!pos)
		return -ENOMEM;
	for (unsigned i = 0; i < view->depth && r == 0; i++) {
		pos[i].tree = view->level[i].tree;
		pos[i].gen = view->level[i].gen;
		r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, db), &pos[i].cur));
		if (r == 0)
			r = level_seek(&pos[i], prefix, start, after);
	}
	/*
	 * Keys come in strictly increasing order, after @start: LMDB keeps its
	 * pages sorted.  A damaged page may not be, and a caller that resumes
	 * after the last key it saw (readdir) would then get the same keys
	 * again, for ever; so a key out of order ends the walk with -EUCLEAN.
	 */
	struct lkey last = *start;
	bool strict = after;
	while (r == 0) {
		/* the smallest current key; the topmost level holding it wins */
		int best = -1;
		for (unsigned i = 0; i < view->depth; i++)
			if (!pos[i].done && (best < 0 || lkey_cmp(&pos[i].lk, &pos[best].lk) < 0))
				best = (int)i;
		if (best < 0)
			break;
		struct lkey lk = pos[best].lk;
		MDB_val val = pos[best].val;
		int order = lkey_cmp(&lk, &last);
		if (order < 0 || (order == 0 && strict)) {
			r = -EUCLEAN;
			break;
		}
		last = lk;
		strict = true;
		if (!is_tombstone(&val)) {
			MDB_val stripped = { val.mv_size - 1, (uint8_t *)val.mv_data + 1 };
			r = visit(&lk, &stripped, arg);
			if (r)
				break;
		}
		for (unsigned i = 0; i < view->depth && r == 0; i++)
			if (!pos[i].done && lkey_cmp(&pos[i].lk, &lk) == 0)
				r = level_next(&pos[i], prefix);
	}
	for (unsigned i = 0; i < view->depth; i++)
		if (pos[i].cur)
			mdb_cursor_close(pos[i].cur);
	free(pos);
	return r;
}

/* ---- views ----------------------------------------------------------------- */

static int view_build(struct idx_txn *txn, uint64_t tree, uint64_t gen, bool live,
		      struct idx_view *ret_view)
{
	struct idx_view view = { .writable = live };
	struct idx_tree t;
	int r = idx_tree_get(txn, tree, &t);
	if (r < 0)
		return r;
	if (live)
		gen = t.gen;
	else if (gen == 0 || gen > t.gen)
		return -EINVAL;
	view.snap_gen = t.snap_gen;
	view.level[0].tree = tree;
	view.level[0].gen = gen;
	view.depth = 1;
	while (t.parent) {
		if (view.depth == IDX_VIEW_DEPTH)
			return -ELOOP;
		view.level[view.depth].tree = t.parent;
		view.level[view.depth].gen = t.parent_gen;
		view.depth++;
		r = idx_tree_get(txn, t.parent, &t);
		if (r < 0)
			return r == -ENOENT ? -EUCLEAN : r;
	}
	*ret_view = view;
	return 0;
}

int idx_view_live(struct idx_txn *txn, uint64_t tree, struct idx_view *ret_view)
{
	return view_build(txn, tree, 0, true, ret_view);
}

int idx_view_at(struct idx_txn *txn, uint64_t tree, uint64_t gen, struct idx_view *ret_view)
{
	return view_build(txn, tree, gen, false, ret_view);
}

/* ---- inodes ------------------------------------------------------------------ */

static void lkey_u64(struct lkey *lk, uint64_t a)
{
	put_be64(lk->b, a);
	lk->len = 8;
}

static void lkey_u64_u64(struct lkey *lk, uint64_t a, uint64_t b)
{
	put_be64(lk->b, a);
	put_be64(lk->b + 8, b);
	lk->len = 16;
}

/* u64 | name | NUL: -EINVAL for an empty name, one with NUL, or too long. */
static int lkey_u64_name(struct lkey *lk, uint64_t a, const char *name, size_t namelen,
			 size_t max)
{
	if (namelen == 0 || namelen > max || memchr(name, 0, namelen))
		return -EINVAL;
	put_be64(lk->b, a);
	memcpy(lk->b + 8, name, namelen);
	lk->b[8 + namelen] = 0;
	lk->len = 8 + namelen + 1;
	return 0;
}

/* A directory entry's name: as lkey_u64_name(), and no '/' either. */
static int lkey_u64_filename(struct lkey *lk, uint64_t a, const char *name, size_t namelen)
{
	if (memchr(name, '/', namelen))
		return -EINVAL;
	return lkey_u64_name(lk, a, name, namelen, IDX_FILENAME_MAX);
}

static void time_encode(const struct timespec *ts, struct disk_time *d)
{
	d->sec = htobe64((uint64_t)ts->tv_sec);
	d->nsec = htobe32((uint32_t)ts->tv_nsec);
}

static void time_decode(const struct disk_time *d, struct timespec *ts)
{
	ts->tv_sec = (time_t)(int64_t)be64toh(d->sec);
	ts->tv_nsec = be32toh(d->nsec);
}

static int inode_decode(const MDB_val *v, struct idx_inode *ret_inode)
{
	struct disk_inode d;
	if (v->mv_size != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	struct idx_inode in = {
		.mode = be32toh(d.mode),
		.uid = be32toh(d.uid),
		.gid = be32toh(d.gid),
		.nlink = be32toh(d.nlink),
		.flags = be32toh(d.flags),
		.size = be64toh(d.size),
		.rdev = be64toh(d.rdev),
		.parent = be64toh(d.parent),
		.blocks = be64toh(d.blocks),
	};
	time_decode(&d.atime, &in.atime);
	time_decode(&d.mtime, &in.mtime);
	time_decode(&d.ctime, &in.ctime);
	time_decode(&d.btime, &in.btime);
	*ret_inode = in;
	return 0;
}

int idx_ino_alloc(struct idx_txn *txn, const struct idx_view *view, uint64_t *ret_ino)
{
	struct idx_tree t;
	int r = check_writable(txn, view);
	if (r < 0)
		return r;
	r = idx_tree_get(txn, view->level[0].tree, &t);
	if (r < 0)
		return r;
	uint64_t ino = t.next_ino++;
	r = idx_tree_put(txn, view->level[0].tree, &t);
	if (r < 0)
		return r;
	*ret_ino = ino;
	return 0;
}

int idx_inode_get(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  struct idx_inode *ret_inode)
{
	struct lkey lk;
	MDB_val v = { 0 };
	lkey_u64(&lk, ino);
	int r = view_lookup(txn, DBI_INODES, view, &lk, &v);
	if (r < 0)
		return r;
	return inode_decode(&v, ret_inode);
}

int idx_inode_put(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const struct idx_inode *in)
{
	struct lkey lk;
	struct disk_inode d = {
		.mode = htobe32(in->mode),
		.uid = htobe32(in->uid),
		.gid = htobe32(in->gid),
		.nlink = htobe32(in->nlink),
		.flags = htobe32(in->flags),
		.size = htobe64(in->size),
		.rdev = htobe64(in->rdev),
		.parent = htobe64(in->parent),
		.blocks = htobe64(in->blocks),
	};
	time_encode(&in->atime, &d.atime);
	time_encode(&in->mtime, &d.mtime);
	time_encode(&in->ctime, &d.ctime);
	time_encode(&in->btime, &d.btime);
	lkey_u64(&lk, ino);
	return vput(txn, DBI_INODES, view, &lk, &d, sizeof(d), NULL);
}

int idx_inode_del(struct idx_txn *txn, const struct idx_view *view, uint64_t ino)
{
	struct lkey lk;
	lkey_u64(&lk, ino);
	return vdel(txn, DBI_INODES, view, &lk, NULL);
}

struct inode_walk {
	idx_inode_fn fn;
	void *arg;
};

static int inode_visit(const struct lkey *lk, const MDB_val *v, void *arg)
{
	struct inode_walk *w = arg;
	struct idx_inode in;
	int r = inode_decode(v, &in);
	if (r < 0)
		return r;
	return w->fn(get_be64(lk->b), &in, w->arg);
}

int idx_inode_foreach(struct idx_txn *txn, const struct idx_view *view,
		      idx_inode_fn fn, void *arg)
{
	struct inode_walk w = { fn, arg };
	struct lkey prefix = { .len = 0 }, start = { .len = 0 };
	return view_walk(txn, DBI_INODES, view, &prefix, &start, false, inode_visit, &w);
}

/* ---- dirents --------------------------------------------------------------- */

static int dirent_decode(const MDB_val *v, struct idx_dirent *ret_de)
{
	struct disk_dirent d;
	if (v->mv_size != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	*ret_de = (struct idx_dirent){ .ino = be64toh(d.ino), .type = d.type };
	return 0;
}

int idx_dirent_get(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		   const char *name, size_t namelen, struct idx_dirent *ret_de)
{
	struct lkey lk;
	MDB_val v = { 0 };
	int r = lkey_u64_filename(&lk, dir, name, namelen);
	if (r < 0)
		return r;
	r = view_lookup(txn, DBI_DIRENTS, view, &lk, &v);
	if (r < 0)
		return r;
	return dirent_decode(&v, ret_de);
}

int idx_dirent_put(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		   const char *name, size_t namelen, const struct idx_dirent *de)
{
	struct lkey lk;
	struct disk_dirent d = { .ino = htobe64(de->ino), .type = de->type };
	int r = lkey_u64_filename(&lk, dir, name, namelen);
	if (r < 0)
		return r;
	return vput(txn, DBI_DIRENTS, view, &lk, &d, sizeof(d), NULL);
}

int idx_dirent_del(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		   const char *name, size_t namelen)
{
	struct lkey lk;
	int r = lkey_u64_filename(&lk, dir, name, namelen);
	if (r < 0)
		return r;
	return vdel(txn, DBI_DIRENTS, view, &lk, NULL);
}

struct dirent_walk {
	idx_dirent_fn fn;
	void *arg;
};

static int dirent_visit(const struct lkey *lk, const MDB_val *v, void *arg)
{
	struct dirent_walk *w = arg;
	struct idx_dirent de;
	int r = dirent_decode(v, &de);
	if (r < 0)
		return r;
	/* logical key: dir | name | NUL */
	return w->fn((const char *)lk->b + 8, lk->len - 9, &de, w->arg);
}

int idx_dirent_foreach(struct idx_txn *txn, const struct idx_view *view, uint64_t dir,
		       const char *after, size_t afterlen, idx_dirent_fn fn, void *arg)
{
	struct dirent_walk w = { fn, arg };
	struct lkey prefix, start;
	lkey_u64(&prefix, dir);
	if (!after)
		return view_walk(txn, DBI_DIRENTS, view, &prefix, &prefix, false, dirent_visit, &w);
	int r = lkey_u64_filename(&start, dir, after, afterlen);
	if (r < 0)
		return r;
	return view_walk(txn, DBI_DIRENTS, view, &prefix, &start, true, dirent_visit, &w);
}

/* ---- extents ------------------------------------------------------------------ */

static int extent_decode(const MDB_val *v, struct idx_extent *ret_ext)
{
	struct disk_extent d;
	if (v->mv_size < sizeof(d))
		return -EUCLEAN;
	memcpy(&d, v->mv_data, sizeof(d));
	struct idx_extent e = { .kind = d.kind, .length = be32toh(d.length) };
	size_t extra = v->mv_size - sizeof(d);
	switch (d.kind) {
	case IDX_EXTENT_CHUNK:
		if (extra != 0 || e.length == 0)
			return -EUCLEAN;
		memcpy(e.chunk.bytes, d.chunk, IDX_CHUNK_ID_SIZE);
		break;
	case IDX_EXTENT_INLINE:
		if (extra != e.length || e.length > IDX_INLINE_MAX)
			return -EUCLEAN;
		e.inline_data = (const uint8_t *)v->mv_data + sizeof(d);
		break;
	default:
		return -EUCLEAN;
	}
	*ret_ext = e;
	return 0;
}

/* Drops the chunk reference of an extent version overwritten or deleted in place. */
static int release_old_extent(struct idx_txn *txn, const struct old_value *old)
{
	struct idx_extent e;
	if (!old->replaced || old->len < 1 || old->b[0] != VERSION_VALUE)
		return 0;
	MDB_val v = { .mv_size = old->len - 1, .mv_data = (void *)(old->b + 1) };
	if (old->len - 1 < sizeof(struct disk_extent))
		return -EUCLEAN;
	/* an inline extent's bytes were not copied; only the header matters */
	if (old->b[1] == IDX_EXTENT_INLINE)
		return 0;
	int r = extent_decode(&v, &e);
	if (r < 0)
		return r;
	return idx_chunk_unref(txn, &e.chunk);
}

int idx_extent_get(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		   uint64_t block, struct idx_extent *ret_ext)
{
	struct lkey lk;
	MDB_val v = { 0 };
	lkey_u64_u64(&lk, ino, block);
	int r = view_lookup(txn, DBI_EXTENTS, view, &lk, &v);
	if (r < 0)
		return r;
	return extent_decode(&v, ret_ext);
}

int idx_extent_put(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		   uint64_t block, const struct idx_extent *ext)
{
	struct old_value old = { 0 };
	struct lkey lk;
	uint8_t buf[sizeof(struct disk_extent) + IDX_INLINE_MAX];
	struct disk_extent d = { .kind = ext->kind, .length = htobe32(ext->length) };
	size_t len = sizeof(d);
	int r;

	if (ext->length == 0)
		return -EINVAL;
	switch (ext->kind) {
	case IDX_EXTENT_CHUNK:
		memcpy(d.chunk, ext->chunk.bytes, IDX_CHUNK_ID_SIZE);
		break;
	case IDX_EXTENT_INLINE:
		if (ext->length > IDX_INLINE_MAX || !ext->inline_data)
			return -EINVAL;
		memcpy(buf + sizeof(d), ext->inline_data, ext->length);
		len += ext->length;
		break;
	default:
		return -EINVAL;
	}
	memcpy(buf, &d, sizeof(d));

	lkey_u64_u64(&lk, ino, block);
	/* the new reference first: if it replaces the same chunk, the count never touches 0 */
	if (ext->kind == IDX_EXTENT_CHUNK) {
		r = check_writable(txn, view);
		if (r < 0)
			return r;
		r = idx_chunk_ref(txn, &ext->chunk, ext->length);
		if (r < 0)
			return r;
	}
	r = vput(txn, DBI_EXTENTS, view, &lk, buf, len, &old);
	if (r < 0)
		return r;
	return release_old_extent(txn, &old);
}

int idx_extent_del(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		   uint64_t block)
{
	struct old_value old = { 0 };
	struct lkey lk;
	lkey_u64_u64(&lk, ino, block);
	int r = vdel(txn, DBI_EXTENTS, view, &lk, &old);
	if (r < 0)
		return r;
	return release_old_extent(txn, &old);
}

struct extent_walk {
	idx_extent_fn fn;
	void *arg;
};

static int extent_visit(const struct lkey *lk, const MDB_val *v, void *arg)
{
	struct extent_walk *w = arg;
	struct idx_extent e;
	int r = extent_decode(v, &e);
	if (r < 0)
		return r;
	return w->fn(get_be64(lk->b + 8), &e, w->arg);
}

int idx_extent_foreach(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		       uint64_t first, idx_extent_fn fn, void *arg)
{
	struct extent_walk w = { fn, arg };
	struct lkey prefix, start;
	lkey_u64(&prefix, ino);
	lkey_u64_u64(&start, ino, first);
	return view_walk(txn, DBI_EXTENTS, view, &prefix, &start, false, extent_visit, &w);
}

/* ---- xattrs ------------------------------------------------------------------ */

int idx_xattr_get(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const char *name, const void **ret_value, size_t *ret_len)
{
	struct lkey lk;
	MDB_val v = { 0 };
	int r = lkey_u64_name(&lk, ino, name, strlen(name), IDX_XATTR_NAME_MAX);
	if (r < 0)
		return r == -EINVAL ? -ERANGE : r;
	r = view_lookup(txn, DBI_XATTRS, view, &lk, &v);
	if (r < 0)
		return r;
	*ret_value = v.mv_data;
	*ret_len = v.mv_size;
	return 0;
}

int idx_xattr_put(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const char *name, const void *value, size_t len)
{
	struct lkey lk;
	if (len > IDX_XATTR_VALUE_MAX)
		return -E2BIG;
	int r = lkey_u64_name(&lk, ino, name, strlen(name), IDX_XATTR_NAME_MAX);
	if (r < 0)
		return r == -EINVAL ? -ERANGE : r;
	return vput(txn, DBI_XATTRS, view, &lk, value, len, NULL);
}

int idx_xattr_del(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		  const char *name)
{
	struct lkey lk;
	int r = lkey_u64_name(&lk, ino, name, strlen(name), IDX_XATTR_NAME_MAX);
	if (r < 0)
		return r == -EINVAL ? -ERANGE : r;
	return vdel(txn, DBI_XATTRS, view, &lk, NULL);
}

struct xattr_walk {
	idx_xattr_fn fn;
	void *arg;
};

static int xattr_visit(const struct lkey *lk, const MDB_val *v, void *arg)
{
	struct xattr_walk *w = arg;
	/* logical key: ino | name | NUL, so the name is a C string in place */
	return w->fn((const char *)lk->b + 8, v->mv_data, v->mv_size, w->arg);
}

int idx_xattr_foreach(struct idx_txn *txn, const struct idx_view *view, uint64_t ino,
		      idx_xattr_fn fn, void *arg)
{
	struct xattr_walk w = { fn, arg };
	struct lkey prefix;
	lkey_u64(&prefix, ino);
	return view_walk(txn, DBI_XATTRS, view, &prefix, &prefix, false, xattr_visit, &w);
}

/* ---- reaping a whole tree ------------------------------------------------------ */

/*
 * Deletes up to *budget records of @tree in @db, releasing chunk references
 * of extent versions.  Returns 1 when none are left.
 */
static int reap_db(struct idx_txn *txn, enum dbi_index db, uint64_t tree, size_t *budget)
{
	MDB_cursor *cur;
	uint8_t t[8];
	put_be64(t, tree);
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, db), &cur));
	if (r < 0)
		return r;
	for (;;) {
		MDB_val k = { .mv_size = 8, .mv_data = t }, v;
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND || (rc == 0 && (k.mv_size < 8 || memcmp(k.mv_data, t, 8)))) {
			r = 1;
			break;
		}
		if (rc) {
			r = idx_errno(rc);
			break;
		}
		if (*budget == 0) {
			r = 0;
			break;
		}
		if (db == DBI_EXTENTS) {
			struct old_value old = { 0 };
			r = check_version(&v);
			if (r < 0)
				break;
			remember_old(&old, &v);
			r = release_old_extent(txn, &old);
			if (r < 0)
				break;
		}
		r = idx_cursor_del(txn, cur);
		if (r < 0)
			break;
		(*budget)--;
	}
	mdb_cursor_close(cur);
	return r;
}

/* The databases whose keys start with a tree id. */
static const enum dbi_index tree_dbs[] = { DBI_EXTENTS, DBI_XATTRS, DBI_DIRENTS, DBI_INODES,
					   DBI_ORPHANS, DBI_CHANGES, DBI_JOURNAL };
#define TREE_DB_COUNT (sizeof(tree_dbs) / sizeof(tree_dbs[0]))

int idx_tree_reap(struct idx_txn *txn, uint64_t tree, size_t budget)
{
	if (txn->rdonly)
		return -EROFS;
	for (size_t i = 0; i < TREE_DB_COUNT; i++) {
		int r = reap_db(txn, tree_dbs[i], tree, &budget);
		if (r <= 0)
			return r;
	}
	uint8_t key[8];
	put_be64(key, tree);
	MDB_val k = { .mv_size = 8, .mv_data = key };
	int r = idx_del(txn, DBI_TREES, &k);
	return r < 0 && r != -ENOENT ? r : 1;
}

int idx_tree_record_count(struct idx_txn *txn, uint64_t tree, uint64_t *ret_count)
{
	uint8_t t[8];
	uint64_t n = 0;
	put_be64(t, tree);
	for (size_t i = 0; i < TREE_DB_COUNT; i++) {
		MDB_cursor *cur;
		if (tree_dbs[i] == DBI_CHANGES)
			continue;   /* a log, not records */
		int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, tree_dbs[i]), &cur));
		if (r < 0)
			return r;
		MDB_val k = { .mv_size = 8, .mv_data = t }, v;
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, t, 8) == 0) {
			n++;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
		if (rc && rc != MDB_NOTFOUND)
			return idx_errno(rc);
	}
	*ret_count = n;
	return 0;
}

/* ---- snapshots: dropping what only one generation sees, rollback --------- */

/* What a dry run of a drop collects: the chunk references it would release. */
struct drop_acc {
	struct idx_drop sum;
	struct drop_ref {
		struct idx_chunk_id id;
		uint32_t length;
	} *refs;
	size_t n, cap;
};

static int acc_add(struct drop_acc *acc, const struct idx_chunk_id *id, uint32_t length)
{
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? acc->cap * 2 : 64;
		struct drop_ref *r = realloc(acc->refs, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		acc->refs = r;
		acc->cap = cap;
	}
	acc->refs[acc->n++] = (struct drop_ref){ *id, length };
	return 0;
}

static int ref_cmp(const void *a, const void *b)
{
	return memcmp(((const struct drop_ref *)a)->id.bytes, ((const struct drop_ref *)b)->id.bytes,
		      IDX_CHUNK_ID_SIZE);
}

/* The bytes of the chunks all of whose references the drop would release. */
static int acc_freed_bytes(struct idx_txn *txn, struct drop_acc *acc)
{
	if (acc->n == 0)
		return 0;
	qsort(acc->refs, acc->n, sizeof(*acc->refs), ref_cmp);
	for (size_t i = 0; i < acc->n;) {
		size_t j = i;
		while (j < acc->n && !ref_cmp(&acc->refs[i], &acc->refs[j]))
			j++;
		struct idx_chunk c;
		int r = idx_chunk_get(txn, &acc->refs[i].id, &c);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == 0 && c.refs == j - i)
			acc->sum.bytes += acc->refs[i].length;
		i = j;
	}
	return 0;
}

/*
 * Deletes version (@tree, @lk, @gen) of @db if it exists, releasing the chunk
 * reference of an extent.  With @acc, counts it; a dry run only counts,
 * noting the chunk references it would release.
 */
static int drop_version(struct idx_txn *txn, enum dbi_index db, uint64_t tree,
			const struct lkey *lk, uint64_t gen, bool dry_run, struct drop_acc *acc)
{
	struct vkey key;
	vkey_make(&key, tree, lk, gen);
	MDB_val k = { .mv_size = key.len, .mv_data = key.b }, v;
	int rc = mdb_get(txn->mdb, idx_dbi(txn, db), &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return idx_errno(rc);
	int r = check_version(&v);
	if (r < 0)
		return r;
	if (acc)
		acc->sum.versions++;
	if (db == DBI_EXTENTS && !is_tombstone(&v)) {
		struct old_value old = { 0 };
		remember_old(&old, &v);
		if (dry_run) {
			struct idx_extent e;
			MDB_val ev = { .mv_size = v.mv_size - 1, .mv_data = (uint8_t *)v.mv_data + 1 };
			if (acc && extent_decode(&ev, &e) == 0 && e.kind == IDX_EXTENT_CHUNK)
				return acc_add(acc, &e.chunk, e.length);
			return 0;
		}
		r = release_old_extent(txn, &old);
		if (r < 0)
			return r;
	}
	if (dry_run)
		return 0;
	return idx_del(txn, db, &k);
}

/* A change log entry, parsed. */
struct change {
	uint64_t gen;         /* of the new version */
	uint64_t older;       /* of the version it hides, 0: none */
	enum dbi_index db;
	struct lkey lk;
};

static int change_parse(const MDB_val *k, const MDB_val *v, struct change *c)
{
	const uint8_t *b = k->mv_data;
	if (k->mv_size < 17 || k->mv_size - 17 > sizeof(c->lk.b) || v->mv_size != 8)
		return -EUCLEAN;
	c->gen = get_be64(b + 8);
	c->db = (enum dbi_index)b[16];
	if (c->db < DBI_INODES || c->db > DBI_XATTRS)
		return -EUCLEAN;
	c->lk.len = k->mv_size - 17;
	memcpy(c->lk.b, b + 17, c->lk.len);
	c->older = get_be64(v->mv_data);
	return 0;
}

int idx_tree_rollback(struct idx_txn *txn, uint64_t tree, uint64_t gen, size_t budget)
{
	MDB_cursor *cur;
	uint8_t start[16];
	if (txn->rdonly)
		return -EROFS;
	put_be64(start, tree);
	put_be64(start + 8, gen + 1);
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, DBI_CHANGES), &cur));
	if (r < 0)
		return r;
	for (;;) {
		MDB_val k = { .mv_size = 16, .mv_data = start }, v;
		struct change c;
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND || (rc == 0 && memcmp(k.mv_data, start, 8) != 0)) {
			r = 1;   /* nothing newer than @gen is left */
			break;
		}
		if (rc) {
			r = idx_errno(rc);
			break;
		}
		if (budget-- == 0) {
			r = 0;
			break;
		}
		r = change_parse(&k, &v, &c);
		if (r == 0)
			r = drop_version(txn, c.db, tree, &c.lk, c.gen, false, NULL);
		if (r == 0)
			r = idx_cursor_del(txn, cur);
		if (r < 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

int idx_tree_drop_generation(struct idx_txn *txn, uint64_t tree, uint64_t prev, uint64_t gen,
			     uint64_t next, bool dry_run, struct idx_drop *ret)
{
	MDB_cursor *cur;
	uint8_t start[16];
	struct drop_acc acc = { 0 };
	if (!dry_run && txn->rdonly)
		return -EROFS;
	if (!(prev < gen && gen < next))
		return -EINVAL;
	put_be64(start, tree);
	put_be64(start + 8, gen + 1);
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, DBI_CHANGES), &cur));
	if (r < 0)
		return r;
	MDB_val k = { .mv_size = 16, .mv_data = start }, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	/*
	 * A version of generation g in (prev, gen] that a version of generation
	 * in (gen, next] hides is seen by no reader but snapshot @gen: the next
	 * older reader (prev) sees an older one, the next newer (next) the newer.
	 */
	while (rc == 0 && memcmp(k.mv_data, start, 8) == 0) {
		struct change c;
		r = change_parse(&k, &v, &c);
		if (r < 0 || c.gen > next)
			break;
		if (c.older > prev && c.older <= gen) {
			r = drop_version(txn, c.db, tree, &c.lk, c.older, dry_run, &acc);
			if (r == 0 && !dry_run) {
				/* the new version now hides the one before, if any */
				MDB_val ov;
				uint64_t og = 0;
				uint8_t nv[8];
				r = level_lookup(txn, c.db, tree, c.older - 1, &c.lk, &ov, &og);
				if (r >= 0) {
					put_be64(nv, r == 1 ? og : 0);
					MDB_val val = { .mv_size = 8, .mv_data = nv };
					r = idx_cursor_put(txn, cur, &k, &val, MDB_CURRENT);
				}
				/* the dropped version's own entry is history now */
				if (r >= 0)
					r = unlog_change(txn, c.db, tree, c.older, &c.lk);
			}
			if (r < 0)
				break;
		}
		r = 0;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (r == 0 && rc && rc != MDB_NOTFOUND)
		r = idx_errno(rc);
	mdb_cursor_close(cur);
	if (r == 0 && dry_run)
		r = acc_freed_bytes(txn, &acc);
	free(acc.refs);
	if (r == 0 && ret)
		*ret = acc.sum;
	return r;
}
