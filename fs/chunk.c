/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chunk.c — the content-addressed chunk store (see chunk.h).
 *
 * How the invariants of chunk.h are kept:
 *  1. Names come only from chunk_id_of(); chunk_read() rehashes what it reads
 *     and calls a mismatch -EIO, so a damaged file is never returned as data.
 *  2. A file is written in full with no name (an O_TMPFILE in the fan-out
 *     directory it will be linked in) or under tmp/ (a named
 *     "tmp/<pid>.<tid>.<counter>"), and only then linked under chunks/.
 *     link(2) never replaces a name: EEXIST means "already stored", and the
 *     published file is left as it is.  Nothing here opens a published file
 *     for writing.
 *  3. chunk_put() refuses a block of zeros (-EINVAL).  For real data the
 *     check stops at the first non-zero byte, so it costs next to nothing.
 *  4. chunk_put() runs inside a write transaction and ends by checking that
 *     the file exists.  LMDB lets one write transaction at a time run in all
 *     processes of the store, and gc removes files only inside one, so a
 *     file seen there stays until our transaction ends (our own gc thread
 *     is told first: rule c of "Recycling").
 *  5. Only gc (chunk_gc(), the taker thread) calls chunk_unlink() on a chunk
 *     named by the index, or takes a dead chunk's file for recycling (below).
 *  6. A reader may hold a chunk file open when gc takes it and a writer
 *     refills it.  So a read that finds the wrong length or hash asks
 *     whether the chunk's name still leads to the file it read: if not,
 *     the chunk vanished (-ENOENT, as after an unlink), else the file is
 *     damaged (-EIO).
 *  7. A name is trusted only with its bytes: a write that finds the name
 *     taken (EEXIST) compares the file with its own bytes and replaces a
 *     file that differs.  After a crash a name that no record names may
 *     lead to bytes that never reached the disk (a recycled file is
 *     overwritten in place, and nothing orders its bytes before its
 *     rename); a batch names a chunk only once its file is durable, so a
 *     name a record names holds its bytes.
 *
 * Crash ordering with CHUNK_SYNC: file data is fsync'd before the link; the
 * link is made durable by an fsync of its fan-out directory; a fan-out
 * directory made on the way is made durable by an fsync of its parent.  So
 * when chunk_write() returns, a crash keeps the name and the bytes, and the
 * caller may commit a record naming the chunk.  Without CHUNK_SYNC the
 * caller must make the files durable (syncfs) before such a commit.
 * One window is left to the file system: a writer that finds a fan-out
 * directory another writer has just made, before that one synced its
 * parent, relies on its own fsync committing the mkdir too, as the journals
 * of ext4 and xfs do.
 * A crash at any point leaves at most a named temp file (removed with
 * CHUNK_STORE_CLEAN_TMP) or a chunk file no record names (removed by fsck;
 * its bytes may be wrong, which invariant 7 guards against).
 */
#include "chunk.h"

#include "array.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>

_Static_assert(sizeof(XXH128_canonical_t) == IDX_CHUNK_ID_SIZE, "chunk id size");
_Static_assert(IDX_SECRET_SIZE >= XXH3_SECRET_SIZE_MIN, "secret too short for XXH3");

#define CHUNK_FILE_MODE 0400   /* never written after publication */
#define CHUNK_DIR_MODE  0700

/*
 * Recycling.  chunk_gc() does not unlink a dead chunk's file: it renames it
 * to a temp name of this process in tmp/ and keeps it, and a later
 * chunk_write() overwrites it and renames it into place.  Making and
 * freeing an inode per chunk is among the slowest things a file system does
 * (ext4 without a journal scans past every inode freed in the last seconds
 * at each creation), and a volume that rewrites its data does it for every
 * block; a rename is cheap.
 *
 * Freeing a file's blocks is slow too: it waits for any write-back of them
 * under way, and on a file system mounted with online discard for a discard
 * of every extent (0.2 ms a file; whole seconds for the thousands of
 * chunks of a deleted big file).  So the pool keeps files whole, up to
 * recycle_full_max bytes (RECYCLE_FULL_BYTES unless set), and a write
 * overwrites the blocks in place; only files past that bound are emptied
 * (truncated) before they wait, or removed when the pool is full.  Random
 * 8 KiB writes with fsync ran about 10% faster so (docs/performance.md).
 *
 * The bytes kept are space the disk does not get back while the store is
 * open.  So files are kept whole only while the file system has four times
 * the bound free (else the whole ones are removed), a write that meets a
 * full disk removes them first, and closing the store removes every file
 * of the pool.  A crash leaves them as temp files of a dead process, which
 * the next open with CHUNK_STORE_CLEAN_TMP removes.
 *
 * gc runs inside a write transaction, which holds up every other change,
 * so it only renames; the emptier thread does the rest, later.  A batch of
 * write-backs frees as many chunks as it writes, so the pool is sized for
 * the largest batches: a dirty limit's worth of small blocks.
 *
 * The daemon's batch does not even wait for the renames (20 us each, and
 * hundreds at a batch's start under random writes): chunk_gc_start() hands
 * the dead chunks to the taker thread, which renames their files while the
 * batch goes on, and chunk_gc_finish() forgets their records just before
 * the batch ends.  Its rules:
 *  a. The taker takes files only between chunk_gc_start() and
 *     chunk_gc_finish(), so only while the batch holds LMDB's writer lock:
 *     no other process can revive a chunk meanwhile (invariant 4).
 *  b. It takes only chunks dead at the batch's start, which is dead on
 *     disk: no record of the batch, logged or not, has named them.
 *  c. A writer of the batch that revives one (chunk_put(),
 *     chunk_put_prepared()) claims it first, under gc_lock: a file not yet
 *     taken stays, and one taken already is written again.  A claim that
 *     meets the take of its chunk under way waits for it to end.
 *  d. A record is forgotten only if its file was taken and nothing claimed
 *     the chunk, in the batch, after the taker has stopped.  A crash before
 *     the commit leaves the records dead without files, as an aborted gc
 *     does; one after it leaves nothing.
 */
#define RECYCLE_MAX 16384
#define RECYCLE_FULL_BYTES (256ull << 20)
/* Whole files are kept only while the file system has this many times that bound free. */
#define RECYCLE_FREE_FACTOR 4

/* A file of the pool: tmp/<pid>.0.<n>, holding @bytes (0: emptied). */
struct pooled {
	uint64_t n;
	uint64_t bytes;
};

struct chunk_store {
	int dirfd;                            /* the store directory; all paths are relative to it */
	uint8_t secret[IDX_SECRET_SIZE];
	bool proc_fd;                         /* /proc/self/fd usable for linkat  */
	int no_tmpfile;                       /* atomic: tmp/ rejected O_TMPFILE  */
	uint64_t tmp_counter;                 /* atomic: names of named temp files */
	pthread_mutex_t recycle_lock;
	/* the pool, with recycle_lock: files to overwrite, and the bytes they hold */
	struct pooled *recycle;
	size_t nrecycle;
	uint64_t recycle_full, recycle_full_max;
	/* the emptier: with recycle_lock, files gc renamed, not yet in the pool */
	uint64_t *to_empty;
	size_t nempty, empty_cap;
	bool emptying;                        /* a file taken from to_empty is being done */
	pthread_cond_t emptier_wake, emptier_done;
	pthread_t emptier;
	bool emptier_running, emptier_stop;
	/* the taker (chunk_gc_start), with gc_lock: the batch's dead chunks, in id order */
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_wake, gc_idle;
	struct gc_entry *gc;
	size_t ngc, gc_next;                  /* gc[gc_next..] are still to be looked at */
	bool gc_taking;                       /* gc[gc_next - 1]'s file is being renamed */
	bool gc_stopping;                     /* chunk_gc_finish(): take no more */
	bool gc_held;                         /* chunk_gc_hold(): take nothing for now */
	pthread_t taker;
	bool taker_running, taker_stop;
};

enum gc_state {
	GC_PENDING,   /* its file is to be taken */
	GC_TAKEN,     /* its file is taken: the record goes at chunk_gc_finish() */
	GC_KEPT,      /* claimed by a writer, or the take failed: file and record stay */
};

struct gc_entry {
	struct idx_chunk_id id;
	enum gc_state state;
};

static void *emptier_main(void *arg);
static void *taker_main(void *arg);

/* ---- ids and names ---------------------------------------------------- */

void chunk_id_of(const struct chunk_store *cs, const void *data, size_t len,
		 struct idx_chunk_id *ret_id)
{
	XXH128_hash_t h = XXH3_128bits_withSecret(data, len, cs->secret, IDX_SECRET_SIZE);
	XXH128_canonical_t canon;

	XXH128_canonicalFromHash(&canon, h);
	memcpy(ret_id->bytes, canon.digest, IDX_CHUNK_ID_SIZE);
}

bool chunk_is_zero(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t head = len < 16 ? len : 16;

	for (size_t i = 0; i < head; i++)
		if (p[i])
			return false;
	/* With p[0..16) zero, p[i] == p[i + 16] for every i means all are zero. */
	return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

void chunk_id_to_hex(const struct idx_chunk_id *id, char out[CHUNK_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < IDX_CHUNK_ID_SIZE; i++) {
		out[2 * i] = digits[id->bytes[i] >> 4];
		out[2 * i + 1] = digits[id->bytes[i] & 0xf];
	}
	out[2 * IDX_CHUNK_ID_SIZE] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;   /* upper case is not a chunk name either */
}

int chunk_id_from_hex(const char *hex, struct idx_chunk_id *ret_id)
{
	struct idx_chunk_id id;

	for (size_t i = 0; i < IDX_CHUNK_ID_SIZE; i++) {
		int hi = hex_digit(hex[2 * i]);
		int lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);

		if (lo < 0)
			return -EINVAL;
		id.bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[2 * IDX_CHUNK_ID_SIZE] != '\0')
		return -EINVAL;
	*ret_id = id;
	return 0;
}

void chunk_relpath(const struct idx_chunk_id *id, char out[CHUNK_RELPATH_SIZE])
{
	char hex[CHUNK_HEX_SIZE];

	chunk_id_to_hex(id, hex);
	snprintf(out, CHUNK_RELPATH_SIZE, "chunks/%.2s/%s", hex, hex);
}

/* ---- small I/O helpers ------------------------------------------------ */

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to @len bytes; returns how many (fewer only at end of file) or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Writes all of @data at offset 0. */
static int pwrite_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int fsync_fd(int fd)
{
	while (fsync(fd) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * The bytes of a file written without CHUNK_SYNC: the caller makes them
 * durable with syncfs before the commit that names the chunk, within the
 * commit interval.  Starting their write-back now costs no extra I/O and
 * lets the disk work while the daemon fills the next chunk, so that syncfs
 * finds little left to write (docs/performance.md: "Early write-back").
 * A hint only: its failure changes nothing, as syncfs reports any error.
 */
static int sync_or_start_write_back(int fd, unsigned flags)
{
	if (flags & CHUNK_SYNC)
		return fsync_fd(fd);
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return 0;
}

static int fsync_dir(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = fsync_fd(fd);
	close(fd);
	return r;
}

/*
 * "chunks/ab/<hex>" -> "chunks/ab" (len 9).  One level of 256 directories,
 * as git's objects: two levels gave a small store nearly one 4 KiB
 * directory per chunk (docs/bench.md).
 */
#define FANOUT_LEAF_LEN 9

static int make_dir(int dirfd, const char *relpath, size_t len, unsigned flags)
{
	char dir[CHUNK_RELPATH_SIZE], parent[CHUNK_RELPATH_SIZE];

	memcpy(dir, relpath, len);
	dir[len] = '\0';
	if (mkdirat(dirfd, dir, CHUNK_DIR_MODE) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (!(flags & CHUNK_SYNC))
		return 0;
	memcpy(parent, relpath, len);
	parent[len - 3] = '\0';
	return fsync_dir(dirfd, parent);
}

static int make_fanout(int dirfd, const char *relpath, unsigned flags)
{
	return make_dir(dirfd, relpath, FANOUT_LEAF_LEN, flags);
}

/*
 * Links @fd (or the named temp file @tmpname when not NULL) to @relpath,
 * making the fan-out directories if they are missing.  -EEXIST if the name
 * is taken.
 */
static int link_chunk(struct chunk_store *cs, int fd, const char *tmpname,
		      const char *relpath, unsigned flags)
{
	char procpath[64];

	if (!tmpname)
		snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", fd);
	for (int attempt = 0;; attempt++) {
		int r = tmpname ? linkat(cs->dirfd, tmpname, cs->dirfd, relpath, 0)
				: linkat(AT_FDCWD, procpath, cs->dirfd, relpath, AT_SYMLINK_FOLLOW);

		if (r == 0)
			return 0;
		/* Fan-out directories are made on demand and never removed. */
		if (errno != ENOENT || attempt > 0)
			return -errno;
		r = make_fanout(cs->dirfd, relpath, flags);
		if (r < 0)
			return r;
	}
}

/*
 * Opens an unnamed temp file in the fan-out directory of @relpath, where it
 * will be linked, making that directory if it is missing; -EOPNOTSUPP if
 * the store cannot have one.  In that directory rather than in tmp/: a file
 * system places a new inode near its directory's, so the chunks spread over
 * the fan-out directories' places instead of filling tmp/'s (see
 * chunk_store_spread()).
 */
static int open_tmpfile(struct chunk_store *cs, const char *relpath, unsigned flags)
{
	char dir[FANOUT_LEAF_LEN + 1];

	if (!cs->proc_fd || __atomic_load_n(&cs->no_tmpfile, __ATOMIC_RELAXED))
		return -EOPNOTSUPP;
	memcpy(dir, relpath, FANOUT_LEAF_LEN);
	dir[FANOUT_LEAF_LEN] = '\0';
	for (int attempt = 0;; attempt++) {
		int fd = openat(cs->dirfd, dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, CHUNK_FILE_MODE);
		if (fd >= 0)
			return fd;
		if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
			__atomic_store_n(&cs->no_tmpfile, 1, __ATOMIC_RELAXED);
			return -EOPNOTSUPP;
		}
		if (errno != ENOENT || attempt > 0)
			return -errno;
		int r = make_fanout(cs->dirfd, relpath, flags);
		if (r < 0)
			return r;
	}
}

static int open_named_tmp(struct chunk_store *cs, char *name, size_t size)
{
	for (;;) {
		uint64_t n = __atomic_fetch_add(&cs->tmp_counter, 1, __ATOMIC_RELAXED);
		int fd;

		snprintf(name, size, "tmp/%ld.%ld.%" PRIu64, (long)getpid(), (long)gettid(), n);
		fd = openat(cs->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    CHUNK_FILE_MODE);
		if (fd >= 0)
			return fd;
		/* EEXIST: a leftover of a dead process that had our pid. */
		if (errno != EEXIST)
			return -errno;
	}
}

/* Is the file that @st describes no longer the one at @relpath (invariant 6)? */
static bool file_moved(int dirfd, const char *relpath, const struct stat *st)
{
	struct stat now;

	if (fstatat(dirfd, relpath, &now, 0) < 0)
		return true;
	return now.st_ino != st->st_ino || now.st_dev != st->st_dev;
}

/* Compares the bytes of an open chunk file with @data: 0 if equal, else -EIO. */
static int compare_file(int fd, const void *data, size_t len)
{
	char buf[64 * 1024];
	const char *p = data;
	size_t done = 0;

	for (;;) {
		ssize_t n = read_full(fd, buf, sizeof(buf));

		if (n < 0)
			return (int)n;
		if ((size_t)n > len - done || memcmp(buf, p + done, (size_t)n) != 0)
			return -EIO;
		done += (size_t)n;
		if ((size_t)n < sizeof(buf))   /* end of file */
			return done == len ? 0 : -EIO;
	}
}

/*
 * The name is taken: the chunk is stored already if the file holds our
 * bytes (invariant 7): -ESTALE if it holds others, -ENOENT if it went
 * meanwhile (invariant 6).  With CHUNK_SYNC it and its name must be
 * durable before we return, since its writer may not have asked for that.
 */
static int existing_chunk(struct chunk_store *cs, const char *relpath,
			  const void *data, size_t len, unsigned flags)
{
	struct stat st;
	int r, fd = openat(cs->dirfd, relpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : compare_file(fd, data, len);
	if (r == -EIO)
		r = file_moved(cs->dirfd, relpath, &st) ? -ENOENT : -ESTALE;
	if (r == 0 && (flags & CHUNK_SYNC))
		r = fsync_fd(fd);
	close(fd);
	if (r == 0 && (flags & CHUNK_SYNC)) {
		char dir[CHUNK_RELPATH_SIZE];

		memcpy(dir, relpath, FANOUT_LEAF_LEN);
		dir[FANOUT_LEAF_LEN] = '\0';
		r = fsync_dir(cs->dirfd, dir);
	}
	return r;
}

/* ---- the store ---------------------------------------------------------- */

static int is_dir_at(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, 0) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Parses "<pid>.<tid>.<counter>" (decimal, no sign, no leading junk); 0 or -EINVAL. */
static int parse_tmp_name(const char *name, pid_t *ret_pid)
{
	const char *p = name;
	unsigned long long v[3];

	for (int i = 0; i < 3; i++) {
		char *end;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno)
			return -EINVAL;
		if (*end != (i < 2 ? '.' : '\0'))
			return -EINVAL;
		p = end + 1;
	}
	if (v[0] == 0 || v[0] > INT32_MAX)
		return -EINVAL;
	*ret_pid = (pid_t)v[0];
	return 0;
}

/*
 * Removes named temp files of dead processes, and anything not named like
 * one.  A live writer's file is kept: it links it and removes it itself.
 */
static int clean_tmp(int dirfd)
{
	int fd = openat(dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		pid_t pid;
		unsigned char type = de->d_type;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;   /* gone already */
			type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		}
		if (type == DT_DIR)
			continue;   /* not ours to guess about */
		if (parse_tmp_name(de->d_name, &pid) == 0 && proc_running(pid))
			continue;
		if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			r = -errno;
			break;
		}
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(d);
	return r;
}

void chunk_store_spread(int store_dirfd)
{
	int fd = openat(store_dirfd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int attr;

	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0 && !(attr & FS_TOPDIR_FL)) {
		attr |= FS_TOPDIR_FL;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &attr);   /* a hint: ext4 alone reads it */
	}
	close(fd);
}

int chunk_store_open(const char *store_dir, const uint8_t *secret, unsigned flags,
		     struct chunk_store **ret_cs)
{
	struct chunk_store *cs;
	int r;

	if (!store_dir || !secret || !ret_cs)
		return -EINVAL;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	pthread_mutex_init(&cs->recycle_lock, NULL);
	pthread_cond_init(&cs->emptier_wake, NULL);
	pthread_cond_init(&cs->emptier_done, NULL);
	pthread_mutex_init(&cs->gc_lock, NULL);
	pthread_cond_init(&cs->gc_wake, NULL);
	pthread_cond_init(&cs->gc_idle, NULL);
	if (flags & CHUNK_STORE_RECYCLE)
		cs->recycle = malloc(RECYCLE_MAX * sizeof(*cs->recycle));   /* NULL: unlink */
	cs->recycle_full_max = RECYCLE_FULL_BYTES;
	cs->dirfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	memcpy(cs->secret, secret, IDX_SECRET_SIZE);
	r = is_dir_at(cs->dirfd, "chunks");
	if (r == 0)
		r = is_dir_at(cs->dirfd, "tmp");
	if (r < 0)
		goto fail;
	/* Without /proc an unnamed file cannot be linked (AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH). */
	cs->proc_fd = access("/proc/self/fd", X_OK) == 0;
	if (flags & CHUNK_STORE_CLEAN_TMP) {
		r = clean_tmp(cs->dirfd);
		if (r < 0)
			goto fail;
	}
	/* no thread: chunk_recycle() empties files itself */
	cs->emptier_running = cs->recycle && pthread_create(&cs->emptier, NULL, emptier_main, cs) == 0;
	if (cs->emptier_running)
		pthread_setname_np(cs->emptier, "volfs-emptier");
	/* no thread: chunk_gc_start() takes the files itself */
	cs->taker_running = cs->emptier_running &&
			    pthread_create(&cs->taker, NULL, taker_main, cs) == 0;
	if (cs->taker_running)
		pthread_setname_np(cs->taker, "volfs-gc");
	*ret_cs = cs;
	return 0;
fail:
	chunk_store_close(cs);
	return r;
}

static void recycled_name(uint64_t n, char *name, size_t size)
{
	snprintf(name, size, "tmp/%ld.0.%" PRIu64, (long)getpid(), n);
}

/* Removes file tmp/<pid>.0.<n> of ours. */
static void recycled_remove(struct chunk_store *cs, uint64_t n)
{
	char name[64];
	recycled_name(n, name, sizeof(name));
	unlinkat(cs->dirfd, name, 0);
}

/* Sets *@stop under @lock, wakes thread @t and waits for it to end. */
static void stop_thread(pthread_t t, pthread_mutex_t *lock, bool *stop, pthread_cond_t *wake)
{
	pthread_mutex_lock(lock);
	*stop = true;
	pthread_cond_signal(wake);
	pthread_mutex_unlock(lock);
	pthread_join(t, NULL);
}

void chunk_store_close(struct chunk_store *cs)
{
	if (!cs)
		return;
	/* the taker first: it hands files to the emptier, which finishes what it was given */
	if (cs->taker_running)
		stop_thread(cs->taker, &cs->gc_lock, &cs->taker_stop, &cs->gc_wake);
	free(cs->gc);
	if (cs->emptier_running)
		stop_thread(cs->emptier, &cs->recycle_lock, &cs->emptier_stop, &cs->emptier_wake);
	free(cs->to_empty);
	for (size_t i = 0; i < cs->nrecycle; i++)
		recycled_remove(cs, cs->recycle[i].n);
	free(cs->recycle);
	pthread_cond_destroy(&cs->emptier_wake);
	pthread_cond_destroy(&cs->emptier_done);
	pthread_mutex_destroy(&cs->recycle_lock);
	pthread_cond_destroy(&cs->gc_wake);
	pthread_cond_destroy(&cs->gc_idle);
	pthread_mutex_destroy(&cs->gc_lock);
	if (cs->dirfd >= 0)
		close(cs->dirfd);
	explicit_bzero(cs->secret, sizeof(cs->secret));
	free(cs);
}

/* ---- chunk files -------------------------------------------------------- */

void chunk_store_set_recycle_bytes(struct chunk_store *cs, uint64_t bytes)
{
	pthread_mutex_lock(&cs->recycle_lock);
	cs->recycle_full_max = bytes;
	pthread_mutex_unlock(&cs->recycle_lock);
}

/* A file of the pool, or -ENOENT if there is none. */
static int recycled_take(struct chunk_store *cs, struct pooled *ret)
{
	pthread_mutex_lock(&cs->recycle_lock);
	bool have = cs->nrecycle > 0;
	if (have) {
		*ret = cs->recycle[--cs->nrecycle];
		cs->recycle_full -= ret->bytes;
	}
	pthread_mutex_unlock(&cs->recycle_lock);
	return have ? 0 : -ENOENT;
}

void chunk_store_release_pool(struct chunk_store *cs)
{
	size_t kept = 0, removed = 0;
	pthread_mutex_lock(&cs->recycle_lock);
	for (size_t i = 0; cs->recycle_full && i < cs->nrecycle; i++) {
		if (cs->recycle[i].bytes) {
			recycled_remove(cs, cs->recycle[i].n);
			removed++;
		} else {
			cs->recycle[kept++] = cs->recycle[i];
		}
	}
	if (removed)
		cs->nrecycle = kept;
	cs->recycle_full = 0;
	pthread_mutex_unlock(&cs->recycle_lock);
}

/*
 * Keeps file tmp/<pid>.0.<n> of ours in the pool: whole while the pool's
 * bound on bytes allows, else emptied; removes it when the pool is full.
 */
static void recycled_put(struct chunk_store *cs, uint64_t n)
{
	char name[64];
	struct stat st;
	struct statvfs vfs;
	recycled_name(n, name, sizeof(name));
	if (fstatat(cs->dirfd, name, &st, 0) < 0) {
		recycled_remove(cs, n);
		return;
	}
	uint64_t free_bytes = fstatvfs(cs->dirfd, &vfs) == 0 ?
			      (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
	pthread_mutex_lock(&cs->recycle_lock);
	bool roomy = free_bytes > RECYCLE_FREE_FACTOR * cs->recycle_full_max;
	bool room = cs->recycle && cs->nrecycle < RECYCLE_MAX;
	bool whole = room && roomy &&
		     cs->recycle_full + (uint64_t)st.st_size <= cs->recycle_full_max;
	if (whole) {
		cs->recycle[cs->nrecycle++] = (struct pooled){ n, (uint64_t)st.st_size };
		cs->recycle_full += (uint64_t)st.st_size;
	}
	pthread_mutex_unlock(&cs->recycle_lock);
	if (whole)
		return;
	if (!roomy)
		chunk_store_release_pool(cs);
	bool kept = false;
	/* no use emptying it when there is no room: unlinking frees it all */
	int fd = room ? openat(cs->dirfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC) : -1;
	if (fd >= 0) {
		close(fd);
		pthread_mutex_lock(&cs->recycle_lock);
		if (cs->nrecycle < RECYCLE_MAX) {
			cs->recycle[cs->nrecycle++] = (struct pooled){ n, 0 };
			kept = true;
		}
		pthread_mutex_unlock(&cs->recycle_lock);
	}
	if (!kept)
		recycled_remove(cs, n);
}

/* The emptier thread: empties (or removes) the files chunk_gc() queued. */
static void *emptier_main(void *arg)
{
	struct chunk_store *cs = arg;
	pthread_mutex_lock(&cs->recycle_lock);
	for (;;) {
		while (!cs->nempty && !cs->emptier_stop)
			pthread_cond_wait(&cs->emptier_wake, &cs->recycle_lock);
		if (!cs->nempty)
			break;   /* stopping, and all done */
		uint64_t n = cs->to_empty[--cs->nempty];
		bool closing = cs->emptier_stop;
		cs->emptying = true;
		pthread_mutex_unlock(&cs->recycle_lock);
		if (closing)   /* the pool goes with the store: no use emptying it */
			recycled_remove(cs, n);
		else
			recycled_put(cs, n);
		pthread_mutex_lock(&cs->recycle_lock);
		cs->emptying = false;
		if (!cs->nempty)
			pthread_cond_broadcast(&cs->emptier_done);
	}
	pthread_mutex_unlock(&cs->recycle_lock);
	return NULL;
}

void chunk_store_drain(struct chunk_store *cs)
{
	pthread_mutex_lock(&cs->recycle_lock);
	while (cs->nempty || cs->emptying)
		pthread_cond_wait(&cs->emptier_done, &cs->recycle_lock);
	pthread_mutex_unlock(&cs->recycle_lock);
}

/* Hands file tmp/<pid>.0.<n> to the emptier; empties it here if it cannot. */
static void empty_later(struct chunk_store *cs, uint64_t n)
{
	pthread_mutex_lock(&cs->recycle_lock);
	bool queued = cs->emptier_running &&
		      ARRAY_RESERVE(cs->to_empty, cs->nempty, cs->empty_cap, 256) == 0;
	if (queued) {
		cs->to_empty[cs->nempty++] = n;
		pthread_cond_signal(&cs->emptier_wake);
	}
	pthread_mutex_unlock(&cs->recycle_lock);
	if (!queued)
		recycled_put(cs, n);
}

/*
 * Writes the file of chunk @id over a file of the pool: 1 if there was
 * none to take.  Its bytes are not ordered before the rename (invariant 7).
 */
static int write_recycled(struct chunk_store *cs, const char *relpath, const void *data,
			  size_t len, unsigned flags)
{
	char name[64];
	struct pooled p;
	if (recycled_take(cs, &p) < 0)
		return 1;
	uint64_t n = p.n;
	recycled_name(n, name, sizeof(name));
	int fd = openat(cs->dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		recycled_remove(cs, n);
		return 1;
	}
	int r = pwrite_all(fd, data, len);
	if (r == 0 && p.bytes > len && ftruncate(fd, (off_t)len) < 0)
		r = -errno;
	if (r == 0)
		r = sync_or_start_write_back(fd, flags);   /* CHUNK_SYNC: bytes before name */
	close(fd);
	for (int attempt = 0; r == 0; attempt++) {
		if (renameat2(cs->dirfd, name, cs->dirfd, relpath, RENAME_NOREPLACE) == 0)
			return 0;
		r = -errno;
		if (r == -ENOENT && attempt == 0)
			r = make_fanout(cs->dirfd, relpath, flags);   /* then again */
	}
	recycled_put(cs, n);
	return r;
}

/* Writes @data into the new, empty file @fd; with CHUNK_SYNC, durably. */
static int fill_new_file(int fd, const void *data, size_t len, unsigned flags)
{
	int r = write_all(fd, data, len);
	return r == 0 ? sync_or_start_write_back(fd, flags) : r;   /* CHUNK_SYNC: bytes before name */
}

/* Writes the file of chunk @id into a new file. */
static int write_new(struct chunk_store *cs, const char *relpath, const void *data, size_t len,
		     unsigned flags)
{
	char tmpname[64];
	const char *named = NULL;
	int fd, r;

	fd = open_tmpfile(cs, relpath, flags);
	if (fd == -EOPNOTSUPP) {
		fd = open_named_tmp(cs, tmpname, sizeof(tmpname));
		named = tmpname;
	}
	if (fd < 0)
		return fd;
	r = fill_new_file(fd, data, len, flags);
	if (r == 0)
		r = link_chunk(cs, fd, named, relpath, flags);
	close(fd);
	if (named)
		unlinkat(cs->dirfd, named, 0);   /* the chunk, if linked, keeps its own name */
	return r;
}

/*
 * Replaces the file at @relpath, which holds other bytes (invariant 7),
 * with a new one of @data.  A new file, not one of the pool: ext4 writes
 * a new file's bytes before it commits a rename over another file.
 */
static int replace_chunk(struct chunk_store *cs, const char *relpath, const void *data,
			 size_t len, unsigned flags)
{
	char tmpname[64];
	int fd = open_named_tmp(cs, tmpname, sizeof(tmpname));
	if (fd < 0)
		return fd;
	int r = fill_new_file(fd, data, len, flags);
	close(fd);
	if (r == 0 && renameat(cs->dirfd, tmpname, cs->dirfd, relpath) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(cs->dirfd, tmpname, 0);
	return r;
}

/* Writes the file of chunk @id under @relpath, over a file of the pool if there is one. */
static int write_file(struct chunk_store *cs, const char *relpath, const void *data,
		      size_t len, unsigned flags)
{
	int r = write_recycled(cs, relpath, data, len, flags);
	if (r == 1)
		r = write_new(cs, relpath, data, len, flags);
	/* a full disk: once more, after the pool gave back the space it held */
	if (r == -ENOSPC) {
		chunk_store_release_pool(cs);
		r = write_new(cs, relpath, data, len, flags);
	}
	return r;
}

int chunk_write(struct chunk_store *cs, const struct idx_chunk_id *id,
		const void *data, size_t len, unsigned flags)
{
	char relpath[CHUNK_RELPATH_SIZE];
	int r;

	chunk_relpath(id, relpath);
	for (int attempt = 0;; attempt++) {
		r = write_file(cs, relpath, data, len, flags);
		if (r != -EEXIST)
			break;
		r = existing_chunk(cs, relpath, data, len, flags);
		if (r == -ESTALE) {   /* a crash's leftover, or damage */
			r = replace_chunk(cs, relpath, data, len, flags);
			break;
		}
		/* gone meanwhile (a dead chunk that gc took): write it again */
		if (r != -ENOENT || attempt > 0)
			return r;
	}
	if (r == 0 && (flags & CHUNK_SYNC)) {
		relpath[FANOUT_LEAF_LEN] = '\0';
		r = fsync_dir(cs->dirfd, relpath);   /* the name */
	}
	return r;
}

int chunk_read(struct chunk_store *cs, const struct idx_chunk_id *id, void *buf, size_t len)
{
	char relpath[CHUNK_RELPATH_SIZE];
	struct idx_chunk_id got;
	struct stat st = { 0 };
	ssize_t n;
	int fd, r = 0;

	chunk_relpath(id, relpath);
	fd = openat(cs->dirfd, relpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len) {
		r = -EIO;
		goto out;
	}
	n = read_full(fd, buf, len);
	if (n < 0)
		r = (int)n;
	else if ((size_t)n != len)
		r = -EIO;
	if (r == 0) {
		chunk_id_of(cs, buf, len, &got);
		if (memcmp(&got, id, sizeof(got)) != 0)
			r = -EIO;
	}
out:
	/* invariant 6: a file gc took from under us is a vanished chunk, not a damaged one */
	if (r == -EIO && file_moved(cs->dirfd, relpath, &st))
		r = -ENOENT;
	close(fd);
	return r;
}

void chunk_prefetch(struct chunk_store *cs, const struct idx_chunk_id *id, size_t len)
{
	char relpath[CHUNK_RELPATH_SIZE];

	chunk_relpath(id, relpath);
	int fd = openat(cs->dirfd, relpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)readahead(fd, 0, len);
	close(fd);
}

/* Takes the file of dead chunk @id for recycling, or removes it; a missing file is not an error. */
static int chunk_recycle(struct chunk_store *cs, const struct idx_chunk_id *id)
{
	char relpath[CHUNK_RELPATH_SIZE], name[64];
	uint64_t n = __atomic_fetch_add(&cs->tmp_counter, 1, __ATOMIC_RELAXED);

	if (!cs->recycle)
		return chunk_unlink(cs, id);
	chunk_relpath(id, relpath);
	recycled_name(n, name, sizeof(name));
	if (renameat(cs->dirfd, relpath, cs->dirfd, name) < 0)
		return errno == ENOENT ? 0 : -errno;
	empty_later(cs, n);   /* empties it, or removes it if the pool is full */
	return 0;
}

int chunk_unlink(struct chunk_store *cs, const struct idx_chunk_id *id)
{
	char relpath[CHUNK_RELPATH_SIZE];

	chunk_relpath(id, relpath);
	if (unlinkat(cs->dirfd, relpath, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---- the taker (Recycling, rules a to d) ---------------------------------- */

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, IDX_CHUNK_ID_SIZE);
}

/* With gc_lock: @id's entry, once no take of it is under way; NULL if it is not listed. */
static struct gc_entry *gc_find(struct chunk_store *cs, const struct idx_chunk_id *id)
{
	struct gc_entry *e = cs->ngc ? bsearch(id, cs->gc, cs->ngc, sizeof(*e), id_cmp) : NULL;
	while (e && cs->gc_taking && e == &cs->gc[cs->gc_next - 1])
		pthread_cond_wait(&cs->gc_idle, &cs->gc_lock);
	return e;
}

/*
 * True if gc took the file chunk @id had at the batch's start: a file under
 * its name now was written since, and may not be on disk yet.  With @claim
 * (rule c), the batch will name the chunk: its file must stay or come back.
 */
static bool gc_took(struct chunk_store *cs, const struct idx_chunk_id *id, bool claim)
{
	pthread_mutex_lock(&cs->gc_lock);
	struct gc_entry *e = gc_find(cs, id);
	bool taken = e && e->state == GC_TAKEN;
	if (e && claim)
		e->state = GC_KEPT;
	pthread_mutex_unlock(&cs->gc_lock);
	return taken;
}

/* Takes the file of @e (gc_lock not held; nobody else changes @e meanwhile). */
static void gc_take(struct chunk_store *cs, struct gc_entry *e)
{
	e->state = chunk_recycle(cs, &e->id) == 0 ? GC_TAKEN : GC_KEPT;
}

static void *taker_main(void *arg)
{
	struct chunk_store *cs = arg;
	pthread_mutex_lock(&cs->gc_lock);
	for (;;) {
		while ((cs->gc_next == cs->ngc || cs->gc_held || cs->gc_stopping) && !cs->taker_stop) {
			pthread_cond_broadcast(&cs->gc_idle);
			pthread_cond_wait(&cs->gc_wake, &cs->gc_lock);
		}
		if (cs->taker_stop)
			break;
		struct gc_entry *e = &cs->gc[cs->gc_next++];
		if (e->state != GC_PENDING)
			continue;
		/* without gc_lock, so that a claim waits for this one file at most */
		cs->gc_taking = true;
		pthread_mutex_unlock(&cs->gc_lock);
		gc_take(cs, e);
		pthread_mutex_lock(&cs->gc_lock);
		cs->gc_taking = false;
		pthread_cond_broadcast(&cs->gc_idle);
	}
	pthread_mutex_unlock(&cs->gc_lock);
	return NULL;
}

/* ---- with the index ----------------------------------------------------- */

/* 0 if the chunk file exists with @len bytes; -ENOENT; -EIO if its size is wrong. */
static int chunk_present(struct chunk_store *cs, const struct idx_chunk_id *id, size_t len)
{
	char relpath[CHUNK_RELPATH_SIZE];
	struct stat st;

	chunk_relpath(id, relpath);
	if (fstatat(cs->dirfd, relpath, &st, 0) < 0)
		return -errno;
	return S_ISREG(st.st_mode) && (uint64_t)st.st_size == len ? 0 : -EIO;
}

/* Reads chunk @id and compares it with @data: 0, -EIO if they differ, -ENOENT. */
static int chunk_compare(struct chunk_store *cs, const struct idx_chunk_id *id,
			 const void *data, size_t len)
{
	char relpath[CHUNK_RELPATH_SIZE];
	int fd, r;

	chunk_relpath(id, relpath);
	fd = openat(cs->dirfd, relpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = compare_file(fd, data, len);
	close(fd);
	return r;
}

/*
 * Makes sure the file of chunk @id exists, inside a write transaction (no
 * other process's gc can run until it ends, and the claim keeps ours off
 * it): writes it first if @need_write, and again if it is missing (a dead
 * chunk's file may be gone or going: writing it again is what revives it).
 * A second miss means something other than gc removes files behind the
 * index's back.  Returns 1 if the file was written since the batch began
 * (by this call, or after gc took the one it had), else 0.
 */
static int ensure_present(struct chunk_store *cs, const struct idx_chunk_id *id, const void *data,
			  size_t len, unsigned flags, bool need_write)
{
	bool replaced = gc_took(cs, id, true);
	for (int attempt = 0;; attempt++) {
		if (need_write) {
			int r = chunk_write(cs, id, data, len, flags);
			if (r < 0)
				return r;
		}
		int r = chunk_present(cs, id, len);
		if (r == 0)
			return need_write || replaced;
		if (r != -ENOENT)
			return r;
		if (attempt > 0)
			return -EIO;
		need_write = true;
	}
}

int chunk_put(struct chunk_store *cs, struct idx_txn *txn, const void *data, size_t len,
	      unsigned flags, struct idx_chunk_id *ret_id)
{
	struct idx_chunk_id id;
	struct idx_chunk rec;
	bool need_write = true;
	int r;

	if (len == 0 || len > UINT32_MAX || chunk_is_zero(data, len))
		return -EINVAL;
	if (idx_txn_is_rdonly(txn))
		return -EROFS;
	chunk_id_of(cs, data, len, &id);

	r = idx_chunk_get(txn, &id, &rec);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && rec.refs > 0) {
		/* A live chunk: records name it, so its file should be there. */
		if (rec.length != len)
			return -EIO;   /* a hash collision, or a damaged record */
		if (flags & CHUNK_VERIFY) {
			r = chunk_compare(cs, &id, data, len);
			if (r < 0 && r != -ENOENT)
				return r;
			need_write = r == -ENOENT;   /* lost: put it back */
		} else {
			need_write = false;
		}
	}
	r = ensure_present(cs, &id, data, len, flags, need_write);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int chunk_prepare(struct chunk_store *cs, const void *data, size_t len, unsigned flags,
		  struct idx_chunk_id *ret_id)
{
	struct idx_chunk_id id;
	if (len == 0 || len > UINT32_MAX || chunk_is_zero(data, len))
		return -EINVAL;
	chunk_id_of(cs, data, len, &id);
	int r = chunk_write(cs, &id, data, len, flags);
	if (r == 0)
		*ret_id = id;
	return r;
}

int chunk_put_prepared(struct chunk_store *cs, struct idx_txn *txn, const struct idx_chunk_id *id,
		       const void *data, size_t len, unsigned flags)
{
	struct idx_chunk rec;
	if (idx_txn_is_rdonly(txn))
		return -EROFS;
	int r = idx_chunk_get(txn, id, &rec);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && rec.refs > 0 && rec.length != len)
		return -EIO;   /* a hash collision, or a damaged record */
	/* written (and compared) by chunk_prepare(); gc may have run since */
	return ensure_present(cs, id, data, len, flags, false);
}

int chunk_discard_prepared(struct chunk_store *cs, struct idx_txn *txn,
			   const struct idx_chunk_id *id)
{
	struct idx_chunk rec;
	if (idx_txn_is_rdonly(txn))
		return -EROFS;
	int r = idx_chunk_get(txn, id, &rec);
	if (r == 0) {
		/*
		 * A record names it, live or dead, so the file is not ours, unless
		 * gc took the dead record's file: this one is then ours, and the
		 * record goes at chunk_gc_finish().
		 */
		if (!gc_took(cs, id, false))
			return 0;
	} else if (r != -ENOENT) {
		return r;
	}
	return chunk_recycle(cs, id);
}

struct gc_list {
	struct gc_entry *v;
	size_t n, cap;
};

static int collect_dead(const struct idx_chunk_id *id, const struct idx_chunk *c, void *arg)
{
	struct gc_list *l = arg;

	(void)c;
	if (ARRAY_RESERVE(l->v, l->n, l->cap, 256) < 0)
		return -ENOMEM;
	l->v[l->n++] = (struct gc_entry){ *id, GC_PENDING };
	return 0;
}

int chunk_gc(struct chunk_store *cs, struct idx_txn *txn, uint64_t *ret_freed)
{
	struct gc_list dead = { 0 };
	uint64_t freed = 0;
	int r;

	if (idx_txn_is_rdonly(txn))
		return -EROFS;
	/* Collect first: the callback must not write to the database it walks. */
	r = idx_dead_chunk_foreach(txn, collect_dead, &dead);
	for (size_t i = 0; r == 0 && i < dead.n; i++) {
		/*
		 * File first, record second: if @txn aborts, the record stays
		 * dead with no file, which the next gc (or a chunk_put that
		 * revives it) handles.
		 */
		r = chunk_recycle(cs, &dead.v[i].id);
		if (r == 0)
			r = idx_chunk_forget(txn, &dead.v[i].id);
		if (r == 0)
			freed++;
	}
	free(dead.v);
	if (r < 0)
		return r;
	if (ret_freed)
		*ret_freed = freed;
	return 0;
}

int chunk_gc_start(struct chunk_store *cs, struct idx_txn *txn)
{
	if (idx_txn_is_rdonly(txn))
		return -EROFS;
	/* the dead list's keys are the ids, so it comes in id order (gc_find's bsearch) */
	struct gc_list dead = { 0 };
	int r = idx_dead_chunk_foreach(txn, collect_dead, &dead);
	if (r < 0 || !dead.n) {
		free(dead.v);
		return r;
	}
	pthread_mutex_lock(&cs->gc_lock);
	bool busy = cs->ngc > 0;   /* the last batch's list was not finished */
	if (!busy) {
		cs->gc = dead.v;
		cs->ngc = dead.n;
		cs->gc_next = 0;
		pthread_cond_signal(&cs->gc_wake);
	}
	pthread_mutex_unlock(&cs->gc_lock);
	if (busy) {
		free(dead.v);
		return -EBUSY;
	}
	if (!cs->taker_running) {   /* no thread: every file now, and claims still see them */
		for (size_t i = 0; i < dead.n; i++)
			gc_take(cs, &dead.v[i]);
		cs->gc_next = dead.n;
	}
	return 0;
}

int chunk_gc_finish(struct chunk_store *cs, struct idx_txn *txn)
{
	pthread_mutex_lock(&cs->gc_lock);
	cs->gc_stopping = true;   /* the file being taken is the last */
	while (cs->gc_taking)
		pthread_cond_wait(&cs->gc_idle, &cs->gc_lock);
	struct gc_entry *list = cs->gc;
	size_t n = cs->ngc;
	cs->gc = NULL;
	cs->ngc = cs->gc_next = 0;
	cs->gc_stopping = false;
	pthread_mutex_unlock(&cs->gc_lock);

	int r = 0;
	for (size_t i = 0; txn && r == 0 && i < n; i++) {
		if (list[i].state != GC_TAKEN)
			continue;
		r = idx_chunk_forget(txn, &list[i].id);
		if (r == -ENOENT)
			r = 0;   /* forgotten already */
		/* -EBUSY: revived without a claim, a bug: its file is gone (rule c) */
	}
	free(list);
	return r;
}

void chunk_gc_hold(struct chunk_store *cs, bool hold)
{
	pthread_mutex_lock(&cs->gc_lock);
	cs->gc_held = hold;
	pthread_cond_signal(&cs->gc_wake);
	pthread_mutex_unlock(&cs->gc_lock);
}

void chunk_gc_wait(struct chunk_store *cs)
{
	pthread_mutex_lock(&cs->gc_lock);
	while (cs->taker_running && !cs->gc_held && (cs->gc_next < cs->ngc || cs->gc_taking))
		pthread_cond_wait(&cs->gc_idle, &cs->gc_lock);
	pthread_mutex_unlock(&cs->gc_lock);
}
