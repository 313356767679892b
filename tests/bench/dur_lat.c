/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dur_lat.c — the measuring program of tests/bench/bench_durability.sh.
 *
 *   dur_lat fsync DIR N       N x (pwrite 4 KiB at a random 4 KiB-aligned offset
 *                             of a 1 MiB file, fsync): prints "median_us p99_us"
 *   dur_lat create DIR N      N x (create a file, write 4 KiB, fsync it, fsync
 *                             DIR, close): prints "median_us p99_us"
 *   dur_lat fill FILE MIB     write MIB MiB of incompressible, never-repeating
 *                             bytes (1 MiB writes), fsync: prints "seconds"
 *   dur_lat mkfiles DIR N     N files of 4 KiB in DIR/d000..d099, then syncfs:
 *                             prints "seconds"
 *   dur_lat read FILE         read FILE sequentially (1 MiB reads): prints "seconds"
 *
 * Exit 0, 1 on an I/O error, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KB 4096

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void fill_rand(void *buf, size_t len)
{
	uint64_t *p = buf;
	for (size_t i = 0; i < len / 8; i++)
		p[i] = next_rand();
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what)
{
	fprintf(stderr, "dur_lat: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void print_lat(double *t, long n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	long p99 = (n * 99 + 99) / 100 - 1;
	printf("%.1f %.1f\n", t[n / 2] * 1e6, t[p99 < n ? p99 : n - 1] * 1e6);
}

static void write_full(int fd, const void *buf, size_t len, off_t off, const char *what)
{
	const char *p = buf;
	while (len) {
		ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(what);
		}
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
}

static int lat_fsync(const char *dir, long n)
{
	char path[4096];
	static char buf[1 << 20];
	double *t = calloc((size_t)n, sizeof(*t));
	snprintf(path, sizeof(path), "%s/dur_fsync.dat", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !t)
		fail(path);
	fill_rand(buf, sizeof(buf));
	write_full(fd, buf, sizeof(buf), 0, path);
	if (fsync(fd) < 0)
		fail("fsync");
	for (long i = 0; i < n; i++) {
		off_t off = (off_t)(next_rand() % (sizeof(buf) / KB)) * KB;
		fill_rand(buf, KB);
		double t0 = now();
		write_full(fd, buf, KB, off, path);
		if (fsync(fd) < 0)
			fail("fsync");
		t[i] = now() - t0;
	}
	close(fd);
	unlink(path);
	print_lat(t, n);
	return 0;
}

static int lat_create(const char *dir, long n)
{
	char path[4096];
	static char buf[KB];
	double *t = calloc((size_t)n, sizeof(*t));
	snprintf(path, sizeof(path), "%s/dur_create", dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fail(path);
	int dfd = open(path, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || !t)
		fail(path);
	if (fsync(dfd) < 0)
		fail("fsync dir");
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "f%06ld", i);
		fill_rand(buf, KB);
		double t0 = now();
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			fail(name);
		write_full(fd, buf, KB, 0, name);
		if (fsync(fd) < 0 || fsync(dfd) < 0)
			fail("fsync");
		close(fd);
		t[i] = now() - t0;
	}
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "f%06ld", i);
		unlinkat(dfd, name, 0);
	}
	close(dfd);
	rmdir(path);
	print_lat(t, n);
	return 0;
}

static int fill(const char *path, long mib)
{
	static char buf[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail(path);
	double t0 = now();
	for (long i = 0; i < mib; i++) {
		fill_rand(buf, sizeof(buf));
		write_full(fd, buf, sizeof(buf), -1, path);
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		fail("fsync");
	printf("%.3f\n", now() - t0);
	return 0;
}

static int mkfiles(const char *dir, long n)
{
	char path[4096];
	static char buf[KB];
	double t0 = now();
	for (long d = 0; d < 100; d++) {
		snprintf(path, sizeof(path), "%s/d%03ld", dir, d);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail(path);
	}
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/d%03ld/f%07ld", dir, i % 100, i);
		fill_rand(buf, KB);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			fail(path);
		write_full(fd, buf, KB, 0, path);
		if (close(fd) < 0)
			fail(path);
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || syncfs(dfd) < 0)
		fail("syncfs");
	close(dfd);
	printf("%.3f\n", now() - t0);
	return 0;
}

static int readall(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		fail(path);
	double t0 = now();
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0)
			fail(path);
		if (n == 0)
			break;
	}
	close(fd);
	printf("%.3f\n", now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "fsync"))
		return lat_fsync(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "create"))
		return lat_create(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "fill"))
		return fill(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "mkfiles"))
		return mkfiles(argv[2], atol(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "read"))
		return readall(argv[2]);
	fprintf(stderr, "usage: dur_lat fsync|create DIR N | fill FILE MIB | mkfiles DIR N | read FILE\n");
	return 2;
}
