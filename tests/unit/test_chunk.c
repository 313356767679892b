/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_chunk.c — the chunk store (fs/chunk.c): names, files, verification,
 * tmp/ cleaning, the fallback without O_TMPFILE, errors from a full disk, and
 * chunk_put()/chunk_gc() with a real index.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "index.h"
#include "proc.h"

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	/* splitmix64: reproducible runs */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rng();
		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

static void make_secret(uint8_t secret[IDX_SECRET_SIZE], uint8_t seed)
{
	for (size_t i = 0; i < IDX_SECRET_SIZE; i++)
		secret[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 3) * 29);
}

/* A new store layout (chunks/, tmp/, index/) under the test directory; the path is malloc'd. */
static char *make_store(const char *name)
{
	char *path = strdup(test_subdir(name));
	char sub[PATH_MAX];
	static const char *const dirs[] = { "chunks", "tmp", "index" };

	if (!path)
		abort();
	for (size_t i = 0; i < 3; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, dirs[i]);
		if (mkdir(sub, 0700) < 0) {
			perror(sub);
			exit(99);
		}
	}
	return path;
}

static char *chunk_path(const char *store, const struct idx_chunk_id *id)
{
	static char path[PATH_MAX];
	char rel[CHUNK_RELPATH_SIZE];

	chunk_relpath(id, rel);
	snprintf(path, sizeof(path), "%s/%s", store, rel);
	return path;
}

static size_t nftw_files;
static long long nftw_bytes;

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path; (void)ftw;
	if (type == FTW_F) {
		nftw_files++;
		nftw_bytes += st->st_size;
	}
	return 0;
}

/* Regular files under @store/@sub, recursively; (size_t)-1 if it cannot be walked. */
static size_t count_files(const char *store, const char *sub)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", store, sub);
	nftw_files = 0;
	if (nftw(path, count_entry, 16, FTW_PHYS) < 0)
		return (size_t)-1;
	return nftw_files;
}

/* Bytes in the files under @store/tmp; -1 if it cannot be walked. */
static long long tmp_bytes(const char *store)
{
	nftw_bytes = 0;
	return count_files(store, "tmp") == (size_t)-1 ? -1 : nftw_bytes;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct idx_chunk_id));
}

/* Runs @fn in a child process; returns its exit code (or 128 + signal). */
static int in_child(int (*fn)(const char *), const char *arg)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- names ---------------------------------------------------------------- */

static void test_hash(void)
{
	uint8_t s1[IDX_SECRET_SIZE], s2[IDX_SECRET_SIZE];
	struct chunk_store *a = NULL, *b = NULL;
	struct idx_chunk_id x, y, z, w;
	char data[1000];
	char *store = make_store("hash");

	make_secret(s1, 1);
	make_secret(s2, 1);
	s2[100] ^= 1;   /* one bit of the key */
	fill_random(data, sizeof(data));
	CHECK_OK(chunk_store_open(store, s1, 0, &a));
	CHECK_OK(chunk_store_open(store, s2, 0, &b));

	chunk_id_of(a, data, sizeof(data), &x);
	chunk_id_of(a, data, sizeof(data), &y);
	CHECK(memcmp(&x, &y, sizeof(x)) == 0);
	chunk_id_of(b, data, sizeof(data), &z);
	CHECK(memcmp(&x, &z, sizeof(x)) != 0);
	chunk_id_of(a, data, sizeof(data) - 1, &w);
	CHECK(memcmp(&x, &w, sizeof(x)) != 0);

	/* The id is the canonical (big-endian) form of keyed XXH3-128. */
	XXH128_hash_t h = XXH3_128bits_withSecret(data, sizeof(data), s1, IDX_SECRET_SIZE);
	uint8_t be[16];
	for (int i = 0; i < 8; i++) {
		be[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
		be[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
	}
	CHECK(memcmp(x.bytes, be, 16) == 0);

	chunk_store_close(a);
	chunk_store_close(b);
	free(store);
}

static void test_hex(void)
{
	struct idx_chunk_id id, back;
	char hex[CHUNK_HEX_SIZE], bad[40];

	for (int i = 0; i < 16; i++)
		id.bytes[i] = (uint8_t)(i * 0x11);
	id.bytes[0] = 0x0a;
	id.bytes[15] = 0xf0;
	chunk_id_to_hex(&id, hex);
	CHECK(strcmp(hex, "0a112233445566778899aabbccddeef0") == 0);
	CHECK_OK(chunk_id_from_hex(hex, &back));
	CHECK(memcmp(&id, &back, sizeof(id)) == 0);

	for (int round = 0; round < 100; round++) {
		fill_random(&id, sizeof(id));
		chunk_id_to_hex(&id, hex);
		CHECK_EQ(strlen(hex), 32);
		CHECK_OK(chunk_id_from_hex(hex, &back));
		CHECK(memcmp(&id, &back, sizeof(id)) == 0);
	}

	memset(&back, 0x5a, sizeof(back));
	struct idx_chunk_id untouched = back;
	static const char *const bads[] = {
		"",
		"0a112233445566778899aabbccddeef",     /* 31 digits */
		"0a112233445566778899aabbccddeef00",   /* 33 digits */
		"0A112233445566778899aabbccddeef0",    /* upper case */
		"0g112233445566778899aabbccddeef0",
		"0a112233445566778899aabbccddeef ",
		"-a112233445566778899aabbccddeef0",
	};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		CHECK_EQ(chunk_id_from_hex(bads[i], &back), -EINVAL);
	memcpy(bad, "0a112233445566778899aabbccddeef0", 33);
	bad[7] = '\0';
	CHECK_EQ(chunk_id_from_hex(bad, &back), -EINVAL);
	CHECK(memcmp(&back, &untouched, sizeof(back)) == 0);   /* ret_ only on success */
}

static void test_relpath(void)
{
	struct idx_chunk_id id;
	char rel[CHUNK_RELPATH_SIZE];

	CHECK_OK(chunk_id_from_hex("abcdef0123456789abcdef0123456789", &id));
	chunk_relpath(&id, rel);
	CHECK(strcmp(rel, "chunks/ab/abcdef0123456789abcdef0123456789") == 0);
	CHECK_EQ(strlen(rel) + 1, CHUNK_RELPATH_SIZE);
}

static void test_is_zero(void)
{
	static unsigned char buf[128 * 1024 + 3];
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 31, 32, 33, 4096, 128 * 1024, sizeof(buf) };

	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		CHECK(chunk_is_zero(buf, sizes[i]));
	/* One set byte anywhere in the first 100, and near and at the end. */
	for (size_t pos = 0; pos < 100; pos++) {
		buf[pos] = 0x80;
		CHECK(!chunk_is_zero(buf, 100));
		CHECK(!chunk_is_zero(buf, sizeof(buf)));
		CHECK(pos == 0 || chunk_is_zero(buf, pos));
		buf[pos] = 0;
	}
	for (size_t pos = sizeof(buf) - 40; pos < sizeof(buf); pos++) {
		buf[pos] = 1;
		CHECK(!chunk_is_zero(buf, sizeof(buf)));
		CHECK(chunk_is_zero(buf, pos));
		buf[pos] = 0;
	}
	/* Periodic non-zero data must not pass the shifted compare. */
	memset(buf, 0xff, 64);
	CHECK(!chunk_is_zero(buf, 64));
	memset(buf, 0, 64);
}

/* ---- files ---------------------------------------------------------------- */

static void test_roundtrip(void)
{
	static const size_t sizes[] = { 1, 4095, 128 * 1024, 1024 * 1024 };
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	char *store = make_store("roundtrip");
	unsigned char *data = malloc(1024 * 1024), *back = malloc(1024 * 1024);

	CHECK(data && back);
	make_secret(secret, 2);
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct idx_chunk_id id;
		struct stat st;
		size_t len = sizes[i];

		fill_random(data, len);
		chunk_id_of(cs, data, len, &id);
		CHECK_OK(chunk_write(cs, &id, data, len, i % 2 ? CHUNK_SYNC : 0));
		CHECK_OK(stat(chunk_path(store, &id), &st));
		CHECK_EQ(st.st_size, len);
		CHECK((st.st_mode & 0222) == 0);   /* published read-only */
		memset(back, 0xaa, len);
		CHECK_OK(chunk_read(cs, &id, back, len));
		CHECK(memcmp(data, back, len) == 0);
		/* the right id with the wrong length is not this chunk */
		if (len > 1)
			CHECK_EQ(chunk_read(cs, &id, back, len - 1), -EIO);
	}
	CHECK_EQ(count_files(store, "chunks"), 4);
	CHECK_EQ(count_files(store, "tmp"), 0);
	chunk_store_close(cs);
	free(data);
	free(back);
	free(store);
}

static void test_dedup(void)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id id;
	struct stat st1, st2;
	char *store = make_store("dedup");
	char data[8192];

	make_secret(secret, 3);
	fill_random(data, sizeof(data));
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	chunk_id_of(cs, data, sizeof(data), &id);
	CHECK_OK(chunk_write(cs, &id, data, sizeof(data), 0));
	CHECK_OK(stat(chunk_path(store, &id), &st1));
	CHECK_OK(chunk_write(cs, &id, data, sizeof(data), 0));
	CHECK_OK(chunk_write(cs, &id, data, sizeof(data), CHUNK_VERIFY | CHUNK_SYNC));
	CHECK_OK(stat(chunk_path(store, &id), &st2));
	CHECK_EQ(st1.st_ino, st2.st_ino);   /* the first file, not replaced */
	CHECK_EQ(st2.st_nlink, 1);
	CHECK_EQ(count_files(store, "chunks"), 1);
	CHECK_EQ(count_files(store, "tmp"), 0);
	chunk_store_close(cs);
	free(store);
}

static void test_distinct(void)
{
	enum { N = 10000, LEN = 4096 };
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id *ids = calloc(N, sizeof(*ids));
	char *store = make_store("distinct");
	char data[LEN];

	CHECK(ids);
	make_secret(secret, 4);
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	for (int i = 0; i < N; i++) {
		fill_random(data, LEN);
		chunk_id_of(cs, data, LEN, &ids[i]);
		CHECK_OK(chunk_write(cs, &ids[i], data, LEN, 0));
	}
	qsort(ids, N, sizeof(*ids), cmp_id);
	for (int i = 1; i < N; i++)
		CHECK(memcmp(&ids[i - 1], &ids[i], sizeof(*ids)) != 0);
	CHECK_EQ(count_files(store, "chunks"), N);
	chunk_store_close(cs);
	free(ids);
	free(store);
}

static void test_corrupt(void)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id id, other;
	char *store = make_store("corrupt");
	char data[4096], back[4097];
	const char *path;
	int fd;

	make_secret(secret, 5);
	fill_random(data, sizeof(data));
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	chunk_id_of(cs, data, sizeof(data), &id);
	CHECK_OK(chunk_write(cs, &id, data, sizeof(data), 0));
	path = chunk_path(store, &id);

	/* one flipped bit */
	CHECK_OK(chmod(path, 0600));
	data[1234] ^= 0x10;
	CHECK_OK(write_file(path, data, sizeof(data)));
	CHECK_EQ(chunk_read(cs, &id, back, sizeof(data)), -EIO);
	data[1234] ^= 0x10;
	CHECK_OK(write_file(path, data, sizeof(data)));
	CHECK_OK(chunk_read(cs, &id, back, sizeof(data)));

	/* truncated, then extended by one byte */
	CHECK_OK(truncate(path, sizeof(data) - 1));
	CHECK_EQ(chunk_read(cs, &id, back, sizeof(data)), -EIO);
	CHECK_OK(write_file(path, data, sizeof(data)));
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "x", 1), 1);
	close(fd);
	CHECK_EQ(chunk_read(cs, &id, back, sizeof(data)), -EIO);
	CHECK_EQ(chunk_read(cs, &id, back, sizeof(data) + 1), -EIO);   /* right size, wrong hash */

	/* missing */
	CHECK_OK(chunk_unlink(cs, &id));
	CHECK_EQ(chunk_read(cs, &id, back, sizeof(data)), -ENOENT);
	CHECK_OK(chunk_unlink(cs, &id));   /* missing is not an error */
	fill_random(&other, sizeof(other));
	CHECK_EQ(chunk_read(cs, &other, back, sizeof(data)), -ENOENT);
	chunk_store_close(cs);
	free(store);
}

/*
 * A file under a chunk's name with other bytes: a crash's leftover (a
 * recycled file whose new bytes never reached the disk), or damage.  A
 * write that finds it replaces it, with or without CHUNK_VERIFY.
 */
static void test_planted_replaced(void)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id id;
	char *store = make_store("planted");
	char data[4096], wrong[4096], back[4096], dir[PATH_MAX];
	char *path;
	static const unsigned flags[] = { 0, CHUNK_VERIFY, CHUNK_SYNC, CHUNK_VERIFY | CHUNK_SYNC };

	make_secret(secret, 6);
	fill_random(data, sizeof(data));
	memcpy(wrong, data, sizeof(wrong));
	wrong[4095] ^= 1;
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	chunk_id_of(cs, data, sizeof(data), &id);
	path = strdup(chunk_path(store, &id));
	CHECK(path);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';   /* its fan-out directory */
	CHECK_OK(mkdir(dir, 0700));

	for (size_t i = 0; i < 2 * sizeof(flags) / sizeof(flags[0]); i++) {
		/* the same length (a recycled file), then a shorter one */
		CHECK_OK(write_file(path, wrong, i % 2 ? 100 : sizeof(wrong)));
		CHECK_EQ(chunk_read(cs, &id, back, sizeof(back)), -EIO);
		CHECK_OK(chunk_write(cs, &id, data, sizeof(data), flags[i / 2]));
		CHECK_OK(chunk_read(cs, &id, back, sizeof(back)));
		CHECK(memcmp(back, data, sizeof(data)) == 0);
	}
	CHECK_EQ(count_files(store, "tmp"), 0);
	CHECK_EQ(count_files(store, "chunks"), 1);
	chunk_store_close(cs);
	free(path);
	free(store);
}

/* ---- tmp/ ------------------------------------------------------------------ */

static int exit_at_once(const char *arg)
{
	(void)arg;
	return 0;
}

static void test_clean_tmp(void)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	char *store = make_store("cleantmp");
	char dead[PATH_MAX], live[PATH_MAX], junk[PATH_MAX], subdir[PATH_MAX], zombie[PATH_MAX];
	pid_t dead_pid = fork();

	CHECK(dead_pid >= 0);
	if (dead_pid == 0)
		_exit(exit_at_once(NULL));
	CHECK_EQ(waitpid(dead_pid, NULL, 0), dead_pid);   /* reaped: the pid is free */
	CHECK(kill(dead_pid, 0) < 0 && errno == ESRCH);
	CHECK(!proc_running(dead_pid));
	CHECK(proc_running(getpid()));

	/* a process that died and was not reaped (as under a first process that never reaps) */
	pid_t zombie_pid = fork();
	CHECK(zombie_pid >= 0);
	if (zombie_pid == 0)
		_exit(0);
	for (int i = 0; i < 500 && proc_running(zombie_pid); i++)
		usleep(10000);
	CHECK_EQ(kill(zombie_pid, 0), 0);   /* kill(2) still finds it */
	CHECK(!proc_running(zombie_pid));
	snprintf(zombie, sizeof(zombie), "%s/tmp/%d.0.5", store, (int)zombie_pid);
	CHECK_OK(write_file(zombie, "", 0));

	make_secret(secret, 7);
	snprintf(dead, sizeof(dead), "%s/tmp/%d.%d.0", store, (int)dead_pid, (int)dead_pid);
	snprintf(live, sizeof(live), "%s/tmp/%d.%d.17", store, (int)getpid(), (int)getpid());
	snprintf(junk, sizeof(junk), "%s/tmp/leftover.tmp", store);
	snprintf(subdir, sizeof(subdir), "%s/tmp/somedir", store);
	CHECK_OK(write_file(dead, "x", 1));
	CHECK_OK(write_file(live, "x", 1));
	CHECK_OK(write_file(junk, "x", 1));
	CHECK_OK(mkdir(subdir, 0700));

	/* without the flag nothing is touched */
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	chunk_store_close(cs);
	CHECK_EQ(count_files(store, "tmp"), 4);

	CHECK_OK(chunk_store_open(store, secret, CHUNK_STORE_CLEAN_TMP, &cs));
	chunk_store_close(cs);
	CHECK_EQ(access(dead, F_OK), -1);
	CHECK_EQ(access(junk, F_OK), -1);
	CHECK_EQ(access(zombie, F_OK), -1);
	CHECK_OK(access(live, F_OK));     /* a live process may still link it */
	CHECK_OK(access(subdir, F_OK));
	CHECK_EQ(waitpid(zombie_pid, NULL, 0), zombie_pid);
	free(store);
}

static void test_open_errors(void)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	char path[PATH_MAX];
	const char *dir = test_subdir("openerr");

	make_secret(secret, 8);
	snprintf(path, sizeof(path), "%s/nonexistent", dir);
	CHECK_EQ(chunk_store_open(path, secret, 0, &cs), -ENOENT);
	CHECK_EQ(chunk_store_open(dir, secret, 0, &cs), -ENOENT);   /* no chunks/ */
	snprintf(path, sizeof(path), "%s/chunks", dir);
	CHECK_OK(mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/tmp", dir);
	CHECK_OK(write_file(path, "", 0));
	CHECK_EQ(chunk_store_open(dir, secret, 0, &cs), -ENOTDIR);
	CHECK(cs == NULL);
}

/*
 * Without O_TMPFILE: a seccomp filter makes openat() with O_TMPFILE fail as
 * file systems without it do (EOPNOTSUPP, or EISDIR on old kernels), so the
 * named temp files are used.  Runs in a child (the filter cannot be removed).
 */
static int no_tmpfile_child(const char *store)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	char data[5000], back[5000], planted[PATH_MAX];
	struct idx_chunk_id id;
	int err = getenv("VOLFS_TEST_EISDIR") ? EISDIR : EOPNOTSUPP;
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 3),
		/* the low 32 bits of the flags argument */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			 + 4
#endif
			),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_TMPFILE & ~O_DIRECTORY, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 77;
	if (open("/", O_TMPFILE | O_WRONLY, 0600) >= 0 || errno != err)
		return 2;   /* the filter does not work as meant */
	make_secret(secret, 9);
	if (chunk_store_open(store, secret, 0, &cs) < 0)
		return 3;
	/* a leftover with the name we would pick first */
	snprintf(planted, sizeof(planted), "%s/tmp/%d.%d.0", store, (int)getpid(), (int)gettid());
	if (write_file(planted, "old", 3) < 0)
		return 4;
	for (int i = 0; i < 20; i++) {
		fill_random(data, sizeof(data));
		chunk_id_of(cs, data, sizeof(data), &id);
		if (chunk_write(cs, &id, data, sizeof(data), i % 2 ? CHUNK_SYNC : 0) < 0)
			return 5;
		if (chunk_write(cs, &id, data, sizeof(data), CHUNK_VERIFY) < 0)
			return 6;
		if (chunk_read(cs, &id, back, sizeof(back)) < 0 || memcmp(data, back, sizeof(data)))
			return 7;
	}
	chunk_store_close(cs);
	if (count_files(store, "chunks") != 20)
		return 8;
	if (count_files(store, "tmp") != 1 || access(planted, F_OK) < 0)
		return 9;   /* only the planted file: ours were removed, it was left */
	return 0;
}

static void test_no_tmpfile(void)
{
	char *store = make_store("notmpfile");
	char *store2 = make_store("notmpfile-eisdir");
	int r = in_child(no_tmpfile_child, store);

	if (r == 77) {
		fprintf(stderr, "  (skipped: seccomp filters not available)\n");
		goto out;
	}
	CHECK_EQ(r, 0);
	setenv("VOLFS_TEST_EISDIR", "1", 1);
	r = in_child(no_tmpfile_child, store2);
	unsetenv("VOLFS_TEST_EISDIR");
	CHECK_EQ(r, 0);
out:
	free(store);
	free(store2);
}

/*
 * In a child: a tmpfs mounted with @options at @dir, in a private mount
 * namespace, holding a store's chunks/ and tmp/.  77 if that cannot be had.
 */
static int tmpfs_store(const char *dir, const char *options)
{
	char sub[PATH_MAX];
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("volfs-test", dir, "tmpfs", 0, options) < 0)
		return 77;
	snprintf(sub, sizeof(sub), "%s/chunks", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	mkdir(sub, 0700);
	return 0;
}

/*
 * A full file system: ENOSPC comes back as it is, and tmp/ keeps nothing.
 * Needs a private mount namespace for a small tmpfs (root); skipped otherwise.
 */
static int enospc_child(const char *dir)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id id;
	size_t len = 1024 * 1024;
	char *data = malloc(len);
	int r;

	if (!data)
		return 3;
	if (tmpfs_store(dir, "size=256k,mode=0700") != 0)
		return 77;
	make_secret(secret, 10);
	if (chunk_store_open(dir, secret, 0, &cs) < 0)
		return 4;
	fill_random(data, len);
	chunk_id_of(cs, data, len, &id);
	r = chunk_write(cs, &id, data, len, CHUNK_SYNC);
	chunk_store_close(cs);
	if (r != -ENOSPC)
		return 5;
	if (count_files(dir, "tmp") != 0 || count_files(dir, "chunks") != 0)
		return 6;
	return 0;
}

static void test_enospc(void)
{
	const char *dir = test_subdir("enospc");
	int r = in_child(enospc_child, dir);

	if (r == 77) {
		fprintf(stderr, "  (skipped: cannot mount a tmpfs in a private namespace)\n");
		return;
	}
	CHECK_EQ(r, 0);
}

/*
 * A file system without the top-directory hint (tmpfs): chunk_store_spread()
 * changes nothing and fails nothing, and chunks are written into fan-out
 * directories that did not exist yet and read back.
 */
static int spread_unsupported_child(const char *dir)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id id;
	struct stat before, after;
	char data[4096], back[4096], chunks[PATH_MAX];
	int dirfd, r = 0;

	if (tmpfs_store(dir, "size=1m,mode=0700") != 0)
		return 77;
	snprintf(chunks, sizeof(chunks), "%s/chunks", dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dirfd < 0 || stat(chunks, &before) < 0)
		return 3;
	chunk_store_spread(dirfd);
	close(dirfd);
	if (stat(chunks, &after) < 0 || after.st_ctim.tv_sec != before.st_ctim.tv_sec ||
	    after.st_ctim.tv_nsec != before.st_ctim.tv_nsec)
		return 4;   /* an inode flag that was set changes ctime */
	make_secret(secret, 12);
	if (chunk_store_open(dir, secret, 0, &cs) < 0)
		return 5;
	for (int i = 0; i < 8 && r == 0; i++) {
		fill_random(data, sizeof(data));
		chunk_id_of(cs, data, sizeof(data), &id);
		if (chunk_write(cs, &id, data, sizeof(data), i % 2 ? CHUNK_SYNC : 0) < 0 ||
		    chunk_read(cs, &id, back, sizeof(back)) < 0 || memcmp(data, back, sizeof(data)))
			r = 6;
	}
	chunk_store_close(cs);
	if (r == 0 && (count_files(dir, "chunks") != 8 || count_files(dir, "tmp") != 0))
		r = 7;
	return r;
}

static void test_spread_unsupported(void)
{
	int r = in_child(spread_unsupported_child, test_subdir("spread"));

	if (r == 77) {
		fprintf(stderr, "  (skipped: cannot mount a tmpfs in a private namespace)\n");
		return;
	}
	CHECK_EQ(r, 0);
}

/* ---- with a real index ------------------------------------------------------ */

struct ix {
	char *store;
	struct idx_env *env;
	struct chunk_store *cs;
};

static int ix_open(struct ix *ix, const char *name)
{
	uint8_t secret[IDX_SECRET_SIZE];
	char path[PATH_MAX];
	int r;

	ix->store = make_store(name);
	snprintf(path, sizeof(path), "%s/index", ix->store);
	r = idx_env_open(path, IDX_ENV_CREATE, 0, &ix->env);
	if (r < 0)
		return r;
	make_secret(secret, 11);
	return chunk_store_open(ix->store, secret, CHUNK_STORE_CLEAN_TMP | CHUNK_STORE_RECYCLE,
				&ix->cs);
}

static void ix_close(struct ix *ix)
{
	chunk_store_close(ix->cs);
	idx_env_close(ix->env);
	free(ix->store);
}

/* refs of chunk @id, -ENOENT if it has no record */
static long long refs_of(struct ix *ix, const struct idx_chunk_id *id)
{
	struct idx_txn *txn;
	struct idx_chunk c;
	int r = idx_txn_begin(ix->env, IDX_TXN_RDONLY, &txn);

	if (r < 0)
		return r;
	r = idx_chunk_get(txn, id, &c);
	idx_txn_abort(txn);
	return r < 0 ? r : (long long)c.refs;
}

/* ---- the pool and free space -------------------------------------------- */

enum { POOL_LEN = 32 * 1024, POOL_N = 8 };

/* POOL_N new chunks put, referenced and dropped, then gc: their files go to the pool. */
static int pool_round(struct chunk_store *cs, struct idx_env *env, uint8_t *data)
{
	struct idx_txn *txn;
	struct idx_chunk_id id;
	uint64_t freed = 0;
	int r = idx_txn_begin(env, 0, &txn);
	for (int i = 0; i < POOL_N && r == 0; i++) {
		fill_random(data, POOL_LEN);
		r = chunk_put(cs, txn, data, POOL_LEN, 0, &id);
		if (r == 0)
			r = idx_chunk_ref(txn, &id, POOL_LEN);
		if (r == 0)
			r = idx_chunk_unref(txn, &id);
	}
	if (r == 0)
		r = idx_txn_commit(txn);
	else
		idx_txn_abort(txn);
	if (r == 0)
		r = idx_txn_begin(env, 0, &txn);
	if (r == 0 && (r = chunk_gc(cs, txn, &freed)) == 0)
		r = idx_txn_commit(txn);
	chunk_store_drain(cs);
	return r == 0 && freed == POOL_N ? 0 : -1;
}

/* Writes @len bytes to @path, or until the file system is full if @len is 0. */
static void fill_with(const char *path, size_t len)
{
	static char buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	for (size_t done = 0; fd >= 0 && (len == 0 || done < len); done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
	if (fd >= 0)
		close(fd);
}

/*
 * In a 2 MiB tmpfs, with a pool bound of 256 KiB: dead chunks' files are
 * kept whole while 1 MiB is free, given back when less is, and a write
 * that meets a full disk removes the whole ones before it gives up.
 */
static int pool_space_child(const char *dir)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_env *env = NULL;
	struct idx_chunk_id id;
	static uint8_t data[2 * POOL_LEN], back[2 * POOL_LEN];
	char sub[PATH_MAX], filler[PATH_MAX];

	snprintf(sub, sizeof(sub), "%s-index", dir);
	if (mkdir(sub, 0700) < 0 || idx_env_open(sub, IDX_ENV_CREATE, 0, &env) < 0)
		return 3;
	if (tmpfs_store(dir, "size=2m,mode=0700") != 0)
		return 77;
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	make_secret(secret, 12);
	if (chunk_store_open(dir, secret, CHUNK_STORE_RECYCLE, &cs) < 0)
		return 4;
	chunk_store_set_recycle_bytes(cs, POOL_N * POOL_LEN);

	if (pool_round(cs, env, data) < 0 || tmp_bytes(dir) != POOL_N * POOL_LEN)
		return 10;   /* room: kept whole */
	fill_with(filler, 1024 * 1024);
	if (pool_round(cs, env, data) < 0 || tmp_bytes(dir) != 0 ||
	    count_files(dir, "tmp") != POOL_N)
		return 11;   /* less than 1 MiB free: emptied */
	unlink(filler);
	if (pool_round(cs, env, data) < 0 || tmp_bytes(dir) != POOL_N * POOL_LEN)
		return 12;
	fill_with(filler, 0);
	/* bigger than the files of the pool: one of them would have to grow */
	fill_random(data, sizeof(data));
	chunk_id_of(cs, data, sizeof(data), &id);
	if (chunk_write(cs, &id, data, sizeof(data), 0) < 0 ||
	    chunk_read(cs, &id, back, sizeof(back)) < 0 || memcmp(data, back, sizeof(data)))
		return 13;
	if (tmp_bytes(dir) != 0)
		return 14;
	chunk_store_close(cs);
	idx_env_close(env);
	return 0;
}

static void test_pool_space(void)
{
	int r = in_child(pool_space_child, test_subdir("poolspace"));
	if (r == 77) {
		fprintf(stderr, "  (skipped: cannot mount a tmpfs in a private namespace)\n");
		return;
	}
	CHECK_EQ(r, 0);
}

static int count_dead(const struct idx_chunk_id *id, const struct idx_chunk *c, void *arg)
{
	(void)id;
	if (c->refs != 0)
		return -EUCLEAN;
	++*(int *)arg;
	return 0;
}

static void test_put_ref_gc(void)
{
	struct ix ix = { 0 };
	struct idx_txn *txn;
	struct idx_chunk_id id, id2;
	struct idx_chunk c;
	char data[16384], back[16384];
	uint64_t freed = 99;
	int dead = 0;
	struct stat st;
	ino_t dead_ino;

	fill_random(data, sizeof(data));
	CHECK_OK(ix_open(&ix, "putgc"));

	/* nothing that changes the index runs in a read-only transaction */
	memset(&id, 0, sizeof(id));
	CHECK_OK(idx_txn_begin(ix.env, IDX_TXN_RDONLY, &txn));
	CHECK_EQ(chunk_put(ix.cs, txn, data, sizeof(data), 0, &id), -EROFS);
	CHECK_EQ(chunk_put_prepared(ix.cs, txn, &id, data, sizeof(data), 0), -EROFS);
	CHECK_EQ(chunk_discard_prepared(ix.cs, txn, &id), -EROFS);
	CHECK_EQ(chunk_gc(ix.cs, txn, &freed), -EROFS);
	CHECK_EQ(chunk_gc_start(ix.cs, txn), -EROFS);
	idx_txn_abort(txn);

	/* a block of zeros is a hole, never a chunk; nor is an empty one */
	memset(back, 0, sizeof(back));
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_EQ(chunk_put(ix.cs, txn, back, sizeof(back), 0, &id), -EINVAL);
	CHECK_EQ(chunk_put(ix.cs, txn, data, 0, 0, &id), -EINVAL);
	idx_txn_abort(txn);
	CHECK_EQ(count_files(ix.store, "chunks"), 0);

	/* put + ref + commit */
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), CHUNK_SYNC | CHUNK_VERIFY, &id));
	CHECK_OK(idx_chunk_ref(txn, &id, sizeof(data)));
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(refs_of(&ix, &id), 1);
	CHECK_OK(chunk_read(ix.cs, &id, back, sizeof(back)));
	CHECK(memcmp(data, back, sizeof(data)) == 0);

	/* a second put of the same bytes shares the chunk */
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), CHUNK_VERIFY, &id2));
	CHECK(memcmp(&id, &id2, sizeof(id)) == 0);
	CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), 0, &id2));
	CHECK_OK(idx_chunk_ref(txn, &id, sizeof(data)));
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(refs_of(&ix, &id), 2);
	CHECK_EQ(count_files(ix.store, "chunks"), 1);

	/* down to zero: dead, but the file stays until gc */
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(idx_chunk_unref(txn, &id));
	CHECK_OK(idx_chunk_unref(txn, &id));
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(refs_of(&ix, &id), 0);
	CHECK_OK(idx_txn_begin(ix.env, IDX_TXN_RDONLY, &txn));
	CHECK_OK(idx_dead_chunk_foreach(txn, count_dead, &dead));
	idx_txn_abort(txn);
	CHECK_EQ(dead, 1);
	CHECK_OK(stat(chunk_path(ix.store, &id), &st));
	dead_ino = st.st_ino;

	/* gc removes the file and the record */
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_gc(ix.cs, txn, &freed));
	CHECK_EQ(freed, 1);
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(refs_of(&ix, &id), -ENOENT);
	CHECK_EQ(chunk_read(ix.cs, &id, back, sizeof(back)), -ENOENT);
	CHECK_OK(idx_txn_begin(ix.env, IDX_TXN_RDONLY, &txn));
	CHECK_EQ(idx_chunk_get(txn, &id, &c), -ENOENT);
	dead = 0;
	CHECK_OK(idx_dead_chunk_foreach(txn, count_dead, &dead));
	idx_txn_abort(txn);
	CHECK_EQ(dead, 0);

	/* the file waits in tmp/, whole, and the next new chunk is written over it */
	chunk_store_drain(ix.cs);
	CHECK_EQ(count_files(ix.store, "tmp"), 1);
	CHECK_EQ(tmp_bytes(ix.store), sizeof(data));
	data[0] ^= 1;
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), 0, &id2));
	CHECK_OK(idx_chunk_ref(txn, &id2, sizeof(data)));
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(count_files(ix.store, "tmp"), 0);
	CHECK_OK(stat(chunk_path(ix.store, &id2), &st));
	CHECK(st.st_ino == dead_ino);
	CHECK_OK(chunk_read(ix.cs, &id2, back, sizeof(back)));
	CHECK(memcmp(data, back, sizeof(data)) == 0);
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(idx_chunk_unref(txn, &id2));
	CHECK_OK(chunk_gc(ix.cs, txn, &freed));
	CHECK_OK(idx_txn_commit(txn));

	/* nothing left to free */
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_gc(ix.cs, txn, &freed));
	CHECK_EQ(freed, 0);
	CHECK_OK(idx_txn_commit(txn));
	ix_close(&ix);
}

/*
 * gc only renames dead chunks' files: the recycling thread keeps them
 * whole up to the pool's bound and empties the rest, later, off the write
 * transaction; closing the store removes them all.
 */
static void test_gc_many(void)
{
	enum { N = 200 };
	struct ix ix = { 0 };
	struct idx_txn *txn;
	struct idx_chunk_id ids[N];
	char data[8192];
	uint64_t freed = 0;

	fill_random(data, sizeof(data));
	CHECK_OK(ix_open(&ix, "gcmany"));
	chunk_store_set_recycle_bytes(ix.cs, 50 * sizeof(data));
	for (int round = 0; round < 2; round++) {
		CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
		for (int i = 0; i < N; i++) {
			memcpy(data, &i, sizeof(i));
			CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), 0, &ids[i]));
			CHECK_OK(idx_chunk_ref(txn, &ids[i], sizeof(data)));
			CHECK_OK(idx_chunk_unref(txn, &ids[i]));
		}
		CHECK_OK(idx_txn_commit(txn));
		CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
		CHECK_OK(chunk_gc(ix.cs, txn, &freed));
		CHECK_EQ(freed, N);
		CHECK_OK(idx_txn_commit(txn));
		CHECK_EQ(count_files(ix.store, "chunks"), 0);
		if (round == 0) {
			chunk_store_drain(ix.cs);
			CHECK_EQ(count_files(ix.store, "tmp"), N);
			CHECK_EQ(tmp_bytes(ix.store), 50 * sizeof(data));
		}
		data[100] ^= 1;   /* new chunks: round 1 takes round 0's files */
	}
	chunk_store_close(ix.cs);   /* without waiting */
	ix.cs = NULL;
	CHECK_EQ(count_files(ix.store, "tmp"), 0);
	ix_close(&ix);
}

/* A chunk put, referenced and dropped again in a transaction of its own: dead, with its file. */
static void put_dead(struct ix *ix, uint8_t *data, size_t len, struct idx_chunk_id *id)
{
	struct idx_txn *txn;
	fill_random(data, len);
	CHECK_OK(idx_txn_begin(ix->env, 0, &txn));
	CHECK_OK(chunk_put(ix->cs, txn, data, len, 0, id));
	CHECK_OK(idx_chunk_ref(txn, id, len));
	CHECK_OK(idx_chunk_unref(txn, id));
	CHECK_OK(idx_txn_commit(txn));
}

/*
 * gc without the wait (chunk.c, "Recycling", rules a to d): the thread
 * takes the files of chunks dead at the batch's start while the batch goes
 * on.  A chunk the batch revives keeps its file, or gets it back; only
 * the records of files taken and not revived are forgotten; an abort
 * forgets none.
 */
static void test_gc_taker(void)
{
	enum { LEN = 5000 };
	struct ix ix = { 0 };
	struct idx_txn *txn;
	struct idx_chunk_id a, b, c, id;
	uint8_t da[LEN], db[LEN], dc[LEN], back[LEN];
	uint64_t freed = 0;

	CHECK_OK(ix_open(&ix, "taker"));
	put_dead(&ix, da, LEN, &a);
	put_dead(&ix, db, LEN, &b);
	put_dead(&ix, dc, LEN, &c);

	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	chunk_gc_hold(ix.cs, true);
	CHECK_OK(chunk_gc_start(ix.cs, txn));
	CHECK_EQ(chunk_gc_start(ix.cs, txn), -EBUSY);   /* one list per batch */
	/* a revived before the thread got to it: its file stays */
	CHECK_OK(chunk_put(ix.cs, txn, da, LEN, 0, &id));
	CHECK_OK(idx_chunk_ref(txn, &a, LEN));
	chunk_gc_hold(ix.cs, false);
	chunk_gc_wait(ix.cs);
	CHECK_OK(access(chunk_path(ix.store, &a), F_OK));
	CHECK_EQ(access(chunk_path(ix.store, &b), F_OK), -1);
	CHECK_EQ(access(chunk_path(ix.store, &c), F_OK), -1);
	/* b revived after its file went: written again; dead again, it keeps record and file */
	CHECK_OK(chunk_put(ix.cs, txn, db, LEN, 0, &id));
	CHECK_OK(idx_chunk_ref(txn, &b, LEN));
	CHECK_OK(idx_chunk_unref(txn, &b));
	CHECK_OK(chunk_gc_finish(ix.cs, txn));
	CHECK_OK(idx_txn_commit(txn));

	CHECK_EQ(refs_of(&ix, &a), 1);
	CHECK_OK(chunk_read(ix.cs, &a, back, LEN));
	CHECK(memcmp(back, da, LEN) == 0);
	CHECK_EQ(refs_of(&ix, &b), 0);
	CHECK_OK(chunk_read(ix.cs, &b, back, LEN));
	CHECK(memcmp(back, db, LEN) == 0);
	CHECK_EQ(refs_of(&ix, &c), -ENOENT);

	/* an abort: the file went, the record stays dead, and the next gc completes it */
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_gc_start(ix.cs, txn));
	chunk_gc_wait(ix.cs);
	CHECK_OK(chunk_gc_finish(ix.cs, NULL));
	idx_txn_abort(txn);
	CHECK_EQ(refs_of(&ix, &b), 0);
	CHECK_EQ(access(chunk_path(ix.store, &b), F_OK), -1);
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_gc(ix.cs, txn, &freed));
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(freed, 1);
	CHECK_EQ(refs_of(&ix, &b), -ENOENT);
	ix_close(&ix);
}

/*
 * Prepared chunks and gc's list: a file found by chunk_prepare() and then
 * taken is not trusted as synced at the put (it returns 1), a prepared file
 * discarded after gc took the record's is removed, not left without a
 * record; chunk_gc_finish() drops what is not taken yet.  Also without the
 * thread (a store without CHUNK_STORE_RECYCLE), where the files go at once.
 */
static void test_gc_taker_prepared(void)
{
	enum { LEN = 6000 };
	for (int threaded = 1; threaded >= 0; threaded--) {
		struct ix ix = { 0 };
		struct idx_txn *txn;
		struct idx_chunk_id a, b, c, id;
		uint8_t da[LEN], db[LEN], dc[LEN];

		CHECK_OK(ix_open(&ix, threaded ? "takerprep" : "takerprep0"));
		if (!threaded) {   /* the same store, without the pool and its threads */
			uint8_t secret[IDX_SECRET_SIZE];
			chunk_store_close(ix.cs);
			make_secret(secret, 11);
			CHECK_OK(chunk_store_open(ix.store, secret, 0, &ix.cs));
		}
		put_dead(&ix, da, LEN, &a);
		put_dead(&ix, db, LEN, &b);
		put_dead(&ix, dc, LEN, &c);

		/* finishing drops what is not taken: records and files stay */
		if (threaded) {
			CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
			chunk_gc_hold(ix.cs, true);
			CHECK_OK(chunk_gc_start(ix.cs, txn));
			CHECK_OK(chunk_gc_finish(ix.cs, txn));
			chunk_gc_hold(ix.cs, false);
			chunk_gc_wait(ix.cs);
			CHECK_OK(idx_txn_commit(txn));
			CHECK_EQ(refs_of(&ix, &a), 0);
			CHECK_OK(access(chunk_path(ix.store, &a), F_OK));
		}

		/* a and b prepared while their dead files are there: found, not written */
		CHECK_OK(chunk_prepare(ix.cs, da, LEN, 0, &id));
		CHECK_OK(chunk_prepare(ix.cs, db, LEN, 0, &id));
		CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
		CHECK_OK(chunk_gc_start(ix.cs, txn));
		chunk_gc_wait(ix.cs);
		CHECK_EQ(access(chunk_path(ix.store, &a), F_OK), -1);
		/* someone writes a again: the file under its name is not the one found */
		CHECK_OK(chunk_prepare(ix.cs, da, LEN, 0, &id));
		CHECK_EQ(chunk_put_prepared(ix.cs, txn, &a, da, LEN, 0), 1);
		CHECK_OK(idx_chunk_ref(txn, &a, LEN));
		/* b is written again and then not put: its file goes, with the record */
		CHECK_OK(chunk_prepare(ix.cs, db, LEN, 0, &id));
		CHECK_OK(chunk_discard_prepared(ix.cs, txn, &b));
		CHECK_EQ(access(chunk_path(ix.store, &b), F_OK), -1);
		/* c: prepared after the take and put, the usual way */
		CHECK_OK(chunk_prepare(ix.cs, dc, LEN, 0, &id));
		CHECK_EQ(chunk_put_prepared(ix.cs, txn, &c, dc, LEN, 0), 1);
		CHECK_OK(idx_chunk_ref(txn, &c, LEN));
		CHECK_OK(chunk_gc_finish(ix.cs, txn));
		CHECK_OK(idx_txn_commit(txn));
		CHECK_EQ(refs_of(&ix, &a), 1);
		CHECK_EQ(refs_of(&ix, &b), -ENOENT);
		CHECK_EQ(refs_of(&ix, &c), 1);
		CHECK_EQ(count_files(ix.store, "chunks"), 2);
		ix_close(&ix);
	}
}

/*
 * A dead chunk whose file is gone: gc unlinked the file, then its
 * transaction aborted, so the record is still there, dead.  Putting the
 * same bytes again must bring the file back.
 */
static void test_revive_dead(void)
{
	struct ix ix = { 0 };
	struct idx_txn *txn;
	struct idx_chunk_id id;
	uint8_t data[3000], back[3000];
	uint64_t freed = 0;

	CHECK_OK(ix_open(&ix, "revive"));
	put_dead(&ix, data, sizeof(data), &id);

	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_gc(ix.cs, txn, &freed));
	CHECK_EQ(freed, 1);
	idx_txn_abort(txn);
	CHECK_EQ(refs_of(&ix, &id), 0);
	CHECK_EQ(access(chunk_path(ix.store, &id), F_OK), -1);

	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), 0, &id));
	CHECK_OK(idx_chunk_ref(txn, &id, sizeof(data)));
	CHECK_OK(idx_txn_commit(txn));
	CHECK_EQ(refs_of(&ix, &id), 1);
	CHECK_OK(chunk_read(ix.cs, &id, back, sizeof(back)));
	CHECK(memcmp(data, back, sizeof(data)) == 0);

	/* a live chunk whose file was lost is written again, with or without VERIFY */
	for (unsigned flags = 0; flags <= CHUNK_VERIFY; flags += CHUNK_VERIFY) {
		CHECK_OK(chunk_unlink(ix.cs, &id));
		CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
		CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), flags, &id));
		idx_txn_abort(txn);
		CHECK_OK(chunk_read(ix.cs, &id, back, sizeof(back)));
	}
	ix_close(&ix);
}

/* A live chunk whose file holds other bytes: VERIFY refuses to share it. */
static void test_put_damaged(void)
{
	struct ix ix = { 0 };
	struct idx_txn *txn;
	struct idx_chunk_id id;
	char data[4096], wrong[4096];
	char *path;

	fill_random(data, sizeof(data));
	memcpy(wrong, data, sizeof(data));
	wrong[0] ^= 1;
	CHECK_OK(ix_open(&ix, "damaged"));
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_OK(chunk_put(ix.cs, txn, data, sizeof(data), 0, &id));
	CHECK_OK(idx_chunk_ref(txn, &id, sizeof(data)));
	CHECK_OK(idx_txn_commit(txn));

	path = chunk_path(ix.store, &id);
	CHECK_OK(chmod(path, 0600));
	CHECK_OK(write_file(path, wrong, sizeof(wrong)));
	CHECK_OK(idx_txn_begin(ix.env, 0, &txn));
	CHECK_EQ(chunk_put(ix.cs, txn, data, sizeof(data), CHUNK_VERIFY, &id), -EIO);
	CHECK_OK(truncate(path, 100));
	/* a wrong length is caught even without VERIFY */
	CHECK_EQ(chunk_put(ix.cs, txn, data, sizeof(data), 0, &id), -EIO);
	idx_txn_abort(txn);
	ix_close(&ix);
}

/*
 * The chunk cache: a hit serves verified bytes without the file (so not a
 * damage done after it), a miss reads and verifies the file, a chunk is
 * kept only within the budget, and the least recently used goes first.
 */
static void test_cache(void)
{
	uint8_t secret[IDX_SECRET_SIZE];
	struct chunk_store *cs = NULL;
	struct idx_chunk_id id[3];
	char *store = make_store("cache");
	enum { LEN = 3 * 4096 };
	static char data[3][LEN];
	char back[LEN];

	make_secret(secret, 9);
	CHECK_OK(chunk_store_open(store, secret, 0, &cs));
	struct chunk_cache *cc = chunk_cache_new();
	CHECK(cc != NULL);
	for (int i = 0; i < 3; i++) {
		fill_random(data[i], LEN);
		chunk_id_of(cs, data[i], LEN, &id[i]);
		CHECK_OK(chunk_write(cs, &id[i], data[i], LEN, 0));
	}
	CHECK_EQ(chunk_cache_read(cc, cs, &id[0], LEN, 0, LEN + 1, back, 1 << 20), -EINVAL);

	/* no budget: read, verified, not kept */
	CHECK_OK(chunk_cache_read(cc, cs, &id[0], LEN, 100, 50, back, 0));
	CHECK(memcmp(back, data[0] + 100, 50) == 0);
	CHECK_EQ(chunk_cache_bytes(cc), 0);

	/* room for two: the third read drops the least recently used (chunk 1) */
	CHECK_OK(chunk_cache_read(cc, cs, &id[0], LEN, 0, 10, back, 2 * LEN));
	CHECK_OK(chunk_cache_read(cc, cs, &id[1], LEN, 0, 10, back, 2 * LEN));
	CHECK_EQ(chunk_cache_bytes(cc), 2 * LEN);
	CHECK_OK(chunk_cache_read(cc, cs, &id[0], LEN, 5000, 10, back, 2 * LEN));   /* a hit */
	CHECK(memcmp(back, data[0] + 5000, 10) == 0);
	CHECK_OK(chunk_cache_read(cc, cs, &id[2], LEN, 0, 10, back, 2 * LEN));
	CHECK_EQ(chunk_cache_bytes(cc), 2 * LEN);

	/* damage every file: the cached chunks (0, 2) still come back right, chunk 1 is an error */
	for (int i = 0; i < 3; i++) {
		const char *path = chunk_path(store, &id[i]);
		data[i][7] ^= 1;
		CHECK_OK(chmod(path, 0600));
		CHECK_OK(write_file(path, data[i], LEN));
		data[i][7] ^= 1;
	}
	CHECK_OK(chunk_cache_read(cc, cs, &id[0], LEN, 0, LEN, back, 2 * LEN));
	CHECK(memcmp(back, data[0], LEN) == 0);
	CHECK_OK(chunk_cache_read(cc, cs, &id[2], LEN, 1, LEN - 1, back, 2 * LEN));
	CHECK(memcmp(back, data[2] + 1, LEN - 1) == 0);
	CHECK_EQ(chunk_cache_read(cc, cs, &id[1], LEN, 0, 10, back, 2 * LEN), -EIO);
	CHECK_EQ(chunk_cache_bytes(cc), 2 * LEN);   /* a damaged chunk never enters */

	/* shrinking drops the least recently used first: chunk 0, then 2 */
	chunk_cache_shrink(cc, LEN);
	CHECK_EQ(chunk_cache_bytes(cc), LEN);
	CHECK_OK(chunk_cache_read(cc, cs, &id[2], LEN, 0, 10, back, LEN));
	CHECK_EQ(chunk_cache_read(cc, cs, &id[0], LEN, 0, 10, back, LEN), -EIO);
	chunk_cache_shrink(cc, 0);
	CHECK_EQ(chunk_cache_bytes(cc), 0);
	CHECK_EQ(chunk_cache_read(cc, cs, &id[2], LEN, 0, 10, back, LEN), -EIO);

	/* many entries: the table grows, every one is found */
	for (int i = 0; i < 3000; i++) {
		char small[64];
		struct idx_chunk_id sid;
		snprintf(small, sizeof(small), "chunk number %d", i);
		chunk_id_of(cs, small, sizeof(small), &sid);
		CHECK_OK(chunk_write(cs, &sid, small, sizeof(small), 0));
		CHECK_OK(chunk_cache_read(cc, cs, &sid, sizeof(small), 0, 16, back, 1 << 30));
	}
	CHECK_EQ(chunk_cache_bytes(cc), 3000 * (uint64_t)sysconf(_SC_PAGESIZE));
	chunk_cache_drop_idle(cc, 60000);   /* used just now: kept */
	CHECK_EQ(chunk_cache_bytes(cc), 3000 * (uint64_t)sysconf(_SC_PAGESIZE));
	usleep(20000);
	chunk_cache_drop_idle(cc, 10);
	CHECK_EQ(chunk_cache_bytes(cc), 0);
	chunk_cache_free(cc);
	chunk_store_close(cs);
	free(store);
}

int main(void)
{
	RUN(test_hash);
	RUN(test_hex);
	RUN(test_relpath);
	RUN(test_is_zero);
	RUN(test_roundtrip);
	RUN(test_dedup);
	RUN(test_distinct);
	RUN(test_corrupt);
	RUN(test_planted_replaced);
	RUN(test_clean_tmp);
	RUN(test_open_errors);
	RUN(test_no_tmpfile);
	RUN(test_enospc);
	RUN(test_spread_unsupported);
	RUN(test_put_ref_gc);
	RUN(test_gc_many);
	RUN(test_gc_taker);
	RUN(test_gc_taker_prepared);
	RUN(test_pool_space);
	RUN(test_revive_dead);
	RUN(test_put_damaged);
	RUN(test_cache);
	return test_exit();
}
