/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsx.c — a seeded random-operation exerciser in the manner of fsx: the same
 * sequence of operations is applied to a directory under test and to a
 * reference directory on a local filesystem, and the two must agree on every
 * result and, byte for byte, on every file.
 *
 *   fsx [-N OPS] [-S SEED] [-c CHECK-EVERY] [-R REMOUNT-CMD [-r EVERY]] [-v] DIR REFDIR
 *
 * Defaults: 5,000 operations, seed 1 (or $FSX_OPS, $FSX_SEED), a comparison
 * of all files every 100 operations and at the end.  Operations on a pool of
 * names: pwrite (offsets up to 8 MiB, some past 4 GiB; up to 300 KiB), read,
 * truncate up and down, mmap reads and MAP_SHARED writes with msync,
 * fallocate (allocate, keep size, punch hole), copy_file_range, fsync,
 * rename, link, unlink and re-create.  Before each comparison the files
 * under test are fsynced and dropped from the page cache (fadvise), so that
 * what is compared is what the filesystem kept.  With -R, the shell command
 * REMOUNT-CMD (which must unmount DIR and mount it again) runs every EVERY
 * operations (default 1,000), followed by a full comparison.
 *
 * On a difference it prints the operation, the first differing offset and
 * the tail of the operation log, and exits 1.  The periodic comparisons read
 * files larger than 64 MiB only where the reference has data plus samples
 * elsewhere; the final one reads every byte of every file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KiB 1024ll
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

#define NNAMES 6
#define MAXLEN (300 * KiB)
#define LOGN 48

enum side { MNT, REF };

static int dirfd_[2];
static const char *dirname_[2];
static uint64_t rng;
static long opno;
static bool verbose;
static char oplog[LOGN][200];
static char *wbuf, *rbuf[2];
static long page;
static long corrupt_at = -1;
static const char *remount_cmd;
static char sub_name[64];
static long max_size;

static uint64_t next(void)
{
	/* splitmix64: the whole sequence follows from the seed */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return n ? next() % n : 0; }
static bool chance(unsigned percent) { return below(100) < percent; }

static void logop(const char *fmt, ...)
{
	va_list ap;
	char *line = oplog[opno % LOGN];
	int n = snprintf(line, sizeof(oplog[0]), "%6ld ", opno);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(oplog[0]) - n, fmt, ap);
	va_end(ap);
	if (verbose)
		printf("%s\n", line);
}

static void dump_log(void)
{
	fprintf(stderr, "last operations:\n");
	for (long i = opno - LOGN + 1; i <= opno; i++)
		if (i >= 0 && oplog[i % LOGN][0])
			fprintf(stderr, "  %s\n", oplog[i % LOGN]);
}

static void __attribute__((noreturn, format(printf, 1, 2))) mismatch(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "fsx: MISMATCH at operation %ld: ", opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	dump_log();
	exit(1);
}

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "fsx: %s: %s (operation %ld)\n", what, strerror(errno), opno);
	dump_log();
	exit(2);
}

static const char *name(int i)
{
	static const char *names[NNAMES] = { "f0", "f1", "f2", "f3", "f4", "f5" };
	return names[i];
}

/* The result of one call on both sides: a value, or -errno. */
struct res { long long v[2]; };

static void agree(struct res r, const char *what)
{
	if (r.v[MNT] != r.v[REF])
		mismatch("%s: %s gives %lld%s%s, %s gives %lld%s%s", what,
			 dirname_[MNT], r.v[MNT], r.v[MNT] < 0 ? " " : "", r.v[MNT] < 0 ? strerror(-r.v[MNT]) : "",
			 dirname_[REF], r.v[REF], r.v[REF] < 0 ? " " : "", r.v[REF] < 0 ? strerror(-r.v[REF]) : "");
}

#define R(x) ((x) < 0 ? -(long long)errno : (long long)(x))

static void fill(char *buf, size_t len)
{
	uint64_t x = next() | 1;
	size_t i = 0;
	/* mostly random, some runs of one byte, sometimes all zero */
	if (chance(5)) {
		memset(buf, 0, len);
		return;
	}
	while (i < len) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		size_t run = (x & 0xf) == 0 ? (x >> 8) % 4096 : 8;
		if (run > len - i)
			run = len - i;
		if (run == 8)
			memcpy(buf + i, &x, run);
		else
			memset(buf + i, (int)(x >> 32), run);
		i += run;
	}
}

static size_t pick_len(void)
{
	switch (below(4)) {
	case 0: return 1 + below(512);
	case 1: return 1 + below(16 * KiB);
	case 2: return 1 + below(MAXLEN);
	default: return (1 + below(MAXLEN / 4096)) * 4096;   /* page multiples */
	}
}

static off_t ref_size(int n)
{
	struct stat st;
	return fstatat(dirfd_[REF], name(n), &st, 0) < 0 ? -1 : st.st_size;
}

static off_t pick_off(int n, bool write)
{
	off_t size = ref_size(n);
	if (size < 0)
		size = 0;
	unsigned c = below(100);
	if (c < (write ? 80 : 60))
		return below(8 * MiB);
	if (c < 95)   /* around the end of the file */
		return size > 64 * KiB ? size - 64 * KiB + below(128 * KiB) : below(128 * KiB);
	if (c < 98 && write)
		return 4 * GiB - 8 * KiB + below(16 * MiB);   /* across and past 4 GiB */
	return below(size + 1);
}

/* Opens name @n on both sides. */
static void open2(int n, int flags, int fd[2], const char *what)
{
	struct res r;
	for (int s = 0; s < 2; s++) {
		fd[s] = openat(dirfd_[s], name(n), flags, 0644);
		r.v[s] = fd[s] < 0 ? -errno : 0;
	}
	agree(r, what);
}

static void close2(int fd[2])
{
	for (int s = 0; s < 2; s++)
		if (fd[s] >= 0 && close(fd[s]) < 0)
			mismatch("close on %s: %s", dirname_[s], strerror(errno));
}

static void op_write(int n)
{
	off_t off = pick_off(n, true);
	size_t len = pick_len();
	int fd[2];
	struct res r;

	fill(wbuf, len);
	logop("write %s off %lld len %zu", name(n), (long long)off, len);
	open2(n, O_RDWR | O_CREAT, fd, "open for write");
	for (int s = 0; s < 2; s++) {
		/* FSX_CORRUPT_AT=N: a wrong byte on the mount side in the first
		 * write from operation N on, to see that a difference is caught */
		bool corrupt = s == MNT && corrupt_at >= 0 && opno >= corrupt_at;
		wbuf[len / 2] ^= corrupt;
		r.v[s] = R(pwrite(fd[s], wbuf, len, off));
		wbuf[len / 2] ^= corrupt;
		if (corrupt)
			corrupt_at = -1;
	}
	agree(r, "pwrite");
	close2(fd);
}

static void compare_bufs(const char *what, int n, off_t off, size_t len, const char *a, const char *b)
{
	if (memcmp(a, b, len) == 0)
		return;
	size_t i = 0;
	while (a[i] == b[i])
		i++;
	char ha[64] = "", hb[64] = "";
	for (size_t j = i; j < i + 16 && j < len; j++) {
		snprintf(ha + strlen(ha), sizeof(ha) - strlen(ha), "%02x", (unsigned char)a[j]);
		snprintf(hb + strlen(hb), sizeof(hb) - strlen(hb), "%02x", (unsigned char)b[j]);
	}
	mismatch("%s of %s: first difference at offset %lld (0x%llx): mount %s…, reference %s…",
		 what, name(n), (long long)(off + i), (long long)(off + i), ha, hb);
}

static void op_read(int n)
{
	off_t size = ref_size(n);
	off_t off = below((size < 0 ? 0 : size) + 64 * KiB);
	size_t len = pick_len();
	int fd[2];
	struct res r;

	logop("read %s off %lld len %zu", name(n), (long long)off, len);
	open2(n, O_RDONLY, fd, "open for read");
	if (fd[0] < 0)
		return;
	for (int s = 0; s < 2; s++)
		r.v[s] = R(pread(fd[s], rbuf[s], len, off));
	agree(r, "pread");
	if (r.v[0] > 0)
		compare_bufs("pread", n, off, r.v[0], rbuf[MNT], rbuf[REF]);
	close2(fd);
}

static void op_truncate(int n)
{
	off_t size = ref_size(n), to;
	unsigned c = below(100);
	if (size < 0)
		size = 0;
	if (c < 10)
		to = 0;
	else if (c < 55)
		to = below(8 * MiB);
	else if (c < 80)
		to = below(size + 1);
	else if (c < 95)
		to = size + below(256 * KiB);
	else
		to = 4 * GiB + below(64 * MiB);
	logop("truncate %s to %lld (from %lld)", name(n), (long long)to, (long long)size);
	struct res r;
	char path[2][4200];
	for (int s = 0; s < 2; s++) {
		snprintf(path[s], sizeof(path[s]), "%s/%s", dirname_[s], name(n));
		r.v[s] = R(truncate(path[s], to));
	}
	agree(r, "truncate");
}

/* A page-aligned range inside the reference file, or false if it is empty. */
static bool map_range(int n, off_t *off, size_t *len)
{
	off_t size = ref_size(n);
	if (size <= 0)
		return false;
	off_t o = below(size);
	if (chance(30) && size > 64 * KiB)
		o = size - 1 - below(64 * KiB);
	o -= o % page;
	size_t l = pick_len();
	if ((off_t)l > size - o)
		l = size - o;
	*off = o;
	*len = l;
	return true;
}

static void op_mapread(int n)
{
	off_t off;
	size_t len;
	int fd[2];
	char *m[2];

	if (!map_range(n, &off, &len)) {
		logop("mapread %s: empty or missing, skipped", name(n));
		return;
	}
	logop("mapread %s off %lld len %zu", name(n), (long long)off, len);
	open2(n, O_RDONLY, fd, "open for mapread");
	for (int s = 0; s < 2; s++) {
		m[s] = mmap(NULL, len, PROT_READ, MAP_SHARED, fd[s], off);
		if (m[s] == MAP_FAILED)
			mismatch("mmap for reading on %s: %s", dirname_[s], strerror(errno));
	}
	compare_bufs("mapped read", n, off, len, m[MNT], m[REF]);
	for (int s = 0; s < 2; s++)
		munmap(m[s], len);
	close2(fd);
}

static void op_mapwrite(int n)
{
	off_t off;
	size_t len;
	int fd[2];
	char *m[2];

	if (!map_range(n, &off, &len)) {
		logop("mapwrite %s: empty or missing, skipped", name(n));
		return;
	}
	/* a random part of the mapped range */
	size_t at = below(len), wlen = 1 + below(len - at);
	fill(wbuf, wlen);
	logop("mapwrite %s map %lld+%zu write %lld len %zu", name(n), (long long)off, len,
	      (long long)(off + at), wlen);
	open2(n, O_RDWR, fd, "open for mapwrite");
	for (int s = 0; s < 2; s++) {
		m[s] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd[s], off);
		if (m[s] == MAP_FAILED)
			mismatch("mmap for writing on %s: %s", dirname_[s], strerror(errno));
		memcpy(m[s] + at, wbuf, wlen);
		if (msync(m[s], len, MS_SYNC) < 0)
			mismatch("msync on %s: %s", dirname_[s], strerror(errno));
		munmap(m[s], len);
	}
	close2(fd);
}

static void op_fallocate(int n)
{
	static const int modes[] = { 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE };
	static const char *mode_names[] = { "allocate", "keep-size", "punch", "punch" };
	int mi = below(4), fd[2];
	off_t size = ref_size(n), off;
	size_t len = pick_len();
	struct res r;

	if (mi >= 2)   /* punch inside the file */
		off = size > 0 ? (off_t)below(size) : 0;
	else
		off = pick_off(n, false);
	logop("fallocate %s %s off %lld len %zu", name(n), mode_names[mi], (long long)off, len);
	open2(n, O_RDWR, fd, "open for fallocate");
	if (fd[0] < 0)
		return;
	for (int s = 0; s < 2; s++)
		r.v[s] = R(fallocate(fd[s], modes[mi], off, len));
	agree(r, "fallocate");
	close2(fd);
}

static void op_copy(int a, int b)
{
	off_t size = ref_size(a);
	off_t in0 = size > 0 ? (off_t)below(size) : 0;
	if (chance(40))
		in0 -= in0 % 4096;
	off_t out0 = chance(40) ? (off_t)(below(8 * MiB) & ~4095ull) : pick_off(b, true);
	size_t len = pick_len();
	int in[2], out[2];
	struct res r;

	logop("copy_file_range %s off %lld -> %s off %lld len %zu", name(a), (long long)in0, name(b),
	      (long long)out0, len);
	open2(a, O_RDONLY, in, "open copy source");
	if (in[0] < 0)
		return;
	open2(b, O_WRONLY | O_CREAT, out, "open copy target");
	for (int s = 0; s < 2; s++) {
		loff_t oi = in0, oo = out0;
		long long done = 0;
		for (;;) {
			ssize_t k = copy_file_range(in[s], &oi, out[s], &oo, len - done, 0);
			if (k < 0) {
				done = -errno;
				break;
			}
			if (k == 0 || (done += k) == (long long)len)
				break;
		}
		r.v[s] = done;
	}
	agree(r, "copy_file_range");
	close2(in);
	close2(out);
}

static void op_fsync(int n)
{
	int fd[2];
	struct res r;
	logop("fsync %s", name(n));
	open2(n, O_RDONLY, fd, "open for fsync");
	if (fd[0] < 0)
		return;
	for (int s = 0; s < 2; s++)
		r.v[s] = R(fsync(fd[s]));
	agree(r, "fsync");
	close2(fd);
}

static void op_names(int kind, int a, int b)
{
	static const char *what[] = { "rename", "link", "unlink", "create" };
	struct res r;
	logop("%s %s%s%s", what[kind], name(a), kind < 2 ? " -> " : "", kind < 2 ? name(b) : "");
	for (int s = 0; s < 2; s++) {
		int d = dirfd_[s], fd;
		switch (kind) {
		case 0: r.v[s] = R(renameat(d, name(a), d, name(b))); break;
		case 1: r.v[s] = R(linkat(d, name(a), d, name(b), 0)); break;
		case 2: r.v[s] = R(unlinkat(d, name(a), 0)); break;
		default:
			fd = openat(d, name(a), O_WRONLY | O_CREAT | O_TRUNC, 0644);
			r.v[s] = R(fd);
			if (fd >= 0) {
				r.v[s] = 0;
				close(fd);
			}
		}
	}
	agree(r, what[kind]);
}

/*
 * Compares file @n on both sides: presence, size, link count and content.
 * @full: every byte; else big files only where the reference has data, plus
 * samples.
 */
static void compare_file(int n, bool full)
{
	struct stat st[2];
	struct res r;
	int fd[2];

	for (int s = 0; s < 2; s++)
		r.v[s] = R(fstatat(dirfd_[s], name(n), &st[s], AT_SYMLINK_NOFOLLOW));
	agree(r, "stat (presence)");
	if (r.v[0] < 0)
		return;
	if (st[MNT].st_size != st[REF].st_size)
		mismatch("size of %s: mount %lld, reference %lld", name(n), (long long)st[MNT].st_size,
			 (long long)st[REF].st_size);
	if (st[MNT].st_nlink != st[REF].st_nlink)
		mismatch("link count of %s: mount %lu, reference %lu", name(n), (unsigned long)st[MNT].st_nlink,
			 (unsigned long)st[REF].st_nlink);
	if (!S_ISREG(st[MNT].st_mode))
		mismatch("%s is no regular file on the mount (mode %o)", name(n), st[MNT].st_mode);

	off_t size = st[REF].st_size;
	if (size > max_size)
		max_size = size;
	open2(n, O_RDONLY, fd, "open to compare");
	/* read what the filesystem stored, not what the page cache kept */
	if (fsync(fd[MNT]) < 0)
		mismatch("fsync of %s before comparing: %s", name(n), strerror(errno));
	posix_fadvise(fd[MNT], 0, 0, POSIX_FADV_DONTNEED);
	const size_t chunk = 1 * MiB;
	if (full || size <= 64 * MiB) {
		for (off_t off = 0; off < size; off += chunk) {
			size_t len = size - off < (off_t)chunk ? (size_t)(size - off) : chunk;
			for (int s = 0; s < 2; s++) {
				ssize_t k = pread(fd[s], rbuf[s], len, off);
				if (k != (ssize_t)len)
					mismatch("reading %s at %lld on %s: got %zd of %zu (%s)", name(n),
						 (long long)off, dirname_[s], k, len, k < 0 ? strerror(errno) : "short");
			}
			compare_bufs("comparison", n, off, len, rbuf[MNT], rbuf[REF]);
		}
	} else {
		/* the reference's data extents, then random samples */
		off_t off = 0;
		for (;;) {
			off_t d = lseek(fd[REF], off, SEEK_DATA), h;
			if (d < 0)
				break;
			h = lseek(fd[REF], d, SEEK_HOLE);
			if (h < 0)
				h = size;
			for (off = d; off < h; off += chunk) {
				size_t len = h - off < (off_t)chunk ? (size_t)(h - off) : chunk;
				for (int s = 0; s < 2; s++)
					if (pread(fd[s], rbuf[s], len, off) != (ssize_t)len)
						mismatch("reading %s at %lld on %s", name(n), (long long)off, dirname_[s]);
				compare_bufs("comparison", n, off, len, rbuf[MNT], rbuf[REF]);
			}
			off = h;
		}
		for (int i = 0; i < 32; i++) {
			off_t o = i == 0 ? size - (size < 64 * KiB ? size : 64 * KiB) : (off_t)below(size);
			size_t len = size - o < 64 * KiB ? (size_t)(size - o) : 64 * KiB;
			for (int s = 0; s < 2; s++)
				if (pread(fd[s], rbuf[s], len, o) != (ssize_t)len)
					mismatch("reading %s at %lld on %s", name(n), (long long)o, dirname_[s]);
			compare_bufs("sampled comparison", n, o, len, rbuf[MNT], rbuf[REF]);
		}
	}
	close2(fd);
}

static void compare_all(bool full)
{
	struct stat st[2][NNAMES];
	bool there[NNAMES];

	if (verbose)
		printf("%6ld compare%s\n", opno, full ? " (full)" : "");
	for (int n = 0; n < NNAMES; n++) {
		compare_file(n, full);
		there[n] = fstatat(dirfd_[REF], name(n), &st[REF][n], AT_SYMLINK_NOFOLLOW) == 0 &&
			   fstatat(dirfd_[MNT], name(n), &st[MNT][n], AT_SYMLINK_NOFOLLOW) == 0;
	}
	/* hard links: names share an inode on the mount exactly where they do on the reference */
	for (int a = 0; a < NNAMES; a++)
		for (int b = a + 1; b < NNAMES; b++)
			if (there[a] && there[b] &&
			    (st[REF][a].st_ino == st[REF][b].st_ino) != (st[MNT][a].st_ino == st[MNT][b].st_ino))
				mismatch("%s and %s: same inode on the reference: %d, on the mount: %d", name(a),
					 name(b), st[REF][a].st_ino == st[REF][b].st_ino,
					 st[MNT][a].st_ino == st[MNT][b].st_ino);
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-N OPS] [-S SEED] [-c CHECK-EVERY] [-R REMOUNT-CMD [-r EVERY]] [-v] DIR REFDIR\n",
		argv0);
	exit(2);
}

/*
 * Runs the shell command that unmounts and mounts DIR again (all our
 * descriptors closed first), then compares everything: what was written must
 * have been kept.
 */
static void remount(const char *top)
{
	char path[4200];
	logop("remount: %s", remount_cmd);
	close(dirfd_[MNT]);
	fflush(stdout);
	int r = system(remount_cmd);
	if (r != 0) {
		fprintf(stderr, "fsx: remount command '%s' failed (status %#x)\n", remount_cmd, r);
		dump_log();
		exit(2);
	}
	snprintf(path, sizeof(path), "%s/%s", top, sub_name);
	dirfd_[MNT] = open(path, O_RDONLY | O_DIRECTORY);
	if (dirfd_[MNT] < 0)
		mismatch("after the remount, %s: %s", path, strerror(errno));
	compare_all(true);
}

int main(int argc, char **argv)
{
	long nops = getenv("FSX_OPS") ? atol(getenv("FSX_OPS")) : 5000;
	uint64_t seed = getenv("FSX_SEED") ? strtoull(getenv("FSX_SEED"), NULL, 0) : 1;
	long every = 100, remount_every = 1000;
	int opt;

	while ((opt = getopt(argc, argv, "N:S:c:R:r:v")) != -1) {
		switch (opt) {
		case 'R': remount_cmd = optarg; break;
		case 'r': remount_every = atol(optarg); break;
		case 'N': nops = atol(optarg); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'c': every = atol(optarg); break;
		case 'v': verbose = true; break;
		default: usage(argv[0]);
		}
	}
	if (argc - optind != 2 || nops < 0 || every <= 0 || remount_every <= 0)
		usage(argv[0]);
	if (getenv("FSX_CORRUPT_AT"))
		corrupt_at = atol(getenv("FSX_CORRUPT_AT"));
	page = sysconf(_SC_PAGESIZE);
	wbuf = malloc(MAXLEN);
	rbuf[0] = malloc(1 * MiB > MAXLEN ? 1 * MiB : MAXLEN);
	rbuf[1] = malloc(1 * MiB > MAXLEN ? 1 * MiB : MAXLEN);
	if (!wbuf || !rbuf[0] || !rbuf[1])
		die("malloc");

	/* a fresh subdirectory of each, so reruns start alike */
	for (int s = 0; s < 2; s++) {
		static char sub[2][4200];
		snprintf(sub_name, sizeof(sub_name), "fsx.%d", (int)getpid());
		snprintf(sub[s], sizeof(sub[s]), "%s/%s", argv[optind + s], sub_name);
		if (mkdir(sub[s], 0755) < 0 || (dirfd_[s] = open(sub[s], O_RDONLY | O_DIRECTORY)) < 0)
			die(sub[s]);
		dirname_[s] = sub[s];
	}
	struct stat a, b;
	if (fstat(dirfd_[0], &a) == 0 && fstat(dirfd_[1], &b) == 0 && a.st_dev == b.st_dev)
		fprintf(stderr, "fsx: note: both directories are on one filesystem\n");
	rng = seed;
	printf("fsx: seed %" PRIu64 ", %ld operations, compare every %ld, on %s against %s\n", seed, nops,
	       every, dirname_[MNT], dirname_[REF]);
	fflush(stdout);

	for (opno = 0; opno < nops; opno++) {
		int n = below(NNAMES), m = below(NNAMES);
		unsigned c = below(1000);
		if (c < 300)
			op_write(n);
		else if (c < 450)
			op_read(n);
		else if (c < 530)
			op_truncate(n);
		else if (c < 610)
			op_mapread(n);
		else if (c < 690)
			op_mapwrite(n);
		else if (c < 750)
			op_fallocate(n);
		else if (c < 800)
			op_copy(n, m);
		else if (c < 820)
			op_fsync(n);
		else if (c < 870)
			op_names(0, n, m);
		else if (c < 910)
			op_names(1, n, m);
		else if (c < 950)
			op_names(2, n, m);
		else
			op_names(3, n, m);
		if ((opno + 1) % every == 0)
			compare_all(false);
		if (remount_cmd && *remount_cmd && (opno + 1) % remount_every == 0 && opno + 1 < nops)
			remount(argv[optind]);
	}
	opno--;
	compare_all(true);
	printf("fsx: %ld operations, all equal (largest file seen at a comparison: %ld bytes)\n", nops, max_size);
	/* leave nothing big behind */
	for (int s = 0; s < 2; s++)
		for (int n = 0; n < NNAMES; n++)
			unlinkat(dirfd_[s], name(n), 0);
	return 0;
}
