/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_volume.c — the store (fs/store.c) and volumes (fs/volume.c) without
 * FUSE: store_init/store_open errors, names and sizes, create, stats, and
 * removal freeing exactly the chunks no other volume uses, also when a crash
 * interrupted it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "volume.h"

static char *path_of(const char *dir, const char *rel)
{
	static char buf[4][4096];
	static int i;
	char *p = buf[i++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, rel);
	return p;
}

/* Chunk files in the store. */
static int count_chunks(const char *store)
{
	char cmd[4200];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s/chunks' -type f | wc -l", store);
	f = popen(cmd, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

/* Writes @nfiles files of 3 blocks into volume @name; block b of every file is
 * filled with @fill + b, so equal @fill means equal (shared) chunks. */
struct fill_arg {
	struct store *store;
	const char *name;
	int nfiles;
	char fill;
};

static int fill_fn(struct idx_txn *txn, void *arg)
{
	static char buf[4096];
	struct fill_arg *a = arg;
	struct idx_volume vol;
	struct idx_view view;
	int r;

	if ((r = idx_volume_get(txn, a->name, &vol)) < 0)
		return r;
	if ((r = idx_view_live(txn, vol.tree, &view)) < 0)
		return r;
	for (int f = 0; f < a->nfiles; f++) {
		struct idx_inode in = { .mode = S_IFREG | 0644, .nlink = 1, .size = 3 * sizeof(buf) };
		struct idx_dirent de = { .type = DT_REG };
		char name[32];
		int n = snprintf(name, sizeof(name), "%c%d", a->fill, f);

		if ((r = idx_ino_alloc(txn, &view, &de.ino)) < 0 ||
		    (r = idx_inode_put(txn, &view, de.ino, &in)) < 0 ||
		    (r = idx_dirent_put(txn, &view, IDX_ROOT_INO, name, (size_t)n, &de)) < 0)
			return r;
		for (uint64_t b = 0; b < 3; b++) {
			struct idx_extent e = { .kind = IDX_EXTENT_CHUNK, .length = sizeof(buf) };

			memset(buf, a->fill + (int)b, sizeof(buf));
			if ((r = chunk_put(a->store->chunks, txn, buf, sizeof(buf), CHUNK_VERIFY,
					   &e.chunk)) < 0 ||
			    (r = idx_extent_put(txn, &view, de.ino, b, &e)) < 0)
				return r;
		}
	}
	return 0;
}

static int fill(struct store *store, const char *name, int nfiles, char c)
{
	struct fill_arg a = { store, name, nfiles, c };

	return idx_update(store->idx, fill_fn, &a);
}

static int stats_of(struct store *store, const char *name, struct volume_stats *st)
{
	struct idx_txn *txn;
	struct idx_volume vol;
	int r;

	if ((r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn)) < 0)
		return r;
	r = idx_volume_get(txn, name, &vol);
	if (r == 0)
		r = volume_stats(txn, &vol, st);
	idx_txn_abort(txn);
	return r;
}

/* ---- cases --------------------------------------------------------------- */

static void test_names(void)
{
	char name[200];

	CHECK(volume_name_valid("a"));
	CHECK(volume_name_valid("0db.v-1_x"));
	CHECK(!volume_name_valid(""));
	CHECK(!volume_name_valid("../x"));
	CHECK(!volume_name_valid("a/b"));
	CHECK(!volume_name_valid("-o"));
	CHECK(!volume_name_valid(".x"));
	CHECK(!volume_name_valid("a b"));
	memset(name, 'a', 128);
	name[128] = 0;
	CHECK(volume_name_valid(name));
	name[128] = 'a';
	name[129] = 0;
	CHECK(!volume_name_valid(name));
}

static void test_sizes(void)
{
	uint64_t v;

	CHECK_OK(volume_parse_size("131072", &v));
	CHECK_EQ(v, 131072);
	CHECK_OK(volume_parse_size("128K", &v));
	CHECK_EQ(v, 131072);
	CHECK_OK(volume_parse_size("128k", &v));
	CHECK_EQ(v, 131072);
	CHECK_OK(volume_parse_size("128KiB", &v));
	CHECK_EQ(v, 131072);
	CHECK_OK(volume_parse_size("1M", &v));
	CHECK_EQ(v, 1048576);
	CHECK_OK(volume_parse_size("1MiB", &v));
	CHECK_EQ(v, 1048576);
	CHECK_EQ(volume_parse_size("", &v), -EINVAL);
	CHECK_EQ(volume_parse_size("abc", &v), -EINVAL);
	CHECK_EQ(volume_parse_size("4KB", &v), -EINVAL);
	CHECK_EQ(volume_parse_size("-4K", &v), -EINVAL);
	CHECK_EQ(volume_parse_size("18446744073709551616", &v), -EINVAL);
	CHECK_EQ(volume_parse_size("18014398509481984K", &v), -EINVAL);
	CHECK(volume_block_size_valid(4096));
	CHECK(volume_block_size_valid(1048576));
	CHECK(!volume_block_size_valid(2048));
	CHECK(!volume_block_size_valid(3000));
	CHECK(!volume_block_size_valid(2097152));
	CHECK(!volume_block_size_valid(0));
}

static void test_path_resolve(void)
{
	setenv("VOLFS_STORE", "/env", 1);
	CHECK(strcmp(store_path_resolve("/opt"), "/opt") == 0);
	CHECK(strcmp(store_path_resolve(NULL), "/env") == 0);
	setenv("VOLFS_STORE", "", 1);
	CHECK(strcmp(store_path_resolve(NULL), STORE_DEFAULT_PATH) == 0);
	unsetenv("VOLFS_STORE");
	CHECK(strcmp(store_path_resolve(NULL), STORE_DEFAULT_PATH) == 0);
}

/* The space reserve (store.h): 1/32 of the file system, within [64 MiB, 1 GiB], at most a quarter. */
static void test_space_reserve(void)
{
	struct statvfs st = { .f_frsize = 4096 };
	const uint64_t MiB = 1ull << 20, GiB = 1ull << 30;
	struct { uint64_t size, want; } cases[] = {
		{ 1 * MiB, 256 * 1024 },           /* tiny: a quarter */
		{ 200 * MiB, 50 * MiB },           /* a quarter is below the minimum */
		{ 256 * MiB, 64 * MiB },
		{ 1 * GiB, 64 * MiB },             /* 1/32 is below the minimum */
		{ 4 * GiB, 128 * MiB },            /* 1/32 */
		{ 64 * GiB, 1 * GiB },             /* 1/32 is past the maximum */
		{ 1024 * GiB, 1 * GiB },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st.f_blocks = cases[i].size / st.f_frsize;
		CHECK(store_space_reserve(&st) == cases[i].want);
	}
}

static void test_init_open_errors(void)
{
	const char *d = test_subdir("errors");
	struct store *s = NULL;
	int fd;

	CHECK_EQ(store_init(path_of(d, "no/such")), -ENOENT);
	fd = open(path_of(d, "file"), O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(store_init(path_of(d, "file")), -ENOTDIR);
	CHECK_EQ(store_open(path_of(d, "file"), 0, &s), -ENOTDIR);
	CHECK_EQ(store_open(path_of(d, "missing"), 0, &s), -ENOENT);
	CHECK_OK(mkdir(path_of(d, "empty"), 0700));
	CHECK_EQ(store_open(path_of(d, "empty"), 0, &s), -ENODATA);
	CHECK_EQ(store_open(path_of(d, "empty"), STORE_RDONLY, &s), -ENODATA);
	CHECK(s == NULL);
	/* a non-empty directory is not taken */
	CHECK_OK(mkdir(path_of(d, "full"), 0700));
	CHECK_OK(mkdir(path_of(d, "full/stuff"), 0700));
	CHECK_EQ(store_init(path_of(d, "full")), -EEXIST);
	CHECK_EQ(access(path_of(d, "full/index"), F_OK), -1);
	/* an existing empty directory is */
	CHECK_OK(store_init(path_of(d, "empty")));
	CHECK_EQ(store_init(path_of(d, "empty")), -EEXIST);
	CHECK_OK(store_open(path_of(d, "empty"), STORE_RDONLY, &s));
	CHECK_EQ(s->meta.format, IDX_FORMAT_VERSION);
	store_close(s);
	store_close(NULL);
}

static void test_init_resumes_skeleton(void)
{
	const char *d = test_subdir("half");
	struct store *s = NULL;

	CHECK_OK(mkdir(path_of(d, "index"), 0700));
	CHECK_OK(mkdir(path_of(d, "run"), 0700));
	CHECK_EQ(store_open(d, 0, &s), -ENODATA);
	CHECK_OK(store_init(d));
	CHECK_OK(store_open(d, 0, &s));
	store_close(s);
}

/*
 * On ext4 a new store's chunks/ carries the top-directory hint, so that its
 * fan-out directories, and the chunk files made in them, spread over the
 * file system instead of filling one block group.
 */
static void test_init_spreads_chunks(void)
{
	const char *d = test_subdir("spread");
	struct statfs sfs;
	int attr = 0;

	CHECK_OK(store_init(d));
	CHECK_OK(statfs(d, &sfs));
	if (sfs.f_type != EXT4_SUPER_MAGIC) {
		fprintf(stderr, "  (skipped: not on ext4)\n");
		return;
	}
	int fd = open(path_of(d, "chunks"), O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK_OK(ioctl(fd, FS_IOC_GETFLAGS, &attr));
	CHECK(attr & FS_TOPDIR_FL);
	close(fd);
}

static void test_create(void)
{
	const char *d = test_subdir("create");
	struct idx_volume vol, vol2;
	struct volume_stats st;
	struct store *s = NULL;
	struct idx_txn *txn;
	struct idx_tree tree;
	struct idx_view view;
	struct idx_inode root;

	CHECK_OK(store_init(d));
	CHECK_OK(store_open(d, 0, &s));
	CHECK_EQ(volume_create(s, "../x", 16384, NULL), -EINVAL);
	CHECK_EQ(volume_create(s, "x", 3000, NULL), -EINVAL);
	CHECK_OK(volume_create(s, "db", 16384, &vol));
	CHECK_EQ(vol.block_size, 16384);
	CHECK_EQ(volume_create(s, "db", 4096, NULL), -EEXIST);
	CHECK_OK(volume_create(s, "web", VOLUME_BLOCK_DEFAULT, &vol2));
	/* the refused create used no ids */
	CHECK_EQ(vol2.id, vol.id + 1);
	CHECK_EQ(vol2.tree, vol.tree + 1);

	CHECK_OK(idx_txn_begin(s->idx, IDX_TXN_RDONLY, &txn));
	CHECK_OK(idx_tree_get(txn, vol.tree, &tree));
	CHECK_EQ(tree.volume, vol.id);
	CHECK_EQ(tree.gen, 1);
	CHECK_EQ(tree.next_ino, IDX_ROOT_INO + 1);
	CHECK_OK(idx_view_at(txn, vol.tree, tree.gen, &view));
	CHECK_OK(idx_inode_get(txn, &view, IDX_ROOT_INO, &root));
	CHECK_EQ(root.parent, IDX_ROOT_INO);   /* ".." of the root is the root */
	CHECK(S_ISDIR(root.mode));
	CHECK_EQ(root.mode & 07777, 0755);
	CHECK_EQ(root.nlink, 2);
	CHECK_OK(volume_stats(txn, &vol, &st));
	idx_txn_abort(txn);
	CHECK_EQ(st.files + st.bytes + st.blocks + st.blocks_shared, 0);
	store_close(s);
}

static void test_stats_and_remove(void)
{
	const char *d = test_subdir("remove");
	struct volume_stats st;
	struct store *s = NULL;

	CHECK_OK(store_init(d));
	CHECK_OK(store_open(d, 0, &s));
	CHECK_OK(volume_create(s, "a", 4096, NULL));
	CHECK_OK(volume_create(s, "b", 4096, NULL));
	CHECK_OK(fill(s, "a", 2, 'x'));   /* chunks x y z, each used twice   */
	CHECK_OK(fill(s, "b", 1, 'x'));   /* the same three again            */
	CHECK_OK(fill(s, "b", 1, 'A'));   /* A B C, b's own                  */
	CHECK_EQ(count_chunks(d), 6);

	CHECK_OK(stats_of(s, "a", &st));
	CHECK_EQ(st.files, 2);
	CHECK_EQ(st.bytes, 2 * 3 * 4096);
	CHECK_EQ(st.blocks, 6);
	CHECK_EQ(st.blocks_shared, 6);
	CHECK_OK(stats_of(s, "b", &st));
	CHECK_EQ(st.files, 2);
	CHECK_EQ(st.blocks, 6);
	CHECK_EQ(st.blocks_shared, 3);

	CHECK_OK(volume_remove(s, "a"));
	CHECK_EQ(volume_remove(s, "a"), -ENOENT);
	CHECK_EQ(stats_of(s, "a", &st), -ENOENT);
	CHECK_EQ(count_chunks(d), 6);     /* all of a's chunks are b's too */
	CHECK_OK(stats_of(s, "b", &st));
	CHECK_EQ(st.blocks_shared, 0);
	CHECK_OK(volume_remove(s, "b"));
	CHECK_EQ(count_chunks(d), 0);
	store_close(s);
}

static void test_remove_locked(void)
{
	const char *d = test_subdir("locked");
	struct idx_volume vol;
	struct store *s = NULL;
	struct volume_stats st;
	int fd = -1, fd2 = -1;

	CHECK_OK(store_init(d));
	CHECK_OK(store_open(d, 0, &s));
	CHECK_OK(volume_create(s, "m", 4096, &vol));
	CHECK_OK(store_lock_volume(s, vol.id, &fd));
	CHECK_EQ(store_lock_volume(s, vol.id, &fd2), -EBUSY);
	CHECK_EQ(volume_remove(s, "m"), -EBUSY);
	CHECK_OK(stats_of(s, "m", &st));
	close(fd);
	CHECK_OK(volume_remove(s, "m"));
	store_close(s);
}

/* Phase one of a removal only, as if the process died right after it. */
static int doom_fn(struct idx_txn *txn, void *arg)
{
	struct idx_volume vol;
	struct idx_tree t;
	int r;

	if ((r = idx_volume_get(txn, arg, &vol)) < 0 || (r = idx_volume_del(txn, arg)) < 0 ||
	    (r = idx_tree_get(txn, vol.tree, &t)) < 0)
		return r;
	t.flags |= IDX_TREE_DOOMED;
	return idx_tree_put(txn, vol.tree, &t);
}

static void test_crashed_remove_finished_on_open(void)
{
	const char *d = test_subdir("crash");
	struct store *s = NULL;

	CHECK_OK(store_init(d));
	CHECK_OK(store_open(d, 0, &s));
	CHECK_OK(volume_create(s, "gone", 4096, NULL));
	CHECK_OK(volume_create(s, "kept", 4096, NULL));
	CHECK_OK(fill(s, "gone", 3, 'q'));
	CHECK_OK(fill(s, "kept", 1, 'k'));
	CHECK_EQ(count_chunks(d), 6);
	CHECK_OK(idx_update(s->idx, doom_fn, (void *)"gone"));
	store_close(s);

	/* a read-only open changes nothing */
	CHECK_OK(store_open(d, STORE_RDONLY, &s));
	store_close(s);
	CHECK_EQ(count_chunks(d), 6);
	/* a read-write open finishes the removal */
	CHECK_OK(store_open(d, 0, &s));
	CHECK_EQ(count_chunks(d), 3);
	CHECK_OK(volume_remove(s, "kept"));
	CHECK_EQ(count_chunks(d), 0);
	store_close(s);
}

int main(void)
{
	RUN(test_names);
	RUN(test_sizes);
	RUN(test_path_resolve);
	RUN(test_space_reserve);
	RUN(test_init_open_errors);
	RUN(test_init_resumes_skeleton);
	RUN(test_init_spreads_chunks);
	RUN(test_create);
	RUN(test_stats_and_remove);
	RUN(test_remove_locked);
	RUN(test_crashed_remove_finished_on_open);
	return test_exit();
}
