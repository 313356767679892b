/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_chunk — the chunk store with a real index against plain files, in
 * one run, on the same file system.
 *
 *   bench_chunk [MB]        (or VOLFS_BENCH_MB; default 1024)
 *   VOLFS_BENCH_DIR=DIR     where to work (default /var/tmp); removed after
 *   VOLFS_BENCH_SYNC=file   fsync each file and its directory (default)
 *                   batch   one syncfs() per batch of 64 blocks
 *                   none    no fsync of data (index commits still sync)
 *
 * Phases, 128 KiB blocks, 64 blocks per index transaction:
 *   raw write     one plain file per block        } alternating batch by
 *   chunk unique  chunk_put + idx_chunk_ref of    } batch, timed apart
 *                 the same bytes (CHUNK_VERIFY)
 *   chunk dup     the same blocks again: all dedup hits, bytes compared
 *   chunk dup nv  again, without CHUNK_VERIFY
 *   raw read      the plain files                 } alternating, after the
 *   chunk read    chunk_read (hash verified)      } page cache is dropped
 * Each write phase starts after a sync(), so that it does not pay for the
 * writeback of the one before.  The page cache is dropped before the reads
 * when the kernel lets us (as root).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "index.h"

#define BLOCK (128 * 1024)
#define BATCH 64

enum sync_policy { SYNC_FILE, SYNC_BATCH, SYNC_NONE };

static enum sync_policy policy = SYNC_FILE;
static char top[1024];               /* the bench directory */
static int store_fd = -1, raw_fd = -1;
static unsigned char *block;         /* the block being written */
static unsigned char *readbuf;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_chunk: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Block @i: random bytes made once, with @i in the first 8 bytes so no two are equal. */
static void make_block(uint64_t i)
{
	memcpy(block, &i, sizeof(i));
}

static void sync_batch(void)
{
	if (policy == SYNC_BATCH && syncfs(store_fd) < 0)
		die("syncfs", errno);
}

static bool drop_caches(void)
{
	int fd;
	bool ok;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		return false;
	ok = write(fd, "3", 1) == 1;
	close(fd);
	return ok;
}

static void report(const char *phase, double secs, uint64_t bytes, double ref)
{
	double mbs = bytes / 1048576.0 / secs;

	printf("%-14s %8.2f s %9.1f MB/s", phase, secs, mbs);
	if (ref > 0)
		printf("   chunk/raw %.2f", mbs / ref);
	printf("\n");
	fflush(stdout);
}

/* Each phase function does blocks [@first, @first + @n) and returns its time. */

static double raw_write(uint64_t first, uint64_t n)
{
	double t0 = now();

	for (uint64_t i = first; i < first + n; i++) {
		char name[32];
		int fd;

		make_block(i);
		snprintf(name, sizeof(name), "%" PRIu64, i);
		fd = openat(raw_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0400);
		if (fd < 0)
			die(name, errno);
		if (write(fd, block, BLOCK) != BLOCK)
			die("write", errno);
		if (policy == SYNC_FILE && fsync(fd) < 0)
			die("fsync", errno);
		close(fd);
		if (policy == SYNC_FILE && fsync(raw_fd) < 0)
			die("fsync dir", errno);
	}
	sync_batch();
	return now() - t0;
}

static double raw_read(uint64_t first, uint64_t n)
{
	double t0 = now();

	for (uint64_t i = first; i < first + n; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "%" PRIu64, i);
		fd = openat(raw_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(name, errno);
		if (read(fd, readbuf, BLOCK) != BLOCK)
			die("read", errno);
		close(fd);
	}
	return now() - t0;
}

/* One write transaction: chunk_put + idx_chunk_ref of each block, committed. */
static double chunk_write_batch(struct chunk_store *cs, struct idx_env *env, uint64_t first,
				uint64_t n, unsigned flags, struct idx_chunk_id *ids)
{
	double t0 = now();
	struct idx_txn *txn;
	int r = idx_txn_begin(env, 0, &txn);

	if (r < 0)
		die("idx_txn_begin", r);
	for (uint64_t i = first; i < first + n; i++) {
		make_block(i);
		r = chunk_put(cs, txn, block, BLOCK, flags, &ids[i]);
		if (r < 0)
			die("chunk_put", r);
		r = idx_chunk_ref(txn, &ids[i], BLOCK);
		if (r < 0)
			die("idx_chunk_ref", r);
	}
	sync_batch();   /* chunk files durable before the commit that names them */
	r = idx_txn_commit(txn);
	if (r < 0)
		die("idx_txn_commit", r);
	return now() - t0;
}

static double chunk_read_batch(struct chunk_store *cs, uint64_t first, uint64_t n,
			       const struct idx_chunk_id *ids)
{
	double t0 = now();

	for (uint64_t i = first; i < first + n; i++) {
		int r = chunk_read(cs, &ids[i], readbuf, BLOCK);

		if (r < 0)
			die("chunk_read", r);
	}
	return now() - t0;
}

static uint64_t du_bytes;

static int du_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path; (void)type; (void)ftw;
	du_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* Disk space used under @sub of the bench directory, bytes. */
static uint64_t du(const char *sub)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, sub);
	du_bytes = 0;
	nftw(path, du_entry, 16, FTW_PHYS);
	return du_bytes;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	remove(path);
	return 0;
}

static void mkdir_in(const char *sub)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, sub);
	if (mkdir(path, 0700) < 0)
		die(path, errno);
}

int main(int argc, char **argv)
{
	const char *env_mb = getenv("VOLFS_BENCH_MB"), *base = getenv("VOLFS_BENCH_DIR");
	const char *env_sync = getenv("VOLFS_BENCH_SYNC");
	uint64_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : env_mb ? strtoull(env_mb, NULL, 10) : 1024;
	uint64_t nblocks = mb * 1048576 / BLOCK, bytes = nblocks * BLOCK;
	uint8_t secret[IDX_SECRET_SIZE];
	struct idx_chunk_id *ids;
	struct chunk_store *cs;
	struct idx_env *env;
	struct statfs sfs;
	char path[PATH_MAX];
	double raw_write_mbs;
	bool dropped;
	int r;

	if (nblocks == 0) {
		fprintf(stderr, "usage: bench_chunk [MB]  (VOLFS_BENCH_MB, VOLFS_BENCH_DIR, VOLFS_BENCH_SYNC=file|batch|none)\n");
		return 2;
	}
	if (env_sync && !strcmp(env_sync, "batch"))
		policy = SYNC_BATCH;
	else if (env_sync && !strcmp(env_sync, "none"))
		policy = SYNC_NONE;
	else if (env_sync && *env_sync && strcmp(env_sync, "file")) {
		fprintf(stderr, "bench_chunk: VOLFS_BENCH_SYNC must be file, batch or none\n");
		return 2;
	}
	if (snprintf(top, sizeof(top), "%s/volfs-bench-XXXXXX",
		     base && *base ? base : "/var/tmp") >= (int)sizeof(top) || !mkdtemp(top))
		die(top, errno);
	mkdir_in("store");
	mkdir_in("store/chunks");
	mkdir_in("store/tmp");
	mkdir_in("store/index");
	mkdir_in("raw");
	snprintf(path, sizeof(path), "%s/store", top);
	store_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/raw", top);
	raw_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	block = malloc(BLOCK);
	readbuf = malloc(BLOCK);
	ids = calloc(nblocks, sizeof(*ids));
	if (store_fd < 0 || raw_fd < 0 || !block || !readbuf || !ids)
		die("setup", errno ? errno : ENOMEM);
	if (getrandom(secret, sizeof(secret), 0) != sizeof(secret) ||
	    getrandom(block, BLOCK, 0) != BLOCK)
		die("getrandom", errno);

	snprintf(path, sizeof(path), "%s/store/index", top);
	r = idx_env_open(path, IDX_ENV_CREATE, 0, &env);
	if (r < 0)
		die("idx_env_open", r);
	snprintf(path, sizeof(path), "%s/store", top);
	r = chunk_store_open(path, secret, 0, &cs);
	if (r < 0)
		die("chunk_store_open", r);

	statfs(top, &sfs);
	printf("bench_chunk: %" PRIu64 " MiB in %" PRIu64 " blocks of %d KiB, %d per transaction\n",
	       bytes >> 20, nblocks, BLOCK / 1024, BATCH);
	printf("directory %s (fs type 0x%lx)\n", top, (unsigned long)sfs.f_type);
	printf("sync policy: %s; every index commit is synchronous\n",
	       policy == SYNC_FILE ? "file (fsync each file and its directory, chunk and raw alike)" :
	       policy == SYNC_BATCH ? "batch (syncfs once per 64 blocks, chunk and raw alike)" :
	       "none (no fsync of data files)");

	/*
	 * Raw and chunk writes alternate batch by batch (which goes first
	 * alternates too), so both see the same background load and neither
	 * inherits the other's writeback more than the other way round.
	 */
	unsigned wflags = policy == SYNC_FILE ? CHUNK_SYNC : 0;
	double t_raw = 0, t_chunk = 0;

	sync();
	for (uint64_t i = 0, b = 0; i < nblocks; i += BATCH, b++) {
		uint64_t n = nblocks - i < BATCH ? nblocks - i : BATCH;

		if (b % 2 == 0)
			t_raw += raw_write(i, n);
		t_chunk += chunk_write_batch(cs, env, i, n, wflags | CHUNK_VERIFY, ids);
		if (b % 2 == 1)
			t_raw += raw_write(i, n);
	}
	report("raw write", t_raw, bytes, 0);
	report("chunk unique", t_chunk, bytes, bytes / 1048576.0 / t_raw);
	raw_write_mbs = bytes / 1048576.0 / t_raw;
	uint64_t after_unique = du("store/chunks");

	for (int pass = 0; pass < 2; pass++) {
		unsigned flags = wflags | (pass == 0 ? CHUNK_VERIFY : 0);

		sync();
		t_chunk = 0;
		for (uint64_t i = 0; i < nblocks; i += BATCH)
			t_chunk += chunk_write_batch(cs, env, i, nblocks - i < BATCH ? nblocks - i : BATCH,
						     flags, ids);
		report(pass == 0 ? "chunk dup" : "chunk dup nv", t_chunk, bytes, raw_write_mbs);
	}
	uint64_t after_dup = du("store/chunks");

	dropped = drop_caches();
	printf("page cache before reads: %s\n",
	       dropped ? "dropped (echo 3 > /proc/sys/vm/drop_caches)" :
	       "NOT dropped (drop_caches not writable): reads are from memory");
	t_raw = t_chunk = 0;
	for (uint64_t i = 0, b = 0; i < nblocks; i += BATCH, b++) {
		uint64_t n = nblocks - i < BATCH ? nblocks - i : BATCH;

		if (b % 2 == 0)
			t_raw += raw_read(i, n);
		t_chunk += chunk_read_batch(cs, i, n, ids);
		if (b % 2 == 1)
			t_raw += raw_read(i, n);
	}
	report("raw read", t_raw, bytes, 0);
	report("chunk read", t_chunk, bytes, bytes / 1048576.0 / t_raw);

	printf("space: raw %.1f MiB, chunks after unique %.1f MiB, after 3x the data %.1f MiB (%.4fx)\n",
	       du("raw") / 1048576.0, after_unique / 1048576.0, after_dup / 1048576.0,
	       (double)after_dup / (double)after_unique);

	chunk_store_close(cs);
	idx_env_close(env);
	close(store_fd);
	close(raw_fd);
	if (!getenv("VOLFS_BENCH_KEEP"))
		nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(ids);
	free(block);
	free(readbuf);
	return 0;
}
