/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse_ops.c — the FUSE low-level adapter: every handler translates its
 * request for the core (vfs.h) and replies exactly once, with an entry,
 * attributes, data or fuse_reply_err().  Nothing else in volfs sees FUSE
 * requests.  Locks are left to the kernel (no getlk/setlk/flock handlers):
 * with one read-write mount per volume, the kernel's local locks are right.
 */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_wire.h"
#include "vfs.h"

/* We are the only writer of the volume, so the kernel may cache what we say. */
#define ATTR_TIMEOUT  1.0
#define ENTRY_TIMEOUT 1.0

static struct vfs *vfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void ctx_of(fuse_req_t req, struct vfs_ctx *ctx)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	/* FUSE_CAP_DONT_MASK: the umask is ours to apply (a default ACL replaces it) */
	*ctx = (struct vfs_ctx){ .uid = fc->uid, .gid = fc->gid, .umask = fc->umask };
}

/*
 * vfs_in_group_fn for the caller of request @arg: its filesystem gid, or one
 * of its supplementary groups (which libfuse reads from /proc).  If those
 * cannot be read, the caller counts as a member: the bits stay, as the older
 * rule has it.
 */
static bool caller_in_group(void *arg, gid_t gid)
{
	fuse_req_t req = arg;
	if (fuse_req_ctx(req)->gid == gid)
		return true;
	gid_t groups[64];
	int n = fuse_req_getgroups(req, 64, groups);
	if (n < 0 || n > 64)
		return true;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* The bits a write by the unprivileged clears (fuse_wire.h says when). */
static int kill_suidgid(fuse_req_t req, fuse_ino_t ino)
{
	return vfs_kill_suidgid(vfs_of(req), ino, caller_in_group, req);
}

static void reply_entry(fuse_req_t req, int r, const struct stat *st)
{
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	struct fuse_entry_param e = {
		.ino = st->st_ino,
		.attr = *st,
		.attr_timeout = ATTR_TIMEOUT,
		.entry_timeout = ENTRY_TIMEOUT,
	};
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, int r, const struct stat *st)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, st, ATTR_TIMEOUT);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_WRITEBACK_CACHE) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		vfs_set_kernel_times(userdata, true);   /* the kernel's mtime is the one */
	}
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* the kernel enforces ACLs; we keep modes and ACLs in step (acl.h) */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	/* the kernel's own lock tables serve flock(2) and fcntl(2) locks */
	conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int r = vfs_lookup(vfs_of(req), parent, name, &st);
	if (r == -ENOENT) {
		/* a negative entry the kernel may cache: we are the only writer */
		struct fuse_entry_param e = { .ino = 0, .entry_timeout = ENTRY_TIMEOUT };
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, r, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	vfs_forget(vfs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		vfs_forget(vfs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	reply_attr(req, vfs_getattr(vfs_of(req), ino, &st), &st);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	static const struct { int fuse; unsigned vfs; } map[] = {
		{ FUSE_SET_ATTR_MODE, VFS_SET_MODE },
		{ FUSE_SET_ATTR_UID, VFS_SET_UID },
		{ FUSE_SET_ATTR_GID, VFS_SET_GID },
		{ FUSE_SET_ATTR_SIZE, VFS_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, VFS_SET_ATIME },
		{ FUSE_SET_ATTR_MTIME, VFS_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, VFS_SET_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, VFS_SET_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, VFS_SET_CTIME },
	};
	unsigned set = 0;
	struct stat st;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			set |= map[i].vfs;
	/*
	 * The kernel asks for a truncate by the unprivileged (whose group counts,
	 * as for a write) and for any chown (the older rule, in the same change).
	 */
	int r = 0;
	if (fuse_wire_kill_suidgid()) {
		if (set & (VFS_SET_UID | VFS_SET_GID))
			set |= VFS_SET_KILL_SUIDGID;
		else
			r = kill_suidgid(req, ino);
	}
	if (r == 0)
		r = vfs_setattr(vfs_of(req), ino, attr, set, &st);
	reply_attr(req, r, &st);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[IDX_INLINE_MAX + 1];
	ssize_t r = vfs_readlink(vfs_of(req), ino, buf, sizeof(buf) - 1);
	if (r < 0) {
		fuse_reply_err(req, (int)-r);
		return;
	}
	buf[r] = 0;
	fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct vfs_ctx ctx;
	struct stat st;
	ctx_of(req, &ctx);
	reply_entry(req, vfs_mknod(vfs_of(req), &ctx, parent, name, mode, rdev, &st), &st);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct vfs_ctx ctx;
	struct stat st;
	ctx_of(req, &ctx);
	reply_entry(req, vfs_mkdir(vfs_of(req), &ctx, parent, name, mode, &st), &st);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct vfs_ctx ctx;
	struct stat st;
	ctx_of(req, &ctx);
	reply_entry(req, vfs_symlink(vfs_of(req), &ctx, parent, name, link, &st), &st);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct stat st;
	reply_entry(req, vfs_link(vfs_of(req), ino, newparent, newname, &st), &st);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -vfs_unlink(vfs_of(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -vfs_rmdir(vfs_of(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	unsigned vflags = 0;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);   /* RENAME_WHITEOUT is for overlay filesystems */
		return;
	}
	if (flags & RENAME_NOREPLACE)
		vflags |= VFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		vflags |= VFS_RENAME_EXCHANGE;
	fuse_reply_err(req, -vfs_rename(vfs_of(req), parent, name, newparent, newname, vflags));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* an O_TRUNC open by the unprivileged: the kernel asks (fuse_wire.h) */
	int r = fuse_wire_kill_suidgid() ? kill_suidgid(req, ino) : 0;
	if (r == 0)
		r = vfs_open_file(vfs_of(req), ino, fi->flags);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/*
	 * The page cache is dropped at open (no keep_cache): a read served from
	 * it never reaches us, and FUSE keeps no atime in the kernel, so this
	 * is what makes the first read after an open update atime (relatime).
	 */
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct vfs_ctx ctx;
	struct stat st;
	ctx_of(req, &ctx);
	int r = vfs_create(vfs_of(req), &ctx, parent, name, mode, fi->flags, &st);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	struct fuse_entry_param e = {
		.ino = st.st_ino, .attr = st,
		.attr_timeout = ATTR_TIMEOUT, .entry_timeout = ENTRY_TIMEOUT,
	};
	if (fuse_reply_create(req, &e, fi) != 0)
		vfs_release(vfs_of(req), st.st_ino);   /* the open never reached anyone */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * Under the writeback cache the kernel reads a page before it writes part
	 * of it, through the writer's handle: a read through a write-only handle
	 * is such a fill, not an access.
	 */
	bool access = (fi->flags & O_ACCMODE) != O_WRONLY;
	ssize_t r = vfs_read(vfs_of(req), ino, buf, size, off, access);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	/* a write by the unprivileged: the kernel asks (fuse_wire.h) */
	ssize_t r = fuse_wire_kill_suidgid() ? kill_suidgid(req, ino) : 0;
	if (r == 0)
		r = vfs_write(vfs_of(req), ino, buf, size, off);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_flush(vfs_of(req), ino));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_release(vfs_of(req), ino));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_fsync(vfs_of(req), ino, datasync));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs_dir *dir;
	int r = vfs_opendir(vfs_of(req), ino, &dir);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)dir;
	if (fuse_reply_open(req, fi) != 0)
		vfs_releasedir(vfs_of(req), dir);
}

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	bool plus;
};

static int fill_entry(void *arg, const char *name, const struct stat *st, off_t next)
{
	struct dirbuf *d = arg;
	size_t room = d->size - d->used, n;
	if (d->plus) {
		bool dot = !strcmp(name, ".") || !strcmp(name, "..");
		struct fuse_entry_param e = {
			.ino = dot ? 0 : st->st_ino,   /* no lookup is counted for dots */
			.attr = *st,
			.attr_timeout = ATTR_TIMEOUT, .entry_timeout = ENTRY_TIMEOUT,
		};
		n = fuse_add_direntry_plus(d->req, d->buf + d->used, room, name, &e, next);
	} else {
		n = fuse_add_direntry(d->req, d->buf + d->used, room, name, st, next);
	}
	if (n > room)
		return 1;
	d->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		       bool plus)
{
	struct dirbuf d = { .req = req, .size = size, .plus = plus };
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int r = vfs_readdir(vfs_of(req), (struct vfs_dir *)(uintptr_t)fi->fh, off, plus,
			    fill_entry, &d);
	/* entries already added (and their lookups counted) must reach the kernel */
	if (r < 0 && d.used == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	vfs_releasedir(vfs_of(req), (struct vfs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -vfs_fsyncdir(vfs_of(req), ino));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int r = vfs_statfs(vfs_of(req), &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_statfs(req, &st);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, -vfs_setxattr(vfs_of(req), ino, name, value, size, flags));
}

/* getxattr and listxattr: a size query (@size 0) or the bytes. */
static void reply_xattr_data(fuse_req_t req, ssize_t r, const char *buf, size_t size)
{
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_xattr_data(req, vfs_getxattr(vfs_of(req), ino, name, buf, size), buf, size);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct vfs_ctx ctx;
	ctx_of(req, &ctx);
	reply_xattr_data(req, vfs_listxattr(vfs_of(req), &ctx, ino, buf, size), buf, size);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -vfs_removexattr(vfs_of(req), ino, name));
}

/*
 * fallocate and copy_file_range change a file as a write does, but under
 * FUSE_HANDLE_KILLPRIV_V2 the kernel flags neither for the set-user-ID bits
 * to go.  The caller's capabilities are not in the request: uid 0 stands for
 * CAP_FSETID, which keeps the bits, as it does for root on a local disk.
 */
static int kill_suidgid_for_caller(fuse_req_t req, fuse_ino_t ino)
{
	if (!fuse_wire_killpriv_v2() || fuse_req_ctx(req)->uid == 0)
		return 0;
	return kill_suidgid(req, ino);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	int r = kill_suidgid_for_caller(req, ino);
	if (r == 0)
		r = vfs_fallocate(vfs_of(req), ino, mode, offset, length);
	fuse_reply_err(req, -r);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t pos;
	int r = vfs_lseek(vfs_of(req), ino, off, whence, &pos);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, pos);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ssize_t r = kill_suidgid_for_caller(req, ino_out);
	if (r == 0)
		r = vfs_copy_file_range(vfs_of(req), ino_in, off_in, ino_out, off_out, len);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

const struct fuse_lowlevel_ops volfs_fuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.copy_file_range = op_copy_file_range,
};
