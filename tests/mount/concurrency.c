/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * concurrency.c — concurrent writers and readers on one filesystem:
 *
 *   regions   threads write disjoint regions of one file (pwrite through
 *             their own descriptors, one through a shared mapping) in
 *             several passes while reader threads check that every 8-byte
 *             word they see is either zero or a word some pass wrote there;
 *             at the end every word holds its region's last pass.
 *   files     processes each write their own file while readers stat and
 *             read them; each file right at the end.
 *   append    processes append records with O_APPEND to one file: none lost,
 *             none torn, none overlapping.
 *   names     threads create, rename and unlink entries of one directory;
 *             the listing is exactly what remains.
 *
 *   concurrency DIR
 *
 * Exits 1 if anything was wrong.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB 1024l
#define MiB (1024 * KiB)

static atomic_int failures;
static char dir[4096];

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	va_list ap;
	char line[512];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (atomic_fetch_add(&failures, 1) < 20)
		fprintf(stderr, "FAIL: %s\n", line);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13; x ^= x >> 7; x ^= x << 17;
	return *s = x;
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* ---- regions of one file ------------------------------------------------ */

enum { WRITERS = 4, READERS = 2, PASSES = 6 };
#define REGION (2 * MiB)
#define FILESIZE (WRITERS * REGION)

static atomic_int writers_left;
static atomic_long words_checked;

/* The word pass @pass of the writer of @off puts at @off (never 0). */
static uint64_t word(long off, int pass)
{
	return (uint64_t)(off / REGION + 1) << 56 | (uint64_t)(pass + 1) << 48 | (uint64_t)off;
}

static void *region_writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char path[4200];
	uint64_t rng = 0x1234567 + t * 7919;
	long base = t * REGION;
	uint64_t *buf = malloc(64 * KiB);
	path_of(path, sizeof(path), "regions");
	int fd = open(path, O_RDWR);
	char *map = NULL;

	if (fd < 0 || !buf) {
		failf("regions: writer %d: open: %s", t, strerror(errno));
		goto out;
	}
	if (t == 0) {   /* this one writes through a shared mapping */
		map = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, base);
		if (map == MAP_FAILED) {
			failf("regions: mmap: %s", strerror(errno));
			goto out;
		}
	}
	for (int pass = 0; pass < PASSES; pass++) {
		/* the region in chunks of 8 B .. 64 KiB, from a random start, wrapping */
		long start = (xorshift(&rng) % (REGION / 8)) * 8, done = 0;
		while (done < REGION) {
			long off = (start + done) % REGION;
			long len = ((xorshift(&rng) % (64 * KiB / 8)) + 1) * 8;
			if (len > REGION - off)
				len = REGION - off;
			if (len > REGION - done)
				len = REGION - done;
			for (long i = 0; i < len / 8; i++)
				buf[i] = word(base + off + i * 8, pass);
			if (map) {
				memcpy(map + off, buf, len);
			} else if (pwrite(fd, buf, len, base + off) != len) {
				failf("regions: writer %d: pwrite at %ld: %s", t, base + off, strerror(errno));
				goto out;
			}
			done += len;
		}
		if (map && msync(map, REGION, MS_SYNC) < 0)
			failf("regions: msync: %s", strerror(errno));
		if (pass == PASSES / 2 && fsync(fd) < 0)
			failf("regions: fsync: %s", strerror(errno));
	}
out:
	if (map && map != MAP_FAILED)
		munmap(map, REGION);
	if (fd >= 0)
		close(fd);
	free(buf);
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

/* Whether @w is a word that may be at @off while the writers run. */
static bool plausible(uint64_t w, long off)
{
	if (w == 0)
		return true;
	int pass = (int)(w >> 48 & 0xff) - 1;
	return (w >> 56) == (uint64_t)(off / REGION + 1) && pass >= 0 && pass < PASSES &&
	       (w & 0xffffffffffffull) == (uint64_t)off;
}

static void *region_reader(void *arg)
{
	int r = (int)(intptr_t)arg;
	char path[4200];
	uint64_t rng = 0xabcdef + r;
	uint64_t *buf = malloc(256 * KiB);
	path_of(path, sizeof(path), "regions");
	int fd = open(path, O_RDONLY);
	if (fd < 0 || !buf) {
		failf("regions: reader %d: open: %s", r, strerror(errno));
		free(buf);
		return NULL;
	}
	while (atomic_load(&writers_left) > 0 && atomic_load(&failures) == 0) {
		long off = (xorshift(&rng) % (FILESIZE / 8)) * 8;
		long len = ((xorshift(&rng) % (256 * KiB / 8)) + 1) * 8;
		if (len > FILESIZE - off)
			len = FILESIZE - off;
		ssize_t n = pread(fd, buf, len, off);
		if (n != len) {
			failf("regions: reader %d: pread at %ld: %zd (%s)", r, off, n, n < 0 ? strerror(errno) : "short");
			break;
		}
		for (long i = 0; i < len / 8; i++)
			if (!plausible(buf[i], off + i * 8)) {
				failf("regions: reader %d saw %016" PRIx64 " at offset %ld", r, buf[i], off + i * 8);
				break;
			}
		atomic_fetch_add(&words_checked, len / 8);
	}
	close(fd);
	free(buf);
	return NULL;
}

static void test_regions(void)
{
	pthread_t w[WRITERS], r[READERS];
	char path[4200];
	path_of(path, sizeof(path), "regions");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, FILESIZE) < 0) {
		failf("regions: create: %s", strerror(errno));
		return;
	}
	atomic_store(&writers_left, WRITERS);
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&w[i], NULL, region_writer, (void *)(intptr_t)i);
	for (int i = 0; i < READERS; i++)
		pthread_create(&r[i], NULL, region_reader, (void *)(intptr_t)i);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);

	/* the end state, read through a fresh descriptor */
	uint64_t *buf = malloc(1 * MiB);
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size != FILESIZE)
		failf("regions: size %lld, want %ld", (long long)st.st_size, (long)FILESIZE);
	close(fd);
	fd = open(path, O_RDONLY);
	for (long off = 0; fd >= 0 && buf && off < FILESIZE; off += 1 * MiB) {
		if (pread(fd, buf, 1 * MiB, off) != 1 * MiB) {
			failf("regions: final read at %ld: %s", off, strerror(errno));
			break;
		}
		for (long i = 0; i < 1 * MiB / 8; i++)
			if (buf[i] != word(off + i * 8, PASSES - 1)) {
				failf("regions: at offset %ld: %016" PRIx64 ", want %016" PRIx64, off + i * 8, buf[i],
				      word(off + i * 8, PASSES - 1));
				off = FILESIZE;
				break;
			}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	fprintf(stderr, "regions: %d writers x %d passes, %ld words checked while writing\n", WRITERS, PASSES,
		atomic_load(&words_checked));
}

/* ---- separate files, in processes ---------------------------------------- */

enum { PROCS = 4 };
#define PFILE (6 * MiB)

static unsigned char pbyte(int p, long off)
{
	return (unsigned char)(p * 31 + off * 7 + (off >> 12));
}

static int file_writer(int p)
{
	char name[32], path[4200];
	unsigned char *buf = malloc(64 * KiB);
	snprintf(name, sizeof(name), "proc%d", p);
	path_of(path, sizeof(path), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !buf)
		return 1;
	for (long off = 0; off < PFILE; off += 64 * KiB) {
		for (long i = 0; i < 64 * KiB; i++)
			buf[i] = pbyte(p, off + i);
		if (write(fd, buf, 64 * KiB) != 64 * KiB)
			return 2;
		if (off % (1 * MiB) == 0 && fdatasync(fd) < 0)
			return 3;
	}
	return close(fd) < 0 ? 4 : 0;
}

static void test_files(void)
{
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0)
			_exit(file_writer(p));
	}
	/* meanwhile: stat and read whatever is there; bytes read must be right */
	unsigned char *buf = malloc(128 * KiB);
	long reads = 0;
	int status[PROCS], running = PROCS;
	for (int round = 0; running > 0; round++) {
		int p = round % PROCS;
		char name[32], path[4200];
		snprintf(name, sizeof(name), "proc%d", p);
		path_of(path, sizeof(path), name);
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			long off = (round * 77777L) % PFILE;
			ssize_t n = pread(fd, buf, 128 * KiB, off);
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != pbyte(p, off + i) && buf[i] != 0) {
					failf("files: %s at %ld: %02x while written", name, off + (long)i, buf[i]);
					break;
				}
			reads++;
			close(fd);
		}
		if (pids[p] > 0 && waitpid(pids[p], &status[p], WNOHANG) == pids[p]) {
			pids[p] = 0;
			running--;
			if (!WIFEXITED(status[p]) || WEXITSTATUS(status[p]))
				failf("files: writer %d failed (status %#x)", p, status[p]);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		char name[32], path[4200];
		snprintf(name, sizeof(name), "proc%d", p);
		path_of(path, sizeof(path), name);
		int fd = open(path, O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != PFILE) {
			failf("files: %s: missing or wrong size", name);
			continue;
		}
		for (long off = 0; off < PFILE; off += 128 * KiB) {
			if (pread(fd, buf, 128 * KiB, off) != 128 * KiB) {
				failf("files: %s: short read at %ld", name, off);
				break;
			}
			for (long i = 0; i < 128 * KiB; i++)
				if (buf[i] != pbyte(p, off + i)) {
					failf("files: %s at %ld: %02x, want %02x", name, off + i, buf[i], pbyte(p, off + i));
					off = PFILE;
					break;
				}
		}
		close(fd);
	}
	free(buf);
	fprintf(stderr, "files: %d writers, %ld reads while writing\n", PROCS, reads);
}

/* ---- O_APPEND from several processes ------------------------------------- */

enum { APPENDERS = 4, RECORDS = 400, RECLEN = 512 };

static int appender(int p)
{
	char path[4200], rec[RECLEN];
	path_of(path, sizeof(path), "log");
	int fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0)
		return 1;
	for (int i = 0; i < RECORDS; i++) {
		memset(rec, 'a' + p, sizeof(rec));
		snprintf(rec, sizeof(rec), "<%d:%05d>", p, i);
		rec[RECLEN - 1] = '\n';
		if (write(fd, rec, RECLEN) != RECLEN)
			return 2;
	}
	return close(fd) < 0 ? 3 : 0;
}

static void test_append(void)
{
	char path[4200];
	pid_t pids[APPENDERS];
	path_of(path, sizeof(path), "log");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		failf("append: create: %s", strerror(errno));
		return;
	}
	for (int p = 0; p < APPENDERS; p++) {
		pids[p] = fork();
		if (pids[p] == 0)
			_exit(appender(p));
	}
	for (int p = 0; p < APPENDERS; p++) {
		int status;
		waitpid(pids[p], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failf("append: appender %d failed (status %#x)", p, status);
	}
	long total = (long)APPENDERS * RECORDS * RECLEN;
	char *buf = malloc(total + 1);
	int next[APPENDERS] = { 0 };
	ssize_t n = pread(fd, buf, total + 1, 0);
	if (n != total) {
		failf("append: file has %zd bytes, want %ld", n, total);
	} else {
		for (long r = 0; r < total / RECLEN; r++) {
			const char *rec = buf + r * RECLEN;
			int p, i;
			if (sscanf(rec, "<%d:%d>", &p, &i) != 2 || p < 0 || p >= APPENDERS || i != next[p] ||
			    rec[RECLEN - 1] != '\n' || rec[RECLEN - 2] != 'a' + p) {
				failf("append: record %ld is torn or out of order: %.16s", r, rec);
				break;
			}
			next[p]++;
		}
	}
	free(buf);
	close(fd);
}

/* ---- names in one directory ----------------------------------------------- */

enum { NAMERS = 4, NAMES = 400 };

static void *namer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char a[4200], b[4200];
	for (int i = 0; i < NAMES; i++) {
		snprintf(a, sizeof(a), "%s/names/t%d_%d", dir, t, i);
		int fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, a, strlen(a)) < 0 || close(fd) < 0) {
			failf("names: create %s: %s", a, strerror(errno));
			return NULL;
		}
		if (i % 2 == 1) {   /* rename the one before, unlink the one before that */
			snprintf(a, sizeof(a), "%s/names/t%d_%d", dir, t, i - 1);
			snprintf(b, sizeof(b), "%s/names/r%d_%d", dir, t, i - 1);
			if (rename(a, b) < 0)
				failf("names: rename %s: %s", a, strerror(errno));
		}
		if (i % 4 == 3) {
			snprintf(a, sizeof(a), "%s/names/t%d_%d", dir, t, i);
			if (unlink(a) < 0)
				failf("names: unlink %s: %s", a, strerror(errno));
		}
		if (i % 50 == 0) {
			snprintf(a, sizeof(a), "%s/names/d%d_%d", dir, t, i);
			if (mkdir(a, 0755) < 0)
				failf("names: mkdir %s: %s", a, strerror(errno));
		}
	}
	return NULL;
}

static void *lister(void *arg)
{
	char path[4200];
	(void)arg;
	snprintf(path, sizeof(path), "%s/names", dir);
	for (int i = 0; i < 50; i++) {
		DIR *d = opendir(path);
		if (!d) {
			failf("names: opendir: %s", strerror(errno));
			return NULL;
		}
		while (readdir(d))
			;
		closedir(d);
	}
	return NULL;
}

static void test_names(void)
{
	pthread_t t[NAMERS + 1];
	char path[4200];
	snprintf(path, sizeof(path), "%s/names", dir);
	if (mkdir(path, 0755) < 0) {
		failf("names: mkdir: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < NAMERS; i++)
		pthread_create(&t[i], NULL, namer, (void *)(intptr_t)i);
	pthread_create(&t[NAMERS], NULL, lister, NULL);
	for (int i = 0; i <= NAMERS; i++)
		pthread_join(t[i], NULL);

	/* what must be there: per thread, for i: t_i if i odd and i%4 != 3 … */
	int want = 0, got = 0, dirs = 0;
	for (int th = 0; th < NAMERS; th++)
		for (int i = 0; i < NAMES; i++) {
			bool renamed = i % 2 == 0 && i + 1 < NAMES;
			bool unlinked = i % 4 == 3;
			char name[4200];
			snprintf(name, sizeof(name), "%s/names/%c%d_%d", dir, renamed ? 'r' : 't', th, i);
			if (!unlinked) {
				want++;
				if (access(name, F_OK) < 0)
					failf("names: %s missing", name);
			}
			if (i % 50 == 0)
				want++;
		}
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			got++;
			dirs += de->d_name[0] == 'd';
		}
	if (d)
		closedir(d);
	if (got != want)
		failf("names: %d entries listed, want %d", got, want);
	struct stat st;
	if (stat(path, &st) < 0 || st.st_nlink != 2u + dirs)
		failf("names: directory link count %lu, want %d", (unsigned long)st.st_nlink, 2 + dirs);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/concurrency.%d", argv[1], (int)getpid());
	if (mkdir(dir, 0755) < 0) {
		perror(dir);
		return 99;
	}
	test_regions();
	test_files();
	test_append();
	test_names();
	if (failures) {
		fprintf(stderr, "concurrency: %d failure(s)\n", failures);
		return 1;
	}
	fprintf(stderr, "concurrency: all passed\n");
	return 0;
}
