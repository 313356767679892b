/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_vfs.c — the filesystem core (fs/vfs.c, fs/vfs_data.c) called
 * directly, without FUSE or a mount.  Every case makes a fresh store and
 * volume, plays the kernel (lookup references counted and forgotten, opens
 * released), checks values and errnos, and closes the volume, checking that
 * the close itself succeeds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/xattr.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "snapshot.h"
#include "store.h"
#include "chunk_cache.h"
#include "vfs.h"
#include "vfs_internal.h"
#include "volume.h"

#define VOL   "vol"
#define ROOT  IDX_ROOT_INO
#define KiB   1024u
#define MiB   (1024u * 1024u)

static const struct vfs_ctx ctx = { .uid = 0, .gid = 0, .umask = 022 };

/* ---- the store and volume of the running case ---------------------------- */

/* Closed by RUN_CASE after every case, so that a failed CHECK leaks nothing. */
static struct {
	char path[PATH_MAX];
	struct store *store;
	struct vfs *vfs;
	struct vfs_options opts;
	void *mem[16];
	size_t nmem;
} T;

static int env_setup(const char *dir, uint32_t block_size)
{
	int r;

	snprintf(T.path, sizeof(T.path), "%s", test_subdir(dir));
	T.opts = (struct vfs_options){ .dirty_limit = 1 * MiB, .commit_interval_ms = 5000,
				       .verify_dedup = true };
	if ((r = store_init(T.path)) < 0 || (r = store_open(T.path, STORE_RECYCLE, &T.store)) < 0 ||
	    (r = volume_create(T.store, VOL, block_size, NULL)) < 0)
		return r;
	return vfs_open(T.store, VOL, &T.opts, &T.vfs);
}

/* vfs_close() then vfs_open() again: what reaches the index persists. */
static int env_reopen(bool rdonly)
{
	int r = vfs_close(T.vfs);

	T.vfs = NULL;
	if (r < 0)
		return r;
	T.opts.rdonly = rdonly;
	return vfs_open(T.store, VOL, &T.opts, &T.vfs);
}

/* Closes the volume (its result is returned) and the store, frees test memory. */
static int env_close(void)
{
	int r = vfs_close(T.vfs);

	T.vfs = NULL;
	store_close(T.store);
	T.store = NULL;
	data_preload_hook = NULL;   /* a case that failed may have left it set */
	for (size_t i = 0; i < T.nmem; i++)
		free(T.mem[i]);
	T.nmem = 0;
	return r;
}

/* Zeroed memory freed by env_close(). */
static void *tmem(size_t size)
{
	void *p = calloc(1, size);

	if (!p || T.nmem == sizeof(T.mem) / sizeof(T.mem[0])) {
		fprintf(stderr, "out of test memory\n");
		exit(99);
	}
	T.mem[T.nmem++] = p;
	return p;
}

#define RUN_CASE(fn) do { RUN(fn); env_close(); } while (0)

/* ---- helpers: each returns 0 or a negative errno (or 1: wrong bytes) ------ */

static int stats(struct volume_stats *st)
{
	struct idx_txn *txn;
	struct idx_volume vol;
	int r = idx_txn_begin(T.store->idx, IDX_TXN_RDONLY, &txn);

	if (r < 0)
		return r;
	r = idx_volume_get(txn, VOL, &vol);
	if (r == 0)
		r = volume_stats(txn, &vol, st);
	idx_txn_abort(txn);
	return r;
}

/* Makes an inode and drops the kernel reference at once (as after eviction). */
static int mk(uint64_t dir, const char *name, mode_t mode, uint64_t *ret_ino)
{
	struct stat st;
	int r = S_ISDIR(mode) ? vfs_mkdir(T.vfs, &ctx, dir, name, mode & 07777, &st)
			      : vfs_mknod(T.vfs, &ctx, dir, name, mode, 0, &st);

	if (r < 0)
		return r;
	vfs_forget(T.vfs, (uint64_t)st.st_ino, 1);
	if (ret_ino)
		*ret_ino = (uint64_t)st.st_ino;
	return 0;
}

static int ino_of(uint64_t dir, const char *name, uint64_t *ret_ino)
{
	struct stat st;
	int r = vfs_lookup(T.vfs, dir, name, &st);

	if (r < 0)
		return r;
	vfs_forget(T.vfs, (uint64_t)st.st_ino, 1);
	*ret_ino = (uint64_t)st.st_ino;
	return 0;
}

static int nlink_of(uint64_t ino)
{
	struct stat st;
	int r = vfs_getattr(T.vfs, ino, &st);

	return r < 0 ? r : (int)st.st_nlink;
}

static long long size_of(uint64_t ino)
{
	struct stat st;
	int r = vfs_getattr(T.vfs, ino, &st);

	return r < 0 ? r : (long long)st.st_size;
}

static long long blocks_of(uint64_t ino)
{
	struct stat st;
	int r = vfs_getattr(T.vfs, ino, &st);

	return r < 0 ? r : (long long)st.st_blocks;
}

/* The byte at file offset @off of pattern @seed: differs by offset and seed. */
static uint8_t pat(uint64_t off, unsigned seed)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull + (seed + 1) * 0xD1B54A32D192ED03ull;

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> 40);
}

static void fill_pat(uint8_t *buf, size_t n, uint64_t off, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(off + i, seed);
}

/* Writes @n bytes of pattern @seed at @off, into the file and into @model if given. */
static int write_pat(uint64_t ino, uint64_t off, size_t n, unsigned seed, uint8_t *model)
{
	uint8_t *buf = malloc(n);
	ssize_t w;

	if (!buf)
		return -ENOMEM;
	fill_pat(buf, n, off, seed);
	if (model)
		memcpy(model + off, buf, n);
	w = vfs_write(T.vfs, ino, buf, n, (off_t)off);
	free(buf);
	return w < 0 ? (int)w : (size_t)w == n ? 0 : -EIO;
}

/* Reads [off, off+n) and compares it with @want (NULL: zeros).  1: a difference. */
static int read_cmp(uint64_t ino, uint64_t off, size_t n, const uint8_t *want, unsigned seed,
		    bool use_pat)
{
	uint8_t *buf = malloc(n + 1);
	int r = 0;
	ssize_t got;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0xA5, n + 1);
	got = vfs_read(T.vfs, ino, buf, n, (off_t)off, true);
	if (got < 0) {
		r = (int)got;
		goto out;
	}
	if ((size_t)got != n) {
		fprintf(stderr, "    read at %llu: %zd bytes, want %zu\n", (unsigned long long)off,
			got, n);
		r = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t w = use_pat ? pat(off + i, seed) : want ? want[i] : 0;
		if (buf[i] != w) {
			fprintf(stderr, "    ino %llu offset %llu: byte 0x%02x, want 0x%02x\n",
				(unsigned long long)ino, (unsigned long long)(off + i), buf[i], w);
			r = 1;
			break;
		}
	}
out:
	free(buf);
	return r;
}

static int read_equals(uint64_t ino, uint64_t off, size_t n, const uint8_t *want)
{
	return read_cmp(ino, off, n, want, 0, false);
}

static int read_pat(uint64_t ino, uint64_t off, size_t n, unsigned seed)
{
	return read_cmp(ino, off, n, NULL, seed, true);
}

static int read_zeros(uint64_t ino, uint64_t off, size_t n)
{
	return read_cmp(ino, off, n, NULL, 0, false);
}

/* The chunk files of the store: count_chunks() counts them, keeps the first 64 paths. */
static char chunk_paths[64][PATH_MAX];
static int nchunk_paths;

static int collect_chunk(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)ftw;
	if (type == FTW_F) {
		if (nchunk_paths < 64)
			snprintf(chunk_paths[nchunk_paths], PATH_MAX, "%s", path);
		nchunk_paths++;
	}
	return 0;
}

static int count_chunks(void)
{
	char dir[PATH_MAX + 16];

	if (T.store)   /* the files of chunks dead at the batch's start go first, as gc would */
		chunk_gc_wait(T.store->chunks);
	snprintf(dir, sizeof(dir), "%s/chunks", T.path);
	nchunk_paths = 0;
	if (nftw(dir, collect_chunk, 16, FTW_PHYS) < 0)
		return -errno;
	return nchunk_paths;
}

/* A system call's result as 0 or -errno. */
static int sys(int r)
{
	return r < 0 ? -errno : r;
}

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* Sets @ino's atime, mtime and ctime to a day in 1970, so that any change shows. */
static int age(uint64_t ino)
{
	struct stat st = { 0 }, out;

	st.st_atim.tv_sec = st.st_mtim.tv_sec = st.st_ctim.tv_sec = 86400;
	return vfs_setattr(T.vfs, ino, &st, VFS_SET_ATIME | VFS_SET_MTIME | VFS_SET_CTIME, &out);
}

static bool aged(const struct timespec *t)
{
	return t->tv_sec == 86400 && t->tv_nsec == 0;
}

/* ---- 1. names ------------------------------------------------------------- */

static void test_names(void)
{
	struct stat st;
	uint64_t d, sub, f, c, s, h;
	char longname[257];

	CHECK_OK(env_setup("names", 4096));
	CHECK_EQ(nlink_of(ROOT), 2);

	/* mkdir: mode after umask, nlink 2, the parent gains a link and new times */
	CHECK_OK(age(ROOT));
	CHECK_OK(vfs_mkdir(T.vfs, &ctx, ROOT, "d", 0777, &st));
	d = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, d, 1);
	CHECK_EQ(st.st_mode, S_IFDIR | 0755);
	CHECK_EQ(st.st_nlink, 2);
	CHECK_OK(vfs_getattr(T.vfs, ROOT, &st));
	CHECK_EQ(st.st_nlink, 3);
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));
	CHECK_EQ(vfs_mkdir(T.vfs, &ctx, ROOT, "d", 0755, &st), -EEXIST);
	CHECK_EQ(vfs_mknod(T.vfs, &ctx, ROOT, "d", S_IFREG | 0644, 0, &st), -EEXIST);
	CHECK_EQ(vfs_mkdir(T.vfs, &ctx, 9999, "x", 0755, &st), -ENOENT);

	/* mknod: a regular file, a fifo; a directory is not mknod's */
	CHECK_OK(vfs_mknod(T.vfs, &ctx, ROOT, "f", S_IFREG | 0666, 0, &st));
	f = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, f, 1);
	CHECK_EQ(st.st_mode, S_IFREG | 0644);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_EQ(st.st_size, 0);
	CHECK_OK(mk(ROOT, "fifo", S_IFIFO | 0600, NULL));
	CHECK_EQ(vfs_mknod(T.vfs, &ctx, ROOT, "dd", S_IFDIR | 0755, 0, &st), -EPERM);
	CHECK_EQ(nlink_of(ROOT), 3);   /* files add no links to the parent */

	/* a file is no directory */
	CHECK_EQ(vfs_mkdir(T.vfs, &ctx, f, "x", 0755, &st), -ENOTDIR);
	CHECK_EQ(vfs_lookup(T.vfs, f, "x", &st), -ENOTDIR);
	CHECK_EQ(vfs_lookup(T.vfs, ROOT, "nothing", &st), -ENOENT);

	/* create: O_EXCL refuses an existing name; without it, opens that file */
	CHECK_OK(vfs_create(T.vfs, &ctx, ROOT, "c", 0640, O_CREAT | O_EXCL | O_RDWR, &st));
	c = (uint64_t)st.st_ino;
	CHECK_EQ(st.st_mode, S_IFREG | 0640);
	CHECK_OK(vfs_release(T.vfs, c));
	vfs_forget(T.vfs, c, 1);
	CHECK_EQ(vfs_create(T.vfs, &ctx, ROOT, "c", 0644, O_CREAT | O_EXCL | O_RDWR, &st), -EEXIST);
	CHECK_OK(vfs_create(T.vfs, &ctx, ROOT, "c", 0644, O_CREAT | O_RDWR, &st));
	CHECK_EQ(st.st_ino, c);
	CHECK_OK(vfs_release(T.vfs, c));
	vfs_forget(T.vfs, c, 1);

	/* symlink: 0777 whatever the umask, the target comes back */
	CHECK_OK(vfs_symlink(T.vfs, &ctx, ROOT, "s", "some/where/else", &st));
	s = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, s, 1);
	CHECK_EQ(st.st_mode, S_IFLNK | 0777);
	CHECK_EQ(st.st_size, strlen("some/where/else"));
	{
		char buf[64];
		ssize_t n = vfs_readlink(T.vfs, s, buf, sizeof(buf));
		CHECK_EQ(n, strlen("some/where/else"));
		CHECK(memcmp(buf, "some/where/else", (size_t)n) == 0);
		CHECK_EQ(vfs_readlink(T.vfs, f, buf, sizeof(buf)), -EINVAL);
	}
	CHECK_EQ(vfs_symlink(T.vfs, &ctx, ROOT, "s", "x", &st), -EEXIST);

	/* link: both names one inode, nlink 2; never to a directory */
	CHECK_OK(age(ROOT));
	CHECK_OK(vfs_link(T.vfs, f, ROOT, "f2", &st));
	vfs_forget(T.vfs, f, 1);
	CHECK_EQ(st.st_ino, f);
	CHECK_EQ(st.st_nlink, 2);
	CHECK_EQ(nlink_of(f), 2);
	CHECK_OK(vfs_getattr(T.vfs, ROOT, &st));
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));
	CHECK_EQ(vfs_link(T.vfs, d, ROOT, "dlink", &st), -EPERM);
	CHECK_EQ(vfs_link(T.vfs, f, ROOT, "c", &st), -EEXIST);
	CHECK_EQ(vfs_link(T.vfs, f, f, "x", &st), -ENOTDIR);
	CHECK_EQ(nlink_of(f), 2);

	/* unlink */
	CHECK_OK(age(ROOT));
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "f"));
	CHECK_OK(vfs_getattr(T.vfs, ROOT, &st));
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));
	CHECK_EQ(vfs_lookup(T.vfs, ROOT, "f", &st), -ENOENT);
	CHECK_EQ(nlink_of(f), 1);
	CHECK_EQ(vfs_unlink(T.vfs, ROOT, "f"), -ENOENT);
	CHECK_EQ(vfs_unlink(T.vfs, ROOT, "d"), -EISDIR);
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "s"));
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "fifo"));

	/* directories count their subdirectories */
	CHECK_OK(vfs_mkdir(T.vfs, &ctx, d, "sub", 0700, &st));
	sub = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, sub, 1);
	CHECK_OK(mk(d, "file", S_IFREG | 0644, NULL));
	CHECK_EQ(nlink_of(d), 3);
	CHECK_OK(ino_of(sub, "..", &h));
	CHECK_EQ(h, d);
	CHECK_OK(ino_of(ROOT, "..", &h));
	CHECK_EQ(h, ROOT);
	CHECK_OK(ino_of(d, ".", &h));
	CHECK_EQ(h, d);

	/* rmdir */
	CHECK_EQ(vfs_rmdir(T.vfs, ROOT, "f2"), -ENOTDIR);
	CHECK_EQ(vfs_rmdir(T.vfs, ROOT, "d"), -ENOTEMPTY);
	CHECK_EQ(vfs_rmdir(T.vfs, ROOT, "nothing"), -ENOENT);
	CHECK_EQ(vfs_rmdir(T.vfs, d, "."), -EINVAL);
	CHECK_OK(vfs_rmdir(T.vfs, d, "sub"));
	CHECK_EQ(nlink_of(d), 2);
	CHECK_EQ(vfs_getattr(T.vfs, sub, &st), -ENOENT);   /* no reference held: freed */
	CHECK_OK(vfs_unlink(T.vfs, d, "file"));
	CHECK_EQ(nlink_of(ROOT), 3);
	CHECK_OK(age(ROOT));
	CHECK_OK(vfs_rmdir(T.vfs, ROOT, "d"));
	CHECK_EQ(nlink_of(ROOT), 2);
	CHECK_OK(vfs_getattr(T.vfs, ROOT, &st));
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));

	/* names: 255 bytes are fine, 256 are too long everywhere */
	memset(longname, 'n', 255);
	longname[255] = 0;
	CHECK_OK(mk(ROOT, longname, S_IFREG | 0644, NULL));
	CHECK_OK(vfs_lookup(T.vfs, ROOT, longname, &st));
	vfs_forget(T.vfs, (uint64_t)st.st_ino, 1);
	longname[255] = 'n';
	longname[256] = 0;
	CHECK_EQ(vfs_mkdir(T.vfs, &ctx, ROOT, longname, 0755, &st), -ENAMETOOLONG);
	CHECK_EQ(vfs_mknod(T.vfs, &ctx, ROOT, longname, S_IFREG | 0644, 0, &st), -ENAMETOOLONG);
	CHECK_EQ(vfs_create(T.vfs, &ctx, ROOT, longname, 0644, O_CREAT | O_RDWR, &st),
		 -ENAMETOOLONG);
	CHECK_EQ(vfs_symlink(T.vfs, &ctx, ROOT, longname, "t", &st), -ENAMETOOLONG);
	CHECK_EQ(vfs_link(T.vfs, c, ROOT, longname, &st), -ENAMETOOLONG);
	CHECK_EQ(vfs_lookup(T.vfs, ROOT, longname, &st), -ENAMETOOLONG);
	CHECK_EQ(vfs_unlink(T.vfs, ROOT, longname), -ENAMETOOLONG);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "c", ROOT, longname, 0), -ENAMETOOLONG);
	CHECK_EQ(nlink_of(c), 1);

	/* all of it persists */
	CHECK_OK(env_reopen(false));
	CHECK_OK(ino_of(ROOT, "f2", &h));
	CHECK_EQ(h, f);
	CHECK_EQ(nlink_of(f), 1);
	CHECK_EQ(nlink_of(ROOT), 2);
	CHECK_EQ(vfs_lookup(T.vfs, ROOT, "d", &st), -ENOENT);
	CHECK_OK(env_close());
}

/* ---- 2. rename -------------------------------------------------------------- */

static void test_rename(void)
{
	struct stat st;
	uint64_t a, b, e1, d1, d2, p, q, p1, p2, f, sd, x, h;

	CHECK_OK(env_setup("rename", 4096));
	CHECK_OK(mk(ROOT, "a", S_IFREG | 0644, &a));
	CHECK_OK(write_pat(a, 0, 5000, 1, NULL));
	CHECK_OK(vfs_mknod(T.vfs, &ctx, ROOT, "b", S_IFREG | 0644, 0, &st));
	b = (uint64_t)st.st_ino;   /* the kernel keeps its reference to b */
	CHECK_OK(mk(ROOT, "d1", S_IFDIR | 0755, &d1));
	CHECK_OK(mk(ROOT, "e1", S_IFDIR | 0755, &e1));
	CHECK_OK(mk(ROOT, "d2", S_IFDIR | 0755, &d2));
	CHECK_OK(mk(d2, "x", S_IFREG | 0644, &x));
	CHECK_EQ(nlink_of(ROOT), 5);

	/* a file over a file: the name now reaches a; b lives on while referenced */
	CHECK_OK(age(ROOT));
	CHECK_OK(vfs_rename(T.vfs, ROOT, "a", ROOT, "b", 0));
	CHECK_OK(ino_of(ROOT, "b", &h));
	CHECK_EQ(h, a);
	CHECK_EQ(vfs_lookup(T.vfs, ROOT, "a", &st), -ENOENT);
	CHECK_OK(read_pat(a, 0, 5000, 1));
	CHECK_EQ(nlink_of(b), 0);
	vfs_forget(T.vfs, b, 1);
	CHECK_EQ(vfs_getattr(T.vfs, b, &st), -ENOENT);
	CHECK_OK(vfs_getattr(T.vfs, ROOT, &st));
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));

	/* a directory over an empty directory: the parent loses a link */
	CHECK_OK(vfs_rename(T.vfs, ROOT, "d1", ROOT, "e1", 0));
	CHECK_OK(ino_of(ROOT, "e1", &h));
	CHECK_EQ(h, d1);
	CHECK_EQ(vfs_getattr(T.vfs, e1, &st), -ENOENT);
	CHECK_EQ(nlink_of(ROOT), 4);

	/* refusals: nothing changes */
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "e1", ROOT, "d2", 0), -ENOTEMPTY);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "b", ROOT, "e1", 0), -EISDIR);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "e1", ROOT, "b", 0), -ENOTDIR);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "nothing", ROOT, "z", 0), -ENOENT);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "b", d2, "x", VFS_RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "b", ROOT, "zz", VFS_RENAME_EXCHANGE), -ENOENT);
	CHECK_OK(ino_of(ROOT, "b", &h));
	CHECK_EQ(h, a);
	CHECK_OK(ino_of(d2, "x", &h));
	CHECK_EQ(h, x);
	CHECK_EQ(nlink_of(ROOT), 4);

	/* NOREPLACE to a free name is a plain rename */
	CHECK_OK(vfs_rename(T.vfs, ROOT, "b", d2, "y", VFS_RENAME_NOREPLACE));
	CHECK_OK(ino_of(d2, "y", &h));
	CHECK_EQ(h, a);

	/* two names of one file: nothing happens */
	CHECK_OK(vfs_link(T.vfs, a, d2, "y2", &st));
	vfs_forget(T.vfs, a, 1);
	CHECK_OK(vfs_rename(T.vfs, d2, "y", d2, "y2", 0));
	CHECK_OK(ino_of(d2, "y", &h));
	CHECK_OK(ino_of(d2, "y2", &h));
	CHECK_EQ(nlink_of(a), 2);

	/* a directory never moves below itself */
	CHECK_OK(mk(ROOT, "p", S_IFDIR | 0755, &p));
	CHECK_OK(mk(p, "q", S_IFDIR | 0755, &q));
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "p", q, "p", 0), -EINVAL);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "p", p, "p", 0), -EINVAL);
	CHECK_OK(ino_of(q, "..", &h));
	CHECK_EQ(h, p);

	/* a directory moving between parents: links and ".." follow */
	CHECK_EQ(nlink_of(ROOT), 5);
	CHECK_OK(vfs_rename(T.vfs, p, "q", ROOT, "q", 0));
	CHECK_EQ(nlink_of(p), 2);
	CHECK_EQ(nlink_of(ROOT), 6);
	CHECK_OK(ino_of(q, "..", &h));
	CHECK_EQ(h, ROOT);

	/* exchange a file in p1 with a directory in p2 */
	CHECK_OK(mk(ROOT, "p1", S_IFDIR | 0755, &p1));
	CHECK_OK(mk(ROOT, "p2", S_IFDIR | 0755, &p2));
	CHECK_OK(mk(p1, "f", S_IFREG | 0644, &f));
	CHECK_OK(mk(p2, "sd", S_IFDIR | 0755, &sd));
	CHECK_OK(mk(sd, "inside", S_IFREG | 0644, NULL));
	CHECK_EQ(nlink_of(p1), 2);
	CHECK_EQ(nlink_of(p2), 3);
	CHECK_OK(age(p1));
	CHECK_OK(age(p2));
	CHECK_OK(vfs_rename(T.vfs, p1, "f", p2, "sd", VFS_RENAME_EXCHANGE));
	CHECK_EQ(nlink_of(p1), 3);
	CHECK_EQ(nlink_of(p2), 2);
	CHECK_OK(ino_of(p1, "f", &h));
	CHECK_EQ(h, sd);
	CHECK_OK(ino_of(p2, "sd", &h));
	CHECK_EQ(h, f);
	CHECK_OK(ino_of(sd, "..", &h));
	CHECK_EQ(h, p1);
	CHECK_OK(ino_of(sd, "inside", &h));
	CHECK_OK(vfs_getattr(T.vfs, p1, &st));
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));
	CHECK_OK(vfs_getattr(T.vfs, p2, &st));
	CHECK(!aged(&st.st_mtim) && !aged(&st.st_ctim));
	/* and never a directory below itself by exchange either */
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "p1", p1, "f", VFS_RENAME_EXCHANGE), -EINVAL);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "b", ROOT, "c", VFS_RENAME_EXCHANGE |
			    VFS_RENAME_NOREPLACE), -EINVAL);

	/* it all persists */
	CHECK_OK(env_reopen(false));
	CHECK_EQ(nlink_of(p1), 3);
	CHECK_EQ(nlink_of(p2), 2);
	CHECK_EQ(nlink_of(ROOT), 8);
	CHECK_OK(ino_of(sd, "..", &h));
	CHECK_EQ(h, p1);
	CHECK_OK(read_pat(a, 0, 5000, 1));
	CHECK_OK(env_close());
}

/* ---- 3. data round trips ------------------------------------------------------ */

static void data_roundtrip(const char *dir, uint32_t bs)
{
	const uint64_t far = (5ull << 32) + bs - 10;   /* past 4 GiB, across a block end */
	size_t msize = 4 * (size_t)bs + 1000;
	uint8_t *model = tmem(msize);
	uint64_t ino, big;
	uint64_t size;

	CHECK_OK(env_setup(dir, bs));
	CHECK_EQ(vfs_block_size(T.vfs), bs);
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &ino));

	/* unaligned, across a block end */
	CHECK_OK(write_pat(ino, bs - 100, 300, 1, model));
	/* sparse: block 2 stays a hole */
	CHECK_OK(write_pat(ino, 3 * (uint64_t)bs + 17, 500, 2, model));
	size = 3 * (uint64_t)bs + 517;
	CHECK_EQ(size_of(ino), size);
	CHECK_OK(read_equals(ino, 0, size, model));
	/* a whole block over a buffered part of it, then a partial overwrite of that */
	CHECK_OK(write_pat(ino, 0, bs, 3, model));
	CHECK_OK(write_pat(ino, bs - 50, 100, 4, model));
	/* more than one block, unaligned at both ends */
	CHECK_OK(write_pat(ino, bs / 2 + 3, bs + 7, 5, model));
	CHECK_EQ(size_of(ino), size);
	CHECK_OK(read_equals(ino, 0, size, model));
	CHECK_OK(read_equals(ino, bs - 7, 16, model + bs - 7));
	CHECK_OK(read_zeros(ino, 2 * (uint64_t)bs + bs / 2 + 100, 100));
	{
		/* reads stop at the end of the file */
		uint8_t buf[64];
		CHECK_EQ(vfs_read(T.vfs, ino, buf, sizeof(buf), (off_t)size - 10, true), 10);
		CHECK_EQ(vfs_read(T.vfs, ino, buf, sizeof(buf), (off_t)size, true), 0);
		CHECK_EQ(vfs_read(T.vfs, ino, buf, sizeof(buf), (off_t)size + 5000, true), 0);
	}
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(read_equals(ino, 0, size, model));

	/* past 4 GiB: the hole before it reads as zeros */
	CHECK_OK(mk(ROOT, "big", S_IFREG | 0644, &big));
	CHECK_OK(write_pat(big, far, 1000, 6, NULL));
	CHECK_OK(write_pat(big, 10, 20, 7, NULL));
	CHECK_EQ(size_of(big), far + 1000);
	CHECK_OK(read_pat(big, far, 1000, 6));
	CHECK_OK(read_pat(big, 10, 20, 7));
	CHECK_OK(read_zeros(big, 4ull << 30, 4096));
	CHECK_OK(read_zeros(big, far - 4096, 4096));
	CHECK_OK(write_pat(ino, far, 1000, 6, NULL));
	CHECK_OK(read_pat(ino, far, 1000, 6));
	CHECK_OK(vfs_sync(T.vfs));

	/* truncate down into a stored block, then up: the cut part is zeros */
	struct stat st = { 0 }, out;
	st.st_size = bs + 200;
	CHECK_OK(vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out));
	CHECK_EQ(out.st_size, bs + 200);
	memset(model + bs + 200, 0, msize - bs - 200);
	CHECK_OK(read_equals(ino, 0, bs + 200, model));
	st.st_size = 2 * (off_t)bs;
	CHECK_OK(vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out));
	CHECK_OK(read_equals(ino, 0, 2 * (size_t)bs, model));

	/* the same with the block buffered */
	CHECK_OK(write_pat(ino, bs + 100, 300, 8, model));
	st.st_size = bs + 150;
	CHECK_OK(vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out));
	memset(model + bs + 150, 0, msize - bs - 150);
	st.st_size = 3 * (off_t)bs;
	CHECK_OK(vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out));
	CHECK_OK(read_equals(ino, 0, 3 * (size_t)bs, model));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(read_equals(ino, 0, 3 * (size_t)bs, model));

	/* persistence */
	CHECK_OK(env_reopen(false));
	CHECK_EQ(size_of(ino), 3 * (uint64_t)bs);
	CHECK_OK(read_equals(ino, 0, 3 * (size_t)bs, model));
	CHECK_EQ(size_of(big), far + 1000);
	CHECK_OK(read_pat(big, far, 1000, 6));
	CHECK_OK(read_pat(big, 10, 20, 7));
	CHECK_OK(read_zeros(big, 4ull << 30, 4096));
	CHECK_OK(env_close());
}

static void test_data_4k(void)
{
	data_roundtrip("data4k", 4096);
}

static void test_data_128k(void)
{
	data_roundtrip("data128k", 131072);
}

/* ---- 4. the dirty limit --------------------------------------------------------- */

static void test_dirty_limit(void)
{
	const unsigned n = 1000;
	uint64_t ino;

	CHECK_OK(env_setup("dirty", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &ino));
	for (unsigned i = 0; i < n; i++) {
		/* 2 KiB, alternately the first and the second half of block i */
		CHECK_OK(write_pat(ino, (uint64_t)i * 4096 + (i % 2) * 2048, 2048, 1, NULL));
		/* invariant 5: the limit plus one write at most */
		CHECK(T.vfs->dirty_bytes <= T.opts.dirty_limit + 4096);
		/* reaching it writes back a step, not every buffer */
		CHECK(i < 300 || T.vfs->dirty_bytes >= T.opts.dirty_limit / 2);
	}
	CHECK_EQ(size_of(ino), (uint64_t)(n - 1) * 4096 + 4096);
	for (unsigned i = 0; i < n; i++) {
		uint64_t at = (uint64_t)i * 4096 + (i % 2) * 2048;
		CHECK_OK(read_pat(ino, at, 2048, 1));
		CHECK_OK(read_zeros(ino, (uint64_t)i * 4096 + (1 - i % 2) * 2048, 2048));
	}
	CHECK_OK(env_reopen(false));
	for (unsigned i = 0; i < n; i += 7)
		CHECK_OK(read_pat(ino, (uint64_t)i * 4096 + (i % 2) * 2048, 2048, 1));
	CHECK_OK(env_close());
}

/* ---- 5. inline data and chunks, st_blocks ------------------------------------------ */

static void inline_then_grow(const char *dir, uint32_t bs)
{
	uint64_t small, empty, holes, zeros;
	struct stat st = { 0 }, out;

	CHECK_OK(env_setup(dir, bs));
	CHECK_OK(mk(ROOT, "small", S_IFREG | 0644, &small));
	CHECK_OK(write_pat(small, 0, 100, 1, NULL));
	CHECK_OK(read_pat(small, 0, 100, 1));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_EQ(count_chunks(), 0);    /* 100 bytes live in the index */
	CHECK_EQ(blocks_of(small), 1);
	CHECK_OK(read_pat(small, 0, 100, 1));

	/* grown to 1 MiB by one write from where it ends */
	CHECK_OK(write_pat(small, 100, 1 * MiB - 100, 1, NULL));
	CHECK_OK(read_pat(small, 0, 1 * MiB, 1));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK(count_chunks() >= (int)(1 * MiB / bs));
	CHECK_EQ(blocks_of(small), 1 * MiB / 512);
	CHECK_OK(read_pat(small, 0, 1 * MiB, 1));
	CHECK_OK(env_reopen(false));
	CHECK_OK(read_pat(small, 0, 1 * MiB, 1));

	/* no data, no blocks: empty, all holes, all zeros written */
	CHECK_OK(mk(ROOT, "empty", S_IFREG | 0644, &empty));
	CHECK_EQ(blocks_of(empty), 0);
	CHECK_OK(mk(ROOT, "holes", S_IFREG | 0644, &holes));
	st.st_size = 10 * MiB;
	CHECK_OK(vfs_setattr(T.vfs, holes, &st, VFS_SET_SIZE, &out));
	CHECK_EQ(blocks_of(holes), 0);
	CHECK_OK(read_zeros(holes, 5 * MiB - 10, 100));
	CHECK_OK(mk(ROOT, "zeros", S_IFREG | 0644, &zeros));
	{
		uint8_t *z = tmem(2 * (size_t)bs + 10);
		CHECK_EQ(vfs_write(T.vfs, zeros, z, 2 * (size_t)bs + 10, 0), 2 * (size_t)bs + 10);
	}
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_EQ(blocks_of(zeros), 0);
	CHECK_EQ(size_of(zeros), 2 * (uint64_t)bs + 10);
	CHECK_OK(env_close());
}

static void test_inline_4k(void)
{
	inline_then_grow("inline4k", 4096);
}

static void test_inline_128k(void)
{
	inline_then_grow("inline128k", 131072);
}

/* Data just written, still buffered, already counts in st_blocks (as delalloc does). */
static void test_blocks_of_buffered_data(void)
{
	uint64_t ino;

	CHECK_OK(env_setup("blocks", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &ino));
	CHECK_OK(write_pat(ino, 0, 100, 1, NULL));
	CHECK_EQ(size_of(ino), 100);
	CHECK(blocks_of(ino) > 0);
	CHECK_OK(env_close());
}

/* Is one of this process's threads named @name (as ps -T and top -H show)? */
static bool thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d))) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f))
			found = strncmp(comm, name, strlen(name)) == 0 && comm[strlen(name)] == '\n';
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* Each background thread of a volume has a name of its own. */
static void test_thread_names(void)
{
	const char *names[] = { "volfs-txn", "volfs-flusher", "volfs-cleaner", "volfs-emptier",
				"volfs-gc" };

	CHECK_OK(env_setup("thread-names", 4096));
	CHECK_OK(vfs_start_threads(T.vfs));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(thread_named(names[i]));
	CHECK(!thread_named("volfs-none"));
	CHECK_OK(env_close());
}

/* ---- 6. unlinked but open --------------------------------------------------------------- */

static void test_unlinked_open(void)
{
	struct volume_stats vs;
	struct stat st;
	uint64_t keep, u, v;
	uint64_t files0;

	CHECK_OK(env_setup("orphan", 4096));
	CHECK_OK(mk(ROOT, "keep", S_IFREG | 0644, &keep));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(stats(&vs));
	files0 = vs.files;
	CHECK_EQ(files0, 1);

	CHECK_OK(vfs_create(T.vfs, &ctx, ROOT, "u", 0644, O_CREAT | O_EXCL | O_RDWR, &st));
	u = (uint64_t)st.st_ino;
	CHECK_OK(write_pat(u, 0, 10000, 1, NULL));
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "u"));
	CHECK_EQ(vfs_lookup(T.vfs, ROOT, "u", &st), -ENOENT);
	CHECK_EQ(nlink_of(u), 0);
	CHECK_OK(read_pat(u, 0, 10000, 1));
	CHECK_OK(write_pat(u, 10000, 5000, 1, NULL));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(read_pat(u, 0, 15000, 1));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, files0 + 1);   /* kept while held */

	CHECK_OK(vfs_release(T.vfs, u));
	CHECK_EQ(size_of(u), 15000);       /* the lookup reference still holds it */
	vfs_forget(T.vfs, u, 1);
	CHECK_EQ(vfs_getattr(T.vfs, u, &st), -ENOENT);
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, files0);
	CHECK_EQ(vs.blocks, 0);

	/* the kernel dies: no release, no forget; the close lets go */
	CHECK_OK(vfs_create(T.vfs, &ctx, ROOT, "v", 0644, O_CREAT | O_EXCL | O_RDWR, &st));
	v = (uint64_t)st.st_ino;
	CHECK_OK(write_pat(v, 0, 10000, 2, NULL));
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "v"));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, files0 + 1);
	CHECK_OK(env_reopen(false));
	CHECK_EQ(vfs_getattr(T.vfs, v, &st), -ENOENT);
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, files0);
	CHECK_EQ(vs.blocks, 0);
	CHECK_OK(env_close());
}

/* An open, unlinked file given a name again (linkat of an O_TMPFILE) is no orphan. */
static void test_relink_orphan(void)
{
	struct volume_stats vs;
	struct stat st;
	uint64_t u, h;

	CHECK_OK(env_setup("relink", 4096));
	CHECK_OK(vfs_create(T.vfs, &ctx, ROOT, "u", 0644, O_CREAT | O_EXCL | O_RDWR, &st));
	u = (uint64_t)st.st_ino;
	CHECK_OK(write_pat(u, 0, 10000, 1, NULL));
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "u"));
	CHECK_EQ(nlink_of(u), 0);
	CHECK_OK(vfs_link(T.vfs, u, ROOT, "back", &st));
	CHECK_EQ(st.st_nlink, 1);
	CHECK_OK(vfs_release(T.vfs, u));
	vfs_forget(T.vfs, u, 2);
	CHECK_OK(env_reopen(false));
	CHECK_OK(ino_of(ROOT, "back", &h));
	CHECK_EQ(h, u);
	CHECK_EQ(nlink_of(u), 1);
	CHECK_OK(read_pat(u, 0, 10000, 1));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, 1);
	CHECK_OK(env_close());
}

/* The daemon itself dies with an orphan committed: the next open reclaims it. */
static void test_orphan_after_crash(void)
{
	struct volume_stats vs;
	struct stat st;
	pid_t pid;
	int status;

	CHECK_OK(env_setup("crash", 4096));
	CHECK_OK(mk(ROOT, "keep", S_IFREG | 0644, NULL));
	CHECK_OK(env_close());

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* the child: its own store and volume, then death without a close */
		struct store *s;
		struct vfs *v;
		if (store_open(T.path, 0, &s) < 0 || vfs_open(s, VOL, &T.opts, &v) < 0 ||
		    vfs_create(v, &ctx, ROOT, "w", 0644, O_CREAT | O_EXCL | O_RDWR, &st) < 0)
			_exit(2);
		uint8_t buf[10000];
		fill_pat(buf, sizeof(buf), 0, 3);
		if (vfs_write(v, (uint64_t)st.st_ino, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
		    vfs_unlink(v, ROOT, "w") < 0 || vfs_sync(v) < 0)
			_exit(3);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, 2);             /* the orphan is in the index */
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.files, 1);
	CHECK_EQ(vs.blocks, 0);
	CHECK_OK(env_close());
}

/* ---- 6b. the journal: fsync'd partial writes after a crash ------------------------- */

struct pwrite_step {
	uint64_t off;
	size_t n;
	unsigned seed;
};

/* Small writes over a 64 KiB file of 16 KiB blocks: inside blocks 0 and 1, and one past the end. */
static const struct pwrite_step journaled_writes[] = {
	{ 5000, 100, 2 }, { 20000, 8192, 3 }, { 65536 + 100, 50, 4 }, { 5050, 10, 5 },
};
#define JOURNAL_FILE_SIZE (65536 + 150)

static int journal_count_fn(const struct idx_journal_rec *rec, void *arg)
{
	(*(uint64_t *)arg)++;
	return 0;
}

/* Journal records of the volume's live tree. */
static int journal_records(uint64_t *ret)
{
	struct idx_txn *txn;
	struct idx_volume vol;
	/* an open volume's batch holds what its fsyncs logged but did not commit */
	int r = T.vfs ? vfs_read_txn(T.vfs, &txn) : idx_txn_begin(T.store->idx, IDX_TXN_RDONLY, &txn);

	*ret = 0;
	if (r < 0)
		return r;
	r = idx_volume_get(txn, VOL, &vol);
	if (r == 0)
		r = idx_journal_foreach(txn, vol.tree, journal_count_fn, ret);
	if (T.vfs)
		vfs_read_done(T.vfs, txn);
	else
		idx_txn_abort(txn);
	return r;
}

/* In a child: opens the volume, runs @fn on it, and dies without closing (a crash). */
static int crash_after(int (*fn)(uint64_t ino), uint64_t ino)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (store_open(T.path, STORE_RECYCLE, &T.store) < 0 || vfs_open(T.store, VOL, &T.opts, &T.vfs) < 0)
			_exit(2);
		int r = fn(ino);
		if (r)
			fprintf(stderr, "%s: the child before the crash failed: %d\n", test_case, r);
		_exit(r == 0 ? 0 : 3);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ECHILD;
	/*
	 * What the child's fsync made durable may be only in the write-ahead
	 * log: a store opened before the crash sees it once it catches up, as
	 * a store opened after it does at once.
	 */
	return T.store ? idx_env_catch_up(T.store->idx) : 0;
}

static int write_journaled_then_fsync(uint64_t ino)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(journaled_writes) / sizeof(journaled_writes[0]) && !r; i++)
		r = write_pat(ino, journaled_writes[i].off, journaled_writes[i].n,
			      journaled_writes[i].seed, NULL);
	if (r == 0)
		r = vfs_fsync(T.vfs, ino, false);
	/* not fsync'd: may be lost, must not hurt what was */
	if (r == 0)
		r = write_pat(ino, 40000, 10, 6, NULL);
	return r;
}

static int journal_then_cut_and_regrow(uint64_t ino)
{
	struct stat st = { 0 }, out;
	int r = write_pat(ino, 33000, 1000, 7, NULL);   /* block 2 */

	if (r == 0)
		r = vfs_fsync(T.vfs, ino, false);         /* journaled */
	st.st_size = 33100;
	if (r == 0)
		r = vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out);
	st.st_size = JOURNAL_FILE_SIZE;
	if (r == 0)
		r = vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out);
	if (r == 0)
		r = vfs_fsync(T.vfs, ino, false);
	return r;
}

/* A volume in @dir with one file of @size pattern bytes (seed 1), committed; closed again. */
static int one_committed_file(const char *dir, size_t size, uint8_t *model, uint64_t *ret_ino)
{
	int r = env_setup(dir, 16 * KiB);

	if (r == 0)
		r = mk(ROOT, "f", S_IFREG | 0644, ret_ino);
	if (r == 0)
		r = write_pat(*ret_ino, 0, size, 1, model);
	if (r == 0)
		r = vfs_sync(T.vfs);
	int r2 = env_close();
	return r ? r : r2;
}

/*
 * An fsync puts small writes into the journal, not into chunk files; after a
 * crash a read-only view already shows them, and the next read-write open
 * replays them into blocks and empties the journal.
 */
static void test_journal_after_crash(void)
{
	static uint8_t model[JOURNAL_FILE_SIZE];
	uint64_t ino, records;
	int chunks;

	CHECK_OK(one_committed_file("journal", 65536, model, &ino));
	for (size_t i = 0; i < sizeof(journaled_writes) / sizeof(journaled_writes[0]); i++)
		fill_pat(model + journaled_writes[i].off, journaled_writes[i].n,
			 journaled_writes[i].off, journaled_writes[i].seed);

	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	chunks = count_chunks();
	CHECK_OK(crash_after(write_journaled_then_fsync, ino));
	CHECK_EQ(count_chunks(), chunks);          /* the fsync wrote no chunk file */
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 3);                      /* blocks 0, 1 and 4; block 0's two writes in one */

	/* a read-only view lays the journal over the blocks */
	T.opts.rdonly = true;
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_EQ(size_of(ino), JOURNAL_FILE_SIZE);
	CHECK_OK(read_equals(ino, 0, 40000, model));
	CHECK_OK(read_equals(ino, 40010, JOURNAL_FILE_SIZE - 40010, model + 40010));
	CHECK_OK(vfs_close(T.vfs));

	/* a read-write open replays it */
	T.opts.rdonly = false;
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 0);
	CHECK_OK(read_equals(ino, 0, 40000, model));
	CHECK_OK(read_equals(ino, 40010, JOURNAL_FILE_SIZE - 40010, model + 40010));
	CHECK_OK(env_reopen(false));
	CHECK_OK(read_equals(ino, 0, 40000, model));
	CHECK_OK(read_equals(ino, 40010, JOURNAL_FILE_SIZE - 40010, model + 40010));
	CHECK_OK(vfs_close(T.vfs));
	T.vfs = NULL;

	/* cut through a journaled block and grow again: the cut bytes stay zeros */
	CHECK_OK(crash_after(journal_then_cut_and_regrow, ino));
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_EQ(size_of(ino), JOURNAL_FILE_SIZE);
	CHECK_OK(read_pat(ino, 33000, 100, 7));
	CHECK_OK(read_zeros(ino, 33100, 49152 - 33100));
	CHECK_OK(env_close());
}

static int journal_into_hole(uint64_t ino)
{
	int r = write_pat(ino, 2 * 16384 + 100, 100, 8, NULL);   /* block 2, a hole */
	return r ? r : vfs_fsync(T.vfs, ino, false);
}

/* SEEK_DATA / SEEK_HOLE of @ino: data in blocks 0, 2 and 5 of 16 KiB, holes between. */
static void check_seek_around_block_2(uint64_t ino)
{
	off_t pos;
	CHECK_OK(vfs_lseek(T.vfs, ino, 0, SEEK_HOLE, &pos));
	CHECK_EQ(pos, 16384);
	CHECK_OK(vfs_lseek(T.vfs, ino, 16384, SEEK_DATA, &pos));
	CHECK_EQ(pos, 2 * 16384);
	CHECK_OK(vfs_lseek(T.vfs, ino, 2 * 16384 + 50, SEEK_HOLE, &pos));
	CHECK_EQ(pos, 3 * 16384);
	CHECK_OK(vfs_lseek(T.vfs, ino, 3 * 16384, SEEK_DATA, &pos));
	CHECK_EQ(pos, 5 * 16384);
}

/*
 * Blocks that hold data only in the journal (a read-write daemon fsync'd a
 * small write into a hole, then crashed or still runs) are data to
 * SEEK_DATA and SEEK_HOLE, in a read-only view as after replay.
 */
static void test_journal_seek(void)
{
	uint64_t ino, records;

	CHECK_OK(env_setup("journal-seek", 16 * KiB));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &ino));
	CHECK_OK(write_pat(ino, 0, 16384, 1, NULL));
	CHECK_OK(write_pat(ino, 5 * 16384, 16384, 1, NULL));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(vfs_close(T.vfs));
	T.vfs = NULL;

	CHECK_OK(crash_after(journal_into_hole, ino));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 1);   /* block 2 has no extent: its bytes are in the journal only */

	T.opts.rdonly = true;
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	check_seek_around_block_2(ino);
	CHECK_OK(read_pat(ino, 2 * 16384 + 100, 100, 8));
	CHECK_OK(vfs_close(T.vfs));

	T.opts.rdonly = false;
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));   /* replays into block 2 */
	check_seek_around_block_2(ino);
	CHECK_OK(env_close());
}

/*
 * Tools that change an unmounted volume after a crash: a snapshot takes the
 * journal's writes in (it replays them first); a rollback drops them with
 * everything else newer than its snapshot.
 */
static void test_journal_offline_tools(void)
{
	static uint8_t model[JOURNAL_FILE_SIZE];
	uint64_t ino, records;

	CHECK_OK(env_setup("journal-tools", 16 * KiB));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &ino));
	CHECK_OK(write_pat(ino, 0, 65536, 1, model));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(vfs_close(T.vfs));
	T.vfs = NULL;
	CHECK_OK(snapshot_create(T.store, VOL, "before"));
	for (size_t i = 0; i < sizeof(journaled_writes) / sizeof(journaled_writes[0]); i++)
		fill_pat(model + journaled_writes[i].off, journaled_writes[i].n,
			 journaled_writes[i].off, journaled_writes[i].seed);

	CHECK_OK(crash_after(write_journaled_then_fsync, ino));
	CHECK_OK(journal_records(&records));
	CHECK(records > 0);
	CHECK_OK(snapshot_create(T.store, VOL, "after"));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 0);
	T.opts.rdonly = true;
	CHECK_OK(vfs_open(T.store, VOL "@after", &T.opts, &T.vfs));
	CHECK_OK(read_equals(ino, 0, 40000, model));
	CHECK_OK(vfs_close(T.vfs));
	T.vfs = NULL;
	T.opts.rdonly = false;

	CHECK_OK(crash_after(write_journaled_then_fsync, ino));
	CHECK_OK(journal_records(&records));
	CHECK(records > 0);
	CHECK_OK(snapshot_rollback(T.store, VOL, "before", true));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 0);
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_EQ(size_of(ino), 65536);
	CHECK_OK(read_pat(ino, 0, 65536, 1));
	CHECK_OK(env_close());
}

/* Journal records go with the bytes they hold: at truncation and when the file is freed. */
static void test_journal_dropped(void)
{
	struct stat st = { 0 }, out;
	uint64_t a, b, records;

	CHECK_OK(env_setup("journal-drop", 16 * KiB));
	CHECK_OK(mk(ROOT, "a", S_IFREG | 0644, &a));
	CHECK_OK(mk(ROOT, "b", S_IFREG | 0644, &b));
	CHECK_OK(write_pat(a, 0, 65536, 1, NULL));
	CHECK_OK(write_pat(b, 0, 65536, 1, NULL));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(write_pat(a, 40000, 100, 2, NULL));   /* block 2 */
	CHECK_OK(write_pat(b, 100, 100, 2, NULL));     /* block 0 */
	CHECK_OK(vfs_fsync(T.vfs, a, false));
	CHECK_OK(vfs_fsync(T.vfs, b, false));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 2);

	st.st_size = 20000;                            /* a's block 2 goes */
	CHECK_OK(vfs_setattr(T.vfs, a, &st, VFS_SET_SIZE, &out));
	CHECK_OK(vfs_open_file(T.vfs, b, O_RDWR));
	CHECK_OK(vfs_unlink(T.vfs, ROOT, "b"));         /* open: an orphan */
	CHECK_OK(vfs_release(T.vfs, b));               /* the last close frees it */
	CHECK_OK(vfs_fsync(T.vfs, a, false));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 0);
	CHECK_OK(read_pat(a, 0, 20000, 1));
	CHECK_OK(env_close());
}

/* test_journal_trimmed: seeded small writes inside a file of 48 blocks of 16 KiB, fsync'd in rounds. */
#define TRIM_BLOCKS 48
#define TRIM_ROUNDS 600
#define TRIM_WRITES 8

static void trim_write(unsigned *seed, uint64_t *off, size_t *n)
{
	*n = 256 + (size_t)(rand_r(seed) % 768);
	*off = (uint64_t)rand_r(seed) % (TRIM_BLOCKS * 16 * KiB - *n);
}

static int trim_rounds(uint64_t ino)
{
	unsigned seed = 7;
	uint64_t high = T.opts.dirty_limit / 4 * 3;
	bool reached = false;

	for (unsigned round = 1; round <= TRIM_ROUNDS; round++) {
		for (unsigned w = 0; w < TRIM_WRITES; w++) {
			uint64_t off;
			size_t n;
			trim_write(&seed, &off, &n);
			int r = write_pat(ino, off, n, round, NULL);
			if (r)
				return r;
		}
		int r = vfs_fsync(T.vfs, ino, false);
		if (r)
			return r;
		struct vnode *vn = vnode_find(T.vfs, ino);
		/* invariant 7's bound; at the high-water mark a step goes, not every buffer */
		if (T.vfs->journal_bytes > T.opts.dirty_limit)
			return 10;
		reached |= T.vfs->journal_bytes + T.opts.dirty_limit / 32 >= high;
		if (reached && (!vn || vn->nwb < TRIM_BLOCKS / 2))
			return 11;
	}
	return reached ? 0 : 12;
}

/*
 * Small fsync'd writes fill the journal to its high-water mark; from there
 * each fsync that finds it there writes back a few buffers, the most
 * journaled ones, and the rest stay.  After a crash every fsync'd write is
 * there.
 */
static void test_journal_trimmed(void)
{
	static uint8_t model[TRIM_BLOCKS * 16 * KiB];
	unsigned seed = 7;
	uint64_t ino, records;

	CHECK_OK(one_committed_file("journal-trim", sizeof(model), model, &ino));
	for (unsigned round = 1; round <= TRIM_ROUNDS; round++)
		for (unsigned w = 0; w < TRIM_WRITES; w++) {
			uint64_t off;
			size_t n;
			trim_write(&seed, &off, &n);
			fill_pat(model + off, n, off, round);
		}

	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(crash_after(trim_rounds, ino));
	CHECK_OK(journal_records(&records));
	CHECK(records > 0);
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));   /* replays */
	CHECK_OK(read_equals(ino, 0, sizeof(model), model));
	CHECK_OK(env_close());
}

#define CLEAN_BLOCKS 48
#define CLEAN_FILE (CLEAN_BLOCKS * 16 * KiB)
#define CLEAN_MAX_ROUNDS 200        /* of 8 writes and an fsync: about 1,500,000 bytes */

/*
 * Write @i of the cleaner case: 1000 bytes, each block once in every
 * CLEAN_BLOCKS writes, so that no buffer's journal comes near its bound.
 */
static void clean_write(unsigned i, uint64_t *off, size_t *n)
{
	uint64_t block = (i * 7919u) % CLEAN_BLOCKS;
	*n = 1000;
	*off = block * 16 * KiB + (i * 104729u) % (16 * KiB - *n);
}

/* What the child of the cleaner case did, for the parent's model: in shared memory. */
struct clean_report {
	unsigned rounds;             /* of clean_write()s and an fsync */
	uint64_t block;              /* written to while the cleaner wrote its copy */
};
static struct clean_report *clean_report;

static struct wblock *buffer_of(uint64_t ino, uint64_t block)
{
	struct vnode *vn = vnode_find(T.vfs, ino);
	for (size_t i = 0; vn && i < vn->nwb; i++)
		if (vn->wb[i].block == block)
			return &vn->wb[i];
	return NULL;
}

/*
 * Rounds of fsync'd clean_write()s until the journal passes the cleaner's
 * mark (3/4 of the 1 MiB dirty limit, less two 32 KiB steps), below
 * fsync's own; *ret_rounds: how many (it depends on how often a block meets
 * its journal bound).  A round journals less than a step, so fsync never
 * trims.  0, an error, or a failed check's code.
 */
static int journal_to_cleaner_mark(uint64_t ino, unsigned *ret_rounds)
{
	const uint64_t step = T.opts.dirty_limit / 32, high = T.opts.dirty_limit / 4 * 3;
	unsigned i = 0, round;
	for (round = 0; T.vfs->journal_bytes < high - 2 * step; round++) {
		if (round == CLEAN_MAX_ROUNDS)
			return 18;
		for (unsigned k = 0; k < 8; k++, i++) {
			uint64_t off;
			size_t n;
			clean_write(i, &off, &n);
			int r = write_pat(ino, off, n, i + 2, NULL);
			if (r)
				return r;
		}
		int r = vfs_fsync(T.vfs, ino, false);
		if (r)
			return r;
	}
	*ret_rounds = round;
	return T.vfs->journal_bytes < high ? 0 : 19;
}

/*
 * In a child: the journal up to the cleaner's mark, then the cleaner's
 * steps, with a write to one of the buffers whose bytes it borrowed while
 * their chunks are written; then an fsync, and a crash.  The rounds and
 * which block was written go to clean_report.
 */
static int clean_then_crash(uint64_t ino)
{
	int r = journal_to_cleaner_mark(ino, &clean_report->rounds);
	if (r)
		return r;
	uint64_t journal = T.vfs->journal_bytes;
	struct vnode *vn = vnode_find(T.vfs, ino);
	size_t buffers = vn ? vn->nwb : 0;
	int chunks = count_chunks();

	pthread_mutex_lock(&T.vfs->lock);
	struct clean_work *w = data_clean_pick(T.vfs);
	pthread_mutex_unlock(&T.vfs->lock);
	if (!w || w->n < 2)
		return 20;            /* a step of journal is more than one buffer's */
	data_clean_write(T.vfs, w);
	/* one of the buffers lent changes: what it lent is stale, and stays as it was */
	const struct clean_item *lent = &w->item[w->n / 2];
	uint64_t hot = lent->block;
	clean_report->block = hot;
	uint8_t before[16 * KiB];
	memcpy(before, lent->data, lent->len);
	r = write_pat(ino, hot * 16 * KiB + 10, 20, 99, NULL);
	if (r)
		return r;
	if (memcmp(before, lent->data, lent->len) != 0)
		return 25;            /* the write changed bytes the cleaner borrowed */
	pthread_mutex_lock(&T.vfs->lock);
	int cleaned = data_clean_install(T.vfs, w);
	struct wblock *wb = buffer_of(ino, hot);
	bool hot_kept = wb && wb->journaled && wb->dirty_hi > wb->dirty_lo;
	uint64_t journal_after = T.vfs->journal_bytes;
	size_t buffers_after = vn->nwb, still_lent = 0;
	for (size_t i = 0; i < vn->nwb; i++)
		still_lent += vn->wb[i].lent;
	pthread_mutex_unlock(&T.vfs->lock);
	if (still_lent)
		return 26;            /* the pass's end gives every buffer its bytes back */
	if (cleaned <= 0)
		return cleaned < 0 ? cleaned : 21;
	if (!hot_kept || journal_after >= journal)
		return 22;            /* the stale copy was not stored; the others' records went */
	if (buffers_after != buffers)
		return 23;            /* cleaned buffers stay, for the next write */
	if (count_chunks() != chunks + cleaned)
		return 24;            /* one new chunk per cleaned buffer; the stale one's went */
	return vfs_fsync(T.vfs, ino, false);
}

/*
 * The cleaner (vfs_internal.h invariant 8) writes journaled buffers back
 * without the volume lock, a step before fsync would; a buffer written to
 * meanwhile keeps its journal and its change.  After a crash every fsync'd
 * write is there.
 */
static void test_cleaner(void)
{
	static uint8_t model[CLEAN_FILE];
	uint64_t ino;

	CHECK_OK(one_committed_file("cleaner", CLEAN_FILE, model, &ino));
	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	/* the crashing child reports into a shared page, unmapped before any check */
	clean_report = mmap(NULL, sizeof(*clean_report), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(clean_report != MAP_FAILED);
	int r = crash_after(clean_then_crash, ino);
	struct clean_report got = *clean_report;
	munmap(clean_report, sizeof(*clean_report));
	clean_report = NULL;
	CHECK_OK(r);
	CHECK(got.rounds > 0 && got.block < CLEAN_BLOCKS);
	for (unsigned i = 0; i < got.rounds * 8; i++) {
		uint64_t off;
		size_t n;
		clean_write(i, &off, &n);
		fill_pat(model + off, n, off, i + 2);
	}
	uint64_t hot = got.block * 16 * KiB + 10;
	fill_pat(model + hot, 20, hot, 99);
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));   /* replays */
	CHECK_OK(read_equals(ino, 0, CLEAN_FILE, model));
	CHECK_OK(env_close());
}

/*
 * Buffers whose bytes the cleaner borrowed are cut, then dropped during its
 * pass (truncations), and one block is written anew: nothing the pass wrote is
 * stored, its chunk files go, and the borrowed bytes are freed once, at
 * the pass's end (the sanitizers would see a double free or a leak).
 */
static void test_cleaner_dropped(void)
{
	static uint8_t model[CLEAN_FILE];
	struct stat st = { .st_size = 0 }, out;
	uint64_t ino;
	unsigned rounds;

	CHECK_OK(one_committed_file("cleaner-dropped", CLEAN_FILE, NULL, &ino));
	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_OK(journal_to_cleaner_mark(ino, &rounds));

	pthread_mutex_lock(&T.vfs->lock);
	struct clean_work *w = data_clean_pick(T.vfs);
	pthread_mutex_unlock(&T.vfs->lock);
	CHECK(w && w->n >= 2);
	uint64_t again = w ? w->item[0].block : 0;
	if (w && w->n >= 2) {
		/* first a cut inside a lent buffer: it goes to a copy of the buffer's own */
		const struct clean_item *cut = &w->item[1];
		static uint8_t before[16 * KiB];
		struct stat mid = { .st_size = (off_t)(cut->block * 16 * KiB + 100) };
		memcpy(before, cut->data, cut->len);
		CHECK_OK(vfs_setattr(T.vfs, ino, &mid, VFS_SET_SIZE, &out));
		CHECK(memcmp(before, cut->data, cut->len) == 0);
	}
	CHECK_OK(vfs_setattr(T.vfs, ino, &st, VFS_SET_SIZE, &out));
	CHECK_OK(write_pat(ino, again * 16 * KiB + 100, 50, 42, model));
	int chunks = count_chunks();   /* the cut block's chunk is in: from here, the pass's */
	if (w) {
		data_clean_write(T.vfs, w);
		pthread_mutex_lock(&T.vfs->lock);
		int cleaned = data_clean_install(T.vfs, w);
		struct wblock *wb = buffer_of(ino, again);
		bool own = wb && !wb->lent;
		pthread_mutex_unlock(&T.vfs->lock);
		CHECK(cleaned == 0);
		CHECK(own);
	}
	CHECK(count_chunks() == chunks);
	CHECK_OK(read_equals(ino, 0, again * 16 * KiB + 150, model));
	CHECK_OK(env_close());
}

static unsigned preload_hook_calls, preload_hook_read;

static int hidden_chunks;

/* Renames every chunk file to NAME~ (@hide), or back: a load from them fails meanwhile. */
static int hide_chunks(bool hide)
{
	char hidden[PATH_MAX + 1];
	for (int i = 0; i < hidden_chunks; i++) {
		snprintf(hidden, sizeof(hidden), "%s~", chunk_paths[i]);
		if (hide ? rename(chunk_paths[i], hidden) : rename(hidden, chunk_paths[i]))
			return -errno;
	}
	return 0;
}

/*
 * The first time, block 1 is written whole meanwhile, with pattern 50; the
 * second time, the chunk files are hidden, so that only what was read
 * before can serve the write.
 */
static void overwrite_block_1(struct vfs *vfs, uint64_t ino, unsigned nread)
{
	static uint8_t block[16 * KiB];
	preload_hook_read += nread;
	if (preload_hook_calls++) {
		int n = count_chunks();
		CHECK(n > 0 && n <= 64);   /* chunk_paths[] holds 64 */
		hidden_chunks = n;
		CHECK_OK(hide_chunks(true));
		return;
	}
	fill_pat(block, sizeof(block), 16 * KiB, 50);
	CHECK(vfs_write(vfs, ino, block, sizeof(block), 16 * KiB) == (ssize_t)sizeof(block));
}

/*
 * A write to part of a block not buffered reads the block without the
 * lock first; if the block changed meanwhile, what it read is not used.
 */
static void test_preload_stale(void)
{
	static uint8_t model[4 * 16 * KiB];
	uint64_t ino;

	CHECK_OK(one_committed_file("preload", sizeof(model), model, &ino));
	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	fill_pat(model + 16 * KiB, 16 * KiB, 16 * KiB, 50);
	data_preload_hook = overwrite_block_1;
	CHECK_OK(write_pat(ino, 16 * KiB + 100, 200, 60, model));
	CHECK(preload_hook_calls == 1 && preload_hook_read == 1);
	/* and one over two blocks that did not change: what it read serves them */
	int r = write_pat(ino, 2 * 16 * KiB + 16 * KiB - 300, 600, 61, model);
	data_preload_hook = NULL;
	CHECK_OK(hide_chunks(false));
	CHECK_OK(r);
	CHECK(preload_hook_calls == 2 && preload_hook_read == 3);
	CHECK_OK(read_equals(ino, 0, sizeof(model), model));
	CHECK_OK(env_reopen(false));
	CHECK_OK(read_equals(ino, 0, sizeof(model), model));
	CHECK_OK(env_close());
}

/* Four small writes, not fsync'd, then the flusher's commit interval; dies unclosed. */
static int small_writes_then_interval(uint64_t ino)
{
	int chunks = count_chunks();
	uint64_t records = 0;

	for (unsigned i = 0; i < 4; i++) {
		int r = write_pat(ino, i * 16 * KiB + 1000, 500, 9, NULL);
		if (r)
			return r;
	}
	int r = vfs_start_threads(T.vfs);
	for (int tries = 0; r == 0 && records < 4 && tries < 100; tries++) {
		usleep(50 * 1000);
		r = journal_records(&records);
	}
	if (r || records != 4)
		return r ? r : 20;
	pthread_mutex_lock(&T.vfs->lock);
	struct vnode *vn = vnode_find(T.vfs, ino);
	size_t nwb = vn ? vn->nwb : 0;
	pthread_mutex_unlock(&T.vfs->lock);
	/* journaled, not written back: the buffers stay, no chunk file was written */
	return nwb == 4 && count_chunks() == chunks ? 0 : 21;
}

/* The commit interval makes buffered changes durable by journaling them. */
static void test_journal_interval(void)
{
	uint64_t ino;

	CHECK_OK(one_committed_file("journal-interval", 65536, NULL, &ino));
	T.opts.commit_interval_ms = 100;
	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(crash_after(small_writes_then_interval, ino));
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	for (unsigned i = 0; i < 4; i++) {
		CHECK_OK(read_pat(ino, i * 16 * KiB, 1000, 1));
		CHECK_OK(read_pat(ino, i * 16 * KiB + 1000, 500, 9));
	}
	CHECK_OK(env_close());
}

/*
 * The write-ahead log is used round and round: with a 256 KiB log, 300
 * fsyncs of small writes pass its end several times.  Journaled blocks are
 * written back before the log comes round to their records' bytes, and
 * after a crash what the records left read back right.
 */
#define WRAP_FILE_SIZE (512 * KiB)
#define WRAP_LOG_SIZE (256 * KiB)
#define WRAP_FSYNCS 300

/* The @i-th write of the sequence: where and how long. */
static void wrap_write(unsigned i, uint64_t *ret_off, size_t *ret_n)
{
	uint32_t x = i * 2654435761u;
	*ret_n = 1 + x % 3000;
	*ret_off = (x >> 8) % (WRAP_FILE_SIZE - 3000);
}

static int wrap_writes_then_crash(uint64_t ino)
{
	int r = 0;
	for (unsigned i = 0; i < WRAP_FSYNCS && !r; i++) {
		uint64_t off;
		size_t n;
		wrap_write(i, &off, &n);
		r = write_pat(ino, off, n, i + 2, NULL);
		if (r == 0)
			r = vfs_fsync(T.vfs, ino, false);
	}
	return r;   /* then the child exits without closing: a crash */
}

static int set_log_size(struct idx_txn *txn, void *arg)
{
	return idx_log_set_size(txn, *(const uint64_t *)arg);
}

static void test_log_wraps(void)
{
	static uint8_t model[WRAP_FILE_SIZE];
	uint64_t ino, size = WRAP_LOG_SIZE;
	struct stat st;
	char wal[PATH_MAX + 16];

	CHECK_OK(one_committed_file("log-wraps", WRAP_FILE_SIZE, model, &ino));
	for (unsigned i = 0; i < WRAP_FSYNCS; i++) {
		uint64_t off;
		size_t n;
		wrap_write(i, &off, &n);
		fill_pat(model + off, n, off, i + 2);
	}
	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(idx_update(T.store->idx, set_log_size, &size));
	CHECK_OK(crash_after(wrap_writes_then_crash, ino));
	snprintf(wal, sizeof(wal), "%s/index/wal", T.path);
	CHECK_OK(stat(wal, &st) < 0 ? -errno : 0);
	CHECK(st.st_size <= WRAP_LOG_SIZE);   /* round and round, never past its size */
	T.opts.rdonly = true;                 /* a read-only view reads records from the log */
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_OK(read_equals(ino, 0, WRAP_FILE_SIZE, model));
	CHECK_OK(vfs_close(T.vfs));
	T.opts.rdonly = false;                /* the replay lays them over their blocks */
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_OK(read_equals(ino, 0, WRAP_FILE_SIZE, model));
	CHECK_OK(env_close());
}

/*
 * Makes every descriptor of this process that names the store's write-ahead
 * log write to @dev instead (/dev/full: every write fails with ENOSPC, as on
 * a full disk).  A forked child holds its parent's as well as its own.
 */
static int redirect_log(const char *dev)
{
	char want[PATH_MAX + 16];
	int fds[16];

	snprintf(want, sizeof(want), "%s/index/wal", T.path);
	int n = test_fds_open_on(want, fds, 16);
	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	for (int i = 0; i < n; i++) {
		int to = open(dev, O_RDWR | O_CLOEXEC);   /* reads give zeros: no frame */
		int r = to < 0 || dup2(to, fds[i]) < 0 ? -errno : 0;
		if (to >= 0)
			close(to);
		if (r < 0)
			return r;
	}
	return 0;
}

static int log_refuses_then_fsync(uint64_t ino)
{
	int r = redirect_log("/dev/full");
	return r ? r : write_journaled_then_fsync(ino);
}

/*
 * When the write-ahead log cannot be written (a full disk), fsync commits
 * the batch instead, the journaled blocks written back (their records' bytes
 * never reached the log): it still succeeds, and what it covered survives a
 * crash.
 */
static void test_log_refused(void)
{
	static uint8_t model[JOURNAL_FILE_SIZE];
	uint64_t ino, records;

	CHECK_OK(one_committed_file("log-refused", 65536, model, &ino));
	for (size_t i = 0; i < sizeof(journaled_writes) / sizeof(journaled_writes[0]); i++)
		fill_pat(model + journaled_writes[i].off, journaled_writes[i].n,
			 journaled_writes[i].off, journaled_writes[i].seed);
	CHECK_OK(store_open(T.path, STORE_RECYCLE, &T.store));
	CHECK_OK(crash_after(log_refuses_then_fsync, ino));
	CHECK_OK(journal_records(&records));
	CHECK_EQ(records, 0);   /* written back and committed */
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_EQ(size_of(ino), JOURNAL_FILE_SIZE);
	CHECK_OK(read_equals(ino, 0, 40000, model));
	CHECK_OK(read_equals(ino, 40010, JOURNAL_FILE_SIZE - 40010, model + 40010));
	CHECK_OK(env_close());
}

/* ---- 7. xattrs ----------------------------------------------------------------------------- */

/* Is @name in the listxattr result @list of @len bytes? */
static bool listed(const char *list, ssize_t len, const char *name)
{
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
		if (!strcmp(list + i, name))
			return true;
	return false;
}

static void test_xattrs(void)
{
	const struct vfs_ctx user = { .uid = 1000, .gid = 1000, .umask = 022 };
	char buf[256], list[256];
	ssize_t n;
	uint64_t f, d;

	CHECK_OK(env_setup("xattr", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));

	CHECK_OK(vfs_setxattr(T.vfs, f, "user.a", "1", 1, 0));
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", NULL, 0), 1);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", buf, sizeof(buf)), 1);
	CHECK(buf[0] == '1');
	CHECK_EQ(vfs_setxattr(T.vfs, f, "user.a", "2", 1, XATTR_CREATE), -EEXIST);
	CHECK_EQ(vfs_setxattr(T.vfs, f, "user.b", "2", 1, XATTR_REPLACE), -ENODATA);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.b", buf, sizeof(buf)), -ENODATA);
	CHECK_OK(vfs_setxattr(T.vfs, f, "user.a", "a longer value", 14, XATTR_REPLACE));
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", NULL, 0), 14);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", buf, 4), -ERANGE);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", buf, 14), 14);
	CHECK(memcmp(buf, "a longer value", 14) == 0);
	CHECK_OK(vfs_setxattr(T.vfs, f, "user.empty", "", 0, XATTR_CREATE));
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.empty", buf, sizeof(buf)), 0);
	CHECK_OK(vfs_setxattr(T.vfs, f, "trusted.t", "tt", 2, 0));
	CHECK_OK(vfs_setxattr(T.vfs, f, "security.s", "ss", 2, 0));
	CHECK_OK(vfs_setxattr(T.vfs, d, "user.ondir", "x", 1, 0));

	/* namespaces: only user., trusted., security. and the two ACLs */
	CHECK_EQ(vfs_setxattr(T.vfs, f, "foo.bar", "x", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(vfs_setxattr(T.vfs, f, "system.foo", "x", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(vfs_setxattr(T.vfs, f, "userx", "x", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "foo.bar", buf, sizeof(buf)), -EOPNOTSUPP);
	CHECK_EQ(vfs_removexattr(T.vfs, f, "foo.bar"), -EOPNOTSUPP);
	CHECK_EQ(vfs_setxattr(T.vfs, f, "user.", "x", 1, 0), -EINVAL);
	CHECK_EQ(vfs_setxattr(T.vfs, f, "trusted.", "x", 1, 0), -EINVAL);
	CHECK_EQ(vfs_setxattr(T.vfs, f, ACL_XATTR_ACCESS, "junk", 4, 0), -EINVAL);
	CHECK_EQ(vfs_getxattr(T.vfs, f, ACL_XATTR_ACCESS, buf, sizeof(buf)), -ENODATA);

	/* list: every name for root; trusted.* hidden from others */
	n = vfs_listxattr(T.vfs, &ctx, f, NULL, 0);
	CHECK_EQ(n, sizeof("user.a") + sizeof("user.empty") + sizeof("trusted.t") +
		 sizeof("security.s"));
	CHECK_EQ(vfs_listxattr(T.vfs, &ctx, f, list, (size_t)n - 1), -ERANGE);
	CHECK_EQ(vfs_listxattr(T.vfs, &ctx, f, list, sizeof(list)), n);
	CHECK(listed(list, n, "user.a") && listed(list, n, "user.empty") &&
	      listed(list, n, "trusted.t") && listed(list, n, "security.s"));
	n = vfs_listxattr(T.vfs, &user, f, list, sizeof(list));
	CHECK_EQ(n, sizeof("user.a") + sizeof("user.empty") + sizeof("security.s"));
	CHECK(!listed(list, n, "trusted.t"));
	CHECK_EQ(vfs_listxattr(T.vfs, &user, f, NULL, 0), n);
	n = vfs_listxattr(T.vfs, &ctx, d, list, sizeof(list));
	CHECK_EQ(n, sizeof("user.ondir"));

	/* remove */
	CHECK_OK(vfs_removexattr(T.vfs, f, "user.a"));
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(vfs_removexattr(T.vfs, f, "user.a"), -ENODATA);
	CHECK_OK(vfs_setxattr(T.vfs, f, "user.a", "again", 5, XATTR_CREATE));

	/* persistence */
	CHECK_OK(env_reopen(false));
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "again", 5) == 0);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "trusted.t", buf, sizeof(buf)), 2);
	n = vfs_listxattr(T.vfs, &ctx, f, list, sizeof(list));
	CHECK_EQ(n, sizeof("user.a") + sizeof("user.empty") + sizeof("trusted.t") +
		 sizeof("security.s"));
	CHECK_OK(env_close());
}

/* ---- 8. ACLs ---------------------------------------------------------------------------------- */

enum { A_USER_OBJ = 0x01, A_USER = 0x02, A_GROUP_OBJ = 0x04, A_GROUP = 0x08, A_MASK = 0x10,
       A_OTHER = 0x20 };
#define A_NOID 0xffffffffu

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

/* The xattr form of an ACL: le32 version 2, then (le16 tag, le16 perm, le32 id). */
static size_t acl_make(uint8_t *out, const struct acl_ent *e, size_t n)
{
	out[0] = 2;
	out[1] = out[2] = out[3] = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = out + 4 + 8 * i;
		p[0] = (uint8_t)e[i].tag;
		p[1] = (uint8_t)(e[i].tag >> 8);
		p[2] = (uint8_t)e[i].perm;
		p[3] = (uint8_t)(e[i].perm >> 8);
		for (int k = 0; k < 4; k++)
			p[4 + k] = (uint8_t)(e[i].id >> (8 * k));
	}
	return 4 + 8 * n;
}

/* The perm of the first entry tagged @tag in an ACL, or -1. */
static int acl_perm(const uint8_t *acl, size_t len, uint16_t tag)
{
	for (size_t at = 4; at + 8 <= len; at += 8)
		if ((uint16_t)(acl[at] | acl[at + 1] << 8) == tag)
			return acl[at + 2] | acl[at + 3] << 8;
	return -1;
}

static void test_acls(void)
{
	static const struct acl_ent minimal[] = {
		{ A_USER_OBJ, 6, A_NOID }, { A_GROUP_OBJ, 4, A_NOID }, { A_OTHER, 0, A_NOID },
	};
	static const struct acl_ent extended[] = {
		{ A_USER_OBJ, 6, A_NOID }, { A_USER, 7, 1000 }, { A_GROUP_OBJ, 4, A_NOID },
		{ A_MASK, 6, A_NOID }, { A_OTHER, 4, A_NOID },
	};
	static const struct acl_ent dflt[] = {
		{ A_USER_OBJ, 7, A_NOID }, { A_USER, 7, 1000 }, { A_GROUP_OBJ, 5, A_NOID },
		{ A_MASK, 7, A_NOID }, { A_OTHER, 5, A_NOID },
	};
	static const struct acl_ent dflt_minimal[] = {
		{ A_USER_OBJ, 7, A_NOID }, { A_GROUP_OBJ, 5, A_NOID }, { A_OTHER, 0, A_NOID },
	};
	uint8_t acl[128], got[128], def[128];
	size_t len, deflen;
	struct stat st, out;
	uint64_t f, g, d, nf, nd, d2, nf2;

	CHECK_OK(env_setup("acl", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(mk(ROOT, "g", S_IFREG | 0644, &g));

	/* a minimal ACL is only a mode */
	len = acl_make(acl, minimal, 3);
	CHECK_OK(acl_valid(acl, len));
	CHECK_OK(vfs_setxattr(T.vfs, f, ACL_XATTR_ACCESS, acl, len, 0));
	CHECK_OK(vfs_getattr(T.vfs, f, &st));
	CHECK_EQ(st.st_mode, S_IFREG | 0640);
	CHECK_EQ(vfs_getxattr(T.vfs, f, ACL_XATTR_ACCESS, got, sizeof(got)), -ENODATA);

	/* an extended one is kept, and the group bits show its mask */
	len = acl_make(acl, extended, 5);
	CHECK_OK(vfs_setxattr(T.vfs, g, ACL_XATTR_ACCESS, acl, len, 0));
	CHECK_OK(vfs_getattr(T.vfs, g, &st));
	CHECK_EQ(st.st_mode, S_IFREG | 0664);
	CHECK_EQ(vfs_getxattr(T.vfs, g, ACL_XATTR_ACCESS, got, sizeof(got)), len);
	CHECK(memcmp(got, acl, len) == 0);

	/* chmod rewrites owner, mask and other; the named user stays */
	st.st_mode = 0715;
	CHECK_OK(vfs_setattr(T.vfs, g, &st, VFS_SET_MODE, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0715);
	CHECK_EQ(vfs_getxattr(T.vfs, g, ACL_XATTR_ACCESS, got, sizeof(got)), len);
	CHECK_EQ(acl_perm(got, len, A_USER_OBJ), 7);
	CHECK_EQ(acl_perm(got, len, A_MASK), 1);
	CHECK_EQ(acl_perm(got, len, A_GROUP_OBJ), 4);
	CHECK_EQ(acl_perm(got, len, A_OTHER), 5);
	CHECK_EQ(acl_perm(got, len, A_USER), 7);

	/* a default ACL: only directories have one */
	deflen = acl_make(def, dflt, 5);
	CHECK_EQ(vfs_setxattr(T.vfs, f, ACL_XATTR_DEFAULT, def, deflen, 0), -EACCES);
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));
	CHECK_OK(vfs_setxattr(T.vfs, d, ACL_XATTR_DEFAULT, def, deflen, 0));
	CHECK_OK(vfs_getattr(T.vfs, d, &st));
	CHECK_EQ(st.st_mode, S_IFDIR | 0755);   /* a default ACL leaves the mode */

	/* a new file inherits it: the mode narrowed by it, no umask */
	CHECK_OK(vfs_mknod(T.vfs, &ctx, d, "nf", S_IFREG | 0666, 0, &st));
	nf = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, nf, 1);
	CHECK_EQ(st.st_mode, S_IFREG | 0664);
	len = (size_t)vfs_getxattr(T.vfs, nf, ACL_XATTR_ACCESS, got, sizeof(got));
	CHECK_EQ(len, deflen);
	CHECK_EQ(acl_perm(got, len, A_USER_OBJ), 6);
	CHECK_EQ(acl_perm(got, len, A_USER), 7);
	CHECK_EQ(acl_perm(got, len, A_GROUP_OBJ), 5);
	CHECK_EQ(acl_perm(got, len, A_MASK), 6);
	CHECK_EQ(acl_perm(got, len, A_OTHER), 4);
	CHECK_EQ(vfs_getxattr(T.vfs, nf, ACL_XATTR_DEFAULT, got, sizeof(got)), -ENODATA);

	/* a new directory: its access ACL, and the default ACL copied */
	CHECK_OK(vfs_mkdir(T.vfs, &ctx, d, "nd", 0777, &st));
	nd = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, nd, 1);
	CHECK_EQ(st.st_mode, S_IFDIR | 0775);
	CHECK_EQ(vfs_getxattr(T.vfs, nd, ACL_XATTR_DEFAULT, got, sizeof(got)), deflen);
	CHECK(memcmp(got, def, deflen) == 0);
	len = (size_t)vfs_getxattr(T.vfs, nd, ACL_XATTR_ACCESS, got, sizeof(got));
	CHECK_EQ(len, deflen);
	CHECK_EQ(acl_perm(got, len, A_MASK), 7);
	/* and passes it on */
	CHECK_OK(vfs_mknod(T.vfs, &ctx, nd, "deeper", S_IFREG | 0600, 0, &st));
	vfs_forget(T.vfs, (uint64_t)st.st_ino, 1);
	CHECK_EQ(st.st_mode, S_IFREG | 0600);
	CHECK_EQ(vfs_getxattr(T.vfs, (uint64_t)st.st_ino, ACL_XATTR_ACCESS, got, sizeof(got)),
		 deflen);

	/* a minimal default ACL: the mode only, still no umask */
	CHECK_OK(mk(ROOT, "d2", S_IFDIR | 0755, &d2));
	deflen = acl_make(def, dflt_minimal, 3);
	CHECK_OK(vfs_setxattr(T.vfs, d2, ACL_XATTR_DEFAULT, def, deflen, 0));
	CHECK_OK(vfs_mknod(T.vfs, &ctx, d2, "nf2", S_IFREG | 0666, 0, &st));
	nf2 = (uint64_t)st.st_ino;
	vfs_forget(T.vfs, nf2, 1);
	CHECK_EQ(st.st_mode, S_IFREG | 0640);
	CHECK_EQ(vfs_getxattr(T.vfs, nf2, ACL_XATTR_ACCESS, got, sizeof(got)), -ENODATA);

	/* without a default ACL the umask applies */
	CHECK_OK(vfs_mknod(T.vfs, &ctx, ROOT, "plain", S_IFREG | 0666, 0, &st));
	vfs_forget(T.vfs, (uint64_t)st.st_ino, 1);
	CHECK_EQ(st.st_mode, S_IFREG | 0644);

	/* removing the ACL leaves the mode */
	CHECK_OK(vfs_removexattr(T.vfs, g, ACL_XATTR_ACCESS));
	CHECK_EQ(vfs_getxattr(T.vfs, g, ACL_XATTR_ACCESS, got, sizeof(got)), -ENODATA);
	CHECK_OK(vfs_getattr(T.vfs, g, &st));
	CHECK_EQ(st.st_mode, S_IFREG | 0715);
	CHECK_OK(env_close());
}

/* chmod and truncate in one setattr: the ACL rewritten is the stored one. */
static void test_acl_chmod_with_truncate(void)
{
	static const struct acl_ent extended[] = {
		{ A_USER_OBJ, 6, A_NOID }, { A_USER, 7, 1000 }, { A_GROUP_OBJ, 4, A_NOID },
		{ A_MASK, 6, A_NOID }, { A_OTHER, 4, A_NOID },
	};
	uint8_t acl[128], got[128];
	size_t len = acl_make(acl, extended, 5);
	struct stat st = { 0 }, out;
	uint64_t f;

	CHECK_OK(env_setup("aclsize", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(vfs_setxattr(T.vfs, f, ACL_XATTR_ACCESS, acl, len, 0));
	CHECK_OK(write_pat(f, 0, 2 * MiB, 1, NULL));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(vfs_setxattr(T.vfs, f, "user.x", "y", 1, 0));   /* the batch holds the xattrs */
	st.st_mode = 0751;
	st.st_size = 0;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_MODE | VFS_SET_SIZE, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0751);
	CHECK_EQ(out.st_size, 0);
	CHECK_EQ(vfs_getxattr(T.vfs, f, ACL_XATTR_ACCESS, got, sizeof(got)), len);
	CHECK_EQ(acl_perm(got, len, A_USER_OBJ), 7);
	CHECK_EQ(acl_perm(got, len, A_USER), 7);
	CHECK_EQ(acl_perm(got, len, A_MASK), 5);
	CHECK_EQ(acl_perm(got, len, A_OTHER), 1);
	CHECK_OK(env_close());
}

/*
 * Many directories made under one default ACL in one batch: each gets an
 * exact copy, even when the puts that make a directory reorganise the index
 * page holding the parent's ACL (a smaller key on the page, inserted after
 * it, moves it when the page splits).
 */
static void test_default_acl_copies(void)
{
	struct acl_ent ents[44];
	uint8_t def[4 + 8 * 44], got[4 + 8 * 44], pad[300];
	size_t deflen, n = 0;
	uint64_t f, d;

	CHECK_OK(env_setup("aclcopy", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));   /* its xattrs sort before d's */
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));
	CHECK_OK(vfs_sync(T.vfs));
	ents[n++] = (struct acl_ent){ A_USER_OBJ, 7, A_NOID };
	for (uint32_t u = 0; u < 40; u++)
		ents[n++] = (struct acl_ent){ A_USER, (uint16_t)(u % 8), 1000 + u };
	ents[n++] = (struct acl_ent){ A_GROUP_OBJ, 5, A_NOID };
	ents[n++] = (struct acl_ent){ A_MASK, 7, A_NOID };
	ents[n++] = (struct acl_ent){ A_OTHER, 5, A_NOID };
	deflen = acl_make(def, ents, n);
	CHECK_OK(acl_valid(def, deflen));
	CHECK_OK(vfs_setxattr(T.vfs, d, ACL_XATTR_DEFAULT, def, deflen, 0));
	memset(pad, 'p', sizeof(pad));
	CHECK_OK(vfs_setxattr(T.vfs, f, "user.pad", pad, sizeof(pad), 0));
	for (int i = 0; i < 100; i++) {
		char name[16];
		struct stat st;
		snprintf(name, sizeof(name), "sub%d", i);
		CHECK_OK(vfs_mkdir(T.vfs, &ctx, d, name, 0777, &st));
		vfs_forget(T.vfs, (uint64_t)st.st_ino, 1);
		CHECK_EQ(vfs_getxattr(T.vfs, (uint64_t)st.st_ino, ACL_XATTR_DEFAULT, got, sizeof(got)),
			 deflen);
		if (memcmp(got, def, deflen))
			fprintf(stderr, "    %s: its default ACL differs from its parent's\n", name);
		CHECK(memcmp(got, def, deflen) == 0);
	}
	CHECK_OK(env_close());
}

/* ---- 9. fallocate, lseek ------------------------------------------------------------------------ */

static void test_fallocate(void)
{
	uint8_t *model = tmem(6 * 4096);
	uint64_t f, g;
	off_t pos;

	CHECK_OK(env_setup("falloc", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(vfs_fallocate(T.vfs, f, 0, 0, 10000));
	CHECK_EQ(size_of(f), 10000);
	CHECK_OK(read_zeros(f, 0, 10000));
	CHECK_OK(vfs_fallocate(T.vfs, f, FALLOC_FL_KEEP_SIZE, 0, 50000));
	CHECK_EQ(size_of(f), 10000);
	CHECK_OK(vfs_fallocate(T.vfs, f, 0, 4096, 100));   /* inside: no change */
	CHECK_EQ(size_of(f), 10000);
	CHECK_EQ(vfs_fallocate(T.vfs, f, FALLOC_FL_PUNCH_HOLE, 0, 100), -EOPNOTSUPP);
	CHECK_EQ(vfs_fallocate(T.vfs, f, 0, 0, 0), -EINVAL);
	CHECK_EQ(vfs_fallocate(T.vfs, ROOT, 0, 0, 4096), -EISDIR);

	/* punch across block ends, the blocks stored in chunks */
	CHECK_OK(write_pat(f, 0, 6 * 4096, 1, model));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_EQ(blocks_of(f), 6 * 8);
	CHECK_OK(vfs_fallocate(T.vfs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000,
			       2 * 4096 + 500));
	memset(model + 1000, 0, 2 * 4096 + 500);
	CHECK_EQ(size_of(f), 6 * 4096);
	CHECK_OK(read_equals(f, 0, 6 * 4096, model));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(read_equals(f, 0, 6 * 4096, model));
	CHECK_EQ(blocks_of(f), 5 * 8);   /* block 1 went entirely */

	/* punch over buffered blocks, and past the end (size kept) */
	CHECK_OK(write_pat(f, 3 * 4096 + 10, 4096, 2, model));
	CHECK_OK(vfs_fallocate(T.vfs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       3 * 4096 + 100, 3 * 4096));
	memset(model + 3 * 4096 + 100, 0, 3 * 4096 - 100);
	CHECK_EQ(size_of(f), 6 * 4096);
	CHECK_OK(read_equals(f, 0, 6 * 4096, model));
	CHECK_OK(env_reopen(false));
	CHECK_OK(read_equals(f, 0, 6 * 4096, model));

	/* SEEK_DATA / SEEK_HOLE: data in blocks 0 and 10, stored */
	CHECK_OK(mk(ROOT, "g", S_IFREG | 0644, &g));
	CHECK_OK(write_pat(g, 0, 4096, 3, NULL));
	CHECK_OK(write_pat(g, 10 * 4096, 4096, 3, NULL));
	for (int pass = 0; pass < 2; pass++) {
		CHECK_OK(vfs_lseek(T.vfs, g, 0, SEEK_DATA, &pos));
		CHECK_EQ(pos, 0);
		CHECK_OK(vfs_lseek(T.vfs, g, 100, SEEK_DATA, &pos));
		CHECK_EQ(pos, 100);
		CHECK_OK(vfs_lseek(T.vfs, g, 0, SEEK_HOLE, &pos));
		CHECK_EQ(pos, 4096);
		CHECK_OK(vfs_lseek(T.vfs, g, 4096, SEEK_DATA, &pos));
		CHECK_EQ(pos, 10 * 4096);
		CHECK_OK(vfs_lseek(T.vfs, g, 5000, SEEK_HOLE, &pos));
		CHECK_EQ(pos, 5000);
		CHECK_OK(vfs_lseek(T.vfs, g, 10 * 4096 + 1, SEEK_HOLE, &pos));
		CHECK_EQ(pos, 11 * 4096);   /* the end of the file */
		CHECK_EQ(vfs_lseek(T.vfs, g, 11 * 4096, SEEK_DATA, &pos), -ENXIO);
		CHECK_EQ(vfs_lseek(T.vfs, g, 11 * 4096, SEEK_HOLE, &pos), -ENXIO);
		CHECK_EQ(vfs_lseek(T.vfs, g, 1 << 30, SEEK_DATA, &pos), -ENXIO);
		CHECK_OK(vfs_sync(T.vfs));
	}
	/* with a hole at the end: no data after block 10 */
	{
		struct stat st = { 0 }, out;
		st.st_size = 20 * 4096;
		CHECK_OK(vfs_setattr(T.vfs, g, &st, VFS_SET_SIZE, &out));
	}
	CHECK_OK(vfs_lseek(T.vfs, g, 10 * 4096, SEEK_HOLE, &pos));
	CHECK_EQ(pos, 11 * 4096);
	CHECK_EQ(vfs_lseek(T.vfs, g, 11 * 4096, SEEK_DATA, &pos), -ENXIO);
	CHECK_OK(vfs_lseek(T.vfs, g, 15 * 4096, SEEK_HOLE, &pos));
	CHECK_EQ(pos, 15 * 4096);

	/* the same with the data still buffered (partial blocks) */
	CHECK_OK(mk(ROOT, "h", S_IFREG | 0644, &g));
	CHECK_OK(write_pat(g, 0, 100, 4, NULL));
	CHECK_OK(write_pat(g, 10 * 4096, 100, 4, NULL));
	CHECK_OK(vfs_lseek(T.vfs, g, 0, SEEK_HOLE, &pos));
	CHECK_EQ(pos, 4096);
	CHECK_OK(vfs_lseek(T.vfs, g, 1, SEEK_DATA, &pos));
	CHECK_EQ(pos, 1);
	CHECK_OK(vfs_lseek(T.vfs, g, 4096, SEEK_DATA, &pos));
	CHECK_EQ(pos, 10 * 4096);
	CHECK_OK(vfs_lseek(T.vfs, g, 10 * 4096, SEEK_HOLE, &pos));
	CHECK_EQ(pos, 10 * 4096 + 100);
	CHECK_EQ(vfs_lseek(T.vfs, g, 10 * 4096 + 100, SEEK_DATA, &pos), -ENXIO);
	CHECK_OK(env_close());
}

/* ---- 10. copy_file_range ---------------------------------------------------------------------------- */

static void test_copy_file_range(void)
{
	struct volume_stats vs;
	uint64_t src, dst, dst2;
	uint8_t *want = tmem(10000);

	CHECK_OK(env_setup("copy", 4096));
	CHECK_OK(mk(ROOT, "src", S_IFREG | 0644, &src));
	CHECK_OK(mk(ROOT, "dst", S_IFREG | 0644, &dst));
	CHECK_OK(mk(ROOT, "dst2", S_IFREG | 0644, &dst2));
	CHECK_OK(write_pat(src, 0, 8 * 4096 + 100, 1, NULL));   /* 8 blocks and a tail */
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.blocks, 9);
	CHECK_EQ(vs.blocks_shared, 0);

	/* aligned: 8 whole blocks shared, no bytes copied */
	CHECK_EQ(vfs_copy_file_range(T.vfs, src, 0, dst, 4096, 8 * 4096), 8 * 4096);
	CHECK_EQ(size_of(dst), 9 * 4096);
	CHECK_OK(read_zeros(dst, 0, 4096));
	{
		uint8_t *a = tmem(8 * 4096);
		fill_pat(a, 8 * 4096, 0, 1);
		CHECK_OK(read_equals(dst, 4096, 8 * 4096, a));
	}
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.blocks, 17);
	CHECK_EQ(vs.blocks_shared, 16);
	CHECK_EQ(blocks_of(dst), 8 * 8);

	/* overwriting a shared block unshares it, and leaves the source alone */
	CHECK_OK(write_pat(dst, 4096, 4096, 9, NULL));
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(stats(&vs));
	CHECK_EQ(vs.blocks_shared, 14);
	CHECK_OK(read_pat(src, 0, 8 * 4096 + 100, 1));

	/* unaligned: the same bytes */
	fill_pat(want, 10000, 100, 1);
	CHECK_EQ(vfs_copy_file_range(T.vfs, src, 100, dst2, 5000, 10000), 10000);
	CHECK_EQ(size_of(dst2), 15000);
	CHECK_OK(read_equals(dst2, 5000, 10000, want));
	CHECK_OK(read_zeros(dst2, 0, 5000));

	/* one file: overlapping ranges are refused, others are fine */
	CHECK_EQ(vfs_copy_file_range(T.vfs, src, 0, src, 4096, 8192), -EINVAL);
	CHECK_EQ(vfs_copy_file_range(T.vfs, src, 4096, src, 0, 8192), -EINVAL);
	CHECK_EQ(vfs_copy_file_range(T.vfs, src, 0, src, 16 * 4096, 8192), 8192);
	CHECK_OK(read_pat(src, 0, 8 * 4096 + 100, 1));
	{
		uint8_t *a = tmem(8192);
		fill_pat(a, 8192, 0, 1);
		CHECK_OK(read_equals(src, 16 * 4096, 8192, a));
	}
	/* copying from the end of the file copies nothing */
	CHECK_EQ(vfs_copy_file_range(T.vfs, src, 18 * 4096, dst2, 0, 4096), 0);

	CHECK_OK(env_reopen(false));
	CHECK_OK(read_equals(dst2, 5000, 10000, want));
	CHECK_OK(read_pat(src, 0, 8 * 4096 + 100, 1));
	CHECK_OK(env_close());
}

/*
 * copy_file_range from block-aligned offsets past the source's end: nothing
 * to copy, so 0.  Run in a child with a time limit, as a failure may hang.
 */
static void test_copy_file_range_past_eof(void)
{
	pid_t pid;
	int status;

	CHECK_OK(env_setup("copyeof", 4096));
	CHECK_OK(env_close());
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct store *s;
		struct vfs *v;
		struct stat st;
		uint64_t src, dst;
		alarm(10);
		if (store_open(T.path, 0, &s) < 0 || vfs_open(s, VOL, &T.opts, &v) < 0 ||
		    vfs_mknod(v, &ctx, ROOT, "src", S_IFREG | 0644, 0, &st) < 0)
			_exit(2);
		src = (uint64_t)st.st_ino;
		if (vfs_mknod(v, &ctx, ROOT, "dst", S_IFREG | 0644, 0, &st) < 0)
			_exit(2);
		dst = (uint64_t)st.st_ino;
		uint8_t buf[4096];
		fill_pat(buf, sizeof(buf), 0, 1);
		if (vfs_write(v, src, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			_exit(3);
		ssize_t n = vfs_copy_file_range(v, src, 8192, dst, 0, 8192);
		if (n != 0)
			_exit(4);
		if (vfs_getattr(v, dst, &st) < 0 || st.st_size != 0)
			_exit(5);
		_exit(vfs_close(v) == 0 ? 0 : 6);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		fprintf(stderr, "    vfs_copy_file_range(off_in past EOF): killed by signal %d "
			"(SIGALRM: it did not return in 10 s)\n", WTERMSIG(status));
	CHECK(!WIFSIGNALED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* ---- 11. readdir ---------------------------------------------------------------------------------------- */

#define NENTRIES 2000

struct listing {
	int seen[NENTRIES];
	int dots;          /* "." and ".." seen, in order: 1 then 2 */
	int order_ok;      /* both dots came before any entry */
	int others;        /* names that are no entry of ours */
	int taken, room;   /* this call */
	bool full;
	off_t next;
	int total;
};

static int fill_some(void *arg, const char *name, const struct stat *st, off_t next)
{
	struct listing *l = arg;
	int i;

	if (l->taken == l->room) {
		l->full = true;
		return 1;
	}
	l->taken++;
	l->next = next;
	if (!strcmp(name, ".")) {
		l->order_ok = l->dots == 0 && l->total == 0;
		l->dots = 1;
	} else if (!strcmp(name, "..")) {
		if (l->dots != 1 || l->total != 1)
			l->order_ok = 0;
		l->dots = 2;
	} else if (sscanf(name, "e%d", &i) == 1 && i >= 0 && i < NENTRIES) {
		l->seen[i]++;
	} else {
		l->others++;
	}
	l->total++;
	return 0;
}

/* One call of at most @room entries; false at the end of the directory. */
static int list_some(struct vfs_dir *dir, struct listing *l, int room, bool *more)
{
	int r;

	l->taken = 0;
	l->room = room;
	l->full = false;
	r = vfs_readdir(T.vfs, dir, l->next, false, fill_some, l);
	*more = l->full;
	return r;
}

static void test_readdir(void)
{
	struct listing *l = tmem(sizeof(*l));
	struct vfs_dir *dir;
	uint64_t d;
	bool more = true;
	char name[32];
	int calls = 0;

	CHECK_OK(env_setup("readdir", 4096));
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));
	for (int i = 0; i < NENTRIES; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		CHECK_OK(mk(d, name, (i % 10 ? S_IFREG : S_IFDIR) | 0755, NULL));
	}
	CHECK_EQ(nlink_of(d), 2 + NENTRIES / 10);

	/* all of it, about 50 at a time */
	CHECK_OK(vfs_opendir(T.vfs, d, &dir));
	while (more) {
		int r = list_some(dir, l, 50, &more);
		if (r < 0)
			vfs_releasedir(T.vfs, dir);
		CHECK_OK(r);
		calls++;
	}
	vfs_releasedir(T.vfs, dir);
	CHECK_EQ(l->dots, 2);
	CHECK(l->order_ok);
	CHECK_EQ(l->others, 0);
	CHECK_EQ(l->total, NENTRIES + 2);
	for (int i = 0; i < NENTRIES; i++)
		CHECK_EQ(l->seen[i], 1);
	CHECK(calls >= (NENTRIES + 2) / 50);

	/* entries removed while listing: the rest exactly once, none twice */
	memset(l, 0, sizeof(*l));
	more = true;
	CHECK_OK(vfs_opendir(T.vfs, d, &dir));
	for (calls = 0; more; calls++) {
		int r = list_some(dir, l, 50, &more);
		/* between calls: remove 7 names, some listed, some not yet */
		for (int k = 0; r == 0 && k < 7; k++) {
			int i = (calls * 97 + k * 311) % NENTRIES;
			snprintf(name, sizeof(name), "e%d", i);
			r = i % 10 ? vfs_unlink(T.vfs, d, name) : vfs_rmdir(T.vfs, d, name);
			if (r == -ENOENT)
				r = 0;
		}
		if (r < 0)
			vfs_releasedir(T.vfs, dir);
		CHECK_OK(r);
	}
	vfs_releasedir(T.vfs, dir);
	CHECK_EQ(l->others, 0);
	CHECK_EQ(l->dots, 2);
	CHECK(l->order_ok);
	/* a removed name may or may not show (POSIX); a present one exactly once */
	for (int i = 0; i < NENTRIES; i++) {
		uint64_t ino;
		snprintf(name, sizeof(name), "e%d", i);
		int r = ino_of(d, name, &ino);
		if (l->seen[i] > 1 || (r == 0 && l->seen[i] != 1))
			fprintf(stderr, "    %s listed %d times (%s)\n", name, l->seen[i],
				r == 0 ? "still there" : "removed");
		CHECK(l->seen[i] <= 1);
		if (r == 0)
			CHECK_EQ(l->seen[i], 1);
		else
			CHECK_EQ(r, -ENOENT);
	}
	/* a directory that is not one */
	CHECK_OK(mk(ROOT, "file", S_IFREG | 0644, &d));
	CHECK_EQ(vfs_opendir(T.vfs, d, &dir), -ENOTDIR);
	CHECK_OK(env_close());
}

/* ---- 12. setattr -------------------------------------------------------------------------------------------- */

/*
 * A directory whose index page is out of order (damage LMDB does not
 * detect) is reported as damaged, not listed in a loop: resuming after the
 * last name returned would otherwise meet names already returned.
 */
static void test_readdir_damaged_order(void)
{
	struct listing *l = tmem(sizeof(*l));
	struct vfs_dir *dir;
	uint64_t d;
	char name[32];
	bool more = true;
	int r = 0;

	CHECK_OK(env_setup("readdir-damaged", 4096));
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		CHECK_OK(mk(d, name, S_IFREG | 0644, NULL));
	}
	CHECK_OK(vfs_close(T.vfs));
	T.vfs = NULL;
	store_close(T.store);
	T.store = NULL;
	CHECK(test_swap_dirent_names(T.path, d, "e10", "e90") >= 2);

	T.opts.rdonly = true;
	CHECK_OK(store_open(T.path, STORE_RDONLY, &T.store));
	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	CHECK_OK(vfs_opendir(T.vfs, d, &dir));
	for (int calls = 0; more && r == 0 && calls < 1000; calls++)
		r = list_some(dir, l, 7, &more);
	vfs_releasedir(T.vfs, dir);
	CHECK_EQ(r, -EUCLEAN);
	T.opts.rdonly = false;
	CHECK_OK(env_close());
}

/* A vfs_in_group_fn for a caller in group 1000 only; notes what it was asked. */
static gid_t asked_gid;
static bool in_group_1000(void *arg, gid_t gid)
{
	(void)arg;
	asked_gid = gid;
	return gid == 1000;
}

static void test_setattr(void)
{
	struct stat st = { 0 }, out;
	struct timespec before, after;
	uint64_t f, g, d, s;

	CHECK_OK(env_setup("setattr", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(mk(ROOT, "g", S_IFREG | 0644, &g));
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));
	CHECK_OK(vfs_symlink(T.vfs, &ctx, ROOT, "s", "f", &out));
	s = (uint64_t)out.st_ino;
	vfs_forget(T.vfs, s, 1);

	/* chmod changes the permissions only, never the type */
	st.st_mode = S_IFDIR | 0600;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_MODE, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0600);
	CHECK_OK(vfs_getattr(T.vfs, f, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0600);
	st.st_mode = 01777;
	CHECK_OK(vfs_setattr(T.vfs, d, &st, VFS_SET_MODE, &out));
	CHECK_EQ(out.st_mode, S_IFDIR | 01777);

	/* chown clears set-user-ID, and set-group-ID when the group may execute */
	st.st_mode = 06755;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_MODE, &out));
	st.st_uid = 1000;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_UID, &out));
	CHECK_EQ(out.st_uid, 1000);
	CHECK_EQ(out.st_mode, S_IFREG | 0755);
	st.st_mode = 06745;   /* no group execute: set-group-ID means mandatory locking */
	CHECK_OK(vfs_setattr(T.vfs, g, &st, VFS_SET_MODE, &out));
	st.st_gid = 1000;
	CHECK_OK(vfs_setattr(T.vfs, g, &st, VFS_SET_GID, &out));
	CHECK_EQ(out.st_gid, 1000);
	CHECK_EQ(out.st_uid, 0);
	CHECK_EQ(out.st_mode, S_IFREG | 02745);

	/* the kernel's "kill suid/sgid": on a truncate, and on its own (a write, an open) */
	st.st_mode = 06755;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_MODE, &out));
	st.st_size = 1;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_SIZE | VFS_SET_KILL_SUIDGID, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0755);
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_MODE, &out));
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_SIZE, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 06755);   /* a truncate alone keeps them (root's) */
	CHECK_OK(vfs_kill_suidgid(T.vfs, f, NULL, NULL));
	CHECK_OK(vfs_getattr(T.vfs, f, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0755);
	/* no group execute: set-group-ID stays, unless the caller is outside the group */
	CHECK_OK(vfs_kill_suidgid(T.vfs, g, NULL, NULL));
	CHECK_OK(vfs_getattr(T.vfs, g, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 02745);
	asked_gid = (gid_t)-1;
	CHECK_OK(vfs_kill_suidgid(T.vfs, g, in_group_1000, NULL));
	CHECK_EQ(asked_gid, 1000);
	CHECK_OK(vfs_getattr(T.vfs, g, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 02745);
	st.st_gid = 2000;
	CHECK_OK(vfs_setattr(T.vfs, g, &st, VFS_SET_GID, &out));
	CHECK_OK(vfs_kill_suidgid(T.vfs, g, in_group_1000, NULL));
	CHECK_EQ(asked_gid, 2000);
	CHECK_OK(vfs_getattr(T.vfs, g, &out));
	CHECK_EQ(out.st_mode, S_IFREG | 0745);
	asked_gid = (gid_t)-1;
	CHECK_OK(vfs_kill_suidgid(T.vfs, f, in_group_1000, NULL));   /* nothing to ask about */
	CHECK_EQ(asked_gid, (gid_t)-1);
	st.st_mode = 06755;
	CHECK_OK(vfs_setattr(T.vfs, d, &st, VFS_SET_MODE, &out));
	CHECK_OK(vfs_kill_suidgid(T.vfs, d, in_group_1000, NULL));   /* a directory keeps its bits */
	CHECK_OK(vfs_setattr(T.vfs, d, &st, VFS_SET_KILL_SUIDGID, &out));
	CHECK_EQ(out.st_mode, S_IFDIR | 06755);
	CHECK_EQ(vfs_kill_suidgid(T.vfs, 9999, NULL, NULL), -ENOENT);
	st.st_mode = 01777;
	CHECK_OK(vfs_setattr(T.vfs, d, &st, VFS_SET_MODE, &out));

	/* size: only for regular files */
	st.st_size = 0;
	CHECK_EQ(vfs_setattr(T.vfs, d, &st, VFS_SET_SIZE, &out), -EISDIR);
	CHECK_EQ(vfs_setattr(T.vfs, s, &st, VFS_SET_SIZE, &out), -EINVAL);
	CHECK_EQ(vfs_setattr(T.vfs, 9999, &st, VFS_SET_MODE, &out), -ENOENT);

	/* explicit times, and now */
	st.st_atim = (struct timespec){ 1234567, 890 };
	st.st_mtim = (struct timespec){ 2345678, 901 };
	vfs_now(&before);
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_ATIME | VFS_SET_MTIME, &out));
	CHECK_EQ(out.st_atim.tv_sec, 1234567);
	CHECK_EQ(out.st_atim.tv_nsec, 890);
	CHECK_EQ(out.st_mtim.tv_sec, 2345678);
	CHECK_EQ(out.st_mtim.tv_nsec, 901);
	CHECK(!ts_after(&before, &out.st_ctim));   /* ctime is now */
	CHECK_OK(env_reopen(false));
	CHECK_OK(vfs_getattr(T.vfs, f, &out));
	CHECK_EQ(out.st_atim.tv_sec, 1234567);
	CHECK_EQ(out.st_atim.tv_nsec, 890);
	CHECK_EQ(out.st_mtim.tv_sec, 2345678);
	CHECK_EQ(out.st_mtim.tv_nsec, 901);

	vfs_now(&before);
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_ATIME_NOW | VFS_SET_MTIME, &out));
	vfs_now(&after);
	CHECK(!ts_after(&before, &out.st_atim) && !ts_after(&out.st_atim, &after));
	CHECK_EQ(out.st_mtim.tv_sec, 2345678);
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_MTIME_NOW, &out));
	vfs_now(&after);
	CHECK(!ts_after(&before, &out.st_mtim) && !ts_after(&out.st_mtim, &after));
	CHECK(!ts_after(&before, &out.st_atim));   /* atime untouched, still "now" from above */

	/* truncate stamps mtime and ctime */
	CHECK_OK(age(f));
	CHECK_OK(write_pat(f, 0, 5000, 1, NULL));
	CHECK_OK(age(f));
	st.st_size = 10;
	CHECK_OK(vfs_setattr(T.vfs, f, &st, VFS_SET_SIZE, &out));
	CHECK_EQ(out.st_size, 10);
	CHECK(!aged(&out.st_mtim) && !aged(&out.st_ctim));
	CHECK(aged(&out.st_atim));
	CHECK_OK(read_pat(f, 0, 10, 1));
	CHECK_OK(env_close());
}

/* ---- 13. read-only -------------------------------------------------------------------------------------------- */

static int fill_count(void *arg, const char *name, const struct stat *st, off_t next)
{
	(*(int *)arg)++;
	return 0;
}

static void test_rdonly(void)
{
	struct stat st = { 0 }, out;
	struct vfs_dir *dir;
	uint64_t f, d;
	char buf[64];
	int n = 0;

	CHECK_OK(env_setup("rdonly", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(mk(ROOT, "d", S_IFDIR | 0755, &d));
	CHECK_OK(write_pat(f, 0, 10000, 1, NULL));
	CHECK_OK(vfs_setxattr(T.vfs, f, "user.a", "1", 1, 0));
	CHECK_OK(vfs_symlink(T.vfs, &ctx, ROOT, "s", "f", &out));
	vfs_forget(T.vfs, (uint64_t)out.st_ino, 1);
	CHECK_OK(env_reopen(true));
	CHECK(vfs_is_rdonly(T.vfs));

	/* every change */
	CHECK_EQ(vfs_mknod(T.vfs, &ctx, ROOT, "n", S_IFREG | 0644, 0, &out), -EROFS);
	CHECK_EQ(vfs_mkdir(T.vfs, &ctx, ROOT, "n", 0755, &out), -EROFS);
	CHECK_EQ(vfs_symlink(T.vfs, &ctx, ROOT, "n", "x", &out), -EROFS);
	CHECK_EQ(vfs_create(T.vfs, &ctx, ROOT, "n", 0644, O_CREAT | O_RDWR, &out), -EROFS);
	CHECK_EQ(vfs_link(T.vfs, f, ROOT, "n", &out), -EROFS);
	CHECK_EQ(vfs_unlink(T.vfs, ROOT, "f"), -EROFS);
	CHECK_EQ(vfs_rmdir(T.vfs, ROOT, "d"), -EROFS);
	CHECK_EQ(vfs_rename(T.vfs, ROOT, "f", ROOT, "g", 0), -EROFS);
	CHECK_EQ(vfs_open_file(T.vfs, f, O_WRONLY), -EROFS);
	CHECK_EQ(vfs_open_file(T.vfs, f, O_RDONLY | O_TRUNC), -EROFS);
	CHECK_EQ(vfs_write(T.vfs, f, "x", 1, 0), -EROFS);
	st.st_mode = 0600;
	CHECK_EQ(vfs_setattr(T.vfs, f, &st, VFS_SET_MODE, &out), -EROFS);
	st.st_size = 0;
	CHECK_EQ(vfs_setattr(T.vfs, f, &st, VFS_SET_SIZE, &out), -EROFS);
	CHECK_EQ(vfs_setattr(T.vfs, f, &st, VFS_SET_ATIME_NOW, &out), -EROFS);
	CHECK_EQ(vfs_setxattr(T.vfs, f, "user.b", "2", 1, 0), -EROFS);
	CHECK_EQ(vfs_removexattr(T.vfs, f, "user.a"), -EROFS);
	CHECK_EQ(vfs_fallocate(T.vfs, f, 0, 0, 100000), -EROFS);
	CHECK_EQ(vfs_copy_file_range(T.vfs, f, 0, f, 65536, 4096), -EROFS);

	/* every read */
	CHECK_OK(vfs_open_file(T.vfs, f, O_RDONLY));
	CHECK_OK(read_pat(f, 0, 10000, 1));
	CHECK_OK(vfs_flush(T.vfs, f));
	CHECK_OK(vfs_fsync(T.vfs, f, false));
	CHECK_OK(vfs_release(T.vfs, f));
	CHECK_OK(vfs_lookup(T.vfs, ROOT, "f", &out));
	vfs_forget(T.vfs, f, 1);
	CHECK_EQ(out.st_size, 10000);
	CHECK_EQ(vfs_getxattr(T.vfs, f, "user.a", buf, sizeof(buf)), 1);
	CHECK_EQ(vfs_listxattr(T.vfs, &ctx, f, buf, sizeof(buf)), sizeof("user.a"));
	CHECK_OK(ino_of(ROOT, "s", &d));
	CHECK_EQ(vfs_readlink(T.vfs, d, buf, sizeof(buf)), 1);
	CHECK_OK(vfs_opendir(T.vfs, ROOT, &dir));
	CHECK_OK(vfs_readdir(T.vfs, dir, 0, false, fill_count, &n));
	vfs_releasedir(T.vfs, dir);
	CHECK_EQ(n, 5);
	{
		struct statvfs sv;
		CHECK_OK(vfs_statfs(T.vfs, &sv));
		CHECK(sv.f_flag & ST_RDONLY);
	}
	CHECK_OK(vfs_sync(T.vfs));
	CHECK_OK(env_close());
}

/* ---- 14. a damaged chunk ---------------------------------------------------------------------------------------- */

static void test_corrupt_chunk(void)
{
	char path[PATH_MAX];
	uint8_t buf[4096];
	uint64_t f;
	int bad = -1, fd;

	CHECK_OK(env_setup("corrupt", 4096));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &f));
	CHECK_OK(write_pat(f, 0, 4 * 4096, 1, NULL));
	CHECK_OK(vfs_close(T.vfs));
	T.vfs = NULL;
	CHECK_EQ(count_chunks(), 4);

	/* flip one byte in the middle of one chunk file */
	snprintf(path, sizeof(path), "%s", chunk_paths[2]);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, buf, 1, 1000), 1);
	buf[0] ^= 0x40;
	CHECK_EQ(pwrite(fd, buf, 1, 1000), 1);
	close(fd);

	CHECK_OK(vfs_open(T.store, VOL, &T.opts, &T.vfs));
	for (int b = 0; b < 4; b++) {
		ssize_t n = vfs_read(T.vfs, f, buf, sizeof(buf), (off_t)b * 4096, true);
		if (n == -EIO) {
			CHECK_EQ(bad, -1);   /* only one block is damaged */
			bad = b;
			continue;
		}
		CHECK_EQ(n, 4096);
		CHECK_OK(read_pat(f, (uint64_t)b * 4096, 4096, 1));
	}
	CHECK(bad >= 0);
	/* any read touching it fails, even for one byte */
	CHECK_EQ(vfs_read(T.vfs, f, buf, 1, (off_t)bad * 4096 + 4095, true), -EIO);
	{
		uint8_t *all = tmem(4 * 4096);
		CHECK_EQ(vfs_read(T.vfs, f, all, 4 * 4096, 0, true), -EIO);
	}
	/* a partial write into it must load it: it fails, and the volume stays writable */
	CHECK_EQ(vfs_write(T.vfs, f, "x", 1, (off_t)bad * 4096 + 10), -EIO);
	CHECK_OK(write_pat(f, (uint64_t)bad * 4096, 4096, 2, NULL));   /* a whole block replaces it */
	CHECK_OK(read_pat(f, (uint64_t)bad * 4096, 4096, 2));

	/* chunk files cut short, then gone: every read of a block fails */
	CHECK_OK(vfs_sync(T.vfs));
	CHECK(count_chunks() >= 4);
	for (int i = 0; i < nchunk_paths && i < 64; i++)
		CHECK_OK(sys(truncate(chunk_paths[i], 4095)));
	for (int b = 0; b < 4; b++)
		CHECK_EQ(vfs_read(T.vfs, f, buf, sizeof(buf), (off_t)b * 4096, true), -EIO);
	/* (the chunk of the block overwritten above may be freed already) */
	for (int i = 0; i < nchunk_paths && i < 64; i++)
		CHECK(unlink(chunk_paths[i]) == 0 || errno == ENOENT);
	for (int b = 0; b < 4; b++)
		CHECK_EQ(vfs_read(T.vfs, f, buf, 100, (off_t)b * 4096 + 5, true), -EIO);
	CHECK_OK(env_close());
}

/*
 * Reads of part of a block go through the chunk cache: they see every later
 * write (a chunk's id names its bytes, so the cache holds nothing stale),
 * and the cache gives way to write buffers (invariant 5).
 */
static void test_chunk_cache(void)
{
	const uint32_t bs = 16 * KiB;
	const unsigned nblocks = 48;
	uint8_t *model = tmem((size_t)nblocks * bs);
	uint64_t ino;

	CHECK_OK(env_setup("cache", bs));
	CHECK_OK(mk(ROOT, "f", S_IFREG | 0644, &ino));
	CHECK_OK(write_pat(ino, 0, (size_t)nblocks * bs, 1, model));   /* whole blocks: chunks */
	CHECK_EQ(T.vfs->dirty_bytes, 0);
	for (unsigned b = 0; b < nblocks; b++)
		CHECK_OK(read_equals(ino, (uint64_t)b * bs + 1000, 3000, model + b * bs + 1000));
	CHECK_EQ(chunk_cache_bytes(T.vfs->cache), (uint64_t)nblocks * bs);   /* within 1 MiB */

	/* new chunks for some blocks, buffered bytes over others: reads see both */
	for (unsigned b = 0; b < nblocks; b += 3)
		CHECK_OK(write_pat(ino, (uint64_t)b * bs, bs, 2, model));
	for (unsigned b = 1; b < nblocks; b += 3)
		CHECK_OK(write_pat(ino, (uint64_t)b * bs + 500, 2000, 3, model));
	for (unsigned b = 0; b < nblocks; b++)
		CHECK_OK(read_equals(ino, (uint64_t)b * bs + 400, 4000, model + b * bs + 400));
	CHECK_OK(vfs_fsync(T.vfs, ino, false));
	CHECK_OK(env_reopen(false));   /* written back: extents name new chunks */
	for (unsigned b = 0; b < nblocks; b++)
		CHECK_OK(read_equals(ino, (uint64_t)b * bs + 400, 4000, model + b * bs + 400));
	CHECK(chunk_cache_bytes(T.vfs->cache) > 0);

	/* buffers up to the dirty limit push the cache out: together within it */
	for (unsigned b = 0; b < nblocks; b++) {
		CHECK_OK(write_pat(ino, (uint64_t)b * bs + 7, 100, 4, model));
		CHECK(T.vfs->dirty_bytes + chunk_cache_bytes(T.vfs->cache) <=
		      T.opts.dirty_limit + bs);
	}
	for (unsigned b = 0; b < nblocks; b++)
		CHECK_OK(read_equals(ino, (uint64_t)b * bs, bs / 2, model + b * bs));
	CHECK_OK(env_close());
}

int main(void)
{
	RUN_CASE(test_names);
	RUN_CASE(test_rename);
	RUN_CASE(test_data_4k);
	RUN_CASE(test_data_128k);
	RUN_CASE(test_dirty_limit);
	RUN_CASE(test_inline_4k);
	RUN_CASE(test_inline_128k);
	RUN_CASE(test_blocks_of_buffered_data);
	RUN_CASE(test_unlinked_open);
	RUN_CASE(test_orphan_after_crash);
	RUN_CASE(test_relink_orphan);
	RUN_CASE(test_xattrs);
	RUN_CASE(test_acls);
	RUN_CASE(test_acl_chmod_with_truncate);
	RUN_CASE(test_default_acl_copies);
	RUN_CASE(test_fallocate);
	RUN_CASE(test_copy_file_range);
	RUN_CASE(test_copy_file_range_past_eof);
	RUN_CASE(test_readdir);
	RUN_CASE(test_readdir_damaged_order);
	RUN_CASE(test_setattr);
	RUN_CASE(test_rdonly);
	RUN_CASE(test_corrupt_chunk);
	RUN_CASE(test_journal_after_crash);
	RUN_CASE(test_journal_dropped);
	RUN_CASE(test_journal_seek);
	RUN_CASE(test_journal_offline_tools);
	RUN_CASE(test_journal_trimmed);
	RUN_CASE(test_journal_interval);
	RUN_CASE(test_thread_names);
	RUN_CASE(test_cleaner);
	RUN_CASE(test_cleaner_dropped);
	RUN_CASE(test_preload_stale);
	RUN_CASE(test_log_refused);
	RUN_CASE(test_log_wraps);
	RUN_CASE(test_chunk_cache);
	return test_exit();
}
