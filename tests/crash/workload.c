/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * workload.c — the program of the crash trials (tests/crash/crash.sh).
 *
 *   workload run DIR LOG SEED      work in DIR until an error (the daemon died)
 *   workload verify DIR LOG SEED   check that everything LOG acknowledges is in DIR
 *
 * `run` mixes what databases and mail servers do, and appends to LOG (a file
 * outside the mount) one line per write that fsync acknowledged, after the
 * fsync returned:
 *   A END        append.dat holds its bytes [0, END) (appends + fsync)
 *   S N LEN      small/f.N holds LEN bytes (write tmp, fsync, rename, fsync dir)
 *   D P V        page P of db.dat holds version V or a newer one (8 KiB
 *                pwrite at random pages, fsync or fdatasync every few)
 * Contents are a function of the offset, file number or (page, version, half),
 * so `verify` can tell right bytes from wrong ones.  A database page is two
 * 4 KiB halves, each with its own header: the kernel may write back half a
 * page that was never acknowledged, and each half must still be some version
 * no older than the acknowledged one.
 *
 * Exit: 0 verified (run: never returns 0 except at the iteration limit),
 * 1 a verification failed, 2 usage or setup error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xorshift.h"

#define PAGES      64
#define PAGE       8192
#define HALF       4096
#define SMALL_MAX  3000
#define APPEND_MAX 20000

static uint64_t rng;
static uint32_t seed_byte;

static uint64_t next_rand(void)
{
	return xorshift64s(&rng);
}

static uint8_t append_byte(uint64_t off)
{
	return (uint8_t)(((off * 2654435761u) >> 13) ^ seed_byte ^ 0x5a);
}

static uint8_t small_byte(uint64_t n, size_t i)
{
	return (uint8_t)(n * 31 + i * 7 + 1);
}

/* One 4 KiB half of page @p at version @v: a 24-byte header, then bytes of (p, v, half). */
static void fill_half(uint8_t *buf, uint32_t p, uint64_t v, uint32_t half)
{
	memcpy(buf, "VOLFSDB!", 8);
	memcpy(buf + 8, &p, 4);
	memcpy(buf + 12, &half, 4);
	memcpy(buf + 16, &v, 8);
	for (size_t i = 24; i < HALF; i++)
		buf[i] = (uint8_t)(v * 13 + p * 5 + half + i);
}

static __attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "workload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static int logfd = -1;

static void logf_line(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line, O_APPEND: a line is whole or absent */
	if (write(logfd, line, (size_t)n) != n)
		die("writing the log: %s", strerror(errno));
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- run ------------------------------------------------------------------ */

static int run(const char *dir)
{
	char path[4096], tmp[4096];
	static uint8_t buf[APPEND_MAX > PAGE ? APPEND_MAX : PAGE];
	uint64_t append_end = 0, small_n = 0, dbver = 0;
	uint64_t pending[PAGES] = { 0 };   /* version written since the last db fsync, 0: none */
	unsigned since_sync = 0;

	snprintf(path, sizeof(path), "%s/small", dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return 1;
	int sdir = open(path, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "%s/append.dat", dir);
	int afd = open(path, O_WRONLY | O_CREAT, 0644);
	snprintf(path, sizeof(path), "%s/db.dat", dir);
	int dfd = open(path, O_RDWR | O_CREAT, 0644);
	if (sdir < 0 || afd < 0 || dfd < 0)
		return 1;
	/* the names of the three must be durable before anything in them is logged */
	int top = open(dir, O_RDONLY | O_DIRECTORY);
	if (top < 0 || fsync(top) < 0)
		return 1;
	close(top);

	for (unsigned long iter = 0; iter < 1000000; iter++) {
		unsigned op = (unsigned)(next_rand() % 10);
		if (op < 3) {
			size_t len = 1 + next_rand() % APPEND_MAX;
			for (size_t i = 0; i < len; i++)
				buf[i] = append_byte(append_end + i);
			if (write_all(afd, buf, len, (off_t)append_end) < 0 || fsync(afd) < 0)
				return 1;
			append_end += len;
			logf_line("A %" PRIu64 "\n", append_end);
		} else if (op < 6) {
			uint64_t n = ++small_n;
			size_t len = 1 + (n * 37) % SMALL_MAX;
			for (size_t i = 0; i < len; i++)
				buf[i] = small_byte(n, i);
			snprintf(tmp, sizeof(tmp), "%s/small/t.%" PRIu64, dir, n);
			snprintf(path, sizeof(path), "%s/small/f.%" PRIu64, dir, n);
			int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || write_all(fd, buf, len, 0) < 0 || fsync(fd) < 0 || close(fd) < 0)
				return 1;
			if (rename(tmp, path) < 0 || fsync(sdir) < 0)
				return 1;
			logf_line("S %" PRIu64 " %zu\n", n, len);
		} else {
			uint32_t p = (uint32_t)(next_rand() % PAGES);
			uint64_t v = ++dbver;
			fill_half(buf, p, v, 0);
			fill_half(buf + HALF, p, v, 1);
			if (write_all(dfd, buf, PAGE, (off_t)p * PAGE) < 0)
				return 1;
			pending[p] = v;
			if (++since_sync >= 1 + next_rand() % 8) {
				int r = next_rand() % 2 ? fdatasync(dfd) : fsync(dfd);
				if (r < 0)
					return 1;
				for (uint32_t i = 0; i < PAGES; i++)
					if (pending[i]) {
						logf_line("D %" PRIu32 " %" PRIu64 "\n", i, pending[i]);
						pending[i] = 0;
					}
				since_sync = 0;
			}
		}
	}
	return 0;
}

/* ---- verify ---------------------------------------------------------------- */

static int failures;

static __attribute__((format(printf, 1, 2))) void bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "workload: LOST: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static ssize_t read_at(const char *path, void *buf, size_t len, off_t off, struct stat *st)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	if (st && fstat(fd, st) < 0) {
		close(fd);
		return -errno;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	return (ssize_t)done;
}

static int verify(const char *dir, const char *log)
{
	char path[4096], line[128];
	static uint8_t buf[1 << 20];
	uint64_t append_end = 0, db[PAGES] = { 0 }, nsmall = 0, nd = 0;
	FILE *f = fopen(log, "r");
	if (!f)
		die("%s: %s", log, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		uint64_t a, b;
		if (sscanf(line, "A %" SCNu64, &a) == 1) {
			append_end = a;
		} else if (sscanf(line, "S %" SCNu64 " %" SCNu64, &a, &b) == 2) {
			struct stat st;
			nsmall++;
			snprintf(path, sizeof(path), "%s/small/f.%" PRIu64, dir, a);
			ssize_t n = read_at(path, buf, SMALL_MAX + 1, 0, &st);
			if (n < 0) {
				bad("%s: %s", path, strerror((int)-n));
				continue;
			}
			if ((uint64_t)n != b || (uint64_t)st.st_size != b)
				bad("%s: %zd bytes, want %" PRIu64, path, n, b);
			for (ssize_t i = 0; i < n && (uint64_t)i < b; i++)
				if (buf[i] != small_byte(a, (size_t)i)) {
					bad("%s: byte %zd wrong", path, i);
					break;
				}
		} else if (sscanf(line, "D %" SCNu64 " %" SCNu64, &a, &b) == 2 && a < PAGES) {
			db[a] = b;
			nd++;
		} else if (line[0]) {
			/* the last line may be cut by the kill of the workload: only if it is last */
			if (strchr(line, '\n'))
				bad("log: bad line '%s'", line);
		}
	}
	fclose(f);

	/* appends */
	struct stat st;
	snprintf(path, sizeof(path), "%s/append.dat", dir);
	for (uint64_t off = 0; off < append_end;) {
		size_t len = append_end - off < sizeof(buf) ? (size_t)(append_end - off) : sizeof(buf);
		ssize_t n = read_at(path, buf, len, (off_t)off, &st);
		if (n < 0) {
			bad("%s: %s", path, strerror((int)-n));
			break;
		}
		if ((size_t)n != len) {
			bad("%s: %" PRIu64 " bytes, want at least %" PRIu64, path, (uint64_t)st.st_size,
			    append_end);
			break;
		}
		for (size_t i = 0; i < len; i++)
			if (buf[i] != append_byte(off + i)) {
				bad("%s: byte %" PRIu64 " wrong", path, off + i);
				off = append_end;
				break;
			}
		off += len;
	}

	/* database pages: each half some version >= the acknowledged one, whole */
	snprintf(path, sizeof(path), "%s/db.dat", dir);
	uint8_t want[HALF];
	for (uint32_t p = 0; p < PAGES; p++) {
		if (!db[p])
			continue;
		ssize_t n = read_at(path, buf, PAGE, (off_t)p * PAGE, NULL);
		if (n != PAGE) {
			bad("%s: page %" PRIu32 ": read %zd", path, p, n);
			continue;
		}
		for (uint32_t h = 0; h < 2; h++) {
			const uint8_t *half = buf + h * HALF;
			uint32_t gp, gh;
			uint64_t gv;
			memcpy(&gp, half + 8, 4);
			memcpy(&gh, half + 12, 4);
			memcpy(&gv, half + 16, 8);
			if (memcmp(half, "VOLFSDB!", 8) || gp != p || gh != h || gv < db[p]) {
				bad("%s: page %" PRIu32 " half %" PRIu32 ": version %" PRIu64 " of page %"
				    PRIu32 ", want page %" PRIu32 " version >= %" PRIu64, path, p, h, gv, gp,
				    p, db[p]);
				continue;
			}
			fill_half(want, p, gv, h);
			if (memcmp(half, want, HALF))
				bad("%s: page %" PRIu32 " half %" PRIu32 ": torn inside", path, p, h);
		}
	}
	fprintf(stderr, "workload: verified %" PRIu64 " appended bytes, %" PRIu64
		" small files, %" PRIu64 " page syncs: %d lost\n", append_end, nsmall, nd, failures);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: workload run|verify DIR LOG SEED");
	rng = strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
	seed_byte = (uint32_t)(rng >> 56);
	if (!strcmp(argv[1], "run")) {
		logfd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (logfd < 0)
			die("%s: %s", argv[3], strerror(errno));
		int r = run(argv[2]);
		if (r)
			fprintf(stderr, "workload: stopped: %s\n", strerror(errno));
		return r ? 3 : 0;
	}
	if (!strcmp(argv[1], "verify"))
		return verify(argv[2], argv[3]);
	die("usage: workload run|verify DIR LOG SEED");
}
