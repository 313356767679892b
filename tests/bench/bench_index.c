/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_index — inode records in a real index: time per insert, per random
 * lookup and per random update.
 *
 *   bench_index [N]          (or VOLFS_BENCH_INODES; default 1000000)
 *   VOLFS_BENCH_DIR=DIR      where to work (default /var/tmp); removed after
 *
 * Inserts inodes 2..N+1 in increasing order (as idx_ino_alloc hands them
 * out) through idx_inode_put in the live view of one tree, 10,000 per write
 * transaction, each committed (synchronously).  Then N lookups of random
 * inodes with idx_inode_get, 10,000 per read transaction, and N/10 random
 * updates (in place: the tree has no snapshot), 10,000 per transaction.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "index.h"

#define BATCH 10000

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_index: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 42;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);   /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static struct idx_inode inode_for(uint64_t ino, uint64_t size)
{
	struct idx_inode in = {
		.mode = 0100644, .uid = 1000, .gid = 1000, .nlink = 1, .size = size,
		.mtime = { .tv_sec = 1700000000 + (time_t)(ino % 1000) },
	};
	in.atime = in.ctime = in.btime = in.mtime;
	return in;
}

/* Puts inodes @first.. (@count of them, or random ones in 2..@n+1 if @random) per batch. */
static double put_inodes(struct idx_env *env, uint64_t tree, uint64_t count, uint64_t n,
			 bool random)
{
	double t0 = now();

	for (uint64_t i = 0; i < count; ) {
		struct idx_txn *txn;
		struct idx_view view;
		int r = idx_txn_begin(env, 0, &txn);

		if (r < 0)
			die("idx_txn_begin", r);
		r = idx_view_live(txn, tree, &view);
		if (r < 0)
			die("idx_view_live", r);
		for (uint64_t end = i + BATCH; i < end && i < count; i++) {
			uint64_t ino = random ? 2 + rng() % n : 2 + i;
			struct idx_inode in = inode_for(ino, random ? ino + 1 : ino);

			r = idx_inode_put(txn, &view, ino, &in);
			if (r < 0)
				die("idx_inode_put", r);
		}
		r = idx_txn_commit(txn);
		if (r < 0)
			die("idx_txn_commit", r);
	}
	return now() - t0;
}

static double get_inodes(struct idx_env *env, uint64_t tree, uint64_t count, uint64_t n)
{
	double t0 = now();

	for (uint64_t i = 0; i < count; ) {
		struct idx_txn *txn;
		struct idx_view view;
		int r = idx_txn_begin(env, IDX_TXN_RDONLY, &txn);

		if (r < 0)
			die("idx_txn_begin", r);
		r = idx_view_live(txn, tree, &view);
		if (r < 0)
			die("idx_view_live", r);
		for (uint64_t end = i + BATCH; i < end && i < count; i++) {
			uint64_t ino = 2 + rng() % n;
			struct idx_inode in;

			r = idx_inode_get(txn, &view, ino, &in);
			if (r < 0)
				die("idx_inode_get", r);
			if (in.size != ino && in.size != ino + 1)
				die("idx_inode_get: wrong record", EUCLEAN);
		}
		idx_txn_abort(txn);
	}
	return now() - t0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	remove(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *env_n = getenv("VOLFS_BENCH_INODES"), *base = getenv("VOLFS_BENCH_DIR");
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : env_n ? strtoull(env_n, NULL, 10) : 1000000;
	struct idx_tree tree_rec = { .volume = 1, .gen = 1, .snap_gen = 0, .next_ino = 2 };
	struct idx_meta meta = { .format = IDX_FORMAT_VERSION, .secret = { 1, 2, 3 } };
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct idx_env *env;
	struct idx_txn *txn;
	uint64_t tree = 0;
	struct stat st;
	double t;
	int r;

	if (n == 0) {
		fprintf(stderr, "usage: bench_index [N]  (VOLFS_BENCH_INODES, VOLFS_BENCH_DIR)\n");
		return 2;
	}
	if (snprintf(dir, sizeof(dir), "%s/volfs-bench-XXXXXX",
		     base && *base ? base : "/var/tmp") >= (int)sizeof(dir) || !mkdtemp(dir))
		die(dir, errno);
	r = idx_env_open(dir, IDX_ENV_CREATE, 0, &env);
	if (r < 0)
		die("idx_env_open", r);
	/* a store as store_init() leaves it: meta record, then one tree */
	r = idx_txn_begin(env, 0, &txn);
	if (r == 0)
		r = idx_meta_init(txn, &meta);
	if (r == 0)
		r = idx_counter_next(txn, IDX_COUNTER_TREE, &tree);
	if (r == 0) {
		tree_rec.next_ino = n + 2;
		r = idx_tree_put(txn, tree, &tree_rec);
	}
	if (r == 0)
		r = idx_txn_commit(txn);
	else
		idx_txn_abort(txn);
	if (r < 0)
		die("making the tree", r);

	printf("bench_index: %" PRIu64 " inode records, %d per transaction, in %s\n", n, BATCH, dir);
	t = put_inodes(env, tree, n, n, false);
	printf("insert  %8.2f s %8.2f us/op\n", t, t * 1e6 / n);
	fflush(stdout);
	t = get_inodes(env, tree, n, n);
	printf("lookup  %8.2f s %8.2f us/op  (random)\n", t, t * 1e6 / n);
	fflush(stdout);
	t = put_inodes(env, tree, n / 10 ? n / 10 : 1, n, true);
	printf("update  %8.2f s %8.2f us/op  (random, %" PRIu64 ")\n", t, t * 1e6 / (n / 10 ? n / 10 : 1),
	       n / 10 ? n / 10 : 1);
	t = get_inodes(env, tree, n, n);
	printf("lookup  %8.2f s %8.2f us/op  (random, after updates)\n", t, t * 1e6 / n);

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &st) == 0)
		printf("data.mdb: %.1f MiB allocated, %.0f bytes/record; map %.0f MiB\n",
		       st.st_blocks * 512 / 1048576.0, st.st_blocks * 512.0 / n,
		       idx_env_map_size(env) / 1048576.0);
	idx_env_close(env);
	if (!getenv("VOLFS_BENCH_KEEP"))
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
