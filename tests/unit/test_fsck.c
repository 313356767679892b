/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_fsck.c — fsck.volfs's checks, one case per check: a store made by
 * real operations (vfs_* from fs/vfs.h, no FUSE) is clean; then each case
 * plants one kind of damage through index/ or on the chunk files of an
 * unmounted store, and checks that a check-only run reports it with exit
 * status 4, that a repair fixes it (status 1), that a second run is clean,
 * and that the data that could be kept reads back intact.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsck.h"
#include "scan.h"
#include "store.h"
#include "test.h"
#include "vfs.h"
#include "volume.h"

#define BS 4096u
#define FILE_A_SIZE (3 * BS + 100)   /* three chunks and a 100-byte tail chunk */

/* Inode numbers of the files the standard population makes. */
struct pop {
	uint64_t dir, a, small, link_target, sym;
};

static char out_buf[1 << 20];

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + off / 4096 + 1);
}

/* A fresh store with volume "vol" (4 KiB blocks), populated by vfs_*. */
static const char *make_store(const char *name, struct pop *p)
{
	static char path[4096];
	struct store *s;
	struct vfs *v;
	struct stat st;
	struct vfs_options opts = { .commit_interval_ms = 60000, .verify_dedup = true };
	struct vfs_ctx ctx = { .uid = 0, .gid = 0, .umask = 022 };
	uint8_t buf[FILE_A_SIZE];

	snprintf(path, sizeof(path), "%s", test_subdir(name));
	if (store_init(path) < 0 || store_open(path, 0, &s) < 0 ||
	    volume_create(s, "vol", BS, NULL) < 0 || vfs_open(s, "vol", &opts, &v) < 0) {
		fprintf(stderr, "make_store %s failed\n", path);
		exit(99);
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	int r = vfs_mkdir(v, &ctx, 1, "dir", 0755, &st);
	p->dir = st.st_ino;
	r |= vfs_create(v, &ctx, p->dir, "a", 0644, O_RDWR, &st);
	p->a = st.st_ino;
	r |= vfs_write(v, p->a, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) ? 0 : -1;
	r |= vfs_release(v, p->a);
	r |= vfs_create(v, &ctx, 1, "small", 0600, O_RDWR, &st);
	p->small = st.st_ino;
	r |= vfs_write(v, p->small, "hello\n", 6, 0) == 6 ? 0 : -1;
	r |= vfs_release(v, p->small);
	r |= vfs_link(v, p->a, 1, "hard", &st);
	p->link_target = p->a;
	r |= vfs_setxattr(v, p->a, "user.note", "x", 1, 0);
	r |= vfs_symlink(v, &ctx, p->dir, "sym", "../small", &st);
	p->sym = st.st_ino;
	r |= vfs_mkdir(v, &ctx, p->dir, "sub", 0700, &st);
	r |= vfs_close(v);
	store_close(s);
	if (r) {
		fprintf(stderr, "make_store %s: populating failed\n", path);
		exit(99);
	}
	return path;
}

static int run_fsck(const char *path, enum fsck_mode mode, bool no_data, struct fsck_result *res)
{
	FILE *out = fmemopen(out_buf, sizeof(out_buf) - 1, "w");
	struct fsck_options o = { .mode = mode, .no_data = no_data, .out = out };
	int status = fsck_store(path, &o, res);
	fclose(out);
	if (getenv("VOLFS_TEST_VERBOSE"))
		fprintf(stderr, "--- fsck mode %d: status %d\n%s", mode, status, out_buf);
	return status;
}

/* Opens the store and a write transaction with the live view of "vol". */
struct plant {
	struct store *s;
	struct idx_txn *txn;
	struct idx_volume vol;
	struct idx_view view;
};

static void plant_begin(const char *path, struct plant *p)
{
	/* logged, as the daemon's batch: journal records keep their bytes in the log */
	if (store_open(path, 0, &p->s) < 0 || idx_txn_begin(p->s->idx, IDX_TXN_LOGGED, &p->txn) < 0 ||
	    idx_volume_get(p->txn, "vol", &p->vol) < 0 ||
	    idx_view_live(p->txn, p->vol.tree, &p->view) < 0) {
		fprintf(stderr, "plant_begin failed\n");
		exit(99);
	}
}

static int plant_end(struct plant *p)
{
	int r = idx_txn_commit(p->txn);
	store_close(p->s);
	return r;
}

/* Reads @len bytes of file @path in "vol" at @off into @buf: bytes read or -errno. */
static ssize_t read_file(const char *store, const char *path, void *buf, size_t len, off_t off)
{
	struct store *s;
	struct vfs *v;
	struct vfs_options opts = { .rdonly = true };
	struct stat st;
	uint64_t ino = 1;
	char copy[512], *save = NULL;
	ssize_t r = store_open(store, STORE_RDONLY, &s);
	if (r < 0)
		return r;
	r = vfs_open(s, "vol", &opts, &v);
	if (r < 0) {
		store_close(s);
		return r;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *c = strtok_r(copy, "/", &save); c && r == 0; c = strtok_r(NULL, "/", &save)) {
		r = vfs_lookup(v, ino, c, &st);
		ino = st.st_ino;
	}
	if (r == 0)
		r = vfs_read(v, ino, buf, len, off, false);
	vfs_close(v);
	store_close(s);
	return r;
}

/* File a's bytes [0, n) read back as written. */
static bool file_a_intact(const char *store, const char *path, size_t n)
{
	static uint8_t buf[FILE_A_SIZE];
	if (read_file(store, path, buf, n, 0) != (ssize_t)n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pattern(i))
			return false;
	return true;
}

/* The standard sequence: -n finds @check (status 4), -y repairs (1), then -n is clean (0). */
#define EXPECT_REPAIRED(path, check) do { \
	struct fsck_result res_; \
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res_), 4); \
	CHECK(res_.found[check] > 0); \
	CHECK_EQ(res_.fixed[check], 0); \
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res_), 1); \
	CHECK(res_.fixed[check] > 0); \
	CHECK_EQ(res_.errors, res_.errors_fixed); \
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res_), 0); \
	CHECK_EQ(res_.errors, 0); \
} while (0)

/* Reported by -n and -y alike, and not repairable: status 4 both times. */
#define EXPECT_UNREPAIRABLE(path, check) do { \
	struct fsck_result res_; \
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res_), 4); \
	CHECK(res_.found[check] > 0); \
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res_) & 4, 4); \
	CHECK(res_.found[check] > 0); \
	CHECK_EQ(res_.fixed[check], 0); \
} while (0)

/* ---- cases ---------------------------------------------------------------- */

static void test_clean_store(void)
{
	struct pop p;
	struct fsck_result res;
	const char *path = make_store("clean", &p);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.errors, 0);
	CHECK_EQ(res.leftovers, 0);
	CHECK_EQ(res.lost_chunks, 0);
	CHECK(res.chunks_hashed >= 4);
	CHECK_EQ(res.bytes_hashed, FILE_A_SIZE);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 0);
	CHECK_EQ(run_fsck(path, FSCK_PREEN, true, &res), 0);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
	CHECK(file_a_intact(path, "hard", FILE_A_SIZE));
}

/* A snapshot (taken the way the snapshot tool does: record (tree, G), S = G, G + 1),
 * then changes in the live volume: both views clean, versions counted once each. */
static void test_clean_with_snapshot(void)
{
	struct pop p;
	struct plant pl;
	struct fsck_result res;
	struct idx_tree t;
	const char *path = make_store("snap", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_tree_get(pl.txn, pl.vol.tree, &t));
	struct idx_snapshot snap = { .tree = pl.vol.tree, .gen = t.gen };
	CHECK_OK(idx_snapshot_add(pl.txn, pl.vol.id, "before", &snap));
	t.snap_gen = t.gen++;
	CHECK_OK(idx_tree_put(pl.txn, pl.vol.tree, &t));
	CHECK_OK(plant_end(&pl));

	struct store *s;
	struct vfs *v;
	struct vfs_options opts = { .commit_interval_ms = 60000 };
	uint8_t block[BS];
	memset(block, 0xab, sizeof(block));
	CHECK_OK(store_open(path, 0, &s));
	CHECK_OK(vfs_open(s, "vol", &opts, &v));
	CHECK_EQ(vfs_write(v, p.a, block, BS, 0), BS);       /* a new version of block 0 */
	CHECK_OK(vfs_unlink(v, 1, "small"));
	CHECK_OK(vfs_close(v));
	store_close(s);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.errors, 0);
}

static void test_index_pages(void)
{
	struct pop p;
	struct plant pl;
	struct fsck_result res;
	const char *path = make_store("pages", &p);
	plant_begin(path, &pl);
	uint8_t key[10] = { 0, 0, 0, 0, 0, 0, 0, 1, 9, 9 };
	CHECK_OK(idx_raw_put(pl.txn, IDX_DB_EXTENTS, key, sizeof(key), "Vjunk", 5));
	CHECK_OK(plant_end(&pl));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK(res.found[FSCK_INDEX_PAGES] > 0);
	/* preen does not delete records */
	CHECK_EQ(run_fsck(path, FSCK_PREEN, false, &res), 4);
	CHECK_EQ(res.fixed[FSCK_INDEX_PAGES], 0);
	EXPECT_REPAIRED(path, FSCK_INDEX_PAGES);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
}

/* Adds file "big" (1 MiB, 256 blocks) to "vol": enough records for LMDB's branch pages. */
static void add_big_file(const char *path)
{
	struct store *s;
	struct vfs *v;
	struct stat st;
	struct vfs_options opts = { .commit_interval_ms = 60000 };
	struct vfs_ctx ctx = { .uid = 0, .gid = 0, .umask = 022 };
	static uint8_t buf[1 << 20];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i * 3);
	CHECK_OK(store_open(path, 0, &s));
	CHECK_OK(vfs_open(s, "vol", &opts, &v));
	CHECK_OK(vfs_create(v, &ctx, 1, "big", 0644, O_RDWR, &st));
	CHECK_EQ(vfs_write(v, st.st_ino, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK_OK(vfs_release(v, st.st_ino));
	CHECK_OK(vfs_close(v));
	store_close(s);
}

/*
 * Makes the length of every plain record with a 32-byte key (versioned
 * records such as extents; not the store's meta records, without which it
 * does not open) on every leaf page of index/data.mdb two GiB, far past the
 * end of the map.  LMDB 0.9's layout: a 16-byte page header with the flags
 * at byte 10 and the end of the node offsets at byte 12; a node's data
 * length in its first four bytes (low and high halves), then its flags and
 * its key's length.
 * LMDB hands such a record out as it is: whoever reads it, or deletes it
 * (LMDB moves the page's other records by that length), crashes.  Returns
 * the number of records changed, and the file's new bytes in *@ret_bytes
 * (malloc'd).
 */
static size_t smash_record_lengths(const char *path, uint8_t **ret_bytes, size_t *ret_len)
{
	char file[4200];
	struct stat st;
	snprintf(file, sizeof(file), "%s/index/data.mdb", path);
	int fd = open(file, O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	size_t len = (size_t)st.st_size, n = 0;
	uint8_t *b = malloc(len);
	if (!b || pread(fd, b, len, 0) != (ssize_t)len) {
		free(b);
		close(fd);
		return 0;
	}
	const size_t psize = 4096;
	for (size_t pg = 2; (pg + 1) * psize <= len; pg++) {
		uint8_t *page = b + pg * psize;
		uint16_t flags, lower;
		memcpy(&flags, page + 10, 2);
		memcpy(&lower, page + 12, 2);
		if (flags != 0x02 || lower < 16 || lower > psize)   /* P_LEAF only */
			continue;
		for (size_t i = 0; i < (lower - 16u) / 2; i++) {
			uint16_t off, node_flags, ksize, hi = 0x7fff;
			memcpy(&off, page + 16 + 2 * i, 2);
			if (off + 8u > psize)
				continue;
			memcpy(&node_flags, page + off + 4, 2);
			memcpy(&ksize, page + off + 6, 2);
			if (node_flags != 0 || ksize != 32)
				continue;
			memcpy(page + off + 2, &hi, 2);
			n++;
		}
	}
	if (pwrite(fd, b, len, 0) != (ssize_t)len)
		n = 0;
	close(fd);
	*ret_bytes = b;
	*ret_len = len;
	return n;
}

/*
 * An index damaged where LMDB does not look: a check listed the records,
 * and a repair crashed deleting them.  Now a child reads the index first;
 * its death is reported as I35, status 4, and neither a check nor a repair
 * changes a byte of the index.
 */
static void test_index_crash(void)
{
	struct pop p;
	struct fsck_result res;
	uint8_t *smashed = NULL;
	size_t len = 0;
	const char *path = make_store("crash", &p);
	add_big_file(path);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, true, &res), 0);
	size_t n = smash_record_lengths(path, &smashed, &len);
	CHECK(n > 0);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, true, &res), 4);
	CHECK_EQ(res.found[FSCK_INDEX_PAGES], 1);
	CHECK(strstr(out_buf, "reading it crashed (") != NULL);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, true, &res), 4);
	CHECK_EQ(res.errors_fixed, 0);
	CHECK(strstr(out_buf, "reading it crashed (") != NULL);
	/* nothing written: the file is the smashed one, byte for byte */
	char file[4200];
	snprintf(file, sizeof(file), "%s/index/data.mdb", path);
	uint8_t *now = malloc(len);
	int fd = open(file, O_RDONLY);
	CHECK(now && fd >= 0 && pread(fd, now, len, 0) == (ssize_t)len);
	if (fd >= 0)
		close(fd);
	CHECK(now && smashed && memcmp(now, smashed, len) == 0);
	free(now);
	free(smashed);
}

/*
 * Keys out of order on a page (two names of "dir" swapped in the file):
 * LMDB does not check the order, so fsck does, and reports the page.
 */
static void test_index_order(void)
{
	struct pop p;
	struct fsck_result res;
	const char *path = make_store("order", &p);
	CHECK(test_swap_dirent_names(path, p.dir, "sub", "sym") >= 2);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, true, &res), 4);
	CHECK(res.found[FSCK_INDEX_PAGES] > 0);
	CHECK(strstr(out_buf, "database dirents: a damaged page after ") != NULL);
}

/*
 * A store that does not open: the probe's child cannot open it either, and
 * the parent's own open says why (status 8), with no crash reported.
 */
static void test_store_unopenable(void)
{
	struct pop p;
	struct fsck_result res;
	char missing[4200], file[4200];
	const char *path = make_store("unopenable", &p);

	snprintf(missing, sizeof(missing), "%s/none", path);
	CHECK_EQ(run_fsck(missing, FSCK_CHECK, true, &res), 8);
	CHECK(strstr(out_buf, "cannot open store") != NULL);
	CHECK(strstr(out_buf, "reading it crashed") == NULL);

	/* both meta pages overwritten: LMDB itself refuses the file */
	snprintf(file, sizeof(file), "%s/index/data.mdb", path);
	static uint8_t garbage[8192];
	memset(garbage, 0x5a, sizeof(garbage));
	int fd = open(file, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, garbage, sizeof(garbage), 0) == (ssize_t)sizeof(garbage));
	if (fd >= 0)
		close(fd);
	for (int mode = FSCK_CHECK; mode <= FSCK_REPAIR; mode++) {
		CHECK_EQ(run_fsck(path, (enum fsck_mode)mode, true, &res), 8);
		CHECK(strstr(out_buf, "cannot open store") != NULL);
		CHECK(strstr(out_buf, "reading it crashed") == NULL);
	}
}

static void test_meta(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("meta", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_raw_del(pl.txn, IDX_DB_META, "next_tree", 9));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_META);
}

static void test_counters(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("counters", &p);
	uint8_t one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	plant_begin(path, &pl);
	CHECK_OK(idx_raw_put(pl.txn, IDX_DB_META, "next_volume", 11, one, 8));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_COUNTERS);
}

/* trees: a raw disk_tree (52 bytes, big-endian) */
static void put_raw_tree(struct plant *pl, uint64_t id, uint64_t vol, uint64_t parent,
			 uint64_t pgen, uint64_t gen, uint64_t snap)
{
	uint8_t key[8], val[52] = { 0 };
	uint64_t fields[6] = { vol, parent, pgen, gen, snap, 2 };
	for (int b = 0; b < 8; b++)
		key[b] = (uint8_t)(id >> (56 - 8 * b));
	for (int i = 0; i < 6; i++)
		for (int b = 0; b < 8; b++)
			val[8 * i + b] = (uint8_t)(fields[i] >> (56 - 8 * b));
	idx_raw_put(pl->txn, IDX_DB_TREES, key, 8, val, 52);
}

static void test_tree_gens(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("treegens", &p);
	plant_begin(path, &pl);
	put_raw_tree(&pl, pl.vol.tree, pl.vol.id, 0, 0, 3, 3);   /* S = G */
	CHECK_OK(plant_end(&pl));
	EXPECT_UNREPAIRABLE(path, FSCK_TREE_GENS);
}

static void test_tree_parents(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("parents", &p);
	plant_begin(path, &pl);
	put_raw_tree(&pl, 50, pl.vol.id, 77, 1, 2, 0);   /* a clone of a tree that is gone */
	CHECK_OK(plant_end(&pl));
	EXPECT_UNREPAIRABLE(path, FSCK_TREE_PARENTS);
}

static void test_snapshots(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("snapshots", &p);
	plant_begin(path, &pl);
	struct idx_snapshot snap = { .tree = pl.vol.tree, .gen = 1 };   /* but S = 0 */
	CHECK_OK(idx_snapshot_add(pl.txn, pl.vol.id, "bad", &snap));
	CHECK_OK(plant_end(&pl));
	EXPECT_UNREPAIRABLE(path, FSCK_SNAPSHOTS);
}

static void test_root(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	const char *path = make_store("root", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, 1, &in));
	in.parent = 5;
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, 1, &in));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_ROOT);
}

static void test_dirent_targets(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("dirents", &p);
	plant_begin(path, &pl);
	struct idx_dirent ghost = { .ino = 999, .type = DT_REG };
	struct idx_dirent wrong = { .ino = p.small, .type = DT_DIR };
	CHECK_OK(idx_dirent_put(pl.txn, &pl.view, 1, "ghost", 5, &ghost));
	CHECK_OK(idx_dirent_put(pl.txn, &pl.view, 1, "small", 5, &wrong));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_DIRENT_TARGETS);
	char buf[16];
	CHECK_EQ(read_file(path, "small", buf, sizeof(buf), 0), 6);
	CHECK(!memcmp(buf, "hello\n", 6));
}

static void test_dir_parents(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	const char *path = make_store("dirparents", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, p.dir, &in));
	in.parent = p.a;
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, p.dir, &in));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_DIR_PARENTS);
}

static void test_tree_reachability(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	struct fsck_result res;
	const char *path = make_store("reach", &p);
	plant_begin(path, &pl);
	/* "dir" loses its name (and its files with it); "small" loses its only name */
	CHECK_OK(idx_dirent_del(pl.txn, &pl.view, 1, "dir", 3));
	CHECK_OK(idx_dirent_del(pl.txn, &pl.view, 1, "small", 5));
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, 1, &in));
	in.nlink--;
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, 1, &in));
	CHECK_OK(plant_end(&pl));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.found[FSCK_TREE_REACHABILITY], 2);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 1);
	CHECK_EQ(res.fixed[FSCK_TREE_REACHABILITY], 2);
	CHECK_EQ(res.errors, res.errors_fixed);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	char name[64], buf[16];
	snprintf(name, sizeof(name), "lost+found/#%llu/a", (unsigned long long)p.dir);
	CHECK(file_a_intact(path, name, FILE_A_SIZE));
	snprintf(name, sizeof(name), "lost+found/#%llu", (unsigned long long)p.small);
	CHECK_EQ(read_file(path, name, buf, sizeof(buf), 0), 6);
}

/* Two directories that name each other and nothing else: a loop. */
static void test_tree_loop(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	struct fsck_result res;
	const char *path = make_store("loop", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_dirent_del(pl.txn, &pl.view, 1, "dir", 3));
	struct idx_dirent de = { .ino = p.dir, .type = DT_DIR };
	struct idx_dirent sub;
	CHECK_OK(idx_dirent_get(pl.txn, &pl.view, p.dir, "sub", 3, &sub));
	CHECK_OK(idx_dirent_put(pl.txn, &pl.view, sub.ino, "back", 4, &de));
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, p.dir, &in));
	in.parent = sub.ino;
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, p.dir, &in));
	CHECK_OK(plant_end(&pl));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK(res.found[FSCK_TREE_REACHABILITY] > 0);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res) & 4, 0);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK(strstr(out_buf, "problems") == NULL || res.errors == 0);
}

static void test_nlink(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	const char *path = make_store("nlink", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, p.a, &in));
	in.nlink = 5;
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, p.a, &in));
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, p.dir, &in));
	in.nlink = 2;   /* it has a subdirectory: 3 */
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, p.dir, &in));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_NLINK);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
}

static void test_orphans(void)
{
	struct pop p;
	struct plant pl;
	const char *path = make_store("orphans", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_orphan_add(pl.txn, pl.vol.tree, p.a));   /* linked, yet listed */
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_ORPHANS);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
}

static void test_extents_within_size(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	const char *path = make_store("extents", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, p.a, &in));
	in.size = BS + 1000;   /* block 1 straddles the end, 2 and 3 lie past it */
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, p.a, &in));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_EXTENTS_WITHIN_SIZE);
	CHECK(file_a_intact(path, "dir/a", BS + 1000));
}

/* Plants a journal record of @len bytes of @byte at @off of block @block of @ino. */
static int plant_journal(struct plant *pl, uint64_t ino, uint64_t block, uint32_t off,
			 uint32_t len, uint8_t byte, uint64_t *ret_lsn)
{
	static uint8_t data[BS];
	uint64_t lsn;
	memset(data, byte, len);
	struct idx_journal_rec rec = { .ino = ino, .block = block, .offset = off, .length = len,
				       .data = data };
	return idx_journal_put(pl->txn, pl->vol.tree, &rec, ret_lsn ? ret_lsn : &lsn);
}

/*
 * I39: journal records of a freed inode, of a directory, past the end of a
 * file, or past the block are errors; a good one is not: it waits for
 * replay, and the next read-write open lays it over its block.
 */
static void test_journal(void)
{
	struct pop p;
	struct plant pl;
	struct fsck_result res;
	uint8_t buf[200];
	const char *path = make_store("journal", &p);
	plant_begin(path, &pl);
	CHECK_OK(plant_journal(&pl, 999, 0, 0, 10, 1, NULL));          /* no such inode */
	CHECK_OK(plant_journal(&pl, p.dir, 0, 0, 10, 1, NULL));        /* a directory */
	CHECK_OK(plant_journal(&pl, p.a, 9, 0, 10, 1, NULL));          /* past the end */
	CHECK_OK(plant_journal(&pl, p.a, 1, BS - 5, 10, 1, NULL));     /* past the block */
	CHECK_OK(plant_end(&pl));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.found[FSCK_JOURNAL], 4);
	CHECK_EQ(res.journal_records, 4);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 1);
	CHECK_EQ(res.fixed[FSCK_JOURNAL], 4);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.journal_records, 0);

	/* a good record: no error, counted; a read-only view already shows it */
	plant_begin(path, &pl);
	uint64_t lsn;
	CHECK_OK(plant_journal(&pl, p.a, 0, 100, 50, 0xee, &lsn));
	CHECK_OK(plant_end(&pl));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.journal_records, 1);
	CHECK_EQ(read_file(path, "dir/a", buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], i >= 100 && i < 150 ? 0xee : pattern(i));

	/* its bytes damaged in the log: an error, which repair deletes; reads fail, never lie */
	char wal[4096];
	snprintf(wal, sizeof(wal), "%s/index/wal", path);
	int fd = open(wal, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "X", 1, (off_t)lsn + 7), 1);   /* the log is far below its size */
	close(fd);
	CHECK_EQ(read_file(path, "dir/a", buf, sizeof(buf), 0), -EIO);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.found[FSCK_JOURNAL], 1);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 1);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.journal_records, 0);
}

static void test_chunk_refcounts(void)
{
	struct pop p;
	struct plant pl;
	struct idx_extent e;
	const char *path = make_store("refcounts", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_extent_get(pl.txn, &pl.view, p.a, 1, &e));
	struct idx_chunk c = { .refs = 7, .length = e.length };
	CHECK_OK(idx_raw_chunk_set(pl.txn, &e.chunk, &c));
	CHECK_OK(idx_extent_get(pl.txn, &pl.view, p.a, 2, &e));
	c = (struct idx_chunk){ .refs = 0, .length = e.length };   /* too low: gc would free it */
	CHECK_OK(idx_raw_chunk_set(pl.txn, &e.chunk, &c));
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_CHUNK_REFCOUNTS);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
}

static void test_dead_list(void)
{
	struct pop p;
	struct plant pl;
	struct idx_extent e;
	const char *path = make_store("dead", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_extent_get(pl.txn, &pl.view, p.a, 0, &e));
	CHECK_OK(idx_raw_dead_set(pl.txn, &e.chunk, true));   /* a live chunk on the dead list */
	struct idx_chunk_id nobody = { .bytes = { 1, 2, 3 } };
	CHECK_OK(idx_raw_dead_set(pl.txn, &nobody, true));     /* no record at all */
	CHECK_OK(plant_end(&pl));
	EXPECT_REPAIRED(path, FSCK_DEAD_LIST);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
}

static int unlink_chunk_of(const char *path, const struct pop *p, uint64_t block, bool corrupt)
{
	struct plant pl;
	struct idx_extent e;
	char rel[CHUNK_RELPATH_SIZE], full[4200];
	plant_begin(path, &pl);
	int r = idx_extent_get(pl.txn, &pl.view, p->a, block, &e);
	idx_txn_abort(pl.txn);
	store_close(pl.s);
	if (r < 0)
		return r;
	chunk_relpath(&e.chunk, rel);
	snprintf(full, sizeof(full), "%s/%s", path, rel);
	if (!corrupt)
		return unlink(full) < 0 ? -errno : 0;
	chmod(full, 0600);
	int fd = open(full, O_WRONLY);
	if (fd < 0)
		return -errno;
	r = pwrite(fd, "X", 1, 10) == 1 ? 0 : -EIO;
	close(fd);
	return r;
}

static void test_chunk_presence(void)
{
	struct pop p;
	struct fsck_result res;
	char buf[BS];
	const char *path = make_store("presence", &p);
	CHECK_OK(unlink_chunk_of(path, &p, 1, false));
	EXPECT_UNREPAIRABLE(path, FSCK_CHUNK_PRESENCE);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.lost_chunks, 1);
	/* the affected file is named, with the byte range, in the volume's view */
	CHECK(strstr(out_buf, "volume vol: /dir/a (inode") || strstr(out_buf, "volume vol: /hard"));
	CHECK(strstr(out_buf, "bytes 4096-8191"));
	/* what is left reads back; the lost block is EIO, not zeros */
	CHECK(file_a_intact(path, "dir/a", BS));
	CHECK_EQ(read_file(path, "dir/a", buf, BS, BS), -EIO);
}

static void test_chunk_hashes(void)
{
	struct pop p;
	struct fsck_result res;
	char buf[BS];
	const char *path = make_store("hashes", &p);
	CHECK_OK(unlink_chunk_of(path, &p, 2, true));
	/* without reading data the damage cannot be seen */
	CHECK_EQ(run_fsck(path, FSCK_CHECK, true, &res), 0);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.found[FSCK_CHUNK_HASHES], 1);
	CHECK(strstr(out_buf, "bytes 8192-12287"));
	CHECK_EQ(read_file(path, "dir/a", buf, BS, 2 * BS), -EIO);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 4);   /* lost data stays an error */
	CHECK(strstr(out_buf, "damaged file removed"));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.found[FSCK_CHUNK_PRESENCE], 1);
	CHECK_EQ(read_file(path, "dir/a", buf, BS, 2 * BS), -EIO);
	CHECK(file_a_intact(path, "dir/a", 2 * BS));
}

static void test_unreferenced_chunks(void)
{
	struct pop p;
	struct fsck_result res;
	struct store *s;
	struct idx_chunk_id id;
	char full[4200];
	const char *path = make_store("unref", &p);
	uint8_t data[100];
	memset(data, 0x5a, sizeof(data));
	CHECK_OK(store_open(path, 0, &s));
	chunk_id_of(s->chunks, data, sizeof(data), &id);
	CHECK_OK(chunk_write(s->chunks, &id, data, sizeof(data), 0));
	store_close(s);
	/* a leftover of a crash: reported, harmless, removed by a repair */
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.leftovers, 1);
	CHECK_EQ(run_fsck(path, FSCK_PREEN, false, &res), 0);
	CHECK_EQ(res.leftovers_removed, 1);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.leftovers, 0);
	/* something that is no chunk under chunks/: an error */
	snprintf(full, sizeof(full), "%s/chunks/zz", path);
	FILE *f = fopen(full, "w");
	CHECK(f != NULL);
	fclose(f);
	EXPECT_REPAIRED(path, FSCK_UNREFERENCED_CHUNKS);
	CHECK(file_a_intact(path, "dir/a", FILE_A_SIZE));
}

static void test_tmp_empty(void)
{
	struct pop p;
	struct fsck_result res;
	char full[4200];
	const char *path = make_store("tmp", &p);
	/* a named temp file of a process that no longer exists (pid_max is below 2^22 + 1) */
	snprintf(full, sizeof(full), "%s/tmp/4194305.1.7", path);
	FILE *f = fopen(full, "w");
	CHECK(f != NULL);
	fputs("partial", f);
	fclose(f);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.leftovers, 1);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 0);
	CHECK(access(full, F_OK) < 0);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
	CHECK_EQ(res.leftovers, 0);
}

/* A volume whose lock is held (mounted) is checked but not repaired. */
static void test_mounted_volume(void)
{
	struct pop p;
	struct plant pl;
	struct idx_inode in;
	struct fsck_result res;
	struct store *s;
	int fd;
	const char *path = make_store("mounted", &p);
	plant_begin(path, &pl);
	CHECK_OK(idx_inode_get(pl.txn, &pl.view, p.a, &in));
	in.nlink = 9;
	CHECK_OK(idx_inode_put(pl.txn, &pl.view, p.a, &in));
	uint64_t id = pl.vol.id;
	CHECK_OK(plant_end(&pl));
	CHECK_OK(store_open(path, STORE_RDONLY, &s));
	CHECK_OK(store_lock_volume(s, id, &fd));
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 4);
	CHECK_EQ(res.volumes_mounted, 1);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 4);
	CHECK(res.repair_refused);
	CHECK_EQ(res.fixed[FSCK_NLINK], 0);
	close(fd);
	store_close(s);
	CHECK_EQ(run_fsck(path, FSCK_REPAIR, false, &res), 1);
	CHECK_EQ(run_fsck(path, FSCK_CHECK, false, &res), 0);
}

int main(void)
{
	RUN(test_clean_store);
	RUN(test_clean_with_snapshot);
	RUN(test_index_pages);
	RUN(test_index_crash);
	RUN(test_index_order);
	RUN(test_store_unopenable);
	RUN(test_meta);
	RUN(test_counters);
	RUN(test_tree_gens);
	RUN(test_tree_parents);
	RUN(test_snapshots);
	RUN(test_root);
	RUN(test_dirent_targets);
	RUN(test_dir_parents);
	RUN(test_tree_reachability);
	RUN(test_tree_loop);
	RUN(test_nlink);
	RUN(test_orphans);
	RUN(test_journal);
	RUN(test_extents_within_size);
	RUN(test_chunk_refcounts);
	RUN(test_dead_list);
	RUN(test_chunk_presence);
	RUN(test_chunk_hashes);
	RUN(test_unreferenced_chunks);
	RUN(test_tmp_empty);
	RUN(test_mounted_volume);
	return test_exit();
}
