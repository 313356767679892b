/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * posix.c — POSIX behaviour of a mounted filesystem, as Linux local
 * filesystems (ext4, tmpfs) show it: each operation's success and errno
 * cases, permissions as other uids, links, every rename case, sparse files,
 * xattrs and ACLs, timestamps, locks.
 *
 *   posix DIR [CASE...]
 *
 * Runs as root (some cases switch to uids 1000 and 65534 in a child).  Each
 * case works in its own fresh subdirectory of DIR/posix.PID, which is its
 * working directory, so paths below are relative.  With CASE arguments only
 * the cases whose names contain one of them run.
 *
 * Checks that hold only where a filesystem chooses to (st_blocks of a
 * sparse file, SEEK_HOLE finding a hole) say so in a comment: ext4 and tmpfs
 * both pass them, and volfs means to.
 */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024ll
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

#define U1 1000     /* two unprivileged users, neither in the other's group */
#define U2 65534

static char base[PATH_MAX - 64];
static char **filters;
static int nfilters;
static bool am_root;

/* -errno of a failed call, 0 for any success: CHECK_EQ(E(mkdir(…)), -EEXIST). */
#define E(call) ((call) < 0 ? -errno : 0)

/* ---- helpers ---------------------------------------------------------- */

/* Whether the running case was selected on the command line. */
static bool selected(const char *name)
{
	if (!nfilters)
		return true;
	for (int i = 0; i < nfilters; i++)
		if (strstr(name, filters[i]))
			return true;
	return false;
}

#define CASE(fn) do { if (selected(#fn)) RUN(fn); } while (0)

/* A fresh directory for the running case, made the working directory. */
static int enter(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", base, test_case);
	if (mkdir(path, 0755) < 0 || chmod(path, 0755) < 0 || chdir(path) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
#define ENTER() CHECK_OK(enter())

/* Drops to @uid/@gid with supplementary groups @groups (@n): for a forked child. */
static void become(uid_t uid, gid_t gid, size_t n, const gid_t *groups)
{
	if (setgroups(n, groups) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		perror("become");
		_exit(120);
	}
}

static long wait_child(pid_t pid)
{
	int status;
	if (pid < 0)
		return -1000;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1001;
	if (WIFSIGNALED(status))
		return -2000 - WTERMSIG(status);
	return -WEXITSTATUS(status);
}

/*
 * AS(uid, expr): evaluates expr (a -errno or 0, like E()) in a child running
 * as uid (gid the same number, no supplementary groups) and returns its
 * value in the parent.  AS_IN(uid, group, expr): with supplementary @group.
 */
#define AS(uid, expr) AS_GROUPS(uid, 0, NULL, expr)
#define AS_IN(uid, group, expr) AS_GROUPS(uid, 1, (gid_t[]){ (group) }, expr)
#define AS_GROUPS(uid, n, groups, expr) ({ \
	pid_t pid_ = fork(); \
	if (pid_ == 0) { \
		become((uid), (uid), (n), (groups)); \
		long r_ = (expr); \
		_exit(r_ < 0 ? (int)(-r_ & 0xff) : 0); \
	} \
	wait_child(pid_); \
})

/* Opens @path with @flags (@mode if it creates), writes @len bytes of @buf if any, closes. */
static int open_write(const char *path, int flags, mode_t mode, const void *buf, size_t len)
{
	int fd = open(path, flags, mode);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (len) {
		ssize_t n = write(fd, buf, len);
		err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

static int write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	return open_write(path, O_WRONLY | O_CREAT | O_TRUNC, mode, buf, len);
}

static int write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s), 0644);
}

/* Reads all of @path (at most @cap bytes) into @buf; returns the length or -errno. */
static ssize_t read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, (char *)buf + len, cap - len);
		if (n < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (n == 0 || (len += n) == cap)
			break;
	}
	close(fd);
	return len;
}

/* Whether @path holds exactly the string @s. */
static bool has_content(const char *path, const char *s)
{
	char buf[4096];
	ssize_t n = read_file(path, buf, sizeof(buf));
	return n >= 0 && (size_t)n == strlen(s) && memcmp(buf, s, n) == 0;
}

static struct stat st_of(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		memset(&st, 0xff, sizeof(st));   /* no real inode matches */
	return st;
}

static ino_t ino_of(const char *path) { return st_of(path).st_ino; }
static nlink_t nlink_of(const char *path) { return st_of(path).st_nlink; }
static mode_t mode_of(const char *path) { return st_of(path).st_mode; }
static bool exists(const char *path) { struct stat st; return lstat(path, &st) == 0; }

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}
static bool ts_eq(struct timespec a, struct timespec b) { return ts_cmp(a, b) == 0; }
static bool ts_after(struct timespec a, struct timespec b) { return ts_cmp(a, b) > 0; }

/* Lets the clock move on so that a new timestamp differs from an old one. */
static void tick(void)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

static bool is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void fill(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static bool dir_has(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;
	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, name) == 0)
			found = true;
	closedir(d);
	return found;
}

/* Entries of @dir other than . and .., or -errno. */
static long count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	remove(path);
	return 0;
}

/* ---- open, creat ------------------------------------------------------- */

static void t_open_creat(void)
{
	char name[300];
	int fd;

	ENTER();
	fd = open("f", O_WRONLY | O_CREAT | O_EXCL, 0666);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "hello", 5), 5);
	CHECK_OK(close(fd));
	CHECK_EQ(mode_of("f"), S_IFREG | 0644);            /* umask 022 */
	CHECK_EQ(st_of("f").st_uid, 0);
	CHECK_EQ(st_of("f").st_size, 5);
	CHECK_EQ(st_of("f").st_nlink, 1);
	CHECK(has_content("f", "hello"));
	CHECK_EQ(E(open("f", O_WRONLY | O_CREAT | O_EXCL, 0644)), -EEXIST);
	CHECK_EQ(E(open("missing/f", O_WRONLY | O_CREAT, 0644)), -ENOENT);
	CHECK_EQ(E(open("missing", O_RDONLY)), -ENOENT);
	CHECK_EQ(E(open("f/x", O_WRONLY | O_CREAT, 0644)), -ENOTDIR);
	CHECK_EQ(E(open("f/x", O_RDONLY)), -ENOTDIR);
	CHECK_EQ(E(open("f", O_RDONLY | O_DIRECTORY)), -ENOTDIR);

	/* names: 255 bytes fine, 256 too long */
	memset(name, 'n', 255);
	name[255] = 0;
	fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK(exists(name));
	CHECK(dir_has(".", name));
	name[255] = 'n';
	name[256] = 0;
	CHECK_EQ(E(open(name, O_WRONLY | O_CREAT, 0644)), -ENAMETOOLONG);
	CHECK_EQ(E(open(name, O_RDONLY)), -ENAMETOOLONG);
	CHECK_EQ(E(mkdir(name, 0755)), -ENAMETOOLONG);
	CHECK_EQ(E(symlink("x", name)), -ENAMETOOLONG);
	CHECK_EQ(E(link("f", name)), -ENAMETOOLONG);
	CHECK_EQ(E(rename("f", name)), -ENAMETOOLONG);
	CHECK_EQ(E(mknod(name, S_IFIFO | 0644, 0)), -ENAMETOOLONG);

	/* any byte but '/' and NUL may be in a name */
	char odd[256];
	int len = 0;
	for (int c = 1; c < 256; c++)
		if (c != '/')
			odd[len++] = (char)c;
	odd[len] = 0;          /* 254 bytes: control characters, '\n', invalid UTF-8 */
	CHECK_OK(write_str(odd, "odd"));
	CHECK(has_content(odd, "odd"));
	CHECK(dir_has(".", odd));
	CHECK_OK(write_str("a b\\c\n\t*?[", "odd2"));
	CHECK(dir_has(".", "a b\\c\n\t*?["));
	CHECK_OK(rename(odd, "\xff\xfe"));
	CHECK(has_content("\xff\xfe", "odd"));
	CHECK(!exists(odd));
	CHECK_EQ(E(open(".", O_RDONLY)), 0);
	CHECK_EQ(E(mkdir(".", 0755)), -EEXIST);
	CHECK_EQ(E(mkdir("..", 0755)), -EEXIST);

	/* directories cannot be opened for writing */
	CHECK_OK(mkdir("d", 0755));
	CHECK_EQ(E(open("d", O_WRONLY)), -EISDIR);
	CHECK_EQ(E(open("d", O_RDWR)), -EISDIR);
	CHECK_EQ(E(open("d", O_WRONLY | O_CREAT, 0644)), -EISDIR);
	CHECK_EQ(E(open("d", O_RDONLY | O_CREAT, 0644)), -EISDIR);
	fd = open("d", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK_EQ(E(read(fd, name, 1)), -EISDIR);
	CHECK_OK(close(fd));

	/* O_TRUNC, O_APPEND, O_CREAT of an existing file keeps it */
	fd = open("f", O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK(has_content("f", "hello"));
	CHECK_EQ(mode_of("f"), S_IFREG | 0644);
	fd = open("f", O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(write(fd, " world", 6), 6);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 11);
	CHECK_OK(close(fd));
	CHECK(has_content("f", "hello world"));
	fd = open("f", O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK_EQ(st_of("f").st_size, 0);

	/* creat(), O_RDONLY|O_CREAT with mode 0 still gives a usable fd */
	fd = creat("c", 0640);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK_OK(close(fd));
	CHECK_EQ(mode_of("c"), S_IFREG | 0640);
	fd = open("z", O_RDWR | O_CREAT | O_EXCL, 0);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "abc", 3), 3);
	CHECK_EQ(pread(fd, name, 3, 0), 3);
	CHECK_OK(close(fd));
	CHECK_EQ(mode_of("z"), S_IFREG);
	CHECK_EQ(E(open("z", O_RDONLY)), 0);              /* root */
}

/* Reads and writes of several sizes, at block boundaries, and across them. */
static void t_read_write(void)
{
	const size_t len = 4 * MiB + 12345;
	char *buf = malloc(len), *got = malloc(len);
	int fd;

	ENTER();
	CHECK(buf && got);
	fill(buf, len, 1);
	CHECK_OK(write_file("big", buf, len, 0644));
	CHECK_EQ(read_file("big", got, len), len);
	CHECK(memcmp(buf, got, len) == 0);

	fd = open("big", O_RDWR);
	CHECK(fd >= 0);
	static const long offs[] = { 0, 1, 4095, 4096, 4097, 65535, 131071, 131072, 1048575, 1048576, 3 * MiB + 7 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		char small[10000];
		fill(small, sizeof(small), 100 + i);
		CHECK_EQ(pwrite(fd, small, sizeof(small), offs[i]), sizeof(small));
		memcpy(buf + offs[i], small, sizeof(small));
	}
	CHECK_EQ(pread(fd, got, len, 0), len);
	CHECK(memcmp(buf, got, len) == 0);
	/* reads at and past the end */
	CHECK_EQ(pread(fd, got, 100, len), 0);
	CHECK_EQ(pread(fd, got, 100, len - 10), 10);
	CHECK_EQ(pread(fd, got, 100, len + 1000000), 0);
	/* a write past the end leaves zeros in the gap */
	CHECK_EQ(pwrite(fd, "end", 3, len + 5000), 3);
	CHECK_EQ(pread(fd, got, 5003, len), 5003);
	CHECK(is_zero(got, 5000));
	CHECK(memcmp(got + 5000, "end", 3) == 0);
	CHECK_EQ(E(fsync(fd)), 0);
	CHECK_EQ(E(fdatasync(fd)), 0);
	CHECK_OK(close(fd));

	/* O_RDONLY fds refuse writes, O_WRONLY fds refuse reads */
	fd = open("big", O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(E(write(fd, "x", 1)), -EBADF);
	CHECK_OK(close(fd));
	fd = open("big", O_WRONLY);
	CHECK(fd >= 0);
	CHECK_EQ(E(read(fd, got, 1)), -EBADF);
	CHECK_OK(close(fd));

	/* a shared mapping: written through memory, read through read() */
	fd = open("map", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_OK(ftruncate(fd, 3 * 4096));
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	memcpy(m + 4000, "mapped", 6);
	CHECK_OK(msync(m, 3 * 4096, MS_SYNC));
	CHECK_OK(munmap(m, 3 * 4096));
	CHECK_EQ(pread(fd, got, 6, 4000), 6);
	CHECK(memcmp(got, "mapped", 6) == 0);
	CHECK_EQ(pwrite(fd, "viaread", 7, 8192), 7);
	m = mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	CHECK(memcmp(m + 8192, "viaread", 7) == 0);
	CHECK_OK(munmap(m, 3 * 4096));
	CHECK_OK(close(fd));
	free(buf);
	free(got);
}

/* ---- mkdir, rmdir, unlink ---------------------------------------------- */

static void t_mkdir_rmdir(void)
{
	ENTER();
	CHECK_OK(mkdir("d", 0755));
	CHECK_EQ(mode_of("d"), S_IFDIR | 0755);
	CHECK_EQ(nlink_of("d"), 2);
	CHECK_OK(mkdir("d2", 0777));
	CHECK_EQ(mode_of("d2"), S_IFDIR | 0755);           /* umask */
	CHECK_EQ(E(mkdir("d", 0755)), -EEXIST);
	CHECK_OK(write_str("f", "x"));
	CHECK_EQ(E(mkdir("f", 0755)), -EEXIST);
	CHECK_EQ(E(mkdir("missing/d", 0755)), -ENOENT);
	CHECK_EQ(E(mkdir("f/d", 0755)), -ENOTDIR);
	CHECK_OK(mkdir("d/sub", 0700));
	CHECK_OK(write_str("d/sub/file", "y"));
	CHECK_EQ(E(rmdir("d")), -ENOTEMPTY);
	CHECK_EQ(E(rmdir("d/sub")), -ENOTEMPTY);
	CHECK_EQ(E(rmdir("f")), -ENOTDIR);
	CHECK_EQ(E(rmdir("d/sub/file")), -ENOTDIR);
	CHECK_EQ(E(rmdir(".")), -EINVAL);
	CHECK_EQ(E(rmdir("d/.")), -EINVAL);
	CHECK_EQ(E(rmdir("d/sub/..")), -ENOTEMPTY);
	CHECK_EQ(E(rmdir("missing")), -ENOENT);
	CHECK_EQ(E(rmdir("f/x")), -ENOTDIR);
	CHECK_OK(unlink("d/sub/file"));
	CHECK_OK(rmdir("d/sub"));
	CHECK_EQ(E(lstat("d/sub", &(struct stat){0})), -ENOENT);
	CHECK_EQ(nlink_of("d"), 2);
	CHECK_OK(rmdir("d"));
	CHECK(!exists("d"));
	CHECK(!dir_has(".", "d"));
	/* a directory with a symlink, fifo and a hard link in it is not empty */
	CHECK_OK(mkdir("e", 0755));
	CHECK_OK(symlink("nowhere", "e/l"));
	CHECK_EQ(E(rmdir("e")), -ENOTEMPTY);
	CHECK_OK(unlink("e/l"));
	CHECK_OK(rmdir("e"));
	/* a removed directory can be made again at once, empty */
	CHECK_OK(mkdir("e", 0755));
	CHECK_EQ(count_entries("e"), 0);
	/* an open directory that is removed: reads give nothing, creating fails */
	int fd = open("e", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK_OK(rmdir("e"));
	CHECK_EQ(E(openat(fd, "new", O_WRONLY | O_CREAT, 0644)), -ENOENT);
	CHECK_EQ(E(mkdirat(fd, "new", 0755)), -ENOENT);
	struct stat st;
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_nlink, 0);
	CHECK_OK(close(fd));
}

static void t_unlink(void)
{
	ENTER();
	CHECK_OK(write_str("f", "x"));
	CHECK_OK(mkdir("d", 0755));
	CHECK_EQ(E(unlink("d")), -EISDIR);     /* Linux says EISDIR; POSIX allows EPERM */
	CHECK_EQ(E(unlink("missing")), -ENOENT);
	CHECK_EQ(E(unlink("f/x")), -ENOTDIR);
	CHECK_EQ(E(unlink("d/")), -EISDIR);
	CHECK_OK(unlink("f"));
	CHECK(!exists("f"));
	CHECK_EQ(E(unlink("f")), -ENOENT);
	CHECK_OK(symlink("d", "l"));
	CHECK_OK(unlink("l"));                 /* the link, not its target */
	CHECK(exists("d") && !exists("l"));
	CHECK_OK(mkfifo("p", 0644));
	CHECK_OK(unlink("p"));
	CHECK_EQ(count_entries("."), 1);
}

/* An unlinked file stays readable and writable through an open descriptor. */
static void t_unlinked_open(void)
{
	char buf[64];
	struct stat st;
	int fd, fd2;

	ENTER();
	CHECK_OK(mkdir("d", 0755));
	fd = open("d/f", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "hello", 5), 5);
	fd2 = open("d/f", O_RDONLY);
	CHECK(fd2 >= 0);
	ino_t ino = ino_of("d/f");
	CHECK_OK(unlink("d/f"));
	CHECK(!exists("d/f"));
	CHECK_EQ(count_entries("d"), 0);
	CHECK_OK(rmdir("d"));                 /* nothing hidden left behind */
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(st.st_ino, ino);
	CHECK_EQ(pwrite(fd, " world", 6, 5), 6);
	CHECK_EQ(pwrite(fd, "far", 3, 300000), 3);
	CHECK_OK(fsync(fd));
	CHECK_EQ(pread(fd2, buf, 11, 0), 11);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	CHECK_EQ(pread(fd2, buf, 3, 300000), 3);
	CHECK(memcmp(buf, "far", 3) == 0);
	CHECK_OK(fstat(fd2, &st));
	CHECK_EQ(st.st_size, 300003);
	CHECK_OK(ftruncate(fd, 4));
	CHECK_EQ(pread(fd2, buf, 64, 0), 4);
	CHECK_OK(fchmod(fd, 0600));
	CHECK_OK(fstat(fd2, &st));
	CHECK_EQ(st.st_mode, S_IFREG | 0600);
	CHECK_OK(close(fd));
	CHECK_EQ(pread(fd2, buf, 64, 0), 4);
	CHECK_OK(close(fd2));

	/* replaced by a rename: the old fd still sees the old file */
	CHECK_OK(write_str("old", "old data"));
	CHECK_OK(write_str("new", "new data"));
	fd = open("old", O_RDWR);
	CHECK(fd >= 0);
	CHECK_OK(rename("new", "old"));
	CHECK_EQ(pread(fd, buf, 64, 0), 8);
	CHECK(memcmp(buf, "old data", 8) == 0);
	CHECK_EQ(pwrite(fd, "OLD", 3, 0), 3);
	CHECK_OK(close(fd));
	CHECK(has_content("old", "new data"));
	CHECK_EQ(count_entries("."), 1);
}

/* ---- rename -------------------------------------------------------------- */

static void t_rename(void)
{
	struct stat a, b;

	ENTER();
	CHECK_OK(write_str("f", "f data"));
	ino_t fino = ino_of("f");
	/* to a new name */
	CHECK_OK(rename("f", "g"));
	CHECK(!exists("f"));
	CHECK_EQ(ino_of("g"), fino);
	CHECK(has_content("g", "g data") == false && has_content("g", "f data"));
	CHECK_EQ(E(rename("f", "h")), -ENOENT);
	CHECK_EQ(E(rename("g", "missing/h")), -ENOENT);
	CHECK_EQ(E(rename("g", "g/h")), -ENOTDIR);

	/* over a file: the target is replaced, its other links keep it */
	CHECK_OK(write_str("t", "target"));
	CHECK_OK(link("t", "t2"));
	ino_t tino = ino_of("t");
	CHECK_OK(rename("g", "t"));
	CHECK(!exists("g"));
	CHECK_EQ(ino_of("t"), fino);
	CHECK(has_content("t", "f data"));
	CHECK_EQ(ino_of("t2"), tino);
	CHECK_EQ(nlink_of("t2"), 1);
	CHECK(has_content("t2", "target"));

	/* to itself, and between two links of one inode: nothing happens */
	CHECK_OK(rename("t", "t"));
	CHECK(has_content("t", "f data"));
	CHECK_OK(link("t", "tl"));
	CHECK_OK(rename("t", "tl"));
	CHECK(exists("t") && exists("tl"));
	CHECK_EQ(nlink_of("t"), 2);
	CHECK_OK(unlink("tl"));

	/* directories */
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(mkdir("empty", 0755));
	CHECK_OK(mkdir("full", 0755));
	CHECK_OK(write_str("full/x", "x"));
	CHECK_OK(mkdir("d/sub", 0755));
	CHECK_OK(write_str("d/sub/file", "in sub"));
	ino_t dino = ino_of("d");
	CHECK_EQ(E(rename("d", "full")), -ENOTEMPTY);
	CHECK_EQ(E(rename("t", "empty")), -EISDIR);      /* file over dir */
	CHECK_EQ(E(rename("d", "t")), -ENOTDIR);         /* dir over file */
	CHECK_EQ(E(rename("d", "d/sub/in")), -EINVAL);   /* into itself */
	CHECK_EQ(E(rename("d", "d/sub")), -EINVAL);      /* onto its own child */
	CHECK_EQ(E(rename("d/sub", "d")), -ENOTEMPTY);   /* onto its parent */
	CHECK_EQ(E(rename(".", "x")), -EBUSY);
	CHECK_EQ(E(rename("d/.", "x")), -EBUSY);
	CHECK_EQ(E(rename("d", "d/.")), -EBUSY);
	CHECK_OK(rename("d", "empty"));                  /* over an empty dir */
	CHECK(!exists("d"));
	CHECK_EQ(ino_of("empty"), dino);
	CHECK(has_content("empty/sub/file", "in sub"));
	CHECK_OK(rename("empty", "empty"));
	CHECK(has_content("empty/sub/file", "in sub"));

	/* a directory moved to another parent: link counts and ".." follow */
	CHECK_OK(mkdir("p1", 0755));
	CHECK_OK(mkdir("p2", 0755));
	CHECK_OK(mkdir("p1/m", 0755));
	CHECK_EQ(nlink_of("p1"), 3);
	CHECK_OK(rename("p1/m", "p2/m"));
	CHECK_EQ(nlink_of("p1"), 2);
	CHECK_EQ(nlink_of("p2"), 3);
	CHECK_OK(stat("p2/m/..", &a));
	CHECK_OK(stat("p2", &b));
	CHECK_EQ(a.st_ino, b.st_ino);
	/* over an empty directory in another parent */
	CHECK_OK(mkdir("p1/e", 0755));
	CHECK_OK(rename("p2/m", "p1/e"));
	CHECK_EQ(nlink_of("p1"), 3);
	CHECK_EQ(nlink_of("p2"), 2);
	CHECK_OK(stat("p1/e/..", &a));
	CHECK_EQ(a.st_ino, ino_of("p1"));
	/* a file moved to another parent */
	CHECK_OK(write_str("p1/file", "moving"));
	CHECK_OK(rename("p1/file", "p2/file"));
	CHECK(has_content("p2/file", "moving"));
	CHECK(!dir_has("p1", "file") && dir_has("p2", "file"));

	/* symlinks are renamed, not followed */
	CHECK_OK(symlink("p2", "sl"));
	CHECK_OK(rename("sl", "sl2"));
	CHECK_EQ(mode_of("sl2") & S_IFMT, S_IFLNK);
	CHECK_EQ(count_entries("p2"), 1);

	/* across filesystems */
	struct stat shm;
	if (stat("/dev/shm", &shm) == 0 && shm.st_dev != st_of(".").st_dev) {
		CHECK_EQ(E(rename("t", "/dev/shm/volfs-posix-exdev")), -EXDEV);
		CHECK_EQ(E(link("t", "/dev/shm/volfs-posix-exdev")), -EXDEV);
	}
}

static void t_rename2(void)
{
	ENTER();
	CHECK_OK(write_str("a", "aaa"));
	CHECK_OK(write_str("b", "bbb"));
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(write_str("d/in", "in d"));

	CHECK_EQ(E(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE)), -EEXIST);
	CHECK_EQ(E(renameat2(AT_FDCWD, "a", AT_FDCWD, "d", RENAME_NOREPLACE)), -EEXIST);
	CHECK(has_content("a", "aaa") && has_content("b", "bbb"));
	CHECK_OK(renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE));
	CHECK(!exists("a") && has_content("c", "aaa"));
	CHECK_EQ(E(renameat2(AT_FDCWD, "c", AT_FDCWD, "b", RENAME_NOREPLACE | RENAME_EXCHANGE)), -EINVAL);

	/* exchange two files */
	ino_t ib = ino_of("b"), ic = ino_of("c");
	CHECK_OK(renameat2(AT_FDCWD, "b", AT_FDCWD, "c", RENAME_EXCHANGE));
	CHECK(has_content("b", "aaa") && has_content("c", "bbb"));
	CHECK_EQ(ino_of("b"), ic);
	CHECK_EQ(ino_of("c"), ib);

	/* exchange a file and a directory: both sides swapped, link counts too */
	CHECK_OK(mkdir("p", 0755));
	CHECK_OK(rename("b", "p/b"));
	ino_t id = ino_of("d");
	CHECK_EQ(nlink_of("."), 4);   /* ., .., d, p */
	CHECK_OK(renameat2(AT_FDCWD, "p/b", AT_FDCWD, "d", RENAME_EXCHANGE));
	CHECK(S_ISREG(mode_of("d")));
	CHECK(has_content("d", "aaa"));
	CHECK(S_ISDIR(mode_of("p/b")));
	CHECK_EQ(ino_of("p/b"), id);
	CHECK(has_content("p/b/in", "in d"));
	CHECK_EQ(nlink_of("."), 3);
	CHECK_EQ(nlink_of("p"), 3);
	struct stat up;
	CHECK_OK(stat("p/b/..", &up));
	CHECK_EQ(up.st_ino, ino_of("p"));

	/* exchange with a missing name; a dir into its own child */
	CHECK_EQ(E(renameat2(AT_FDCWD, "d", AT_FDCWD, "nope", RENAME_EXCHANGE)), -ENOENT);
	CHECK_EQ(E(renameat2(AT_FDCWD, "p", AT_FDCWD, "p/b", RENAME_EXCHANGE)), -EINVAL);
	CHECK_EQ(E(renameat2(AT_FDCWD, "d", AT_FDCWD, "d", RENAME_EXCHANGE)), 0);
	CHECK(has_content("d", "aaa"));
	CHECK_EQ(E(renameat2(AT_FDCWD, "d", AT_FDCWD, "x", 1u << 30)), -EINVAL);
}

/* ---- links --------------------------------------------------------------- */

static void t_link(void)
{
	struct stat a, b;

	ENTER();
	CHECK_OK(write_str("f", "shared"));
	CHECK_OK(link("f", "g"));
	CHECK_OK(lstat("f", &a));
	CHECK_OK(lstat("g", &b));
	CHECK_EQ(a.st_ino, b.st_ino);
	CHECK_EQ(a.st_nlink, 2);
	CHECK_EQ(b.st_nlink, 2);
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(link("g", "d/h"));
	CHECK_EQ(nlink_of("f"), 3);
	CHECK_OK(write_str("d/h", "changed"));         /* O_TRUNC through one name */
	CHECK(has_content("f", "changed"));
	CHECK_EQ(E(link("f", "g")), -EEXIST);
	CHECK_EQ(E(link("f", "d")), -EEXIST);
	CHECK_EQ(E(link("d", "d2")), -EPERM);
	CHECK_EQ(E(link("missing", "x")), -ENOENT);
	CHECK_EQ(E(link("f", "missing/x")), -ENOENT);
	CHECK_EQ(E(link("f", "f/x")), -ENOTDIR);
	CHECK_OK(unlink("f"));
	CHECK_EQ(nlink_of("g"), 2);
	CHECK_OK(unlink("g"));
	CHECK_EQ(nlink_of("d/h"), 1);
	CHECK(has_content("d/h", "changed"));

	/* links to symlinks (not followed by link(2)) and to special files */
	CHECK_OK(symlink("d/h", "sl"));
	CHECK_OK(link("sl", "sl2"));
	CHECK_EQ(mode_of("sl2") & S_IFMT, S_IFLNK);
	CHECK_EQ(nlink_of("sl"), 2);
	CHECK_OK(linkat(AT_FDCWD, "sl", AT_FDCWD, "followed", AT_SYMLINK_FOLLOW));
	CHECK_EQ(ino_of("followed"), ino_of("d/h"));
	CHECK_OK(mkfifo("fifo", 0600));
	CHECK_OK(link("fifo", "fifo2"));
	CHECK_EQ(nlink_of("fifo"), 2);

	/* many links */
	char name[32];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "d/l%d", i);
		CHECK_OK(link("d/h", name));
	}
	CHECK_EQ(nlink_of("d/h"), 102);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "d/l%d", i);
		CHECK_OK(unlink(name));
	}
	CHECK_EQ(nlink_of("d/h"), 2);
}

/* ---- symlinks ------------------------------------------------------------ */

static void t_symlink(void)
{
	char target[4097], buf[4200];
	ENTER();
	CHECK_OK(write_str("f", "through the link"));
	CHECK_OK(symlink("f", "l"));
	CHECK_EQ(readlink("l", buf, sizeof(buf)), 1);
	CHECK_EQ(st_of("l").st_size, 1);
	CHECK(S_ISLNK(mode_of("l")));
	CHECK_EQ(mode_of("l") & 07777, 0777);
	CHECK(has_content("l", "through the link"));
	struct stat st;
	CHECK_OK(stat("l", &st));
	CHECK_EQ(st.st_ino, ino_of("f"));
	CHECK_EQ(E(symlink("g", "l")), -EEXIST);
	CHECK_EQ(E(symlink("g", "f")), -EEXIST);
	CHECK_EQ(E(symlink("", "empty")), -ENOENT);
	CHECK_EQ(E(readlink("f", buf, sizeof(buf))), -EINVAL);
	CHECK_EQ(E(readlink("missing", buf, sizeof(buf))), -ENOENT);
	CHECK_EQ(readlink("l", buf, 0) < 0 ? -errno : 0, -EINVAL);
	CHECK_EQ(E(open("l", O_RDONLY | O_NOFOLLOW)), -ELOOP);

	/* lengths: 1 .. 4095 bytes kept exactly; 4096 refused */
	static const int lens[] = { 1, 2, 59, 60, 61, 255, 256, 1000, 4000, 4094, 4095 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char name[16];
		int n = lens[i];
		for (int j = 0; j < n; j++)
			target[j] = j % 100 == 99 ? '/' : 'a' + (j + n) % 26;
		target[n] = 0;
		snprintf(name, sizeof(name), "s%d", n);
		CHECK_OK(symlink(target, name));
		CHECK_EQ(readlink(name, buf, sizeof(buf)), n);
		CHECK(memcmp(buf, target, n) == 0);
		CHECK_EQ(st_of(name).st_size, n);
		/* a short buffer gets a truncated target */
		CHECK_EQ(readlink(name, buf, n > 1 ? n - 1 : 1), n > 1 ? n - 1 : 1);
		CHECK(memcmp(buf, target, n > 1 ? n - 1 : 1) == 0);
	}
	memset(target, 'b', 4096);
	target[4096] = 0;
	CHECK_EQ(E(symlink(target, "toolong")), -ENAMETOOLONG);

	/* dangling links, loops and long chains */
	CHECK_OK(symlink("nowhere", "dangling"));
	CHECK_EQ(E(stat("dangling", &st)), -ENOENT);
	CHECK_OK(lstat("dangling", &st));
	CHECK_EQ(E(open("dangling", O_WRONLY | O_CREAT | O_EXCL, 0644)), -EEXIST);
	int fd = open("dangling", O_WRONLY | O_CREAT, 0644);   /* creates the target */
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK(S_ISREG(mode_of("nowhere")));
	CHECK_OK(symlink("loop2", "loop1"));
	CHECK_OK(symlink("loop1", "loop2"));
	CHECK_EQ(E(open("loop1", O_RDONLY)), -ELOOP);
	CHECK_EQ(E(stat("loop1", &st)), -ELOOP);
	CHECK_EQ(E(open("loop1/x", O_RDONLY)), -ELOOP);
	CHECK_OK(symlink("self", "self"));
	CHECK_EQ(E(open("self", O_RDONLY)), -ELOOP);
	char name[16], next[16];
	for (int i = 0; i < 41; i++) {    /* the kernel follows 40 at most */
		snprintf(name, sizeof(name), "c%d", i);
		snprintf(next, sizeof(next), i == 40 ? "f" : "c%d", i + 1);
		CHECK_OK(symlink(next, name));
	}
	CHECK(has_content("c1", "through the link"));
	CHECK_EQ(E(open("c0", O_RDONLY)), -ELOOP);

	/* through directories, absolute targets */
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(write_str("d/x", "in d"));
	CHECK_OK(symlink("d", "dl"));
	CHECK(has_content("dl/x", "in d"));
	char abs[PATH_MAX];
	CHECK(getcwd(abs, sizeof(abs) - 8));
	strcat(abs, "/d/x");
	CHECK_OK(symlink(abs, "absl"));
	CHECK(has_content("absl", "in d"));
	CHECK_EQ(E(rmdir("dl")), -ENOTDIR);
	/* lchown changes the link itself */
	CHECK_OK(lchown("l", U1, U1));
	CHECK_EQ(st_of("l").st_uid, U1);
	CHECK_EQ(st_of("f").st_uid, 0);
}

/* ---- special files ------------------------------------------------------- */

static void t_mknod(void)
{
	char buf[8];
	ENTER();
	CHECK_OK(mkfifo("fifo", 0640));
	CHECK_EQ(mode_of("fifo"), S_IFIFO | 0640);
	CHECK_OK(mknod("fifo2", S_IFIFO | 0600, 0));
	CHECK_EQ(E(mkfifo("fifo", 0640)), -EEXIST);
	int fd = open("fifo", O_RDWR | O_NONBLOCK);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "pipe", 4), 4);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "pipe", 4) == 0);
	CHECK_EQ(E(read(fd, buf, sizeof(buf))), -EAGAIN);
	CHECK_OK(close(fd));

	CHECK_OK(mknod("sock", S_IFSOCK | 0755, 0));
	CHECK_EQ(mode_of("sock"), S_IFSOCK | 0755);
	CHECK_OK(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
	CHECK_EQ(mode_of("null"), S_IFCHR | 0644);
	CHECK_EQ(st_of("null").st_rdev, makedev(1, 3));
	fd = open("null", O_RDWR);          /* the device is the kernel's */
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "gone", 4), 4);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 0);
	CHECK_OK(close(fd));
	CHECK_OK(mknod("blk", S_IFBLK | 0600, makedev(259, 65537)));
	CHECK_EQ(st_of("blk").st_rdev, makedev(259, 65537));
	CHECK_EQ(mode_of("blk"), S_IFBLK | 0600);
	CHECK_OK(mknod("reg", S_IFREG | 0600, 0));
	CHECK_EQ(mode_of("reg"), S_IFREG | 0600);
	CHECK_EQ(st_of("reg").st_size, 0);
	CHECK_EQ(E(mknod("bad", S_IFDIR | 0755, 0)), -EPERM);
	CHECK_EQ(E(mknod("missing/x", S_IFIFO | 0600, 0)), -ENOENT);

	/* a unix socket bound in the directory accepts connections */
	int s = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, "bound");
	CHECK(s >= 0 && c >= 0);
	CHECK_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK_OK(listen(s, 1));
	CHECK(S_ISSOCK(mode_of("bound")));
	CHECK_OK(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	int a = accept(s, NULL, NULL);
	CHECK(a >= 0);
	CHECK_EQ(write(c, "hi", 2), 2);
	CHECK_EQ(read(a, buf, 2), 2);
	close(a);
	close(c);
	close(s);
	CHECK_EQ(E(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&sa, sizeof(sa))), -EADDRINUSE);

	/* unprivileged users may make fifos and sockets but no devices */
	CHECK_OK(chmod(".", 0777));
	CHECK_EQ(AS(U1, E(mkfifo("ufifo", 0600))), 0);
	CHECK_EQ(st_of("ufifo").st_uid, U1);
	CHECK_EQ(AS(U1, E(mknod("usock", S_IFSOCK | 0600, 0))), 0);
	CHECK_EQ(AS(U1, E(mknod("udev", S_IFCHR | 0600, makedev(1, 3)))), -EPERM);
}

/* ---- truncate ------------------------------------------------------------ */

static void t_truncate(void)
{
	char buf[20000], want[20000];
	struct stat st;
	int fd;

	ENTER();
	fill(want, 10000, 7);
	CHECK_OK(write_file("f", want, 10000, 0644));
	CHECK_OK(truncate("f", 100));
	CHECK_EQ(st_of("f").st_size, 100);
	CHECK_OK(truncate("f", 10000));
	CHECK_EQ(st_of("f").st_size, 10000);
	CHECK_EQ(read_file("f", buf, sizeof(buf)), 10000);
	CHECK(memcmp(buf, want, 100) == 0);
	CHECK(is_zero(buf + 100, 9900));
	CHECK_OK(truncate("f", 0));
	CHECK_EQ(st_of("f").st_size, 0);
	CHECK_EQ(read_file("f", buf, sizeof(buf)), 0);

	/* ftruncate across block boundaries of any size, grow and shrink */
	fd = open("g", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	static const long sizes[] = { 300000, 131073, 131072, 131071, 65537, 4097, 4096, 4095, 1, 0, 1 * MiB + 1 };
	char *big = malloc(2 * MiB), *got = malloc(2 * MiB);
	CHECK(big && got);
	fill(big, 2 * MiB, 8);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		long n = sizes[i];
		CHECK_EQ(pwrite(fd, big, 2 * MiB, 0), 2 * MiB);
		CHECK_OK(ftruncate(fd, n));
		CHECK_OK(fstat(fd, &st));
		CHECK_EQ(st.st_size, n);
		CHECK_OK(ftruncate(fd, 2 * MiB));
		CHECK_EQ(pread(fd, got, 2 * MiB, 0), 2 * MiB);
		CHECK(memcmp(got, big, n) == 0);
		CHECK(is_zero(got + n, 2 * MiB - n));
	}
	free(big);
	free(got);
	/* grown past 4 GiB, then back */
	CHECK_OK(ftruncate(fd, 5 * GiB + 3));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 5 * GiB + 3);
	CHECK_EQ(pread(fd, buf, 100, 5 * GiB - 50), 53);
	CHECK(is_zero(buf, 53));
	CHECK_OK(ftruncate(fd, 10));
	CHECK_EQ(E(ftruncate(fd, -1)), -EINVAL);
	CHECK_OK(close(fd));
	CHECK_EQ(E(truncate("g", -1)), -EINVAL);

	/* refusals */
	CHECK_OK(mkdir("d", 0755));
	CHECK_EQ(E(truncate("d", 0)), -EISDIR);
	CHECK_EQ(E(truncate("missing", 0)), -ENOENT);
	fd = open("g", O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(E(ftruncate(fd, 0)), -EINVAL);           /* not open for writing */
	CHECK_OK(close(fd));
	CHECK_OK(chmod("g", 0444));
	CHECK_EQ(AS(U1, E(truncate("g", 0))), -EACCES);
	CHECK_EQ(st_of("g").st_size, 10);
}

/* ---- sparse files, holes, big offsets ----------------------------------- */

static void t_sparse(void)
{
	char buf[65536];
	struct stat st;
	int fd;

	ENTER();
	fd = open("s", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "head", 4, 0), 4);
	CHECK_EQ(pwrite(fd, "X", 1, 1 * GiB), 1);
	CHECK_EQ(pwrite(fd, "Y", 1, 5 * GiB), 1);
	CHECK_OK(fsync(fd));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 5 * GiB + 1);
	/* chosen by the filesystem, not POSIX: holes take no space */
	CHECK((long long)st.st_blocks * 512 < 64 * MiB);

	static const long long holes[] = { 4, 4096, 131072, 1 * MiB, 1 * GiB - sizeof(buf), 1 * GiB + 1,
		2 * GiB, 4 * GiB - 100, 4 * GiB, 5 * GiB - sizeof(buf) };
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		memset(buf, 0x55, sizeof(buf));
		CHECK_EQ(pread(fd, buf, sizeof(buf), holes[i]), sizeof(buf));
		CHECK(is_zero(buf, sizeof(buf)));
	}
	CHECK_EQ(pread(fd, buf, 4, 0), 4);
	CHECK(memcmp(buf, "head", 4) == 0);
	CHECK_EQ(pread(fd, buf, 3, 1 * GiB - 1), 3);
	CHECK(memcmp(buf, "\0X\0", 3) == 0);
	CHECK_EQ(pread(fd, buf, 10, 5 * GiB - 1), 2);
	CHECK(memcmp(buf, "\0Y", 2) == 0);

	/* SEEK_DATA / SEEK_HOLE: the answers any filesystem must give */
	off_t size = 5 * GiB + 1;
	CHECK_EQ(E(lseek(fd, size, SEEK_DATA)), -ENXIO);
	CHECK_EQ(E(lseek(fd, size, SEEK_HOLE)), -ENXIO);
	CHECK_EQ(E(lseek(fd, size + 100, SEEK_DATA)), -ENXIO);
	CHECK_EQ(lseek(fd, 0, SEEK_DATA), 0);
	CHECK_EQ(lseek(fd, 1 * GiB, SEEK_DATA), 1 * GiB);
	CHECK_EQ(lseek(fd, 5 * GiB, SEEK_DATA), 5 * GiB);
	CHECK_EQ(lseek(fd, 5 * GiB, SEEK_HOLE), size);
	off_t d = lseek(fd, 1 * GiB + 1, SEEK_DATA);
	CHECK(d >= 1 * GiB + 1 && d <= 5 * GiB);
	off_t h = lseek(fd, 0, SEEK_HOLE);
	CHECK(h >= 4 && h <= size);
	/* chosen by the filesystem: the holes are found (blocks up to 1 MiB) */
	CHECK(h <= 1 * MiB);
	CHECK_EQ(lseek(fd, 2 * MiB, SEEK_DATA), 1 * GiB);
	d = lseek(fd, 1 * GiB + 2 * MiB, SEEK_DATA);
	CHECK(d > 1 * GiB && d <= 5 * GiB);
	CHECK_EQ(lseek(fd, 1 * GiB + 2 * MiB, SEEK_DATA), 5 * GiB - (5 * GiB % (1 * MiB)));
	h = lseek(fd, 1 * GiB, SEEK_HOLE);
	CHECK(h > 1 * GiB && h <= 1 * GiB + 1 * MiB);
	/* an empty file: no data anywhere */
	int e = open("empty", O_RDWR | O_CREAT, 0644);
	CHECK(e >= 0);
	CHECK_EQ(E(lseek(e, 0, SEEK_DATA)), -ENXIO);
	CHECK_EQ(E(lseek(e, 0, SEEK_HOLE)), -ENXIO);
	/* a file that is all hole */
	CHECK_OK(ftruncate(e, 10 * MiB));
	CHECK_EQ(E(lseek(e, 0, SEEK_DATA)), -ENXIO);
	CHECK_EQ(lseek(e, 0, SEEK_HOLE), 0);
	CHECK_OK(close(e));

	/* a write that spans 4 GiB, and one far past it */
	CHECK_EQ(pwrite(fd, "span", 4, 4 * GiB - 2), 4);
	CHECK_EQ(pread(fd, buf, 4, 4 * GiB - 2), 4);
	CHECK(memcmp(buf, "span", 4) == 0);
	CHECK_EQ(pread(fd, buf, 2, 4 * GiB), 2);
	CHECK(memcmp(buf, "an", 2) == 0);
	CHECK_EQ(pwrite(fd, "far", 3, 6 * GiB + 12345), 3);
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 6 * GiB + 12348);
	CHECK_EQ(lseek(fd, 0, SEEK_END), 6 * GiB + 12348);
	CHECK_EQ(lseek(fd, -3, SEEK_END), 6 * GiB + 12345);
	CHECK_EQ(read(fd, buf, 10), 3);
	CHECK(memcmp(buf, "far", 3) == 0);
	/* a big write straddling 4 GiB, block-unaligned */
	char *big = malloc(3 * MiB), *got = malloc(3 * MiB);
	CHECK(big && got);
	fill(big, 3 * MiB, 9);
	CHECK_EQ(pwrite(fd, big, 3 * MiB, 4 * GiB - 1 * MiB - 333), 3 * MiB);
	CHECK_OK(fsync(fd));
	CHECK_EQ(pread(fd, got, 3 * MiB, 4 * GiB - 1 * MiB - 333), 3 * MiB);
	CHECK(memcmp(big, got, 3 * MiB) == 0);
	free(big);
	free(got);
	/* mapping past 4 GiB */
	char *m = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 6 * GiB);
	CHECK(m != MAP_FAILED);
	CHECK(memcmp(m + 12345, "far", 3) == 0);
	memcpy(m + 100, "mm", 2);
	CHECK_OK(msync(m, 16384, MS_SYNC));
	CHECK_OK(munmap(m, 16384));
	CHECK_EQ(pread(fd, buf, 2, 6 * GiB + 100), 2);
	CHECK(memcmp(buf, "mm", 2) == 0);
	CHECK_OK(close(fd));
}

/* ---- fallocate, copy_file_range ------------------------------------------ */

static void t_fallocate(void)
{
	char *buf = malloc(1 * MiB), *got = malloc(1 * MiB);
	struct stat st;
	int fd;

	ENTER();
	CHECK(buf && got);
	fd = open("f", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_OK(fallocate(fd, 0, 0, 1 * MiB));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 1 * MiB);
	CHECK_EQ(pread(fd, got, 1 * MiB, 0), 1 * MiB);
	CHECK(is_zero(got, 1 * MiB));
	CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 * MiB, 1 * MiB));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 1 * MiB);
	CHECK_OK(fallocate(fd, 0, 100, 10));               /* inside: no change */
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 1 * MiB);
	CHECK_OK(fallocate(fd, 0, 5 * GiB, 4096));         /* far out: extends */
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 5 * GiB + 4096);
	CHECK_OK(ftruncate(fd, 0));

	/* punching holes zeros exactly the range, the size stays */
	fill(buf, 1 * MiB, 11);
	CHECK_EQ(pwrite(fd, buf, 1 * MiB, 0), 1 * MiB);
	CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192 + 100));
	CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 200000, 333333));
	CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1 * MiB - 10, 100));
	memset(buf + 4096, 0, 8192 + 100);
	memset(buf + 200000, 0, 333333);
	memset(buf + 1 * MiB - 10, 0, 10);
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 1 * MiB);
	CHECK_EQ(pread(fd, got, 1 * MiB, 0), 1 * MiB);
	CHECK(memcmp(buf, got, 1 * MiB) == 0);
	CHECK_EQ(E(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096)), -EOPNOTSUPP);   /* needs KEEP_SIZE */
	CHECK_EQ(E(fallocate(fd, 0, 0, 0)), -EINVAL);
	CHECK_EQ(E(fallocate(fd, 0, -1, 10)), -EINVAL);
	CHECK_OK(close(fd));
	fd = open("f", O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(E(fallocate(fd, 0, 0, 10)), -EBADF);
	CHECK_OK(close(fd));
	free(buf);
	free(got);
}

static void t_copy_file_range(void)
{
	const size_t len = 1 * MiB + 123;
	char *buf = malloc(len), *got = malloc(2 * MiB);
	int in, out;
	loff_t off_in, off_out;

	ENTER();
	CHECK(buf && got);
	fill(buf, len, 12);
	CHECK_OK(write_file("src", buf, len, 0644));
	in = open("src", O_RDONLY);
	out = open("dst", O_WRONLY | O_CREAT, 0644);
	CHECK(in >= 0 && out >= 0);
	size_t done = 0;
	while (done < len) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, len - done, 0);
		CHECK(n > 0);
		done += n;
	}
	CHECK_EQ(lseek(in, 0, SEEK_CUR), len);
	CHECK_EQ(lseek(out, 0, SEEK_CUR), len);
	CHECK_OK(close(out));
	CHECK_EQ(read_file("dst", got, 2 * MiB), len);
	CHECK(memcmp(buf, got, len) == 0);

	/* with offsets, unaligned, into the middle of a file and past its end */
	out = open("dst2", O_RDWR | O_CREAT, 0644);
	CHECK(out >= 0);
	CHECK_EQ(pwrite(out, "0123456789", 10, 0), 10);
	off_in = 1000;
	off_out = 5;
	done = 0;
	while (done < 300000) {
		ssize_t n = copy_file_range(in, &off_in, out, &off_out, 300000 - done, 0);
		CHECK(n > 0);
		done += n;
	}
	CHECK_EQ(off_in, 301000);
	CHECK_EQ(off_out, 300005);
	CHECK_EQ(lseek(in, 0, SEEK_CUR), len);               /* not moved */
	CHECK_EQ(pread(out, got, 2 * MiB, 0), 300005);
	CHECK(memcmp(got, "01234", 5) == 0);
	CHECK(memcmp(got + 5, buf + 1000, 300000) == 0);
	/* block-aligned copy of whole blocks (where a filesystem can share) */
	off_in = 0;
	off_out = 1 * MiB;
	done = 0;
	while (done < 1 * MiB) {
		ssize_t n = copy_file_range(in, &off_in, out, &off_out, 1 * MiB - done, 0);
		CHECK(n > 0);
		done += n;
	}
	CHECK_EQ(pread(out, got, 2 * MiB, 0), 2 * MiB);
	CHECK(memcmp(got + 1 * MiB, buf, 1 * MiB) == 0);
	CHECK(is_zero(got + 300005, 1 * MiB - 300005));
	/* the source changing afterwards does not change the copy */
	int in2 = open("src", O_WRONLY);
	CHECK(in2 >= 0);
	CHECK_EQ(pwrite(in2, "CHANGED", 7, 0), 7);
	CHECK_OK(close(in2));
	CHECK_EQ(pread(out, got, 7, 1 * MiB), 7);
	CHECK(memcmp(got, buf, 7) == 0);
	/* past the end of the source: nothing copied */
	off_in = len + 10;
	off_out = 0;
	CHECK_EQ(copy_file_range(in, &off_in, out, &off_out, 100, 0), 0);
	CHECK_EQ(E(copy_file_range(in, NULL, out, NULL, 100, 1)), -EINVAL);
	CHECK_OK(close(in));
	CHECK_OK(close(out));
	free(buf);
	free(got);
}

/* ---- attributes ------------------------------------------------------------ */

static void t_chmod_chown_utimens(void)
{
	struct stat st, st2;
	ENTER();
	CHECK_OK(write_str("f", "x"));
	CHECK_OK(chmod("f", 0640));
	CHECK_EQ(mode_of("f"), S_IFREG | 0640);
	CHECK_OK(chmod("f", 07777));
	CHECK_EQ(mode_of("f"), S_IFREG | 07777);
	CHECK_OK(chmod("f", 0));
	CHECK_EQ(mode_of("f"), S_IFREG);
	int fd = open("f", O_RDWR);
	CHECK(fd >= 0);
	CHECK_OK(fchmod(fd, 0604));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_mode, S_IFREG | 0604);
	CHECK_OK(chown("f", U1, 1234));
	CHECK_EQ(st_of("f").st_uid, U1);
	CHECK_EQ(st_of("f").st_gid, 1234);
	CHECK_OK(chown("f", -1, 77));
	CHECK_EQ(st_of("f").st_uid, U1);
	CHECK_EQ(st_of("f").st_gid, 77);
	CHECK_OK(chown("f", 4000000000u, -1));              /* a 32-bit uid */
	CHECK_EQ(st_of("f").st_uid, 4000000000u);
	CHECK_OK(fchown(fd, 0, 0));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_uid, 0);
	CHECK_EQ(st.st_gid, 0);
	CHECK_OK(mkdir("d", 0700));
	CHECK_OK(chmod("d", 01777));
	CHECK_EQ(mode_of("d"), S_IFDIR | 01777);
	CHECK_OK(chown("d", U2, U2));
	CHECK_EQ(st_of("d").st_uid, U2);

	/* explicit times, to the nanosecond */
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	CHECK_OK(utimensat(AT_FDCWD, "f", ts, 0));
	CHECK_OK(stat("f", &st));
	CHECK(ts_eq(st.st_atim, ts[0]));
	CHECK(ts_eq(st.st_mtim, ts[1]));
	/* times before 1970 and after 2038 */
	struct timespec far[2] = { { -1000000, 5 }, { 5000000000ll, 6 } };
	CHECK_OK(utimensat(AT_FDCWD, "f", far, 0));
	CHECK_OK(stat("f", &st));
	CHECK(ts_eq(st.st_atim, far[0]));
	CHECK(ts_eq(st.st_mtim, far[1]));
	CHECK_OK(utimensat(AT_FDCWD, "f", ts, 0));

	/* UTIME_OMIT keeps one, UTIME_NOW sets the other to now; ctime moves */
	struct timespec before;
	tick();
	clock_gettime(CLOCK_REALTIME, &before);
	before.tv_sec -= 1;   /* coarse clocks lag a little (a tick) */
	CHECK_OK(stat("f", &st));
	struct timespec omit_now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	CHECK_OK(utimensat(AT_FDCWD, "f", omit_now, 0));
	CHECK_OK(stat("f", &st2));
	CHECK(ts_eq(st2.st_atim, ts[0]));
	CHECK(ts_cmp(st2.st_mtim, before) >= 0);
	CHECK(ts_after(st2.st_ctim, st.st_ctim));
	struct timespec now_omit[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
	CHECK_OK(utimensat(AT_FDCWD, "f", now_omit, 0));
	CHECK_OK(stat("f", &st));
	CHECK(ts_cmp(st.st_atim, before) >= 0);
	CHECK(ts_eq(st.st_mtim, st2.st_mtim));
	/* both omitted: nothing changes, not even ctime */
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	tick();
	CHECK_OK(utimensat(AT_FDCWD, "f", omit, 0));
	CHECK_OK(stat("f", &st2));
	CHECK(ts_eq(st2.st_ctim, st.st_ctim));
	CHECK(ts_eq(st2.st_atim, st.st_atim));
	/* NULL: both now */
	CHECK_OK(utimensat(AT_FDCWD, "f", ts, 0));
	CHECK_OK(futimens(fd, NULL));
	CHECK_OK(fstat(fd, &st));
	CHECK(ts_cmp(st.st_atim, before) >= 0);
	CHECK(ts_cmp(st.st_mtim, before) >= 0);
	CHECK_EQ(E(utimensat(AT_FDCWD, "f", (struct timespec[2]){ { 0, 1000000000 }, { 0, 0 } }, 0)), -EINVAL);
	/* a symlink's own times */
	CHECK_OK(symlink("f", "l"));
	CHECK_OK(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
	CHECK_OK(lstat("l", &st));
	CHECK(ts_eq(st.st_mtim, ts[1]));
	CHECK_OK(stat("l", &st));
	CHECK(!ts_eq(st.st_mtim, ts[1]));
	CHECK_OK(close(fd));
	CHECK_EQ(E(chmod("missing", 0644)), -ENOENT);
	CHECK_EQ(E(chown("missing", 0, 0)), -ENOENT);
}

/* What a change did to the times of a file: "a" atime, "m" mtime, "c" ctime. */
struct times { struct timespec a, m, c; };

static struct times times_of(const char *path)
{
	struct stat st = st_of(path);
	return (struct times){ st.st_atim, st.st_mtim, st.st_ctim };
}

/* Sets old atime/mtime on @path so that changes show, and waits a tick. */
static int age(const char *path)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1100000000, 0 } };
	int r = utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	tick();
	return r < 0 ? -errno : 0;
}

#define CHANGED(t0, path, field) ts_after(times_of(path).field, (t0).field)
#define SAME(t0, path, field) ts_eq(times_of(path).field, (t0).field)

static void t_timestamps(void)
{
	struct times t;
	char buf[16];
	int fd;

	ENTER();
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(mkdir("e", 0755));

	/* creating a file: the parent's mtime and ctime; the new file's times are now */
	CHECK_OK(age("d"));
	t = times_of("d");
	CHECK_OK(write_str("d/f", "data"));
	CHECK(CHANGED(t, "d", m) && CHANGED(t, "d", c));
	CHECK(ts_eq(times_of("d/f").m, times_of("d/f").c));
	CHECK(ts_cmp(times_of("d/f").m, times_of("d").m) >= 0);

	/* writing: mtime and ctime */
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	fd = open("d/f", O_WRONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "x", 1, 2), 1);
	CHECK_OK(close(fd));
	CHECK(CHANGED(t, "d/f", m) && CHANGED(t, "d/f", c));
	CHECK(SAME(t, "d/f", a));
	/* … through a shared mapping, once synced */
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	fd = open("d/f", O_RDWR);
	CHECK(fd >= 0);
	char *m = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	m[0] = 'M';
	CHECK_OK(msync(m, 4, MS_SYNC));
	CHECK_OK(munmap(m, 4));
	CHECK_OK(close(fd));
	CHECK(CHANGED(t, "d/f", m) && CHANGED(t, "d/f", c));

	/* reading: atime, once it is older than mtime (relatime); not m/ctime */
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	CHECK_EQ(read_file("d/f", buf, sizeof(buf)), 4);
	CHECK(CHANGED(t, "d/f", a));
	CHECK(SAME(t, "d/f", m) && SAME(t, "d/f", c));

	/* truncate and O_TRUNC: mtime and ctime */
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	CHECK_OK(truncate("d/f", 2));
	CHECK(CHANGED(t, "d/f", m) && CHANGED(t, "d/f", c));
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	fd = open("d/f", O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK(CHANGED(t, "d/f", m) && CHANGED(t, "d/f", c));

	/* chmod, chown, setxattr, link: ctime only */
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	CHECK_OK(chmod("d/f", 0600));
	CHECK(CHANGED(t, "d/f", c) && SAME(t, "d/f", m) && SAME(t, "d/f", a));
	t = times_of("d/f");
	tick();
	CHECK_OK(chown("d/f", U1, U1));
	CHECK(CHANGED(t, "d/f", c) && SAME(t, "d/f", m));
	t = times_of("d/f");
	tick();
	CHECK_OK(setxattr("d/f", "user.t", "v", 1, 0));
	CHECK(CHANGED(t, "d/f", c) && SAME(t, "d/f", m));
	t = times_of("d/f");
	tick();
	struct times td = times_of("e");
	CHECK_OK(link("d/f", "e/g"));
	CHECK(CHANGED(t, "d/f", c) && SAME(t, "d/f", m));
	CHECK(CHANGED(td, "e", m) && CHANGED(td, "e", c));

	/* unlink: the parent's m/ctime, the file's ctime (it has another link) */
	CHECK_OK(age("d"));
	CHECK_OK(age("d/f"));
	t = times_of("d/f");
	td = times_of("d");
	CHECK_OK(unlink("d/f"));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	CHECK(CHANGED(t, "e/g", c) && SAME(t, "e/g", m) && SAME(t, "e/g", a));

	/* rename: both parents' m/ctime; the file's ctime, not its a/mtime */
	CHECK_OK(age("d"));
	CHECK_OK(age("e"));
	CHECK_OK(age("e/g"));
	t = times_of("e/g");
	td = times_of("d");
	struct times te = times_of("e");
	CHECK_OK(rename("e/g", "d/g"));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	CHECK(CHANGED(te, "e", m) && CHANGED(te, "e", c));
	CHECK(CHANGED(t, "d/g", c));
	CHECK(SAME(t, "d/g", m) && SAME(t, "d/g", a));
	/* within one directory */
	CHECK_OK(age("d"));
	CHECK_OK(age("d/g"));
	t = times_of("d/g");
	td = times_of("d");
	CHECK_OK(rename("d/g", "d/h"));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	CHECK(CHANGED(t, "d/h", c) && SAME(t, "d/h", m) && SAME(t, "d/h", a));
	/* over another file: the victim is gone, the parent changed */
	CHECK_OK(write_str("d/victim", "v"));
	CHECK_OK(age("d"));
	td = times_of("d");
	CHECK_OK(rename("d/h", "d/victim"));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));

	/* mkdir, rmdir, symlink, mknod: the parent's m/ctime */
	CHECK_OK(age("d"));
	td = times_of("d");
	CHECK_OK(mkdir("d/sub", 0755));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	CHECK_OK(age("d"));
	td = times_of("d");
	CHECK_OK(rmdir("d/sub"));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	CHECK_OK(age("d"));
	td = times_of("d");
	CHECK_OK(symlink("x", "d/sl"));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	CHECK_OK(age("d"));
	td = times_of("d");
	CHECK_OK(mkfifo("d/fifo", 0644));
	CHECK(CHANGED(td, "d", m) && CHANGED(td, "d", c));
	/* a directory moved to another parent: its ".." changed, so its ctime */
	CHECK_OK(mkdir("d/mv", 0755));
	CHECK_OK(age("d/mv"));
	t = times_of("d/mv");
	CHECK_OK(rename("d/mv", "e/mv"));
	CHECK(CHANGED(t, "e/mv", c));
	/* listing a directory: its atime (relatime), nothing else */
	CHECK_OK(age("d"));
	td = times_of("d");
	CHECK(count_entries("d") > 0);
	CHECK(CHANGED(td, "d", a));
	CHECK(SAME(td, "d", m) && SAME(td, "d", c));
}

/* st_nlink of a directory: 2 + its subdirectories. */
static void t_dir_nlink(void)
{
	ENTER();
	CHECK_EQ(nlink_of("."), 2);
	CHECK_OK(mkdir("d", 0755));
	CHECK_EQ(nlink_of("."), 3);
	CHECK_OK(mkdir("d/a", 0755));
	CHECK_OK(mkdir("d/b", 0755));
	CHECK_OK(write_str("d/f", ""));
	CHECK_OK(symlink("a", "d/l"));
	CHECK_EQ(nlink_of("d"), 4);
	CHECK_OK(rmdir("d/a"));
	CHECK_EQ(nlink_of("d"), 3);
	CHECK_OK(rename("d/b", "b"));
	CHECK_EQ(nlink_of("d"), 2);
	CHECK_EQ(nlink_of("."), 4);
	CHECK_OK(rename("b", "d/b2"));
	CHECK_EQ(nlink_of("d"), 3);
	CHECK_EQ(nlink_of("."), 3);
	for (int i = 0; i < 50; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d/s%d", i);
		CHECK_OK(mkdir(name, 0755));
	}
	CHECK_EQ(nlink_of("d"), 53);
	CHECK_EQ(nlink_of("d/s7"), 2);
}

/* setuid and setgid bits: cleared by writes of the unprivileged and by chown. */
static void t_suid_sgid(void)
{
	ENTER();
	CHECK_OK(chmod(".", 0777));
	/* written by another user: S_ISUID goes, S_ISGID too as group-x is set */
	CHECK_OK(write_str("f", "data"));
	CHECK_OK(chmod("f", 06777));
	CHECK_EQ(AS(U1, open_write("f", O_WRONLY, 0, "x", 1)), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0777);
	/* without group-x, a writer in the file's group leaves S_ISGID */
	CHECK_OK(chown("f", 0, U1));
	CHECK_OK(chmod("f", 06766));
	CHECK_EQ(AS(U1, open_write("f", O_WRONLY, 0, "x", 1)), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 02766);
	CHECK_OK(chown("f", 0, 0));
	/* a truncate by another user clears them too */
	CHECK_OK(chmod("f", 06777));
	CHECK_EQ(AS(U1, E(truncate("f", 1))), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0777);
	/* root writing keeps them (CAP_FSETID) */
	CHECK_OK(chmod("f", 06777));
	CHECK_OK(write_str("f", "root"));
	CHECK_EQ(mode_of("f"), S_IFREG | 06777);
	/* the owner writing its own setuid file loses the bit as well */
	CHECK_OK(chown("f", U1, U1));
	CHECK_OK(chmod("f", 04755));
	CHECK_EQ(AS(U1, open_write("f", O_WRONLY | O_APPEND, 0, "o", 1)), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0755);

	/* chown, even by root, clears them on a file (not on a directory) */
	CHECK_OK(chmod("f", 06755));
	CHECK_OK(chown("f", U2, U2));
	CHECK_EQ(mode_of("f"), S_IFREG | 0755);
	CHECK_OK(chmod("f", 06755));
	CHECK_OK(chown("f", -1, 0));
	CHECK_EQ(mode_of("f"), S_IFREG | 0755);
	CHECK_OK(mkdir("sd", 0755));
	CHECK_OK(chmod("sd", 06755));
	CHECK_OK(chown("sd", U1, U1));
	CHECK_EQ(mode_of("sd"), S_IFDIR | 06755);

	/* an owner not in the file's group cannot set S_ISGID: silently dropped */
	CHECK_OK(write_str("g", "g"));
	CHECK_OK(chown("g", U1, 4242));
	CHECK_EQ(AS(U1, E(chmod("g", 02755))), 0);
	CHECK_EQ(mode_of("g"), S_IFREG | 0755);
	CHECK_OK(chown("g", U1, U1));
	CHECK_EQ(AS(U1, E(chmod("g", 02755))), 0);
	CHECK_EQ(mode_of("g"), S_IFREG | 02755);

	/* a setgid directory: new entries get its group, new dirs its bit */
	CHECK_OK(mkdir("sg", 0777));
	CHECK_OK(chown("sg", 0, 4242));
	CHECK_OK(chmod("sg", 02777));
	CHECK_OK(write_str("sg/file", "x"));
	CHECK_EQ(st_of("sg/file").st_gid, 4242);
	CHECK_OK(mkdir("sg/sub", 0755));
	CHECK_EQ(st_of("sg/sub").st_gid, 4242);
	CHECK_EQ(mode_of("sg/sub"), S_IFDIR | 02755);
	CHECK_EQ(AS(U1, E(mkdir("sg/usub", 0755))), 0);
	CHECK_EQ(st_of("sg/usub").st_gid, 4242);
	CHECK_EQ(st_of("sg/usub").st_uid, U1);
	CHECK_EQ(mode_of("sg/usub"), S_IFDIR | 02755);
	/* a file made by a user outside that group with mode 02755: no S_ISGID */
	CHECK_EQ(AS(U1, open_write("sg/ufile", O_WRONLY | O_CREAT, 02755, NULL, 0)), 0);
	CHECK_EQ(mode_of("sg/ufile"), S_IFREG | 0755);
}

/*
 * Without group-x, S_ISGID goes when the writer is not in the file's group
 * (Linux since 6.0, setattr_should_drop_sgid(); ext4 and tmpfs).  The kernel
 * flags such a write or truncate for the daemon (FUSE_HANDLE_KILLPRIV_V2),
 * which checks the writer's groups, supplementary ones included.
 */
static void t_sgid_not_in_group(void)
{
	ENTER();
	CHECK_OK(chmod(".", 0777));
	CHECK_OK(write_str("f", "data"));
	CHECK_OK(chmod("f", 02766));
	CHECK_EQ(AS(U1, open_write("f", O_WRONLY, 0, "x", 1)), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0766);
	CHECK_OK(chmod("f", 02766));
	CHECK_EQ(AS(U1, E(truncate("f", 1))), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0766);
	CHECK_OK(chmod("f", 02766));
	CHECK_EQ(AS(U1, open_write("f", O_WRONLY | O_TRUNC, 0, NULL, 0)), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0766);

	/* a writer with the file's group among its supplementary groups keeps it */
	CHECK_OK(chown("f", 0, 4242));
	CHECK_OK(chmod("f", 02766));
	CHECK_EQ(AS_IN(U1, 4242, open_write("f", O_WRONLY, 0, "y", 1)), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 02766);
}

/* An open with O_TRUNC, fallocate and copy_file_range clear the bits as a write does. */
static void t_suid_sgid_other_writes(void)
{
	ENTER();
	CHECK_OK(chmod(".", 0777));
	CHECK_OK(write_str("src", "0123456789"));
	CHECK_OK(chmod("src", 0644));
	CHECK_OK(write_str("f", "data"));

	CHECK_OK(chmod("f", 06777));
	CHECK_EQ(AS(U1, open_write("f", O_WRONLY | O_TRUNC, 0, NULL, 0)), 0);
	CHECK_EQ(st_of("f").st_size, 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0777);
	/* root keeps them (CAP_FSETID) */
	CHECK_OK(chmod("f", 06777));
	int fd = open("f", O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_OK(close(fd));
	CHECK_EQ(mode_of("f"), S_IFREG | 06777);

	CHECK_EQ(AS(U1, ({ int fd_ = open("f", O_WRONLY);
			   fd_ < 0 ? -errno : E(fallocate(fd_, 0, 0, 8192)); })), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0777);
	CHECK_OK(chmod("f", 06777));
	fd = open("f", O_WRONLY);
	CHECK(fd >= 0);
	CHECK_OK(fallocate(fd, 0, 0, 16384));
	CHECK_OK(close(fd));
	CHECK_EQ(mode_of("f"), S_IFREG | 06777);

	CHECK_EQ(AS(U1, ({ int in_ = open("src", O_RDONLY), out_ = open("f", O_WRONLY);
			   in_ < 0 || out_ < 0 ? -errno :
			   copy_file_range(in_, NULL, out_, NULL, 10, 0) == 10 ? 0 : -EIO; })), 0);
	CHECK_EQ(mode_of("f"), S_IFREG | 0777);
}

/* A write removes security.capability, whoever writes; setting it again re-arms that. */
static void t_write_drops_capability(void)
{
	ENTER();
	/* a version 2 capability set: cap_net_raw in permitted, effective */
	static const uint8_t caps[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00 };
	char buf[64];
	CHECK_OK(write_str("f", "data"));
	for (int round = 0; round < 2; round++) {
		CHECK_OK(setxattr("f", "security.capability", caps, sizeof(caps), 0));
		CHECK_EQ(getxattr("f", "security.capability", buf, sizeof(buf)), (ssize_t)sizeof(caps));
		int fd = open("f", O_WRONLY | O_APPEND);
		CHECK(fd >= 0);
		CHECK_EQ(write(fd, "x", 1), 1);
		CHECK_OK(close(fd));
		CHECK_EQ(E(getxattr("f", "security.capability", buf, sizeof(buf))), -ENODATA);
	}
}

/* ---- permissions as other users ------------------------------------------ */

static void t_permissions(void)
{
	ENTER();
	/* a read-only file */
	CHECK_OK(write_str("ro", "read only"));
	CHECK_OK(chmod("ro", 0444));
	CHECK_EQ(AS(U1, E(open("ro", O_WRONLY))), -EACCES);
	CHECK_EQ(AS(U1, E(open("ro", O_RDWR))), -EACCES);
	CHECK_EQ(AS(U1, E(open("ro", O_RDONLY))), 0);
	CHECK_EQ(AS(U1, E(access("ro", W_OK))), -EACCES);
	CHECK_EQ(AS(U1, E(access("ro", R_OK))), 0);
	CHECK_EQ(AS(U1, E(access("ro", X_OK))), -EACCES);
	CHECK_OK(chown("ro", U1, U1));                       /* even its owner */
	CHECK_EQ(AS(U1, E(open("ro", O_WRONLY))), -EACCES);
	CHECK_EQ(E(open("ro", O_WRONLY)), 0);                /* root may */
	CHECK_OK(chown("ro", 0, 0));

	/* private files and directories */
	CHECK_OK(write_str("private", "secret"));
	CHECK_OK(chmod("private", 0600));
	CHECK_EQ(AS(U1, E(open("private", O_RDONLY))), -EACCES);
	CHECK_OK(mkdir("closed", 0700));
	CHECK_OK(write_str("closed/x", "x"));
	CHECK_EQ(AS(U1, E(lstat("closed/x", &(struct stat){0}))), -EACCES);
	CHECK_EQ(AS(U1, E(open("closed", O_RDONLY | O_DIRECTORY))), -EACCES);
	CHECK_OK(chmod("closed", 0711));                      /* search, no read */
	CHECK_EQ(AS(U1, E(lstat("closed/x", &(struct stat){0}))), 0);
	CHECK_EQ(AS(U1, E(open("closed", O_RDONLY | O_DIRECTORY))), -EACCES);
	CHECK_OK(chmod("closed", 0744));                      /* read, no search */
	CHECK_EQ(AS(U1, E(lstat("closed/x", &(struct stat){0}))), -EACCES);

	/* a root-owned 0755 directory: no creating, removing or renaming in it */
	CHECK_OK(mkdir("rootdir", 0755));
	CHECK_OK(write_str("rootdir/file", "x"));
	CHECK_OK(chmod("rootdir/file", 0666));
	CHECK_EQ(AS(U1, E(open("rootdir/new", O_WRONLY | O_CREAT, 0644))), -EACCES);
	CHECK_EQ(AS(U1, E(mkdir("rootdir/new", 0755))), -EACCES);
	CHECK_EQ(AS(U1, E(mkfifo("rootdir/new", 0644))), -EACCES);
	CHECK_EQ(AS(U1, E(symlink("x", "rootdir/new"))), -EACCES);
	CHECK_EQ(AS(U1, E(unlink("rootdir/file"))), -EACCES);
	CHECK_EQ(AS(U1, E(rename("rootdir/file", "rootdir/new"))), -EACCES);
	CHECK_EQ(AS(U1, E(open("rootdir/file", O_WRONLY))), 0);   /* 0666 */
	CHECK(!exists("rootdir/new"));

	/* a sticky /tmp-style directory */
	CHECK_OK(mkdir("tmp", 0777));
	CHECK_OK(chmod("tmp", 01777));
	CHECK_EQ(AS(U2, E(write_str("tmp/theirs", "of u2"))), 0);
	CHECK_EQ(st_of("tmp/theirs").st_uid, U2);
	CHECK_OK(chmod("tmp/theirs", 0666));
	CHECK_EQ(AS(U1, E(unlink("tmp/theirs"))), -EPERM);
	CHECK_EQ(AS(U1, E(rename("tmp/theirs", "tmp/mine"))), -EPERM);
	CHECK_EQ(AS(U1, E(write_str("tmp/mine", "of u1"))), 0);
	CHECK_EQ(AS(U1, E(rename("tmp/mine", "tmp/theirs"))), -EPERM);   /* over theirs */
	CHECK_EQ(AS(U1, E(open("tmp/theirs", O_WRONLY))), 0);    /* 0666 in a sticky dir: fine */
	CHECK_EQ(AS(U2, E(unlink("tmp/mine"))), -EPERM);
	CHECK_EQ(AS(U1, E(unlink("tmp/mine"))), 0);
	CHECK_EQ(AS(U2, E(unlink("tmp/theirs"))), 0);
	CHECK_OK(write_str("tmp/roots", "x"));
	CHECK_EQ(AS(U1, E(unlink("tmp/roots"))), -EPERM);
	CHECK_OK(unlink("tmp/roots"));

	/* attributes of someone else's file */
	CHECK_OK(write_str("other", "x"));
	CHECK_OK(chmod("other", 0666));
	CHECK_EQ(AS(U1, E(chmod("other", 0777))), -EPERM);
	CHECK_EQ(AS(U1, E(chown("other", U1, U1))), -EPERM);
	CHECK_EQ(AS(U1, E(chown("other", -1, U1))), -EPERM);
	struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
	CHECK_EQ(AS(U1, E(utimensat(AT_FDCWD, "other", ts, 0))), -EPERM);
	CHECK_EQ(AS(U1, E(utimensat(AT_FDCWD, "other", NULL, 0))), 0);        /* write access is enough */
	CHECK_OK(chmod("other", 0644));
	CHECK_EQ(AS(U1, E(utimensat(AT_FDCWD, "other", NULL, 0))), -EACCES);
	CHECK_EQ(AS(U1, E(truncate("other", 0))), -EACCES);
	CHECK_EQ(AS(U1, E(setxattr("other", "user.x", "v", 1, 0))), -EACCES);

	/* one's own file: chmod yes, giving it away no, a group one is not in no */
	CHECK_OK(chmod(".", 0777));
	CHECK_EQ(AS(U1, E(write_str("mine", "x"))), 0);
	CHECK_EQ(st_of("mine").st_uid, U1);
	CHECK_EQ(st_of("mine").st_gid, U1);
	CHECK_EQ(AS(U1, E(chmod("mine", 0600))), 0);
	CHECK_EQ(AS(U1, E(chown("mine", U2, -1))), -EPERM);
	CHECK_EQ(AS(U1, E(chown("mine", -1, U2))), -EPERM);
	CHECK_EQ(AS(U1, E(chown("mine", U1, U1))), 0);
	CHECK_EQ(AS(U1, E(utimensat(AT_FDCWD, "mine", ts, 0))), 0);
	CHECK_EQ(AS(U2, E(open("mine", O_RDONLY))), -EACCES);
	/* group permissions: a member of the group reads */
	CHECK_OK(chown("mine", U1, U2));
	CHECK_OK(chmod("mine", 0640));
	CHECK_EQ(AS(U2, E(open("mine", O_RDONLY))), 0);
	CHECK_EQ(AS(U2, E(open("mine", O_WRONLY))), -EACCES);
	/* owner bits win over group and other, even when they deny */
	CHECK_OK(chmod("mine", 0077));
	CHECK_EQ(AS(U1, E(open("mine", O_RDONLY))), -EACCES);
	/* execute */
	CHECK_OK(chmod("mine", 0755));
	CHECK_EQ(AS(U2, E(access("mine", X_OK))), 0);
	CHECK_OK(chmod("mine", 0644));
	CHECK_EQ(AS(U2, E(access("mine", X_OK))), -EACCES);
	CHECK_EQ(E(access("mine", X_OK)), -EACCES);     /* root too, with no x bit at all */
}

/* ---- xattrs and ACLs ------------------------------------------------------ */

static void t_xattr(void)
{
	char buf[8192], big[4000];
	ENTER();
	CHECK_OK(write_str("f", "x"));
	CHECK_EQ(listxattr("f", buf, sizeof(buf)), 0);
	CHECK_OK(setxattr("f", "user.a", "value1", 6, 0));
	CHECK_EQ(getxattr("f", "user.a", buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "value1", 6) == 0);
	CHECK_EQ(getxattr("f", "user.a", NULL, 0), 6);
	CHECK_EQ(getxattr("f", "user.a", buf, 0), 6);
	CHECK_EQ(E(getxattr("f", "user.a", buf, 5)), -ERANGE);
	CHECK_EQ(E(getxattr("f", "user.none", buf, sizeof(buf))), -ENODATA);
	CHECK_EQ(E(setxattr("f", "user.a", "v", 1, XATTR_CREATE)), -EEXIST);
	CHECK_EQ(E(setxattr("f", "user.b", "v", 1, XATTR_REPLACE)), -ENODATA);
	CHECK_OK(setxattr("f", "user.a", "v2", 2, XATTR_REPLACE));
	CHECK_EQ(getxattr("f", "user.a", buf, sizeof(buf)), 2);
	CHECK(memcmp(buf, "v2", 2) == 0);
	CHECK_OK(setxattr("f", "user.b", "", 0, XATTR_CREATE));      /* empty value */
	CHECK_EQ(getxattr("f", "user.b", buf, sizeof(buf)), 0);
	fill(big, sizeof(big), 13);
	CHECK_OK(setxattr("f", "user.big", big, sizeof(big), 0));    /* binary, 4000 bytes */
	CHECK_EQ(getxattr("f", "user.big", buf, sizeof(buf)), sizeof(big));
	CHECK(memcmp(buf, big, sizeof(big)) == 0);
	CHECK_OK(setxattr("f", "trusted.t", "root only", 9, 0));

	/* the list: each name once, NUL-terminated, in any order */
	ssize_t n = listxattr("f", NULL, 0);
	const char want[] = "user.a\0user.b\0user.big\0trusted.t";
	CHECK_EQ(n, sizeof(want));
	CHECK_EQ(E(listxattr("f", buf, n - 1)), -ERANGE);
	CHECK_EQ(listxattr("f", buf, sizeof(buf)), n);
	int found = 0;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		found += !strcmp(p, "user.a") + !strcmp(p, "user.b") * 2 + !strcmp(p, "user.big") * 4 +
			 !strcmp(p, "trusted.t") * 8;
	CHECK_EQ(found, 15);
	/* unprivileged users see user.*, not trusted.* */
	CHECK_OK(chmod("f", 0666));
	CHECK_EQ(AS(U1, listxattr("f", buf, sizeof(buf)) < 0 ? -errno : listxattr("f", buf, sizeof(buf)) == 23 ? 0 : -1), 0);
	CHECK_EQ(AS(U1, E(getxattr("f", "trusted.t", buf, sizeof(buf)))), -ENODATA);
	CHECK_EQ(AS(U1, E(setxattr("f", "user.u", "1", 1, 0))), 0);
	CHECK_EQ(AS(U1, E(setxattr("f", "trusted.u", "1", 1, 0))), -EPERM);
	CHECK_OK(removexattr("f", "user.u"));

	/* removal */
	CHECK_OK(removexattr("f", "user.a"));
	CHECK_EQ(E(getxattr("f", "user.a", buf, sizeof(buf))), -ENODATA);
	CHECK_EQ(E(removexattr("f", "user.a")), -ENODATA);
	CHECK_EQ(listxattr("f", NULL, 0), sizeof(want) - 7);
	CHECK_OK(removexattr("f", "user.b"));
	CHECK_OK(removexattr("f", "user.big"));
	CHECK_OK(removexattr("f", "trusted.t"));
	CHECK_EQ(listxattr("f", buf, sizeof(buf)), 0);

	/* names: namespaces, lengths */
	CHECK_EQ(E(setxattr("f", "nonamespace", "v", 1, 0)), -EOPNOTSUPP);
	CHECK_EQ(E(setxattr("f", "user.", "v", 1, 0)), -EINVAL);
	char name[300] = "user.";
	memset(name + 5, 'x', 250);
	name[255] = 0;
	CHECK_OK(setxattr("f", name, "v", 1, 0));
	CHECK_EQ(getxattr("f", name, buf, sizeof(buf)), 1);
	name[255] = 'x';
	name[256] = 0;
	CHECK_EQ(E(setxattr("f", name, "v", 1, 0)), -ERANGE);
	CHECK_EQ(E(getxattr("f", name, buf, sizeof(buf))), -ERANGE);

	/* on directories, through fds, not on symlinks (user.*), not on missing files */
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(setxattr("d", "user.dir", "yes", 3, 0));
	CHECK_EQ(getxattr("d", "user.dir", buf, sizeof(buf)), 3);
	int fd = open("f", O_RDONLY);
	CHECK(fd >= 0);
	CHECK_OK(fsetxattr(fd, "user.fd", "fd", 2, 0));
	CHECK_EQ(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 2);
	CHECK_EQ(flistxattr(fd, NULL, 0), 256 + 8);
	CHECK_OK(fremovexattr(fd, "user.fd"));
	CHECK_OK(close(fd));
	CHECK_OK(symlink("f", "l"));
	CHECK_EQ(E(lsetxattr("l", "user.x", "v", 1, 0)), -EPERM);
	CHECK_OK(lsetxattr("l", "trusted.x", "v", 1, 0));
	CHECK_EQ(lgetxattr("l", "trusted.x", buf, sizeof(buf)), 1);
	CHECK_EQ(E(getxattr("l", "trusted.x", buf, sizeof(buf))), -ENODATA);   /* followed to f */
	CHECK_EQ(E(getxattr("missing", "user.x", buf, sizeof(buf))), -ENOENT);
	/* an unlinked file keeps its xattrs while open */
	fd = open("f", O_RDONLY);
	CHECK(fd >= 0);
	CHECK_OK(unlink("f"));
	name[255] = 0;
	CHECK_EQ(fgetxattr(fd, name, buf, sizeof(buf)), 1);
	CHECK_OK(fsetxattr(fd, "user.after", "1", 1, 0));
	CHECK_OK(close(fd));
	/* many attributes on one file */
	CHECK_OK(write_str("many", ""));
	for (int i = 0; i < 100; i++) {
		char nm[32], val[32];
		snprintf(nm, sizeof(nm), "user.n%d", i);
		snprintf(val, sizeof(val), "value %d", i);
		CHECK_OK(setxattr("many", nm, val, strlen(val), XATTR_CREATE));
	}
	for (int i = 0; i < 100; i++) {
		char nm[32], val[32];
		snprintf(nm, sizeof(nm), "user.n%d", i);
		snprintf(val, sizeof(val), "value %d", i);
		CHECK_EQ(getxattr("many", nm, buf, sizeof(buf)), strlen(val));
		CHECK(memcmp(buf, val, strlen(val)) == 0);
	}
}

/* The binary form of POSIX ACLs in system.posix_acl_* (linux/posix_acl_xattr.h). */
struct acl_entry_x { uint16_t tag, perm; uint32_t id; };
enum { ACL_USER_OBJ = 1, ACL_USER = 2, ACL_GROUP_OBJ = 4, ACL_GROUP = 8, ACL_MASK = 0x10, ACL_OTHER = 0x20 };
#define ACL_UNDEF_ID ((uint32_t)-1)

struct acl_x {
	uint32_t version;
	struct acl_entry_x e[5];
};

static const struct acl_x acl_u1_read = {   /* u::rw-, u:1000:r--, g::r--, m::r--, o::--- */
	2,
	{ { ACL_USER_OBJ, 6, ACL_UNDEF_ID }, { ACL_USER, 4, U1 }, { ACL_GROUP_OBJ, 4, ACL_UNDEF_ID },
	  { ACL_MASK, 4, ACL_UNDEF_ID }, { ACL_OTHER, 0, ACL_UNDEF_ID } },
};

static void t_acl(void)
{
	struct acl_x got;
	ENTER();
	CHECK_OK(write_str("f", "acl"));
	CHECK_OK(chmod("f", 0600));
	CHECK_EQ(AS(U1, E(open("f", O_RDONLY))), -EACCES);
	CHECK_OK(setxattr("f", "system.posix_acl_access", &acl_u1_read, sizeof(acl_u1_read), 0));
	CHECK_EQ(mode_of("f"), S_IFREG | 0640);       /* group bits show the mask */
	CHECK_EQ(getxattr("f", "system.posix_acl_access", &got, sizeof(got)), sizeof(got));
	CHECK(memcmp(&got, &acl_u1_read, sizeof(got)) == 0);
	CHECK_EQ(AS(U1, E(open("f", O_RDONLY))), 0);
	CHECK_EQ(AS(U1, E(open("f", O_WRONLY))), -EACCES);
	CHECK_EQ(AS(U2, E(open("f", O_RDONLY))), -EACCES);
	/* chmod rewrites the mask: u:1000 loses read */
	CHECK_OK(chmod("f", 0600));
	CHECK_EQ(getxattr("f", "system.posix_acl_access", &got, sizeof(got)), sizeof(got));
	CHECK_EQ(got.e[3].tag, ACL_MASK);
	CHECK_EQ(got.e[3].perm, 0);
	CHECK_EQ(AS(U1, E(open("f", O_RDONLY))), -EACCES);
	CHECK_OK(removexattr("f", "system.posix_acl_access"));
	CHECK_EQ(E(getxattr("f", "system.posix_acl_access", &got, sizeof(got))), -ENODATA);
	/* a malformed ACL is refused */
	struct acl_x bad = acl_u1_read;
	bad.version = 7;
	CHECK_EQ(E(setxattr("f", "system.posix_acl_access", &bad, sizeof(bad), 0)), -EOPNOTSUPP);
	CHECK_EQ(E(setxattr("f", "system.posix_acl_access", &acl_u1_read, 7, 0)), -EINVAL);

	/* a default ACL on a directory: inherited by new files and directories */
	CHECK_OK(mkdir("d", 0755));
	CHECK_OK(setxattr("d", "system.posix_acl_default", &acl_u1_read, sizeof(acl_u1_read), 0));
	CHECK_OK(write_file("d/new", "x", 1, 0666));
	CHECK_EQ(getxattr("d/new", "system.posix_acl_access", &got, sizeof(got)), sizeof(got));
	CHECK(memcmp(&got, &acl_u1_read, sizeof(got)) == 0);
	CHECK_EQ(mode_of("d/new"), S_IFREG | 0640);   /* the umask is not applied */
	CHECK_EQ(AS(U1, E(open("d/new", O_RDONLY))), 0);
	CHECK_EQ(AS(U2, E(open("d/new", O_RDONLY))), -EACCES);
	CHECK_OK(mkdir("d/sub", 0777));
	CHECK_EQ(getxattr("d/sub", "system.posix_acl_default", &got, sizeof(got)), sizeof(got));
	CHECK_EQ(E(setxattr("f", "system.posix_acl_default", &acl_u1_read, sizeof(acl_u1_read), 0)), -EACCES);
}

/* ---- statfs, readdir -------------------------------------------------------- */

static void t_statfs(void)
{
	struct statvfs sv;
	ENTER();
	CHECK_OK(statvfs(".", &sv));
	CHECK(sv.f_bsize > 0);
	CHECK(sv.f_frsize > 0);
	CHECK(sv.f_blocks > 0);
	CHECK(sv.f_bfree <= sv.f_blocks);
	CHECK(sv.f_bavail <= sv.f_bfree);
	CHECK(sv.f_ffree <= sv.f_files);
	CHECK_EQ(sv.f_namemax, 255);
	int fd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK_OK(fstatvfs(fd, &sv));
	CHECK_OK(fsync(fd));                 /* fsyncdir */
	CHECK_OK(close(fd));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Lists @dir and compares it with the sorted names want[0..n): exactly those
 * plus . and .., each once, d_ino matching lstat, d_type matching or unknown.
 * Returns a description of the first difference, or NULL.
 */
static const char *check_listing(const char *dir, char **want, size_t n)
{
	static char why[512];
	DIR *d = opendir(dir);
	struct dirent *de;
	char **got = NULL;
	size_t ngot = 0, cap = 0;
	int dots = 0;

	if (!d)
		return "opendir failed";
	why[0] = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			continue;
		}
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			snprintf(why, sizeof(why), "%s listed but lstat: %s", de->d_name, strerror(errno));
		else if (st.st_ino != de->d_ino && !why[0])
			snprintf(why, sizeof(why), "%s: d_ino %llu, st_ino %llu", de->d_name,
				 (unsigned long long)de->d_ino, (unsigned long long)st.st_ino);
		else if (de->d_type != DT_UNKNOWN && de->d_type != IFTODT(st.st_mode) && !why[0])
			snprintf(why, sizeof(why), "%s: d_type %d, mode %o", de->d_name, de->d_type, st.st_mode);
		if (ngot == cap) {
			cap = cap ? 2 * cap : 256;
			got = realloc(got, cap * sizeof(*got));
		}
		got[ngot++] = strdup(de->d_name);
	}
	closedir(d);
	if (ngot)
		qsort(got, ngot, sizeof(*got), cmp_str);
	if (!why[0] && dots != 2)
		snprintf(why, sizeof(why), ". and .. seen %d times together", dots);
	for (size_t i = 0; !why[0] && i < ngot && i < n; i++)
		if (strcmp(got[i], want[i]))
			snprintf(why, sizeof(why), "listing differs at %zu: got %s, want %s", i, got[i], want[i]);
	if (!why[0] && ngot != n)
		snprintf(why, sizeof(why), "%zu entries listed, want %zu", ngot, n);
	for (size_t i = 0; i < ngot; i++)
		free(got[i]);
	free(got);
	return why[0] ? why : NULL;
}

static void t_readdir(void)
{
	enum { N = 2000 };
	char **names = calloc(N + 100, sizeof(char *));
	size_t n = 0;
	const char *why;

	ENTER();
	CHECK(names);
	CHECK_OK(mkdir("d", 0755));
	CHECK((why = check_listing("d", names, 0)) == NULL);
	/* 2,000 entries of every kind, with names of many lengths */
	for (int i = 0; i < N; i++) {
		char name[300], path[400];
		int len = snprintf(name, sizeof(name), "e%04d", i);
		if (i % 7 == 0) {                           /* long names */
			memset(name + len, 'x', 200 + i % 50);
			name[len + 200 + i % 50] = 0;
		}
		snprintf(path, sizeof(path), "d/%s", name);
		int r = i % 50 == 1 ? mkdir(path, 0755) : i % 50 == 2 ? symlink("t", path) :
			i % 50 == 3 ? mkfifo(path, 0644) : write_str(path, "");
		CHECK_OK(r);
		names[n++] = strdup(name);
	}
	qsort(names, n, sizeof(*names), cmp_str);
	why = check_listing("d", names, n);
	if (why)
		fprintf(stderr, "  %s\n", why);
	CHECK(why == NULL);
	/* remove every third, rename every fifth of the rest, add some */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		char path[400], path2[400];
		snprintf(path, sizeof(path), "d/%s", names[i]);
		if (i % 3 == 0) {
			struct stat st = st_of(path);
			CHECK_OK(S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path));
			free(names[i]);
			continue;
		}
		if (i % 5 == 0) {
			char *nn = malloc(strlen(names[i]) + 3);
			CHECK(nn);
			sprintf(nn, "r_%s", names[i]);
			if (strlen(nn) > 255)
				nn[255] = 0;
			snprintf(path2, sizeof(path2), "d/%s", nn);
			CHECK_OK(rename(path, path2));
			free(names[i]);
			names[i] = nn;
		}
		names[m++] = names[i];
	}
	for (int i = 0; i < 100; i++) {
		char name[32], path[64];
		snprintf(name, sizeof(name), "new%d", i);
		snprintf(path, sizeof(path), "d/%s", name);
		CHECK_OK(write_str(path, "n"));
		names[m++] = strdup(name);
	}
	n = m;
	qsort(names, n, sizeof(*names), cmp_str);
	why = check_listing("d", names, n);
	if (why)
		fprintf(stderr, "  %s\n", why);
	CHECK(why == NULL);

	/* rm -rf style: unlinking what was read while reading the rest; each
	 * remaining entry is still seen exactly once */
	DIR *dp = opendir("d");
	CHECK(dp);
	struct dirent *de;
	size_t seen = 0, removed = 0;
	char **seen_names = calloc(n + 2, sizeof(char *));
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		CHECK(seen < n);
		seen_names[seen++] = strdup(de->d_name);
		if (seen % 2) {
			char path[400];
			snprintf(path, sizeof(path), "d/%s", de->d_name);
			struct stat st = st_of(path);
			CHECK_OK(S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path));
			removed++;
		}
	}
	closedir(dp);
	qsort(seen_names, seen, sizeof(char *), cmp_str);
	for (size_t i = 1; i < seen; i++)
		CHECK(strcmp(seen_names[i - 1], seen_names[i]) != 0);
	CHECK_EQ(seen, n);
	CHECK_EQ(count_entries("d"), n - removed);

	/* telldir/seekdir come back to the same place */
	dp = opendir("d");
	CHECK(dp);
	for (int i = 0; i < 100; i++)
		CHECK(readdir(dp));
	long pos = telldir(dp);
	char first[300];
	de = readdir(dp);
	CHECK(de);
	snprintf(first, sizeof(first), "%s", de->d_name);
	for (int i = 0; i < 300 && readdir(dp); i++)
		;
	seekdir(dp, pos);
	de = readdir(dp);
	CHECK(de);
	CHECK(strcmp(de->d_name, first) == 0);
	rewinddir(dp);
	size_t again = 0;
	while ((de = readdir(dp)))
		again++;
	CHECK_EQ(again, n - removed + 2);
	closedir(dp);
	for (size_t i = 0; i < seen; i++)
		free(seen_names[i]);
	free(seen_names);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	/* reading a file as a directory */
	CHECK_OK(write_str("file", ""));
	CHECK(opendir("file") == NULL && errno == ENOTDIR);
}

/* ---- locks ----------------------------------------------------------------- */

/* In a child (same uid): the -errno of @what on a new descriptor of "f". */
static long try_lock(int what, short type, off_t start, off_t len)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("f", O_RDWR), r;
		if (fd < 0)
			_exit(errno);
		if (what == 0) {
			r = flock(fd, type | LOCK_NB);
		} else {
			struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
			r = fcntl(fd, what, &fl);
			if (r == 0 && what == F_GETLK)   /* report the holder through the exit code */
				_exit(fl.l_type == F_UNLCK ? 0 : fl.l_pid == getppid() && fl.l_start == 0 &&
				      fl.l_len == 100 && fl.l_type == F_WRLCK ? 200 : 201);
		}
		_exit(r < 0 ? errno : 0);
	}
	return wait_child(pid);
}

static void t_locks(void)
{
	ENTER();
	CHECK_OK(write_str("f", "lock me"));
	int fd = open("f", O_RDWR), fd2 = open("f", O_RDWR);
	CHECK(fd >= 0 && fd2 >= 0);

	/* flock: exclusive against any, shared against shared */
	CHECK_OK(flock(fd, LOCK_EX));
	CHECK_EQ(try_lock(0, LOCK_EX, 0, 0), -EWOULDBLOCK);
	CHECK_EQ(try_lock(0, LOCK_SH, 0, 0), -EWOULDBLOCK);
	CHECK_EQ(E(flock(fd2, LOCK_SH | LOCK_NB)), -EWOULDBLOCK);  /* another open file */
	CHECK_OK(flock(fd, LOCK_SH));
	CHECK_EQ(try_lock(0, LOCK_SH, 0, 0), 0);
	CHECK_EQ(try_lock(0, LOCK_EX, 0, 0), -EWOULDBLOCK);
	CHECK_OK(flock(fd, LOCK_UN));
	CHECK_EQ(try_lock(0, LOCK_EX, 0, 0), 0);

	/* fcntl record locks between processes */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_EQ(try_lock(F_SETLK, F_WRLCK, 50, 10), -EAGAIN);
	CHECK_EQ(try_lock(F_SETLK, F_RDLCK, 99, 1), -EAGAIN);
	CHECK_EQ(try_lock(F_SETLK, F_WRLCK, 100, 100), 0);
	CHECK_EQ(try_lock(F_GETLK, F_WRLCK, 10, 10), -200);       /* holder: us, [0,100) */
	CHECK_EQ(try_lock(F_GETLK, F_WRLCK, 100, 10), 0);
	fl.l_type = F_RDLCK;                                       /* downgrade */
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_EQ(try_lock(F_SETLK, F_RDLCK, 0, 100), 0);
	CHECK_EQ(try_lock(F_SETLK, F_WRLCK, 0, 1), -EAGAIN);
	fl.l_type = F_UNLCK;
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_EQ(try_lock(F_SETLK, F_WRLCK, 0, 0), 0);
	/* POSIX locks die with any close of the file by the process */
	fl.l_type = F_WRLCK;
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_EQ(try_lock(F_SETLK, F_WRLCK, 0, 1), -EAGAIN);
	CHECK_OK(close(fd2));
	CHECK_EQ(try_lock(F_SETLK, F_WRLCK, 0, 1), 0);

	/* a blocking lock waits for the holder */
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open("f", O_RDWR);
		struct flock w = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
		alarm(20);
		_exit(cfd < 0 || fcntl(cfd, F_SETLKW, &w) < 0 ? errno : 0);
	}
	tick();
	tick();
	CHECK_EQ(waitpid(pid, NULL, WNOHANG), 0);                 /* still waiting */
	fl.l_type = F_UNLCK;
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_EQ(wait_child(pid), 0);

	/* open file description locks, within one process */
	fd2 = open("f", O_RDWR);
	CHECK(fd2 >= 0);
	struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	CHECK_OK(fcntl(fd, F_OFD_SETLK, &ofd));
	CHECK_EQ(E(fcntl(fd2, F_OFD_SETLK, &ofd)), -EAGAIN);
	ofd.l_type = F_UNLCK;
	CHECK_OK(fcntl(fd, F_OFD_SETLK, &ofd));
	ofd.l_type = F_WRLCK;
	CHECK_OK(fcntl(fd2, F_OFD_SETLK, &ofd));
	CHECK_OK(close(fd2));
	CHECK_OK(close(fd));
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [CASE...]\n", argv[0]);
		return 2;
	}
	am_root = geteuid() == 0;
	if (!am_root) {
		fprintf(stderr, "posix: needs root (it switches to other uids)\n");
		return 77;
	}
	umask(022);
	snprintf(base, sizeof(base), "%s/posix.%d", argv[1], (int)getpid());
	if (mkdir(base, 0755) < 0 || chmod(base, 0755) < 0) {
		fprintf(stderr, "%s: %s\n", base, strerror(errno));
		return 99;
	}
	filters = argv + 2;
	nfilters = argc - 2;
	signal(SIGPIPE, SIG_IGN);

	CASE(t_open_creat);
	CASE(t_read_write);
	CASE(t_mkdir_rmdir);
	CASE(t_unlink);
	CASE(t_unlinked_open);
	CASE(t_rename);
	CASE(t_rename2);
	CASE(t_link);
	CASE(t_symlink);
	CASE(t_mknod);
	CASE(t_truncate);
	CASE(t_sparse);
	CASE(t_fallocate);
	CASE(t_copy_file_range);
	CASE(t_chmod_chown_utimens);
	CASE(t_timestamps);
	CASE(t_dir_nlink);
	CASE(t_suid_sgid);
	CASE(t_suid_sgid_other_writes);
	CASE(t_write_drops_capability);
	CASE(t_sgid_not_in_group);
	CASE(t_permissions);
	CASE(t_xattr);
	CASE(t_acl);
	CASE(t_statfs);
	CASE(t_readdir);
	CASE(t_locks);

	if (chdir("/") == 0 && !test_failed && !getenv("VOLFS_TEST_KEEP"))
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return test_exit();
}
