/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * volume.c — named volumes: creation, removal, statistics.
 *
 * Invariants this module keeps:
 *  1. A volume record, its tree record and the tree's root directory inode
 *     are written by one transaction: a volume exists completely or not at
 *     all.
 *  2. Removal is two-phase and survives a crash at any point.  One
 *     transaction deletes the name (and the volume's snapshot records) and
 *     flags the tree IDX_TREE_DOOMED; from then on nothing can reach the
 *     tree.  Its records are then reaped in bounded transactions
 *     (REAP_BATCH records each) and the chunks left without references are
 *     freed.  Whoever opens the store read-write next finishes a removal that
 *     a crash interrupted (volume_finish_removals(), from store_open()).
 *  3. Whoever reaps a tree holds its volume's lock (run/vol-<id>.lock), so a
 *     mounted volume is never removed and two processes do not reap the
 *     same tree at once.  Ids are never reused, so the lock file of a
 *     removed volume is deleted once its tree is gone.
 */
#include "array.h"
#include "volume.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"

#define REAP_BATCH 10000   /* records deleted per transaction by a removal */

/* ---- names and sizes -------------------------------------------------- */

static bool name_char_first(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool name_char(char c)
{
	return name_char_first(c) || c == '_' || c == '.' || c == '-';
}

bool volume_name_valid(const char *name)
{
	size_t i;

	if (!name || !name_char_first(name[0]))
		return false;
	for (i = 1; name[i]; i++) {
		if (i >= IDX_NAME_MAX || !name_char(name[i]))
			return false;
	}
	return true;
}

bool volume_block_size_valid(uint64_t size)
{
	return size >= VOLUME_BLOCK_MIN && size <= VOLUME_BLOCK_MAX && (size & (size - 1)) == 0;
}

int volume_parse_size(const char *text, uint64_t *ret_size)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} suffixes[] = {
		{ "", 0 },
		{ "K", 10 }, { "k", 10 }, { "KiB", 10 },
		{ "M", 20 }, { "m", 20 }, { "MiB", 20 },
		{ "G", 30 }, { "g", 30 }, { "GiB", 30 },
	};
	const char *p = text;
	uint64_t v = 0;

	if (!text || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(p, suffixes[i].suffix) != 0)
			continue;
		if (v > (UINT64_MAX >> suffixes[i].shift))
			return -EINVAL;
		*ret_size = v << suffixes[i].shift;
		return 0;
	}
	return -EINVAL;
}

/* ---- creation ---------------------------------------------------------- */

struct create_arg {
	const char *name;
	uint32_t block_size;
	int64_t created_ns;
	struct idx_volume vol;   /* out */
};

static int create_fn(struct idx_txn *txn, void *arg)
{
	struct create_arg *a = arg;
	struct idx_volume vol;
	struct idx_tree tree;
	struct idx_inode root;
	struct idx_view view;
	struct timespec now;
	uint64_t vol_id, tree_id;
	int r;

	r = idx_volume_get(txn, a->name, &vol);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;

	r = idx_counter_next(txn, IDX_COUNTER_VOLUME, &vol_id);
	if (r < 0)
		return r;
	r = idx_counter_next(txn, IDX_COUNTER_TREE, &tree_id);
	if (r < 0)
		return r;

	tree = (struct idx_tree){
		.volume = vol_id,
		.gen = 1,
		.next_ino = IDX_ROOT_INO + 1,
	};
	r = idx_tree_put(txn, tree_id, &tree);
	if (r < 0)
		return r;

	now.tv_sec = a->created_ns / 1000000000;
	now.tv_nsec = a->created_ns % 1000000000;
	root = (struct idx_inode){
		.mode = S_IFDIR | 0755,
		.nlink = 2,
		.parent = IDX_ROOT_INO,   /* the root is its own parent */
		.atime = now, .mtime = now, .ctime = now, .btime = now,
	};
	r = idx_view_live(txn, tree_id, &view);
	if (r < 0)
		return r;
	r = idx_inode_put(txn, &view, IDX_ROOT_INO, &root);
	if (r < 0)
		return r;

	vol = (struct idx_volume){
		.id = vol_id,
		.tree = tree_id,
		.block_size = a->block_size,
		.created_ns = a->created_ns,
	};
	r = idx_volume_add(txn, a->name, &vol);
	if (r < 0)
		return r;
	a->vol = vol;
	return 0;
}

int volume_create(struct store *store, const char *name, uint32_t block_size,
		  struct idx_volume *ret_vol)
{
	struct create_arg a = { .name = name, .block_size = block_size };
	struct timespec ts;
	int r;

	if (!volume_name_valid(name) || !volume_block_size_valid(block_size))
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	a.created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;

	r = idx_update(store->idx, create_fn, &a);
	if (r < 0)
		return r;
	if (ret_vol)
		*ret_vol = a.vol;
	return 0;
}

/* ---- removal ----------------------------------------------------------- */

struct reap_arg {
	uint64_t tree;
	bool done;
};

static int reap_fn(struct idx_txn *txn, void *arg)
{
	struct reap_arg *a = arg;
	int r;

	r = idx_tree_reap(txn, a->tree, REAP_BATCH);
	if (r == -ENOENT)       /* another process finished it */
		r = 1;
	if (r < 0)
		return r;
	a->done = r == 1;
	return 0;
}

/*
 * Deletes every record of doomed tree @tree, REAP_BATCH per transaction, and
 * then the lock file of its volume @volume_id (whose lock the caller holds).
 * The one copy of the reap loop.
 */
static int tree_reap_all(struct store *store, uint64_t tree, uint64_t volume_id)
{
	struct reap_arg a = { .tree = tree };
	char lockname[64];
	int r;

	do {
		r = idx_update(store->idx, reap_fn, &a);
	} while (r == 0 && !a.done);
	if (r < 0)
		return r;
	snprintf(lockname, sizeof(lockname), "run/vol-%" PRIu64 ".lock", volume_id);
	if (unlinkat(store->dirfd, lockname, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int gc_fn(struct idx_txn *txn, void *arg)
{
	struct store *store = arg;

	return chunk_gc(store->chunks, txn, NULL);
}

/* Frees dead chunks; opens no write transaction when there are none. */
static int gc_dead_chunks(struct store *store)
{
	struct idx_txn *txn;
	int r;

	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		return r;
	r = idx_dead_chunk_any(txn);
	idx_txn_abort(txn);
	if (r <= 0)
		return r;
	return idx_update(store->idx, gc_fn, store);
}

struct doomed_list {
	size_t n, cap;
	struct doomed {
		uint64_t tree;
		uint64_t volume;
	} *items;
};

static int collect_doomed(uint64_t tree, const struct idx_tree *t, void *arg)
{
	struct doomed_list *l = arg;

	if (!(t->flags & IDX_TREE_DOOMED))
		return 0;
	if (ARRAY_RESERVE(l->items, l->n, l->cap, 8) < 0)
		return -ENOMEM;
	l->items[l->n++] = (struct doomed){ .tree = tree, .volume = t->volume };
	return 0;
}

int volume_finish_removals(struct store *store)
{
	struct doomed_list l = { 0 };
	struct idx_txn *txn;
	int r;

	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		return r;
	r = idx_tree_foreach(txn, collect_doomed, &l);
	idx_txn_abort(txn);

	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		int fd;

		r = store_lock_volume(store, l.items[i].volume, &fd);
		if (r == -EBUSY) {       /* its remover is still at work */
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		r = tree_reap_all(store, l.items[i].tree, l.items[i].volume);
		close(fd);
	}
	free(l.items);
	if (r < 0)
		return r;
	return gc_dead_chunks(store);
}

struct name_list {
	size_t n, cap;
	char **names;
};

static int collect_snapshot(const char *name, const struct idx_snapshot *snap, void *arg)
{
	struct name_list *l = arg;

	(void)snap;
	if (ARRAY_RESERVE(l->names, l->n, l->cap, 8) < 0)
		return -ENOMEM;
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

struct doom_arg {
	struct store *store;
	const char *name;
	uint64_t volume_id;     /* the volume whose lock we hold */
	uint64_t tree;          /* out */
};

/* Phase one of a removal: the name goes, the tree is flagged doomed. */
static int doom_fn(struct idx_txn *txn, void *arg)
{
	struct doom_arg *a = arg;
	struct name_list snaps = { 0 };
	struct idx_volume vol;
	struct idx_tree tree;
	int r;

	r = idx_volume_get(txn, a->name, &vol);
	if (r < 0)
		return r;
	if (vol.id != a->volume_id)   /* removed and re-created meanwhile */
		return -ESTALE;
	/* clones read this tree's past: it stays while they exist */
	r = snapshot_dependents(txn, vol.tree, 0, NULL, 0);
	if (r != 0)
		return r < 0 ? r : -ENOTEMPTY;

	/*
	 * The volume's snapshots read its tree at older generations: they go
	 * with it.  (A clone's tree names this one as parent; when clones
	 * exist, removal must keep the versions they see.)
	 */
	r = idx_snapshot_foreach(txn, vol.id, collect_snapshot, &snaps);
	/* a read-only mount of a snapshot holds its lock shared */
	for (size_t i = 0; r >= 0 && i < snaps.n; i++) {
		int fd;
		r = store_lock_snapshot(a->store, vol.id, snaps.names[i], false, &fd);
		if (r == 0)   /* the snapshot goes with the volume, its lock file too */
			store_unlock_snapshot_remove(a->store, vol.id, snaps.names[i], fd);
	}
	for (size_t i = 0; r >= 0 && i < snaps.n; i++)
		r = idx_snapshot_del(txn, vol.id, snaps.names[i]);
	for (size_t i = 0; i < snaps.n; i++)
		free(snaps.names[i]);
	free(snaps.names);
	if (r < 0)
		return r;

	r = idx_volume_del(txn, a->name);
	if (r < 0)
		return r;
	r = idx_tree_get(txn, vol.tree, &tree);
	if (r < 0)
		return r;
	tree.flags |= IDX_TREE_DOOMED;
	r = idx_tree_put(txn, vol.tree, &tree);
	if (r < 0)
		return r;
	a->tree = vol.tree;
	return 0;
}

static int volume_lookup(struct store *store, const char *name, struct idx_volume *ret_vol)
{
	struct idx_txn *txn;
	int r;

	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		return r;
	r = idx_volume_get(txn, name, ret_vol);
	idx_txn_abort(txn);
	return r;
}

int volume_remove(struct store *store, const char *name)
{
	struct doom_arg a = { .store = store, .name = name };
	struct idx_volume vol;
	int fd = -1, r;

	/* The name may be re-bound between lookup and lock: try a few times. */
	for (int attempt = 0; ; attempt++) {
		r = volume_lookup(store, name, &vol);
		if (r < 0)
			return r;
		r = store_lock_volume(store, vol.id, &fd);
		if (r < 0)
			return r;
		a.volume_id = vol.id;
		r = idx_update(store->idx, doom_fn, &a);
		if (r != -ESTALE)
			break;
		close(fd);
		fd = -1;
		if (attempt == 2)
			return -EBUSY;
	}
	if (r == 0)
		r = tree_reap_all(store, a.tree, vol.id);
	close(fd);
	if (r < 0)
		return r;
	return gc_dead_chunks(store);
}

/* ---- statistics -------------------------------------------------------- */

struct stats_arg {
	struct idx_txn *txn;
	struct volume_stats st;
	size_t n, cap;
	uint64_t *files;        /* regular files, for the extent walk */
};

static int stats_inode(uint64_t ino, const struct idx_inode *inode, void *arg)
{
	struct stats_arg *a = arg;

	if (ino == IDX_ROOT_INO)
		return 0;
	a->st.files++;
	if (!S_ISREG(inode->mode))
		return 0;
	a->st.bytes += inode->size;
	if (ARRAY_RESERVE(a->files, a->n, a->cap, 64) < 0)
		return -ENOMEM;
	a->files[a->n++] = ino;
	return 0;
}

static int stats_extent(uint64_t block, const struct idx_extent *ext, void *arg)
{
	struct stats_arg *a = arg;
	struct idx_chunk c;
	int r;

	(void)block;
	a->st.blocks++;
	if (ext->kind != IDX_EXTENT_CHUNK)
		return 0;
	r = idx_chunk_get(a->txn, &ext->chunk, &c);
	if (r < 0)
		return r;
	if (c.refs > 1)
		a->st.blocks_shared++;
	return 0;
}

int volume_stats(struct idx_txn *txn, const struct idx_volume *vol, struct volume_stats *ret_stats)
{
	struct stats_arg a = { .txn = txn };
	struct idx_tree tree;
	struct idx_view view;
	int r;

	/* A read-only view at the current generation works in any transaction. */
	r = idx_tree_get(txn, vol->tree, &tree);
	if (r < 0)
		return r;
	r = idx_view_at(txn, vol->tree, tree.gen, &view);
	if (r < 0)
		return r;
	/* Files first, extents after: no walk nests inside another. */
	r = idx_inode_foreach(txn, &view, stats_inode, &a);
	for (size_t i = 0; r >= 0 && i < a.n; i++)
		r = idx_extent_foreach(txn, &view, a.files[i], 0, stats_extent, &a);
	free(a.files);
	if (r < 0)
		return r;
	*ret_stats = a.st;
	return 0;
}
