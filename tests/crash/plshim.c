/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plshim.c — LD_PRELOAD shim for the power-loss simulation (powerloss.sh).
 *
 * Loaded into the volfs daemon, it appends to the log PLSHIM_LOG (format in
 * pl_log.h) every mutating file operation on files under the store directory
 * PLSHIM_ROOT, with the bytes written, and every barrier:
 *
 *   open/openat (+ the 64 and _2 variants): the inode a path names, whether
 *       the open created it (O_CREAT, absent before), O_TMPFILE, O_TRUNC, O_DSYNC
 *   write, pwrite(64), writev, pwritev(64,2): offset and bytes (fd -> inode)
 *   ftruncate(64), linkat/link (a /proc/self/fd/N source included: the inode
 *       is read from the new name), renameat(2)/rename, unlinkat/unlink/rmdir,
 *       mkdirat/mkdir
 *   fsync/fdatasync (BEGIN before the call, END after it returned 0),
 *       syncfs on the store's filesystem and sync (BEGIN, END)
 *
 * Data operations are logged after the call returned, so a write that
 * completes while a barrier is running is logged after that barrier's BEGIN
 * and is not counted as covered by it (pl_replay.c).  Each record is one
 * writev(2) on its own O_APPEND descriptor (a raw system call, so the shim
 * never sees its own writes), under a mutex, with a CLOCK_MONOTONIC time
 * stamp and a sequence number taken under the same mutex.
 *
 * Ack mode, for the workload: PLSHIM_ACKLOG=FILE PLSHIM_ACKTS=TSFILE.  Every
 * write(2) to FILE (the workload's log of what fsync acknowledged, written
 * after the fsync returned) is copied to TSFILE as "<CLOCK_MONOTONIC ns> <line>",
 * the time taken before the write: the acknowledging fsync returned before it.
 *
 * Only glibc's exported symbols are interposed: what glibc does inside itself
 * (fopen, closedir, remove) is not seen.  volfs writes its store with the
 * calls above and LMDB with open, pwrite, write/writev, fdatasync, ftruncate;
 * the files the shim misses (run/mount-<pid>, written with fopen) carry no
 * data that recovery needs.  The daemon must run in the foreground
 * (`volfs mount -f`): one process, one sequence.
 */
/* both open and open64 are defined here: no redirection of one to the other */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"

#define FDMAX 65536

/* interposed symbols that glibc's headers do not always declare */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Records are written after their call returns, so two threads' records
 * can come out in the other order than their calls.  For names that would
 * be wrong in a way pl_replay cannot undo: a link into a fan-out directory
 * another thread has just made, logged before that mkdir, finds no
 * directory there and is lost; a name made just before a syncfs began,
 * logged after its BEGIN, counts as not covered by it.  So every name
 * operation holds name_order shared across its call and its record, and a
 * mkdir, or the BEGIN of a barrier, holds it exclusively: what such a call
 * may depend on is in the log before it.
 */
static pthread_rwlock_t name_order = PTHREAD_RWLOCK_INITIALIZER;
static int logfd = -1, tsfd = -1;
static char root[PATH_MAX];
static size_t rootlen;
static dev_t rootdev;
static uint64_t seq;
static char acklog[PATH_MAX];
static volatile int ackfd = -1;

static struct fdent {
	uint64_t ino;
	dev_t dev;
	bool on, sync;
} fdt[FDMAX];

/* ---- the real functions ------------------------------------------------- */

#define REAL(name) ({                                         \
		static __typeof__(&name) real_;                 \
		if (!real_)                                     \
			real_ = (__typeof__(&name))real_sym(#name); \
		real_;                                          \
	})

static void *real_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		static const char msg[] = "plshim: a libc symbol is missing\n";
		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		abort();
	}
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void raw_write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		long n = syscall(SYS_writev, fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			static const char msg[] = "plshim: cannot write the log\n";
			syscall(SYS_write, 2, msg, sizeof(msg) - 1);
			abort();
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (long)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
}

__attribute__((constructor)) static void plshim_init(void)
{
	int saved = errno;
	const char *log = getenv("PLSHIM_LOG"), *r = getenv("PLSHIM_ROOT");
	const char *ack = getenv("PLSHIM_ACKLOG"), *ts = getenv("PLSHIM_ACKTS");
	struct stat st;

	if (log && r && realpath(r, root) && stat(root, &st) == 0) {
		rootlen = strlen(root);
		rootdev = st.st_dev;
		logfd = (int)syscall(SYS_openat, AT_FDCWD, log,
				     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	}
	if (ack && ts && strlen(ack) < sizeof(acklog)) {
		strcpy(acklog, ack);
		tsfd = (int)syscall(SYS_openat, AT_FDCWD, ts,
				    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	}
	errno = saved;
}

/* ---- paths --------------------------------------------------------------- */

/*
 * @path relative to @dirfd, as a path relative to the store ("." for the store
 * itself) in @out; false when it is not under the store.
 */
static bool store_rel(int dirfd, const char *path, char *out, size_t size)
{
	char full[PATH_MAX * 2];
	size_t n;

	if (logfd < 0 || !path)
		return false;
	if (path[0] == '/') {
		n = strlen(path);
		if (n >= sizeof(full))
			return false;
		memcpy(full, path, n + 1);
	} else {
		char link[64];
		ssize_t l;
		if (dirfd == AT_FDCWD) {
			if (!getcwd(full, PATH_MAX))
				return false;
			l = (ssize_t)strlen(full);
		} else {
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			l = readlink(link, full, PATH_MAX - 1);
			if (l < 0)
				return false;
		}
		n = (size_t)l;
		if (path[0] && strcmp(path, ".")) {
			const char *p = path;
			while (p[0] == '.' && p[1] == '/')
				p += 2;
			if (n + 1 + strlen(p) >= sizeof(full))
				return false;
			full[n++] = '/';
			strcpy(full + n, p);
			n += strlen(p);
		}
		full[n] = '\0';
	}
	while (n > 1 && full[n - 1] == '/')
		full[--n] = '\0';
	if (n >= 2 && !strcmp(full + n - 2, "/."))
		full[n -= 2] = '\0';
	if (strncmp(full, root, rootlen) || (full[rootlen] != '/' && full[rootlen] != '\0'))
		return false;
	const char *rel = full[rootlen] ? full + rootlen + 1 : ".";
	if (strlen(rel) >= size)
		return false;
	strcpy(out, rel);
	return true;
}

/* ---- the log ------------------------------------------------------------------ */

static uint64_t emit(uint16_t type, uint16_t flags, uint64_t ino, int64_t off, uint64_t len,
		     const char *p1, const char *p2, const struct iovec *data, int ndata)
{
	struct pl_rec h = { .magic = PL_MAGIC, .type = type, .flags = flags, .ino = ino,
			    .off = off, .len = len };
	struct iovec iov[3 + 64];
	int cnt = 1;
	uint64_t s;

	h.plen = p1 ? (uint32_t)strlen(p1) : 0;
	h.p2len = p2 ? (uint32_t)strlen(p2) : 0;
	iov[0] = (struct iovec){ &h, sizeof(h) };
	if (h.plen)
		iov[cnt++] = (struct iovec){ (void *)p1, h.plen };
	if (h.p2len)
		iov[cnt++] = (struct iovec){ (void *)p2, h.p2len };
	/* the first @len bytes of @data */
	for (int i = 0; i < ndata && len; i++) {
		size_t l = data[i].iov_len < len ? data[i].iov_len : (size_t)len;
		if (!l)
			continue;
		iov[cnt++] = (struct iovec){ data[i].iov_base, l };
		len -= l;
	}
	pthread_mutex_lock(&lock);
	s = h.seq = ++seq;
	h.ts = now_ns();
	raw_write_all(logfd, iov, cnt);
	pthread_mutex_unlock(&lock);
	return s;
}

/* The inode behind a tracked @fd, checked against a reused descriptor. */
static bool tracked(int fd, uint64_t *ino, bool *sync)
{
	struct stat st;

	if (logfd < 0 || fd < 0 || fd >= FDMAX || !__atomic_load_n(&fdt[fd].on, __ATOMIC_RELAXED))
		return false;
	if (fstat(fd, &st) < 0 || st.st_ino != fdt[fd].ino || st.st_dev != fdt[fd].dev) {
		fdt[fd].on = false;   /* closed behind our back (closedir, fclose) and reused */
		return false;
	}
	*ino = st.st_ino;
	if (sync)
		*sync = fdt[fd].sync;
	return true;
}

static void after_open(int fd, int dirfd, const char *path, int flags, bool existed)
{
	char rel[PATH_MAX];
	struct stat st;
	uint16_t f = 0;

	if (fd < 0 || fd >= FDMAX || logfd < 0)
		return;
	fdt[fd].on = false;
	if (!store_rel(dirfd, path, rel, sizeof(rel)) || fstat(fd, &st) < 0)
		return;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		f |= PL_F_TMPFILE;
	else if ((flags & O_CREAT) && !existed)
		f |= PL_F_CREATED;
	if (S_ISDIR(st.st_mode))
		f |= PL_F_DIR;
	if (flags & (O_DSYNC | O_SYNC))
		f |= PL_F_SYNC;
	if ((flags & O_TRUNC) && existed && S_ISREG(st.st_mode))
		f |= PL_F_TRUNC;
	fdt[fd].ino = st.st_ino;
	fdt[fd].dev = st.st_dev;
	fdt[fd].sync = (flags & (O_DSYNC | O_SYNC)) != 0;
	__atomic_store_n(&fdt[fd].on, true, __ATOMIC_RELAXED);
	emit(PL_OPEN, f, st.st_ino, 0, 0, rel, NULL, NULL, 0);
}

static bool exists_at(int dirfd, const char *path, int flags)
{
	struct stat st;
	if (logfd < 0 || !(flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return true;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void ack_open(int fd, const char *path)
{
	if (fd >= 0 && acklog[0] && !strcmp(path, acklog))
		ackfd = fd;
}

/* ---- open ------------------------------------------------------------------- */

static int do_openat(int (*real)(int, const char *, int, ...), int dirfd, const char *path,
		     int flags, mode_t mode)
{
	pthread_rwlock_rdlock(&name_order);   /* O_CREAT may make a name */
	bool existed = exists_at(dirfd, path, flags);
	int fd = real(dirfd, path, flags, mode);
	int e = errno;
	after_open(fd, dirfd, path, flags, existed);
	pthread_rwlock_unlock(&name_order);
	ack_open(fd, path);
	errno = e;
	return fd;
}

static mode_t va_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_mode(flags, ap);
	va_end(ap);
	return do_openat(REAL(openat), AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_mode(flags, ap);
	va_end(ap);
	return do_openat(REAL(openat64), AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_mode(flags, ap);
	va_end(ap);
	return do_openat(REAL(openat), dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_mode(flags, ap);
	va_end(ap);
	return do_openat(REAL(openat64), dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags)
{
	return do_openat(REAL(openat), AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return do_openat(REAL(openat64), AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(REAL(openat), dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_openat(REAL(openat64), dirfd, path, flags, 0);
}

int close(int fd)
{
	if (fd >= 0 && fd < FDMAX)
		fdt[fd].on = false;
	if (fd == ackfd)
		ackfd = -1;
	return REAL(close)(fd);
}

/* ---- data ----------------------------------------------------------------------- */

static void log_write(int fd, uint64_t ino, bool sync, int64_t off, ssize_t n,
		      const struct iovec *iov, int cnt)
{
	if (n <= 0)
		return;
	if (cnt <= 64) {
		emit(PL_WRITE, sync ? PL_F_SYNC : 0, ino, off, (uint64_t)n, NULL, NULL, iov, cnt);
		return;
	}
	/* more pieces than emit() takes: gather them */
	char *buf = malloc((size_t)n);
	size_t done = 0;
	if (!buf)
		abort();
	for (int i = 0; i < cnt && done < (size_t)n; i++) {
		size_t l = iov[i].iov_len < (size_t)n - done ? iov[i].iov_len : (size_t)n - done;
		memcpy(buf + done, iov[i].iov_base, l);
		done += l;
	}
	struct iovec one = { buf, (size_t)n };
	emit(PL_WRITE, sync ? PL_F_SYNC : 0, ino, off, (uint64_t)n, NULL, NULL, &one, 1);
	free(buf);
}

static void log_ack(const void *buf, ssize_t n, uint64_t ts)
{
	char head[32];
	int hl = snprintf(head, sizeof(head), "%llu ", (unsigned long long)ts);
	struct iovec iov[2] = { { head, (size_t)hl }, { (void *)buf, (size_t)n } };
	pthread_mutex_lock(&lock);
	raw_write_all(tsfd, iov, 2);
	pthread_mutex_unlock(&lock);
}

ssize_t write(int fd, const void *buf, size_t count)
{
	uint64_t ino;
	bool sync;

	if (fd >= 0 && fd == ackfd && tsfd >= 0) {
		uint64_t ts = now_ns();
		ssize_t n = REAL(write)(fd, buf, count);
		int e = errno;
		if (n > 0)
			log_ack(buf, n, ts);
		errno = e;
		return n;
	}
	if (!tracked(fd, &ino, &sync))
		return REAL(write)(fd, buf, count);
	ssize_t n = REAL(write)(fd, buf, count);
	int e = errno;
	if (n > 0) {
		struct iovec iov = { (void *)buf, (size_t)n };
		off_t end = lseek(fd, 0, SEEK_CUR);
		log_write(fd, ino, sync, (int64_t)end - n, n, &iov, 1);
	}
	errno = e;
	return n;
}

static ssize_t do_pwrite(ssize_t (*real)(int, const void *, size_t, off_t), int fd,
			 const void *buf, size_t count, off_t off)
{
	uint64_t ino;
	bool sync;

	if (!tracked(fd, &ino, &sync))
		return real(fd, buf, count, off);
	ssize_t n = real(fd, buf, count, off);
	int e = errno;
	struct iovec iov = { (void *)buf, n > 0 ? (size_t)n : 0 };
	log_write(fd, ino, sync, off, n, &iov, 1);
	errno = e;
	return n;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	return do_pwrite(REAL(pwrite), fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t off)
{
	return do_pwrite(REAL(pwrite64), fd, buf, count, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	uint64_t ino;
	bool sync;

	if (!tracked(fd, &ino, &sync))
		return REAL(writev)(fd, iov, cnt);
	ssize_t n = REAL(writev)(fd, iov, cnt);
	int e = errno;
	if (n > 0)
		log_write(fd, ino, sync, (int64_t)lseek(fd, 0, SEEK_CUR) - n, n, iov, cnt);
	errno = e;
	return n;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	uint64_t ino;
	bool sync;

	if (!tracked(fd, &ino, &sync))
		return REAL(pwritev)(fd, iov, cnt, off);
	ssize_t n = REAL(pwritev)(fd, iov, cnt, off);
	int e = errno;
	log_write(fd, ino, sync, off, n, iov, cnt);
	errno = e;
	return n;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return pwritev(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	uint64_t ino;
	bool sync;

	if (off < 0 || !tracked(fd, &ino, &sync))
		return REAL(pwritev2)(fd, iov, cnt, off, flags);
	ssize_t n = REAL(pwritev2)(fd, iov, cnt, off, flags);
	int e = errno;
	log_write(fd, ino, sync || (flags & (RWF_DSYNC | RWF_SYNC)), off, n, iov, cnt);
	errno = e;
	return n;
}

static int do_ftruncate(int (*real)(int, off_t), int fd, off_t len)
{
	uint64_t ino;
	if (!tracked(fd, &ino, NULL))
		return real(fd, len);
	int r = real(fd, len);
	int e = errno;
	if (r == 0)
		emit(PL_TRUNC, 0, ino, 0, (uint64_t)len, NULL, NULL, NULL, 0);
	errno = e;
	return r;
}

int ftruncate(int fd, off_t len)
{
	return do_ftruncate(REAL(ftruncate), fd, len);
}

int ftruncate64(int fd, off64_t len)
{
	return do_ftruncate(REAL(ftruncate64), fd, len);
}

/* ---- barriers ------------------------------------------------------------------- */

static bool on_store_fs(int fd, uint64_t *ino)
{
	struct stat st;
	if (logfd < 0 || fstat(fd, &st) < 0 || st.st_dev != rootdev)
		return false;
	*ino = st.st_ino;
	return true;
}

static int do_fsync(int (*real)(int), int fd, uint16_t flags)
{
	uint64_t ino;
	if (!on_store_fs(fd, &ino))
		return real(fd);
	pthread_rwlock_wrlock(&name_order);
	uint64_t b = emit(PL_FSYNC_BEGIN, flags, ino, 0, 0, NULL, NULL, NULL, 0);
	pthread_rwlock_unlock(&name_order);
	int r = real(fd);
	int e = errno;
	if (r == 0)
		emit(PL_FSYNC_END, flags, ino, (int64_t)b, 0, NULL, NULL, NULL, 0);
	errno = e;
	return r;
}

int fsync(int fd)
{
	return do_fsync(REAL(fsync), fd, 0);
}

int fdatasync(int fd)
{
	return do_fsync(REAL(fdatasync), fd, PL_F_DATASYNC);
}

int syncfs(int fd)
{
	uint64_t ino;
	if (!on_store_fs(fd, &ino))
		return REAL(syncfs)(fd);
	pthread_rwlock_wrlock(&name_order);
	uint64_t b = emit(PL_SYNCFS_BEGIN, 0, 0, 0, 0, NULL, NULL, NULL, 0);
	pthread_rwlock_unlock(&name_order);
	int r = REAL(syncfs)(fd);
	int e = errno;
	if (r == 0)
		emit(PL_SYNCFS_END, 0, 0, (int64_t)b, 0, NULL, NULL, NULL, 0);
	errno = e;
	return r;
}

void sync(void)
{
	pthread_rwlock_wrlock(&name_order);
	uint64_t b = logfd >= 0 ? emit(PL_SYNCFS_BEGIN, 0, 0, 0, 0, NULL, NULL, NULL, 0) : 0;
	pthread_rwlock_unlock(&name_order);
	REAL(sync)();
	if (logfd >= 0)
		emit(PL_SYNCFS_END, 0, 0, (int64_t)b, 0, NULL, NULL, NULL, 0);
}

/* ---- names ---------------------------------------------------------------------- */

static uint64_t ino_at(int dirfd, const char *path)
{
	struct stat st;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_ino : 0;
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	pthread_rwlock_rdlock(&name_order);
	int r = REAL(linkat)(olddirfd, oldpath, newdirfd, newpath, flags);
	int e = errno;
	char rel[PATH_MAX];
	if (r == 0 && store_rel(newdirfd, newpath, rel, sizeof(rel)))
		emit(PL_LINK, 0, ino_at(newdirfd, newpath), 0, 0, rel, NULL, NULL, 0);
	pthread_rwlock_unlock(&name_order);
	errno = e;
	return r;
}

int link(const char *oldpath, const char *newpath)
{
	return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

static void log_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	char rel[PATH_MAX], rel2[PATH_MAX];
	bool from = store_rel(olddirfd, oldpath, rel, sizeof(rel));
	bool to = store_rel(newdirfd, newpath, rel2, sizeof(rel2));
	uint64_t ino = to ? ino_at(newdirfd, newpath) : 0;

	if (from && to)
		emit(PL_RENAME, 0, ino, 0, 0, rel, rel2, NULL, 0);
	else if (to)
		emit(PL_LINK, 0, ino, 0, 0, rel2, NULL, NULL, 0);
	else if (from)
		emit(PL_UNLINK, 0, 0, 0, 0, rel, NULL, NULL, 0);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	pthread_rwlock_rdlock(&name_order);
	int r = REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
	int e = errno;
	if (r == 0 && !(flags & RENAME_EXCHANGE))
		log_rename(olddirfd, oldpath, newdirfd, newpath);
	pthread_rwlock_unlock(&name_order);
	errno = e;
	return r;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	pthread_rwlock_rdlock(&name_order);
	int r = REAL(renameat)(olddirfd, oldpath, newdirfd, newpath);
	int e = errno;
	if (r == 0)
		log_rename(olddirfd, oldpath, newdirfd, newpath);
	pthread_rwlock_unlock(&name_order);
	errno = e;
	return r;
}

int rename(const char *oldpath, const char *newpath)
{
	return renameat(AT_FDCWD, oldpath, AT_FDCWD, newpath);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	pthread_rwlock_rdlock(&name_order);
	int r = REAL(unlinkat)(dirfd, path, flags);
	int e = errno;
	char rel[PATH_MAX];
	if (r == 0 && store_rel(dirfd, path, rel, sizeof(rel)))
		emit(PL_UNLINK, flags & AT_REMOVEDIR ? PL_F_DIR : 0, 0, 0, 0, rel, NULL, NULL, 0);
	pthread_rwlock_unlock(&name_order);
	errno = e;
	return r;
}

int unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}

int rmdir(const char *path)
{
	return unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	pthread_rwlock_wrlock(&name_order);   /* before any name made in it */
	int r = REAL(mkdirat)(dirfd, path, mode);
	int e = errno;
	char rel[PATH_MAX];
	if (r == 0 && store_rel(dirfd, path, rel, sizeof(rel)))
		emit(PL_MKDIR, 0, ino_at(dirfd, path), 0, (uint64_t)mode, rel, NULL, NULL, 0);
	pthread_rwlock_unlock(&name_order);
	errno = e;
	return r;
}

int mkdir(const char *path, mode_t mode)
{
	return mkdirat(AT_FDCWD, path, mode);
}
