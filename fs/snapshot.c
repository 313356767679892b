/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snapshot.c — snapshots, clones and rollback; see snapshot.h.
 *
 * Invariants kept here (docs/invariants.md has them numbered):
 *  1. A tree's S (snap_gen) is the generation of its newest snapshot, or 0.
 *  2. A snapshot is removed only with no clone on it and no mount of it;
 *     a volume only with no clone on any of its snapshots.
 *  3. Every reader of a tree's past (snapshot, clone) is a snapshot record:
 *     so the readers of a generation range are the snapshot records alone.
 */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "chunk.h"
#include "vfs.h"
#include "volume.h"

int snapshot_parse(const char *spec, char *ret_vol, char *ret_snap)
{
	const char *at = strchr(spec, '@');
	if (!at || at == spec || !at[1] || (size_t)(at - spec) > IDX_NAME_MAX)
		return -EINVAL;
	memcpy(ret_vol, spec, (size_t)(at - spec));
	ret_vol[at - spec] = 0;
	if (strlen(at + 1) > IDX_NAME_MAX)
		return -EINVAL;
	strcpy(ret_snap, at + 1);
	return volume_name_valid(ret_vol) && volume_name_valid(ret_snap) ? 0 : -EINVAL;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int snapshot_take(struct idx_txn *txn, const char *vol, const char *snap, int64_t when)
{
	struct idx_volume v;
	struct idx_tree t;
	struct idx_snapshot s;
	if (!volume_name_valid(snap))
		return -EINVAL;
	int r = idx_volume_get(txn, vol, &v);
	if (r == 0)
		r = idx_tree_get(txn, v.tree, &t);
	if (r < 0)
		return r;
	r = idx_snapshot_get(txn, v.id, snap, &s);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	/* the generation so far is the snapshot; the volume goes on in the next */
	s = (struct idx_snapshot){ .tree = v.tree, .gen = t.gen, .created_ns = when };
	t.snap_gen = t.gen;
	t.gen++;
	r = idx_tree_put(txn, v.tree, &t);
	if (r == 0)
		r = idx_snapshot_add(txn, v.id, snap, &s);
	return r;
}

struct take_arg {
	const char *vol, *snap;
};

static int take_fn(struct idx_txn *txn, void *arg)
{
	struct take_arg *a = arg;
	return snapshot_take(txn, a->vol, a->snap, now_ns());
}

static int lookup_volume(struct store *store, const char *vol, struct idx_volume *ret);

int snapshot_create(struct store *store, const char *vol, const char *snap)
{
	struct take_arg a = { vol, snap };
	struct idx_volume v;
	int lock_fd, r = lookup_volume(store, vol, &v);
	if (r < 0)
		return r;
	/* a mounted volume's daemon takes its snapshots (buffered data included) */
	r = store_lock_volume(store, v.id, &lock_fd);
	if (r < 0)
		return r;
	/* fsync'd writes a crashed daemon left in the journal belong in the snapshot */
	r = vfs_recover(store, vol);
	if (r == 0)
		r = idx_update(store->idx, take_fn, &a);
	close(lock_fd);
	return r;
}

/* ---- who depends on what ---------------------------------------------------- */

struct names {
	char *buf;
	size_t len, used;
	int count;
};

static void names_add(struct names *n, const char *name)
{
	size_t l = strlen(name);
	if (n->buf && n->used + l + 3 < n->len) {
		if (n->used)
			n->buf[n->used++] = ',', n->buf[n->used++] = ' ';
		memcpy(n->buf + n->used, name, l + 1);
		n->used += l;
	}
	n->count++;
}

struct dependents_arg {
	struct idx_txn *txn;
	uint64_t tree, gen;
	struct names names;
};

static int volume_of_tree(const char *name, const struct idx_volume *vol, void *arg)
{
	struct dependents_arg *a = arg;
	struct idx_tree t;
	if (idx_tree_get(a->txn, vol->tree, &t) == 0 && t.parent == a->tree &&
	    (a->gen == 0 || t.parent_gen == a->gen))
		names_add(&a->names, name);
	return 0;
}

int snapshot_dependents(struct idx_txn *txn, uint64_t tree, uint64_t gen, char *buf, size_t len)
{
	struct dependents_arg a = { .txn = txn, .tree = tree, .gen = gen,
				    .names = { .buf = buf, .len = len } };
	if (buf && len)
		buf[0] = 0;
	int r = idx_volume_foreach(txn, volume_of_tree, &a);
	return r < 0 ? r : a.names.count;
}

/* The snapshots of one volume on one tree, sorted by generation. */
struct snap_set {
	uint64_t tree;
	size_t n, cap;
	struct snap_entry {
		char name[IDX_NAME_MAX + 1];
		struct idx_snapshot s;
	} *e;
};

static int snap_collect(const char *name, const struct idx_snapshot *s, void *arg)
{
	struct snap_set *set = arg;
	if (s->tree != set->tree)
		return 0;
	if (ARRAY_RESERVE(set->e, set->n, set->cap, 8) < 0)
		return -ENOMEM;
	snprintf(set->e[set->n].name, sizeof(set->e[0].name), "%s", name);
	set->e[set->n++].s = *s;
	return 0;
}

static int snap_cmp(const void *a, const void *b)
{
	const struct snap_entry *x = a, *y = b;
	return x->s.gen < y->s.gen ? -1 : x->s.gen > y->s.gen;
}

static int snap_set_load(struct idx_txn *txn, const struct idx_volume *v, struct snap_set *set)
{
	*set = (struct snap_set){ .tree = v->tree };
	int r = idx_snapshot_foreach(txn, v->id, snap_collect, set);
	if (r < 0) {
		free(set->e);
		set->e = NULL;
		return r;
	}
	if (set->n)
		qsort(set->e, set->n, sizeof(*set->e), snap_cmp);
	return 0;
}

/* The readers on either side of snapshot @i: the older snapshot, the newer reader. */
static void neighbours(const struct snap_set *set, size_t i, uint64_t tree_gen,
		       uint64_t *prev, uint64_t *next)
{
	*prev = i > 0 ? set->e[i - 1].s.gen : 0;
	*next = i + 1 < set->n ? set->e[i + 1].s.gen : tree_gen;
}

int snapshot_newer(struct idx_txn *txn, const char *vol, const char *snap, char *buf, size_t len)
{
	struct idx_volume v;
	struct idx_snapshot s;
	struct snap_set set;
	struct names n = { .buf = buf, .len = len };
	if (buf && len)
		buf[0] = 0;
	int r = idx_volume_get(txn, vol, &v);
	if (r == 0)
		r = idx_snapshot_get(txn, v.id, snap, &s);
	if (r == 0)
		r = snap_set_load(txn, &v, &set);
	if (r < 0)
		return r;
	for (size_t i = 0; i < set.n; i++)
		if (set.e[i].s.gen > s.gen)
			names_add(&n, set.e[i].name);
	free(set.e);
	return n.count;
}

/* ---- removal -------------------------------------------------------------------- */

/*
 * Drops snapshot @snap of @v: the versions only it sees, its record, and S
 * if it was the newest.  Within @txn; the caller has checked dependents and
 * mounts.
 */
static int drop_snapshot(struct idx_txn *txn, const struct idx_volume *v, const char *snap)
{
	struct idx_tree t;
	struct snap_set set;
	int r = idx_tree_get(txn, v->tree, &t);
	if (r == 0)
		r = snap_set_load(txn, v, &set);
	if (r < 0)
		return r;
	size_t i = 0;
	while (i < set.n && strcmp(set.e[i].name, snap))
		i++;
	if (i == set.n) {
		free(set.e);
		return -ENOENT;
	}
	uint64_t prev, next, gen = set.e[i].s.gen;
	neighbours(&set, i, t.gen, &prev, &next);
	free(set.e);
	r = idx_tree_drop_generation(txn, v->tree, prev, gen, next, false, NULL);
	if (r == 0)
		r = idx_snapshot_del(txn, v->id, snap);
	if (r == 0 && t.snap_gen == gen) {
		t.snap_gen = prev;   /* invariant 1 */
		r = idx_tree_put(txn, v->tree, &t);
	}
	return r;
}

struct remove_arg {
	const char *vol, *snap;
	uint64_t volume_id;
};

static int remove_fn(struct idx_txn *txn, void *arg)
{
	struct remove_arg *a = arg;
	struct idx_volume v;
	struct idx_snapshot s;
	int r = idx_volume_get(txn, a->vol, &v);
	if (r == 0)
		r = v.id == a->volume_id ? idx_snapshot_get(txn, v.id, a->snap, &s) : -ESTALE;
	if (r < 0)
		return r;
	r = snapshot_dependents(txn, s.tree, s.gen, NULL, 0);
	if (r != 0)
		return r < 0 ? r : -ENOTEMPTY;
	return drop_snapshot(txn, &v, a->snap);
}

/* Frees the chunks that lost their last reference, in a transaction of their own. */
static int collect_garbage(struct idx_txn *txn, void *arg)
{
	return chunk_gc(arg, txn, NULL);
}

static int lookup_volume(struct store *store, const char *vol, struct idx_volume *ret)
{
	struct idx_txn *txn;
	int r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		return r;
	r = idx_volume_get(txn, vol, ret);
	idx_txn_abort(txn);
	return r;
}

int snapshot_remove(struct store *store, const char *vol, const char *snap)
{
	struct idx_volume v;
	int lock_fd, r = lookup_volume(store, vol, &v);
	if (r < 0)
		return r;
	/* no read-only mount of it may be running, nor start meanwhile */
	r = store_lock_snapshot(store, v.id, snap, false, &lock_fd);
	if (r < 0)
		return r;
	struct remove_arg a = { vol, snap, v.id };
	r = idx_update(store->idx, remove_fn, &a);
	store_unlock_snapshot_remove(store, v.id, snap, lock_fd);
	if (r == 0)
		r = idx_update(store->idx, collect_garbage, store->chunks);
	return r == -ESTALE ? -ENOENT : r;
}

/* ---- clones ---------------------------------------------------------------------- */

struct clone_arg {
	const char *vol, *snap, *newvol;
};

static int clone_fn(struct idx_txn *txn, void *arg)
{
	struct clone_arg *a = arg;
	struct idx_volume v, nv;
	struct idx_snapshot s;
	struct idx_tree parent;
	struct idx_view view;
	int r = idx_volume_get(txn, a->vol, &v);
	if (r == 0)
		r = idx_snapshot_get(txn, v.id, a->snap, &s);
	if (r == 0)
		r = idx_tree_get(txn, s.tree, &parent);
	if (r == 0)
		r = idx_view_at(txn, s.tree, s.gen, &view);
	if (r < 0)
		return r;
	if (view.depth >= IDX_VIEW_DEPTH)
		return -ELOOP;
	r = idx_volume_get(txn, a->newvol, &nv);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;

	uint64_t vid, tid;
	r = idx_counter_next(txn, IDX_COUNTER_VOLUME, &vid);
	if (r == 0)
		r = idx_counter_next(txn, IDX_COUNTER_TREE, &tid);
	if (r < 0)
		return r;
	/*
	 * The clone's inode numbers go on from the parent's counter: any number
	 * it hands out is one the parent's past never used.
	 */
	struct idx_tree t = { .volume = vid, .parent = s.tree, .parent_gen = s.gen, .gen = 1,
			      .snap_gen = 0, .next_ino = parent.next_ino };
	nv = (struct idx_volume){ .id = vid, .tree = tid, .block_size = v.block_size,
				  .flags = v.flags, .quota = v.quota, .created_ns = now_ns() };
	r = idx_tree_put(txn, tid, &t);
	if (r == 0)
		r = idx_volume_add(txn, a->newvol, &nv);
	return r;
}

int snapshot_clone(struct store *store, const char *vol, const char *snap, const char *newvol)
{
	struct clone_arg a = { vol, snap, newvol };
	if (!volume_name_valid(newvol))
		return -EINVAL;
	return idx_update(store->idx, clone_fn, &a);
}

/* ---- rollback ----------------------------------------------------------------------- */

struct rollback_arg {
	const char *vol, *snap;
	bool destroy_newer;
	uint64_t volume_id;
};

static int rollback_fn(struct idx_txn *txn, void *arg)
{
	struct rollback_arg *a = arg;
	struct idx_volume v;
	struct idx_snapshot s;
	struct idx_tree t;
	struct snap_set set;
	int r = idx_volume_get(txn, a->vol, &v);
	if (r == 0)
		r = v.id == a->volume_id ? idx_snapshot_get(txn, v.id, a->snap, &s) : -ESTALE;
	if (r == 0)
		r = idx_tree_get(txn, v.tree, &t);
	if (r == 0)
		r = snap_set_load(txn, &v, &set);
	if (r < 0)
		return r;
	/* newer snapshots: refused, unless they are to go (and nothing hangs on them) */
	for (size_t i = 0; i < set.n && r == 0; i++) {
		if (set.e[i].s.gen <= s.gen)
			continue;
		if (!a->destroy_newer)
			r = -ENOTEMPTY;
		else if (snapshot_dependents(txn, v.tree, set.e[i].s.gen, NULL, 0) != 0)
			r = -ENOTEMPTY;
	}
	for (size_t i = 0; i < set.n && r == 0; i++)
		if (set.e[i].s.gen > s.gen)
			r = idx_snapshot_del(txn, v.id, set.e[i].name);
	free(set.e);
	if (r < 0)
		return r;
	/*
	 * Everything the tree gained after the snapshot goes; the log names it
	 * all.  So do journal records: a snapshot is taken with none pending.
	 */
	r = idx_tree_rollback(txn, v.tree, s.gen, SIZE_MAX);
	if (r >= 0)
		r = idx_journal_del_tree(txn, v.tree);
	if (r < 0)
		return r;
	t.gen = s.gen + 1;
	t.snap_gen = s.gen;
	return idx_tree_put(txn, v.tree, &t);
}

int snapshot_rollback(struct store *store, const char *vol, const char *snap, bool destroy_newer)
{
	struct idx_volume v;
	int lock_fd, r = lookup_volume(store, vol, &v);
	if (r < 0)
		return r;
	/*
	 * Refused while mounted: the kernel caches names, attributes and pages
	 * of the present, and programs hold files open in it.
	 */
	r = store_lock_volume(store, v.id, &lock_fd);
	if (r < 0)
		return r;
	/* the newer snapshots it destroys must not be mounted (nor become so) */
	struct snap_set set = { 0 };
	struct idx_snapshot target;
	int *locks = NULL;
	struct idx_txn *txn;
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r == 0) {
		r = idx_snapshot_get(txn, v.id, snap, &target);
		if (r == 0)
			r = snap_set_load(txn, &v, &set);
		idx_txn_abort(txn);
	}
	if (r == 0 && set.n && !(locks = malloc(set.n * sizeof(*locks))))
		r = -ENOMEM;
	for (size_t i = 0; i < set.n && locks; i++)
		locks[i] = -1;
	for (size_t i = 0; r == 0 && i < set.n; i++)
		if (destroy_newer && set.e[i].s.gen > target.gen)
			r = store_lock_snapshot(store, v.id, set.e[i].name, false, &locks[i]);
	struct rollback_arg a = { vol, snap, destroy_newer, v.id };
	if (r == 0)
		r = idx_update(store->idx, rollback_fn, &a);
	for (size_t i = 0; locks && i < set.n; i++)
		if (locks[i] >= 0)
			store_unlock_snapshot_remove(store, v.id, set.e[i].name, locks[i]);
	free(locks);
	free(set.e);
	close(lock_fd);
	if (r == 0)
		r = idx_update(store->idx, collect_garbage, store->chunks);
	return r == -ESTALE ? -ENOENT : r;
}

/* ---- listing ------------------------------------------------------------------------ */

struct list_arg {
	struct idx_txn *txn;
	const char *only;
	snapshot_fn fn;
	void *arg;
};

static int list_volume(const char *name, const struct idx_volume *v, void *arg)
{
	struct list_arg *a = arg;
	struct snap_set set;
	struct idx_tree t;
	if (a->only && strcmp(a->only, name))
		return 0;
	int r = idx_tree_get(a->txn, v->tree, &t);
	if (r == 0)
		r = snap_set_load(a->txn, v, &set);
	if (r < 0)
		return r;
	for (size_t i = 0; i < set.n && r == 0; i++) {
		struct snapshot_info info = { .snap = set.e[i].s };
		struct idx_drop drop;
		uint64_t prev, next;
		neighbours(&set, i, t.gen, &prev, &next);
		r = idx_tree_drop_generation(a->txn, v->tree, prev, set.e[i].s.gen, next, true, &drop);
		if (r < 0)
			break;
		snprintf(info.volume, sizeof(info.volume), "%s", name);
		snprintf(info.name, sizeof(info.name), "%s", set.e[i].name);
		info.unique_bytes = drop.bytes;
		r = a->fn(&info, a->arg);
	}
	free(set.e);
	return r;
}

int snapshot_list(struct idx_txn *txn, const char *vol, snapshot_fn fn, void *arg)
{
	struct list_arg a = { txn, vol, fn, arg };
	if (vol) {
		struct idx_volume v;
		int r = idx_volume_get(txn, vol, &v);
		if (r < 0)
			return r;
	}
	return idx_volume_foreach(txn, list_volume, &a);
}
