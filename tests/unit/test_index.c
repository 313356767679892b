/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_index.c — the index below everything else: record round trips,
 * versions and visibility at a generation, tombstones, clones, chunk
 * reference counts, map growth, corruption and reopening.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index.h"
#include "test.h"

static struct idx_env *open_new(const char *name)
{
	struct idx_env *env = NULL;
	if (idx_env_open(test_subdir(name), IDX_ENV_CREATE, 0, &env) < 0) {
		fprintf(stderr, "cannot create index %s\n", name);
		exit(99);
	}
	return env;
}

static struct idx_txn *begin(struct idx_env *env, unsigned flags)
{
	struct idx_txn *txn = NULL;
	if (idx_txn_begin(env, flags, &txn) < 0) {
		fprintf(stderr, "cannot begin a transaction\n");
		exit(99);
	}
	return txn;
}

/* A fresh tree @id with one generation and no snapshot. */
static int make_tree(struct idx_txn *txn, uint64_t id, uint64_t parent, uint64_t parent_gen)
{
	struct idx_tree t = { .volume = 1, .parent = parent, .parent_gen = parent_gen,
			      .gen = 1, .snap_gen = 0, .next_ino = 2 };
	return idx_tree_put(txn, id, &t);
}

/* What taking a snapshot does to a tree: S = G, G + 1. */
static int bump_gen(struct idx_txn *txn, uint64_t id)
{
	struct idx_tree t;
	int r = idx_tree_get(txn, id, &t);
	if (r < 0)
		return r;
	t.snap_gen = t.gen;
	t.gen++;
	return idx_tree_put(txn, id, &t);
}

static struct idx_inode inode_of(uint32_t mode, uint64_t size)
{
	struct idx_inode in = { .mode = mode, .uid = 1000, .gid = 100, .nlink = 1, .size = size,
				.rdev = 0x0801, .parent = 77 };
	in.atime = (struct timespec){ 1700000000, 1 };
	in.mtime = (struct timespec){ -5, 999999999 };
	in.ctime = (struct timespec){ 1700000002, 3 };
	in.btime = (struct timespec){ 1700000003, 4 };
	return in;
}

/* Counts the record versions of a tree. */
static long count_records(struct idx_env *env, uint64_t tree)
{
	struct idx_txn *txn = begin(env, IDX_TXN_RDONLY);
	uint64_t n;
	int r = idx_tree_record_count(txn, tree, &n);
	idx_txn_abort(txn);
	return r < 0 ? r : (long)n;
}

static struct idx_chunk_id chunk_id(uint8_t b)
{
	struct idx_chunk_id id;
	memset(id.bytes, b, sizeof(id.bytes));
	return id;
}

static uint64_t refs_of(struct idx_txn *txn, uint8_t b)
{
	struct idx_chunk c;
	struct idx_chunk_id id = chunk_id(b);
	if (idx_chunk_get(txn, &id, &c) < 0)
		return UINT64_MAX;
	return c.refs;
}

/* ---------------------------------------------------------------------- */

static void env_open_missing_and_reopen(void)
{
	struct idx_env *env = NULL;
	const char *dir = test_subdir("reopen");
	CHECK_EQ(idx_env_open(dir, 0, 0, &env), -ENOENT);
	CHECK(env == NULL);
	CHECK_OK(idx_env_open(dir, IDX_ENV_CREATE, 0, &env));
	idx_env_close(env);
	CHECK_OK(idx_env_open(dir, IDX_ENV_RDONLY, 0, &env));
	struct idx_txn *txn;
	CHECK_EQ(idx_txn_begin(env, 0, &txn), -EROFS);
	idx_env_close(env);
	idx_env_close(NULL);
	idx_txn_abort(NULL);
}

static void meta_and_counters(void)
{
	struct idx_env *env = open_new("meta");
	struct idx_txn *txn = begin(env, 0);
	struct idx_meta m = { .format = IDX_FORMAT_VERSION, .created_ns = 123456789 }, got;
	for (int i = 0; i < IDX_SECRET_SIZE; i++)
		m.secret[i] = (uint8_t)(i * 7 + 1);

	CHECK_EQ(idx_meta_get(txn, &got), -ENODATA);
	CHECK_OK(idx_meta_init(txn, &m));
	CHECK_EQ(idx_meta_init(txn, &m), -EEXIST);
	CHECK_OK(idx_meta_get(txn, &got));
	CHECK(got.format == IDX_FORMAT_VERSION && got.created_ns == 123456789);
	CHECK(memcmp(got.secret, m.secret, IDX_SECRET_SIZE) == 0);

	uint64_t a, b, c;
	CHECK_OK(idx_counter_next(txn, IDX_COUNTER_VOLUME, &a));
	CHECK_OK(idx_counter_next(txn, IDX_COUNTER_VOLUME, &b));
	CHECK_OK(idx_counter_next(txn, IDX_COUNTER_TREE, &c));
	CHECK(a == 1 && b == 2 && c == 1);
	CHECK_OK(idx_txn_commit(txn));
	idx_env_close(env);
}

struct name_list {
	char names[8][IDX_NAME_MAX + 1];
	int n;
};

static int collect_volume(const char *name, const struct idx_volume *vol, void *arg)
{
	struct name_list *l = arg;
	if (l->n < 8)
		strcpy(l->names[l->n++], name);
	return 0;
}

static void volume_round_trip(void)
{
	struct idx_env *env = open_new("volumes");
	struct idx_txn *txn = begin(env, 0);
	struct idx_volume v = { .id = 7, .tree = 9, .block_size = 131072, .flags = 1,
				.quota = 1ull << 40, .created_ns = -3 }, got;
	CHECK_OK(idx_volume_add(txn, "db", &v));
	CHECK_EQ(idx_volume_add(txn, "db", &v), -EEXIST);
	CHECK_OK(idx_volume_get(txn, "db", &got));
	CHECK(memcmp(&got, &v, sizeof(v)) == 0);
	v.quota = 5;
	CHECK_OK(idx_volume_update(txn, "db", &v));
	CHECK_OK(idx_volume_get(txn, "db", &got));
	CHECK(got.quota == 5);
	CHECK_EQ(idx_volume_update(txn, "nope", &v), -ENOENT);
	CHECK_EQ(idx_volume_get(txn, "", &got), -EINVAL);
	CHECK_OK(idx_volume_add(txn, "app", &v));
	CHECK_OK(idx_volume_add(txn, "zeta", &v));

	struct name_list l = { .n = 0 };
	CHECK_OK(idx_volume_foreach(txn, collect_volume, &l));
	CHECK(l.n == 3 && !strcmp(l.names[0], "app") && !strcmp(l.names[1], "db") &&
	      !strcmp(l.names[2], "zeta"));
	CHECK_OK(idx_volume_del(txn, "db"));
	CHECK_EQ(idx_volume_get(txn, "db", &got), -ENOENT);
	CHECK_EQ(idx_volume_del(txn, "db"), -ENOENT);
	CHECK_OK(idx_txn_commit(txn));
	idx_env_close(env);
}

static int count_snapshot(const char *name, const struct idx_snapshot *s, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void tree_and_snapshot_round_trip(void)
{
	struct idx_env *env = open_new("trees");
	struct idx_txn *txn = begin(env, 0);
	struct idx_tree t = { .volume = 3, .parent = 2, .parent_gen = 5, .gen = 8,
			      .snap_gen = 7, .next_ino = 99, .flags = IDX_TREE_DOOMED }, tg;
	CHECK_OK(idx_tree_put(txn, 4, &t));
	CHECK_OK(idx_tree_get(txn, 4, &tg));
	CHECK(tg.volume == 3 && tg.parent == 2 && tg.parent_gen == 5 && tg.gen == 8 &&
	      tg.snap_gen == 7 && tg.next_ino == 99 && tg.flags == IDX_TREE_DOOMED);
	t.snap_gen = t.gen;
	CHECK_EQ(idx_tree_put(txn, 4, &t), -EINVAL);   /* S < G always */
	CHECK_EQ(idx_tree_get(txn, 5, &tg), -ENOENT);

	struct idx_snapshot s = { .tree = 4, .gen = 7, .created_ns = 42 }, sg;
	CHECK_OK(idx_snapshot_add(txn, 3, "before-migration", &s));
	CHECK_EQ(idx_snapshot_add(txn, 3, "before-migration", &s), -EEXIST);
	CHECK_OK(idx_snapshot_add(txn, 3, "b", &s));
	CHECK_OK(idx_snapshot_add(txn, 4, "other-volume", &s));
	CHECK_OK(idx_snapshot_get(txn, 3, "before-migration", &sg));
	CHECK(memcmp(&s, &sg, sizeof(s)) == 0);
	int n = 0;
	CHECK_OK(idx_snapshot_foreach(txn, 3, count_snapshot, &n));
	CHECK_EQ(n, 2);
	CHECK_OK(idx_snapshot_del(txn, 3, "b"));
	CHECK_EQ(idx_snapshot_get(txn, 3, "b", &sg), -ENOENT);
	idx_txn_abort(txn);
	idx_env_close(env);
}

static void inode_dirent_xattr_round_trip(void)
{
	struct idx_env *env = open_new("inodes");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view view;
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &view));
	CHECK(view.depth == 1 && view.writable && view.level[0].gen == 1);

	uint64_t ino;
	CHECK_OK(idx_ino_alloc(txn, &view, &ino));
	CHECK_EQ(ino, 2);
	CHECK_OK(idx_ino_alloc(txn, &view, &ino));
	CHECK_EQ(ino, 3);

	struct idx_inode in = inode_of(0100644, 1ull << 40), got;
	CHECK_OK(idx_inode_put(txn, &view, ino, &in));
	CHECK_OK(idx_inode_get(txn, &view, ino, &got));
	CHECK(got.mode == in.mode && got.uid == in.uid && got.gid == in.gid &&
	      got.nlink == in.nlink && got.flags == in.flags && got.size == in.size &&
	      got.rdev == in.rdev && got.parent == 77);
	CHECK(got.atime.tv_sec == in.atime.tv_sec && got.atime.tv_nsec == in.atime.tv_nsec);
	CHECK(got.mtime.tv_sec == -5 && got.mtime.tv_nsec == 999999999);
	CHECK(got.ctime.tv_sec == in.ctime.tv_sec && got.ctime.tv_nsec == in.ctime.tv_nsec);
	CHECK(got.btime.tv_sec == in.btime.tv_sec && got.btime.tv_nsec == in.btime.tv_nsec);
	CHECK_EQ(idx_inode_get(txn, &view, 77, &got), -ENOENT);

	struct idx_dirent de = { .ino = ino, .type = 8 }, dg;
	CHECK_OK(idx_dirent_put(txn, &view, 1, "file.txt", 8, &de));
	CHECK_OK(idx_dirent_get(txn, &view, 1, "file.txt", 8, &dg));
	CHECK(dg.ino == ino && dg.type == 8);
	CHECK_EQ(idx_dirent_get(txn, &view, 1, "file.tx", 7, &dg), -ENOENT);
	CHECK_EQ(idx_dirent_get(txn, &view, 2, "file.txt", 8, &dg), -ENOENT);
	CHECK_EQ(idx_dirent_put(txn, &view, 1, "", 0, &de), -EINVAL);
	CHECK_EQ(idx_dirent_put(txn, &view, 1, "a/b", 3, &de), -EINVAL);
	char longname[300];
	memset(longname, 'x', sizeof(longname));
	CHECK_EQ(idx_dirent_put(txn, &view, 1, longname, 256, &de), -EINVAL);
	CHECK_OK(idx_dirent_put(txn, &view, 1, longname, 255, &de));

	const void *val;
	size_t len;
	CHECK_OK(idx_xattr_put(txn, &view, ino, "user.empty", "", 0));
	CHECK_OK(idx_xattr_put(txn, &view, ino, "user.k", "value", 5));
	CHECK_OK(idx_xattr_get(txn, &view, ino, "user.empty", &val, &len));
	CHECK_EQ(len, 0);
	CHECK_OK(idx_xattr_get(txn, &view, ino, "user.k", &val, &len));
	CHECK(len == 5 && memcmp(val, "value", 5) == 0);
	CHECK_OK(idx_xattr_del(txn, &view, ino, "user.k"));
	CHECK_EQ(idx_xattr_get(txn, &view, ino, "user.k", &val, &len), -ENOENT);
	CHECK_EQ(idx_xattr_del(txn, &view, ino, "user.k"), -ENOENT);
	static uint8_t big[IDX_XATTR_VALUE_MAX + 1];
	CHECK_OK(idx_xattr_put(txn, &view, ino, "user.big", big, IDX_XATTR_VALUE_MAX));
	CHECK_EQ(idx_xattr_put(txn, &view, ino, "user.big", big, IDX_XATTR_VALUE_MAX + 1), -E2BIG);
	CHECK_OK(idx_txn_commit(txn));

	/* committed and visible to a read-only transaction */
	txn = begin(env, IDX_TXN_RDONLY);
	CHECK_OK(idx_inode_get(txn, &view, ino, &got));
	CHECK(got.size == 1ull << 40);
	CHECK_EQ(idx_inode_put(txn, &view, ino, &in), -EROFS);
	idx_txn_abort(txn);
	idx_env_close(env);
}

static void extent_round_trip(void)
{
	struct idx_env *env = open_new("extents");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view view;
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &view));

	struct idx_extent e = { .kind = IDX_EXTENT_CHUNK, .length = 4096, .chunk = chunk_id(0xab) }, g;
	CHECK_OK(idx_extent_put(txn, &view, 2, 5, &e));
	CHECK_OK(idx_extent_get(txn, &view, 2, 5, &g));
	CHECK(g.kind == IDX_EXTENT_CHUNK && g.length == 4096 && g.chunk.bytes[15] == 0xab);
	CHECK_EQ(refs_of(txn, 0xab), 1);
	CHECK_EQ(idx_extent_get(txn, &view, 2, 4, &g), -ENOENT);   /* a hole */

	struct idx_extent in = { .kind = IDX_EXTENT_INLINE, .length = 6, .inline_data = "hello!" };
	CHECK_OK(idx_extent_put(txn, &view, 2, 6, &in));
	CHECK_OK(idx_extent_get(txn, &view, 2, 6, &g));
	CHECK(g.kind == IDX_EXTENT_INLINE && g.length == 6 && !memcmp(g.inline_data, "hello!", 6));
	in.length = IDX_INLINE_MAX + 1;
	CHECK_EQ(idx_extent_put(txn, &view, 2, 7, &in), -EINVAL);
	e.length = 0;
	CHECK_EQ(idx_extent_put(txn, &view, 2, 7, &e), -EINVAL);
	CHECK_OK(idx_txn_commit(txn));
	idx_env_close(env);
}

/* Generations: what a snapshot sees, copy-on-write, tombstones. */
static void versions_at_generations(void)
{
	struct idx_env *env = open_new("versions");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view live, snap1, snap2;
	struct idx_inode a = inode_of(0100644, 100), b = inode_of(0100644, 200), got;
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &live));

	/* no snapshot: overwrites happen in place */
	CHECK_OK(idx_inode_put(txn, &live, 10, &a));
	CHECK_OK(idx_inode_put(txn, &live, 10, &b));
	CHECK_OK(idx_inode_put(txn, &live, 10, &a));

	CHECK_OK(bump_gen(txn, 1));                 /* snapshot at gen 1 */
	CHECK_OK(idx_view_live(txn, 1, &live));
	CHECK(live.level[0].gen == 2 && live.snap_gen == 1);
	CHECK_OK(idx_view_at(txn, 1, 1, &snap1));
	CHECK(!snap1.writable);
	CHECK_EQ(idx_view_at(txn, 1, 3, &snap1), -EINVAL);
	CHECK_OK(idx_view_at(txn, 1, 1, &snap1));

	CHECK_OK(idx_inode_put(txn, &live, 10, &b));   /* new version at 2 */
	CHECK_OK(idx_inode_put(txn, &live, 11, &b));   /* born after the snapshot */
	CHECK_OK(idx_inode_get(txn, &live, 10, &got));
	CHECK_EQ(got.size, 200);
	CHECK_OK(idx_inode_get(txn, &snap1, 10, &got));
	CHECK_EQ(got.size, 100);
	CHECK_EQ(idx_inode_get(txn, &snap1, 11, &got), -ENOENT);
	CHECK_EQ(idx_inode_put(txn, &snap1, 10, &a), -EROFS);

	CHECK_OK(bump_gen(txn, 1));                 /* snapshot at gen 2 */
	CHECK_OK(idx_view_live(txn, 1, &live));
	CHECK_OK(idx_view_at(txn, 1, 2, &snap2));
	CHECK_OK(idx_inode_del(txn, &live, 10));       /* tombstone at 3 */
	CHECK_EQ(idx_inode_get(txn, &live, 10, &got), -ENOENT);
	CHECK_EQ(idx_inode_del(txn, &live, 10), -ENOENT);
	CHECK_OK(idx_inode_get(txn, &snap2, 10, &got));
	CHECK_EQ(got.size, 200);
	CHECK_OK(idx_inode_get(txn, &snap1, 10, &got));
	CHECK_EQ(got.size, 100);
	CHECK_OK(idx_inode_put(txn, &live, 10, &a));   /* over the tombstone, in place */
	CHECK_OK(idx_inode_get(txn, &live, 10, &got));
	CHECK_EQ(got.size, 100);

	/* a key born and deleted after the last snapshot leaves nothing behind */
	CHECK_OK(idx_inode_put(txn, &live, 12, &a));
	CHECK_OK(idx_inode_del(txn, &live, 12));
	CHECK_EQ(idx_inode_get(txn, &live, 12, &got), -ENOENT);
	CHECK_OK(idx_txn_commit(txn));

	/* versions: ino 10 at gens 1, 2, 3; ino 11 at 2; nothing of 12 */
	CHECK_EQ(count_records(env, 1), 4);
	idx_env_close(env);
}

static void no_versions_without_snapshots(void)
{
	struct idx_env *env = open_new("noversions");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view live;
	struct idx_dirent de = { .ino = 5, .type = 8 };
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &live));
	for (int i = 0; i < 100; i++) {
		struct idx_inode in = inode_of(0100644, (uint64_t)i);
		CHECK_OK(idx_inode_put(txn, &live, 5, &in));
		CHECK_OK(idx_dirent_put(txn, &live, 1, "f", 1, &de));
		CHECK_OK(idx_dirent_del(txn, &live, 1, "f", 1));
	}
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(count_records(env, 1), 1);
	idx_env_close(env);
}

struct dirent_list {
	char names[16][8];
	uint64_t inos[16];
	int n;
};

static int collect_dirent(const char *name, size_t namelen, const struct idx_dirent *de, void *arg)
{
	struct dirent_list *l = arg;
	if (l->n == 16 || namelen >= 8)
		return -ERANGE;
	memcpy(l->names[l->n], name, namelen);
	l->names[l->n][namelen] = 0;
	l->inos[l->n++] = de->ino;
	return 0;
}

static int stop_after_two(const char *name, size_t namelen, const struct idx_dirent *de, void *arg)
{
	return ++*(int *)arg == 2 ? 42 : 0;
}

static void dirent_order_and_resume(void)
{
	struct idx_env *env = open_new("dirents");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view live;
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &live));
	/* names that are prefixes of each other, and bytes above 0x7f */
	const char *names[] = { "b", "a", "ab", "a\x01", "\xff", "aa" };
	for (unsigned i = 0; i < 6; i++) {
		struct idx_dirent de = { .ino = 100 + i, .type = 8 };
		CHECK_OK(idx_dirent_put(txn, &live, 1, names[i], strlen(names[i]), &de));
	}
	struct idx_dirent other = { .ino = 9, .type = 4 };
	CHECK_OK(idx_dirent_put(txn, &live, 2, "zz", 2, &other));   /* another directory */

	struct dirent_list l = { .n = 0 };
	CHECK_OK(idx_dirent_foreach(txn, &live, 1, NULL, 0, collect_dirent, &l));
	CHECK_EQ(l.n, 6);
	const char *want[] = { "a", "a\x01", "aa", "ab", "b", "\xff" };
	for (int i = 0; i < 6; i++)
		CHECK(strcmp(l.names[i], want[i]) == 0);
	CHECK_EQ(l.inos[0], 101);

	l.n = 0;
	CHECK_OK(idx_dirent_foreach(txn, &live, 1, "aa", 2, collect_dirent, &l));
	CHECK(l.n == 3 && !strcmp(l.names[0], "ab"));
	l.n = 0;
	CHECK_OK(idx_dirent_foreach(txn, &live, 1, "a0", 2, collect_dirent, &l));   /* not an entry */
	CHECK(l.n == 4 && !strcmp(l.names[0], "aa"));
	int seen = 0;
	CHECK_EQ(idx_dirent_foreach(txn, &live, 1, NULL, 0, stop_after_two, &seen), 42);
	l.n = 0;
	CHECK_OK(idx_dirent_foreach(txn, &live, 3, NULL, 0, collect_dirent, &l));
	CHECK_EQ(l.n, 0);
	idx_txn_abort(txn);
	idx_env_close(env);
}

/* A clone falls through to its parent at the parent's snapshot generation. */
static void clone_falls_through(void)
{
	struct idx_env *env = open_new("clones");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view origin, clone;
	struct idx_dirent d1 = { 11, 8 }, d2 = { 12, 8 }, d3 = { 13, 8 }, got;
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &origin));
	CHECK_OK(idx_dirent_put(txn, &origin, 1, "one", 3, &d1));
	CHECK_OK(idx_dirent_put(txn, &origin, 1, "two", 3, &d2));
	CHECK_OK(bump_gen(txn, 1));
	CHECK_OK(idx_view_live(txn, 1, &origin));
	CHECK_OK(make_tree(txn, 2, 1, 1));          /* clone of origin@1 */
	CHECK_OK(idx_view_live(txn, 2, &clone));
	CHECK(clone.depth == 2 && clone.level[1].tree == 1 && clone.level[1].gen == 1);

	/* the origin goes on changing; the clone does not see it */
	CHECK_OK(idx_dirent_put(txn, &origin, 1, "three", 5, &d3));
	CHECK_OK(idx_dirent_del(txn, &origin, 1, "one", 3));
	CHECK_EQ(idx_dirent_get(txn, &clone, 1, "three", 5, &got), -ENOENT);
	CHECK_OK(idx_dirent_get(txn, &clone, 1, "one", 3, &got));
	CHECK_EQ(got.ino, 11);

	/* the clone changes; the origin does not see it */
	CHECK_OK(idx_dirent_del(txn, &clone, 1, "two", 3));       /* tombstone over the parent */
	CHECK_OK(idx_dirent_put(txn, &clone, 1, "alpha", 5, &d3));
	CHECK_EQ(idx_dirent_get(txn, &clone, 1, "two", 3, &got), -ENOENT);
	CHECK_OK(idx_dirent_get(txn, &origin, 1, "two", 3, &got));
	CHECK_EQ(idx_dirent_get(txn, &origin, 1, "alpha", 5, &got), -ENOENT);

	struct dirent_list l = { .n = 0 };
	CHECK_OK(idx_dirent_foreach(txn, &clone, 1, NULL, 0, collect_dirent, &l));
	CHECK(l.n == 2 && !strcmp(l.names[0], "alpha") && !strcmp(l.names[1], "one"));
	l.n = 0;
	CHECK_OK(idx_dirent_foreach(txn, &origin, 1, NULL, 0, collect_dirent, &l));
	CHECK(l.n == 2 && !strcmp(l.names[0], "three") && !strcmp(l.names[1], "two"));

	/* a clone of a clone sees through two levels */
	CHECK_OK(bump_gen(txn, 2));
	CHECK_OK(make_tree(txn, 3, 2, 1));
	struct idx_view grandchild;
	CHECK_OK(idx_view_live(txn, 3, &grandchild));
	CHECK_EQ(grandchild.depth, 3);
	CHECK_OK(idx_dirent_get(txn, &grandchild, 1, "one", 3, &got));
	CHECK_OK(idx_dirent_get(txn, &grandchild, 1, "alpha", 5, &got));
	CHECK_EQ(idx_dirent_get(txn, &grandchild, 1, "two", 3, &got), -ENOENT);
	idx_txn_abort(txn);
	idx_env_close(env);
}

/* Reference counts follow extent versions, down to zero and the dead list. */
static int count_chunk(const struct idx_chunk_id *id, const struct idx_chunk *c, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void chunk_refs_follow_versions(void)
{
	struct idx_env *env = open_new("refs");
	struct idx_txn *txn = begin(env, 0);
	struct idx_view live;
	struct idx_extent x = { IDX_EXTENT_CHUNK, 4096, chunk_id(1), NULL };
	struct idx_extent y = { IDX_EXTENT_CHUNK, 4096, chunk_id(2), NULL };
	struct idx_extent z = { IDX_EXTENT_CHUNK, 4096, chunk_id(3), NULL };
	int dead;
	CHECK_OK(make_tree(txn, 1, 0, 0));
	CHECK_OK(idx_view_live(txn, 1, &live));

	CHECK_OK(idx_extent_put(txn, &live, 2, 0, &x));
	CHECK_OK(idx_extent_put(txn, &live, 3, 0, &x));   /* shared by two files */
	CHECK_EQ(refs_of(txn, 1), 2);
	CHECK_OK(idx_extent_put(txn, &live, 2, 0, &y));   /* in place: x loses one */
	CHECK_EQ(refs_of(txn, 1), 1);
	CHECK_EQ(refs_of(txn, 2), 1);
	CHECK_OK(idx_extent_put(txn, &live, 2, 0, &y));   /* the same chunk again */
	CHECK_EQ(refs_of(txn, 2), 1);

	CHECK_OK(bump_gen(txn, 1));
	CHECK_OK(idx_view_live(txn, 1, &live));
	CHECK_OK(idx_extent_put(txn, &live, 2, 0, &z));   /* the snapshot keeps y */
	CHECK_EQ(refs_of(txn, 2), 1);
	CHECK_EQ(refs_of(txn, 3), 1);
	CHECK_OK(idx_extent_del(txn, &live, 3, 0));       /* the snapshot keeps x */
	CHECK_EQ(refs_of(txn, 1), 1);
	CHECK_OK(idx_extent_del(txn, &live, 2, 0));       /* z was only live: gone */
	CHECK_EQ(refs_of(txn, 3), 0);
	dead = 0;
	CHECK_OK(idx_dead_chunk_foreach(txn, count_chunk, &dead));
	CHECK_EQ(dead, 1);
	CHECK_EQ(idx_dead_chunk_any(txn), 1);
	CHECK_OK(idx_extent_put(txn, &live, 4, 0, &z));   /* revived */
	CHECK_EQ(refs_of(txn, 3), 1);
	dead = 0;
	CHECK_OK(idx_dead_chunk_foreach(txn, count_chunk, &dead));
	CHECK_EQ(dead, 0);
	CHECK_EQ(idx_dead_chunk_any(txn), 0);
	CHECK_EQ(idx_chunk_forget(txn, &z.chunk), -EBUSY);
	CHECK_OK(idx_txn_commit(txn));

	/* removing the tree drops every reference */
	txn = begin(env, 0);
	CHECK_EQ(idx_tree_reap(txn, 1, 1000), 1);
	CHECK_EQ(refs_of(txn, 1), 0);
	CHECK_EQ(refs_of(txn, 2), 0);
	CHECK_EQ(refs_of(txn, 3), 0);
	dead = 0;
	CHECK_OK(idx_dead_chunk_foreach(txn, count_chunk, &dead));
	CHECK_EQ(dead, 3);
	for (uint8_t b = 1; b <= 3; b++) {
		struct idx_chunk_id id = chunk_id(b);
		CHECK_OK(idx_chunk_forget(txn, &id));
	}
	int all = 0;
	CHECK_OK(idx_chunk_foreach(txn, count_chunk, &all));
	CHECK_EQ(all, 0);
	struct idx_tree t;
	CHECK_EQ(idx_tree_get(txn, 1, &t), -ENOENT);
	struct idx_chunk_id id = chunk_id(1);
	CHECK_EQ(idx_chunk_unref(txn, &id), -EUCLEAN);
	CHECK_OK(idx_chunk_ref(txn, &id, 100));
	CHECK_EQ(idx_chunk_ref(txn, &id, 101), -EINVAL);   /* same name, other length */
	CHECK_OK(idx_txn_commit(txn));
	idx_env_close(env);
}

static int count_orphan(uint64_t tree, uint64_t ino, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void orphans_round_trip(void)
{
	struct idx_env *env = open_new("orphans");
	struct idx_txn *txn = begin(env, 0);
	int n = 0;
	CHECK_OK(idx_orphan_add(txn, 1, 10));
	CHECK_OK(idx_orphan_add(txn, 2, 10));
	CHECK_OK(idx_orphan_foreach(txn, count_orphan, &n));
	CHECK_EQ(n, 2);
	CHECK_OK(idx_orphan_del(txn, 1, 10));
	CHECK_EQ(idx_orphan_del(txn, 1, 10), -ENOENT);
	idx_txn_abort(txn);
	idx_env_close(env);
}

/* Journal records: in (ino, block, seq) order, deleted by block range and by tree. */
struct journal_seen {
	int n;
	uint64_t last;          /* ino << 32 | block << 8 | seq of the previous record */
	bool in_order;
	uint32_t bytes;
};

static int journal_seen(const struct idx_journal_rec *rec, void *arg)
{
	struct journal_seen *js = arg;
	uint64_t pos = rec->ino << 32 | rec->block << 8 | rec->seq;
	if (js->n && pos <= js->last)
		js->in_order = false;
	js->last = pos;
	js->n++;
	js->bytes += rec->length;
	return 0;
}

static int journal_put(struct idx_txn *txn, uint64_t tree, uint64_t ino, uint64_t block,
		       uint32_t seq, uint32_t len)
{
	static uint8_t data[9000];
	struct idx_journal_rec rec = { .ino = ino, .block = block, .seq = seq, .offset = 100,
				       .length = len, .data = data };
	uint64_t lsn;
	return idx_journal_put(txn, tree, &rec, &lsn);
}

static void journal_round_trip(void)
{
	struct idx_env *env = open_new("journal");
	struct idx_txn *txn = begin(env, 0);
	CHECK_EQ(journal_put(txn, 1, 7, 3, 1, 10), -EINVAL);   /* its bytes need a log */
	idx_txn_abort(txn);
	txn = begin(env, IDX_TXN_LOGGED);
	struct journal_seen js = { .in_order = true };
	CHECK_OK(journal_put(txn, 1, 7, 3, 1, 10));
	CHECK_OK(journal_put(txn, 1, 7, 3, 0, 8192));   /* an overflow page in LMDB */
	CHECK_OK(journal_put(txn, 1, 7, 4, 0, 20));
	CHECK_OK(journal_put(txn, 1, 7, 9, 0, 30));
	CHECK_OK(journal_put(txn, 1, 8, 0, 0, 40));
	CHECK_OK(journal_put(txn, 2, 7, 3, 0, 50));
	CHECK_EQ(journal_put(txn, 1, 9, 0, 0, 0), -EINVAL);
	CHECK_OK(idx_journal_foreach(txn, 1, journal_seen, &js));
	CHECK_EQ(js.n, 5);
	CHECK(js.in_order);
	CHECK_EQ(js.bytes, 10 + 8192 + 20 + 30 + 40);
	js = (struct journal_seen){ .in_order = true };
	CHECK_OK(idx_journal_foreach_block(txn, 1, 7, 3, journal_seen, &js));
	CHECK_EQ(js.n, 2);
	CHECK_EQ(js.bytes, 8192 + 10);
	uint64_t next;
	CHECK_OK(idx_journal_next_block(txn, 1, 7, 0, &next));
	CHECK_EQ(next, 3);
	CHECK_OK(idx_journal_next_block(txn, 1, 7, 5, &next));
	CHECK_EQ(next, 9);
	CHECK_EQ(idx_journal_next_block(txn, 1, 7, 10, &next), -ENOENT);   /* not inode 8's */
	CHECK_EQ(idx_journal_next_block(txn, 2, 8, 0, &next), -ENOENT);
	/* blocks [4, 9) of inode 7: only block 4 */
	CHECK_OK(idx_journal_del_blocks(txn, 1, 7, 4, 9));
	js = (struct journal_seen){ .in_order = true };
	CHECK_OK(idx_journal_foreach(txn, 1, journal_seen, &js));
	CHECK_EQ(js.n, 4);
	CHECK_OK(idx_journal_del_blocks(txn, 1, 7, 0, UINT64_MAX));
	js = (struct journal_seen){ .in_order = true };
	CHECK_OK(idx_journal_foreach(txn, 1, journal_seen, &js));
	CHECK_EQ(js.n, 1);   /* inode 8's */
	CHECK_OK(idx_journal_del_tree(txn, 1));
	js = (struct journal_seen){ .in_order = true };
	CHECK_OK(idx_journal_foreach(txn, 1, journal_seen, &js));
	CHECK_EQ(js.n, 0);
	CHECK_OK(idx_journal_foreach(txn, 2, journal_seen, &js));
	CHECK_EQ(js.n, 1);   /* another tree's stays */
	idx_txn_abort(txn);
	idx_env_close(env);
}

/* The map grows instead of failing, within one idx_update() too. */
struct fill_arg {
	int n;
};

static int fill(struct idx_txn *txn, void *arg)
{
	struct fill_arg *f = arg;
	struct idx_view live;
	int r = make_tree(txn, 1, 0, 0);
	if (r == 0)
		r = idx_view_live(txn, 1, &live);
	for (int i = 0; i < f->n && r == 0; i++) {
		char name[32];
		struct idx_dirent de = { .ino = (uint64_t)i + 2, .type = 8 };
		snprintf(name, sizeof(name), "file-%08d", i);
		r = idx_dirent_put(txn, &live, 1, name, strlen(name), &de);
	}
	return r;
}

static void map_grows(void)
{
	struct idx_env *env = NULL;
	CHECK_OK(idx_env_open(test_subdir("grow"), IDX_ENV_CREATE, 256 * 1024, &env));
	uint64_t before = idx_env_map_size(env);
	struct fill_arg f = { .n = 50000 };     /* several MiB of records */
	CHECK_OK(idx_update(env, fill, &f));
	CHECK(idx_env_map_size(env) > before);
	struct idx_txn *txn = begin(env, IDX_TXN_RDONLY);
	struct idx_view live;
	struct idx_dirent de;
	CHECK_OK(idx_view_live(txn, 1, &live));
	CHECK_OK(idx_dirent_get(txn, &live, 1, "file-00049999", 13, &de));
	CHECK_EQ(de.ino, 50001);
	idx_txn_abort(txn);
	idx_env_close(env);
}

/* A second process opens what the first wrote after it exits. */
static void reopened_by_new_process(void)
{
	const char *dir = test_subdir("process");
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct idx_env *env;
		struct idx_txn *txn;
		struct idx_volume v = { .id = 1, .tree = 1, .block_size = 4096 };
		if (idx_env_open(dir, IDX_ENV_CREATE, 0, &env) < 0 || idx_txn_begin(env, 0, &txn) < 0 ||
		    idx_volume_add(txn, "kept", &v) < 0 || idx_txn_commit(txn) < 0)
			_exit(1);
		idx_env_close(env);
		_exit(0);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct idx_env *env;
	struct idx_volume got;
	CHECK_OK(idx_env_open(dir, 0, 0, &env));
	struct idx_txn *txn = begin(env, IDX_TXN_RDONLY);
	CHECK_OK(idx_volume_get(txn, "kept", &got));
	CHECK_EQ(got.block_size, 4096);
	idx_txn_abort(txn);
	idx_env_close(env);
}

static void corrupt_index_is_euclean(void)
{
	const char *dir = test_subdir("corrupt");
	struct idx_env *env;
	CHECK_OK(idx_env_open(dir, IDX_ENV_CREATE, 0, &env));
	idx_env_close(env);
	char path[4200];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	int fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	char junk[8192];
	memset(junk, 0x5a, sizeof(junk));
	CHECK_EQ(pwrite(fd, junk, sizeof(junk), 0), (long)sizeof(junk));
	close(fd);
	env = NULL;
	CHECK_EQ(idx_env_open(dir, 0, 0, &env), -EUCLEAN);
	CHECK(env == NULL);
}

/* ---- the write-ahead log (index/wal.c) ------------------------------- */

static int orphan_bit(uint64_t tree, uint64_t ino, void *arg)
{
	(void)tree;
	if (ino < 64)
		*(uint64_t *)arg |= 1ull << ino;
	return 0;
}

/* The orphans of the last commit, as a bit mask of inode numbers below 64 (~0: an error). */
static uint64_t orphans_committed(struct idx_env *env)
{
	uint64_t mask = 0;
	struct idx_txn *txn = begin(env, IDX_TXN_RDONLY);
	if (idx_orphan_foreach(txn, orphan_bit, &mask) < 0)
		mask = ~0ull;
	idx_txn_abort(txn);
	return mask;
}

/* What a new write transaction does first: replay the frames that wait. */
static void next_writer(struct idx_env *env)
{
	idx_txn_abort(begin(env, 0));
}

struct journal_text {
	struct idx_txn *txn;
	char text[64];
};

/* "offset:bytes" of the record, its bytes read from the log */
static int journal_text(const struct idx_journal_rec *rec, void *arg)
{
	struct journal_text *jt = arg;
	char bytes[64];
	if (rec->length >= sizeof(bytes))
		return -E2BIG;
	int r = idx_journal_read(jt->txn, rec, bytes);
	if (r == 0)
		snprintf(jt->text, sizeof(jt->text), "%u:%.*s", rec->offset, (int)rec->length, bytes);
	return r;
}

/* Frames that wait in the log (99: an error). */
static unsigned pending_frames(struct idx_env *env)
{
	unsigned frames = 99;
	return idx_env_log_pending(env, &frames) < 0 ? 99 : frames;
}

/* How many of this process's descriptors have @path open with O_DIRECT. */
static int direct_fds(const char *path)
{
	int fds[16], direct = 0;
	int n = test_fds_open_on(path, fds, 16);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		char at[64], info[256];
		unsigned flags = 0;
		snprintf(at, sizeof(at), "/proc/self/fdinfo/%d", fds[i]);
		FILE *f = fopen(at, "r");
		while (f && fgets(info, sizeof(info), f))
			sscanf(info, "flags: %o", &flags);
		if (f)
			fclose(f);
		direct += (flags & O_DIRECT) != 0;
	}
	return direct;
}

/* In a child: logs orphans @a and @b in two frames, then dies; 0 if all went as asked. */
static int log_two_frames_then_die(const char *dir, unsigned flags, uint64_t a, uint64_t b)
{
	char wal[4096];
	struct idx_env *e = NULL;
	struct idx_txn *t = NULL;
	snprintf(wal, sizeof(wal), "%s/wal", dir);
	if (idx_env_open(dir, flags, 0, &e) < 0)
		return 2;
	int probe = open(wal, O_WRONLY | O_DIRECT);   /* can this file system do direct I/O? */
	if (probe >= 0)
		close(probe);
	if (direct_fds(wal) != ((flags & IDX_ENV_LOG_BUFFERED) || probe < 0 ? 0 : 1))
		return 3;
	if (idx_txn_begin(e, IDX_TXN_LOGGED, &t) < 0 || idx_orphan_add(t, 1, a) < 0 ||
	    idx_txn_log_sync(t) < 0 || idx_orphan_add(t, 1, b) < 0 || idx_txn_log_sync(t) < 0)
		return 4;
	return 0;
}

/*
 * Frames reach the log by direct I/O where the file system has it, else by
 * buffered writes: either way, what a process that died had synced is
 * replayed.
 */
static void wal_buffered(void)
{
	const char *dir = test_subdir("wal-buffered");
	struct idx_env *env = NULL;
	CHECK_OK(idx_env_open(dir, IDX_ENV_CREATE, 0, &env));
	idx_env_close(env);
	for (int buffered = 0; buffered < 2; buffered++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(log_two_frames_then_die(dir, buffered ? IDX_ENV_LOG_BUFFERED : 0,
						      2 * buffered + 1, 2 * buffered + 2));
		int status;
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
		CHECK_OK(idx_env_open(dir, 0, 0, &env));
		next_writer(env);
		CHECK_EQ(orphans_committed(env), buffered ? 0x1eull : 0x6ull);
		idx_env_close(env);
	}
}

/*
 * A logged transaction's synced frames outlive its abort, and only they:
 * the next writer replays them, a torn frame ends the replay, and a commit
 * makes the frames stale.
 */
static void wal_replay(void)
{
	const char *dir = test_subdir("wal");
	struct idx_env *env = NULL;
	CHECK_OK(idx_env_open(dir, IDX_ENV_CREATE, 0, &env));
	struct idx_txn *txn = begin(env, 0);
	CHECK_OK(idx_orphan_add(txn, 1, 10));
	CHECK_OK(idx_txn_commit(txn));

	/* frame 0: a put, a delete, a joined value; frame 1: one put; then one never logged */
	txn = begin(env, IDX_TXN_LOGGED);
	CHECK_OK(idx_orphan_add(txn, 1, 11));
	CHECK_OK(idx_orphan_del(txn, 1, 10));
	struct idx_journal_rec rec = { .ino = 5, .block = 2, .seq = 0, .offset = 7, .length = 5,
				       .data = "hello" };
	uint64_t lsn;
	CHECK_OK(idx_journal_put(txn, 1, &rec, &lsn));
	CHECK_OK(idx_txn_log_sync(txn));
	CHECK_OK(idx_txn_log_sync(txn));          /* nothing new: no frame */
	CHECK_OK(idx_orphan_add(txn, 1, 12));
	CHECK_OK(idx_txn_log_sync(txn));
	CHECK_OK(idx_orphan_add(txn, 1, 13));
	CHECK_EQ(pending_frames(env), 2);
	idx_txn_abort(txn);                       /* as a crash would end it */
	CHECK_EQ(orphans_committed(env), 1ull << 10);

	next_writer(env);
	CHECK_EQ(orphans_committed(env), 1ull << 11 | 1ull << 12);
	struct journal_text jt = { .txn = begin(env, IDX_TXN_RDONLY) };
	CHECK_OK(idx_journal_foreach(jt.txn, 1, journal_text, &jt));
	idx_txn_abort(jt.txn);
	CHECK(strcmp(jt.text, "7:hello") == 0);   /* its bytes, from the replayed frame */
	CHECK_EQ(pending_frames(env), 0);         /* committed: stale */
	next_writer(env);
	CHECK_EQ(orphans_committed(env), 1ull << 11 | 1ull << 12);

	/* a torn second frame: only the first is replayed */
	txn = begin(env, IDX_TXN_LOGGED);
	uint64_t head = idx_txn_log_head(txn);   /* the replay moved it past its frames */
	CHECK(head >= 4096);
	CHECK_OK(idx_orphan_add(txn, 1, 20));
	CHECK_OK(idx_txn_log_sync(txn));
	CHECK_OK(idx_orphan_add(txn, 1, 21));
	CHECK_OK(idx_txn_log_sync(txn));
	idx_txn_abort(txn);
	char path[4096];
	snprintf(path, sizeof(path), "%s/wal", dir);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	uint8_t byte;
	off_t torn = (off_t)head + 4096 + 48;           /* frame 1 starts a block after frame 0 */
	CHECK_EQ(pread(fd, &byte, 1, torn), 1);
	byte ^= 0x20;
	CHECK_EQ(pwrite(fd, &byte, 1, torn), 1);
	close(fd);
	CHECK_EQ(pending_frames(env), 1);
	next_writer(env);
	CHECK_EQ(orphans_committed(env), 1ull << 11 | 1ull << 12 | 1ull << 20);

	/* a commit after a sync: the frame is never replayed over newer state */
	txn = begin(env, IDX_TXN_LOGGED);
	CHECK_OK(idx_orphan_del(txn, 1, 20));
	CHECK_OK(idx_txn_log_sync(txn));
	CHECK_OK(idx_txn_commit(txn));
	txn = begin(env, 0);
	CHECK_OK(idx_orphan_add(txn, 1, 20));
	CHECK_OK(idx_txn_commit(txn));
	next_writer(env);
	CHECK_EQ(orphans_committed(env), 1ull << 11 | 1ull << 12 | 1ull << 20);
	idx_env_close(env);

	/* a process that dies after a sync: a reopened environment replays it */
	pid_t pid = fork();
	if (pid == 0) {
		struct idx_env *e = NULL;
		struct idx_txn *t = NULL;
		if (idx_env_open(dir, 0, 0, &e) < 0 || idx_txn_begin(e, IDX_TXN_LOGGED, &t) < 0 ||
		    idx_orphan_add(t, 1, 30) < 0 || idx_txn_log_sync(t) < 0)
			_exit(2);
		_exit(0);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(idx_env_open(dir, IDX_ENV_RDONLY, 0, &env));
	CHECK_EQ(pending_frames(env), 1);         /* read-only: it can only wait */
	CHECK_OK(idx_env_catch_up(env));
	CHECK_EQ(orphans_committed(env), 1ull << 11 | 1ull << 12 | 1ull << 20);
	idx_env_close(env);
	CHECK_OK(idx_env_open(dir, 0, 0, &env));
	CHECK_OK(idx_env_catch_up(env));
	CHECK_EQ(orphans_committed(env), 1ull << 11 | 1ull << 12 | 1ull << 20 | 1ull << 30);
	idx_env_close(env);
}

/*
 * The log's size: a multiple of 4096 from 64 KiB to 1 TiB, and fixed while a
 * committed record names bytes in the log; a bad stored size is corruption.
 */
static void log_size_rules(void)
{
	struct idx_env *env = open_new("log-size");
	struct idx_txn *txn = begin(env, 0);
	CHECK_EQ(idx_log_set_size(txn, 60 * 1024), -EINVAL);          /* below 64 KiB */
	CHECK_EQ(idx_log_set_size(txn, 64 * 1024 + 512), -EINVAL);    /* not a multiple of 4096 */
	CHECK_EQ(idx_log_set_size(txn, (1ull << 40) + 4096), -EINVAL); /* past 1 TiB */
	CHECK_OK(idx_log_set_size(txn, 128 * 1024));
	CHECK_OK(idx_txn_commit(txn));

	txn = begin(env, IDX_TXN_LOGGED);
	CHECK_EQ(idx_txn_log_size(txn), 128 * 1024);
	static const char bytes[] = "bytes";
	struct idx_journal_rec rec = { .ino = 5, .block = 0, .offset = 0, .length = 5,
				       .data = bytes };
	uint64_t lsn;
	CHECK_OK(idx_journal_put(txn, 1, &rec, &lsn));
	CHECK_OK(idx_txn_commit(txn));   /* writes the frame holding the bytes first */
	txn = begin(env, 0);
	CHECK_EQ(idx_log_set_size(txn, 256 * 1024), -EBUSY);   /* the record's offset would move */
	CHECK_OK(idx_journal_del_tree(txn, 1));
	CHECK_OK(idx_log_set_size(txn, 256 * 1024));
	CHECK_OK(idx_txn_commit(txn));
	idx_env_close(env);
}

int main(void)
{
	RUN(env_open_missing_and_reopen);
	RUN(meta_and_counters);
	RUN(volume_round_trip);
	RUN(tree_and_snapshot_round_trip);
	RUN(inode_dirent_xattr_round_trip);
	RUN(extent_round_trip);
	RUN(versions_at_generations);
	RUN(no_versions_without_snapshots);
	RUN(dirent_order_and_resume);
	RUN(clone_falls_through);
	RUN(chunk_refs_follow_versions);
	RUN(orphans_round_trip);
	RUN(journal_round_trip);
	RUN(map_grows);
	RUN(reopened_by_new_process);
	RUN(corrupt_index_is_euclean);
	RUN(wal_replay);
	RUN(wal_buffered);
	RUN(log_size_rules);
	return test_exit();
}
