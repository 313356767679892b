/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.c — serving a volume at a mount point.
 *
 * Start-up order, and why:
 *  1. Check the mount point, then fork (unless foreground): LMDB environments
 *     must not cross a fork, so the child opens the store itself.
 *  2. The child takes the volume's lock (read-write mounts), opens the volume
 *     (reclaiming a crashed daemon's orphans), mounts, and only then tells
 *     the waiting parent "ok" through a pipe — or the reason it failed.  So
 *     `mount` returns once the mount is live, with a clear error otherwise.
 *  3. It records itself in run/mount-<pid> (for `volfs umount`) and serves.
 *  4. After the kernel lets go (umount) or a signal, it writes back and
 *     commits everything, then releases the lock by exiting.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "control.h"
#include "fuse_ops.h"
#include "fuse_wire.h"
#include "proc.h"
#include "snapshot.h"
#include "store.h"
#include "volume.h"

void daemon_config_init(struct daemon_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->vfs.dirty_limit = VFS_DIRTY_LIMIT_DEFAULT;
	cfg->vfs.commit_interval_ms = VFS_COMMIT_INTERVAL_DEFAULT;
	cfg->vfs.verify_dedup = true;
}

/* Options mount(8), fstab and systemd pass that mean nothing to us. */
static bool ignored_option(const char *opt)
{
	static const char *const names[] = {
		"defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group",
		"_netdev", "nofail", "rw", "async", "relatime", "allow_other",
		"default_permissions", "dev", "suid", "exec", "nouser_xattr", "user_xattr",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(opt, names[i]))
			return true;
	return false;
}

int daemon_parse_options(struct daemon_config *cfg, const char *opts, char *err, size_t errlen)
{
	char *copy = strdup(opts ? opts : "");
	char *save = NULL;
	int r = 0;
	if (!copy)
		return -ENOMEM;
	for (char *opt = strtok_r(copy, ",", &save); opt && r == 0;
	     opt = strtok_r(NULL, ",", &save)) {
		char *val = strchr(opt, '=');
		uint64_t n;
		if (val)
			*val++ = 0;
		if (!strcmp(opt, "store") && val && *val) {
			snprintf(cfg->store_buf, sizeof(cfg->store_buf), "%s", val);
			cfg->store_path = cfg->store_buf;
		} else if (!strcmp(opt, "ro") && !val) {
			cfg->vfs.rdonly = true;
		} else if (!strcmp(opt, "rw") && !val) {
			cfg->vfs.rdonly = false;
		} else if (!strcmp(opt, "commit") && val) {
			char *end;
			unsigned long s = strtoul(val, &end, 10);
			if (*end || end == val || s == 0 || s > 3600) {
				snprintf(err, errlen, "commit=%s: give seconds from 1 to 3600", val);
				r = -EINVAL;
			}
			cfg->vfs.commit_interval_ms = (unsigned)s * 1000;
		} else if (!strcmp(opt, "dirty_limit") && val) {
			if (volume_parse_size(val, &n) < 0 || n < (1u << 20)) {
				snprintf(err, errlen, "dirty_limit=%s: give a size of at least 1M", val);
				r = -EINVAL;
			}
			cfg->vfs.dirty_limit = n;
		} else if (!strcmp(opt, "verify_dedup") && !val) {
			cfg->vfs.verify_dedup = true;
		} else if (!strcmp(opt, "noverify_dedup") && !val) {
			cfg->vfs.verify_dedup = false;
		} else if (!strcmp(opt, "nosuid") && !val) {
			cfg->nosuid = true;
		} else if (!strcmp(opt, "nodev") && !val) {
			cfg->nodev = true;
		} else if (!strcmp(opt, "noexec") && !val) {
			cfg->noexec = true;
		} else if (!strcmp(opt, "debug") && !val) {
			cfg->debug = true;
		} else if (!strncmp(opt, "x-", 2) || !strcmp(opt, "comment") ||
			   (!val && ignored_option(opt))) {
			/* mount(8)'s, fstab's or systemd's business */
		} else {
			snprintf(err, errlen, "unknown mount option '%s%s%s'", opt, val ? "=" : "",
				 val ? val : "");
			r = -EINVAL;
		}
	}
	free(copy);
	return r;
}

/* ---- start-up reporting ---------------------------------------------------- */

struct startup {
	bool foreground;
	int fd;      /* background: the pipe to the waiting parent, -1 once told */
};

/* Tells whoever waits why start-up failed; returns the exit status. */
static int startup_fail(struct startup *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->fd >= 0) {
		dprintf(s->fd, "%s", msg);
		close(s->fd);
		s->fd = -1;
	} else {
		fprintf(stderr, "volfs: %s\n", msg);
	}
	return 1;
}

static void startup_ok(struct startup *s)
{
	if (s->fd < 0)
		return;
	/* a lone NUL byte means "mounted" */
	if (write(s->fd, "", 1) < 0) {
		/* the parent is gone; nothing to tell */
	}
	close(s->fd);
	s->fd = -1;
}

/* The parent: waits for the child's verdict. */
static int wait_for_child(pid_t pid, int fd)
{
	char msg[1025];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(msg) - 1 && (n = read(fd, msg + len, sizeof(msg) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == 1 && msg[0] == 0)
		return 0;
	msg[len] = 0;
	int status;
	if (len == 0) {
		waitpid(pid, &status, 0);
		fprintf(stderr, "volfs: the daemon exited while starting (%s %d)\n",
			WIFSIGNALED(status) ? "signal" : "status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return 1;
	}
	waitpid(pid, &status, 0);
	fprintf(stderr, "volfs: %s\n", msg);
	return 1;
}

/* ---- checks ---------------------------------------------------------------- */

/* Undoes mountinfo's octal escapes (\040 for a space…) in place. */
static void unescape_mountinfo(char *s)
{
	char *out = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = 0;
}

bool daemon_is_volfs_mount(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		/* id parent maj:min root MOUNTPOINT opts... - FSTYPE source superopts */
		char mnt[PATH_MAX], fstype[64], *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		unescape_mountinfo(mnt);
		found = !strcmp(mnt, dir) && !strcmp(fstype, "fuse.volfs");
	}
	free(line);
	fclose(f);
	return found;
}

static int check_mountpoint(const char *dir, char *err, size_t errlen)
{
	struct statx stx;
	struct statfs sfs;
	int r = statx(AT_FDCWD, dir, 0, STATX_TYPE, &stx);
	bool root = r == 0 && (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	if (((r < 0 && errno == ENOTCONN) || (root && statfs(dir, &sfs) < 0 && errno == ENOTCONN)) &&
	    dir[0] == '/' && daemon_is_volfs_mount(dir)) {
		/*
		 * The daemon of a volfs mount here died (killed): its lock went with
		 * it, so detach what is left of the mount and mount again at once.
		 */
		if (umount2(dir, MNT_DETACH) == 0)
			r = statx(AT_FDCWD, dir, 0, STATX_TYPE, &stx);
		else
			r = -1, errno = ENOTCONN;
	}
	if (r < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "mount point %s does not exist", dir);
		else if (e == ENOTCONN)
			snprintf(err, errlen, "mount point %s is a dead FUSE mount (umount -l it first)",
				 dir);
		else
			snprintf(err, errlen, "mount point %s: %s", dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(stx.stx_mode)) {
		snprintf(err, errlen, "mount point %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT &&
	    stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) {
		snprintf(err, errlen, "%s is already a mount point", dir);
		return -EBUSY;
	}
	return 0;
}

static const char *store_error(int r, const char *path, char *buf, size_t len)
{
	switch (r) {
	case -ENOENT:
		snprintf(buf, len, "store %s does not exist", path);
		break;
	case -ENODATA:
		snprintf(buf, len, "store %s: not initialised (run 'volfs init --store %s')", path, path);
		break;
	case -EPROTONOSUPPORT:
		snprintf(buf, len, "store %s: format not supported by this volfs", path);
		break;
	case -EUCLEAN:
		snprintf(buf, len, "store %s: the index is corrupt (run fsck.volfs)", path);
		break;
	default:
		snprintf(buf, len, "store %s: %s", path, strerror(-r));
	}
	return buf;
}

/* ---- recovery after a crash ------------------------------------------------- */

/* Is @pid a live volfs daemon (not some other process that got its number)? */
static bool daemon_alive(pid_t pid)
{
	char path[64], comm[32] = "";
	if (!proc_running(pid))
		return false;   /* a zombie included */
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	return !strcmp(comm, "volfs") || !strcmp(comm, "mount.volfs");
}


/*
 * Removes the run/mount-<pid> records of daemons that died; returns how
 * many there were (a daemon that dies cleanly removes its own).
 */
static int remove_stale_records(struct store *store)
{
	int stale = 0;
	DIR *d = fdopendir(openat(store->dirfd, "run", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		long pid;
		if (sscanf(e->d_name, "mount-%ld", &pid) == 1 && !daemon_alive((pid_t)pid) &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0)
			stale++;
	}
	closedir(d);
	return stale;
}

struct sweep_arg {
	struct store *store;
	uint64_t removed;
};

/*
 * Removes chunk files that no record names: written by a batch that never
 * committed.  Inside a write transaction.  A live writer may have written a
 * chunk file outside its transaction (chunk_prepare) that no record names
 * yet; if we remove it, its chunk_put_prepared(), inside its own later
 * transaction, finds it missing and writes it again.
 */
static int sweep_unnamed_chunks(struct idx_txn *txn, void *arg)
{
	struct sweep_arg *a = arg;
	int chunks = openat(a->store->dirfd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *top = chunks >= 0 ? fdopendir(chunks) : NULL;
	if (!top)
		return chunks >= 0 ? -errno : 0;
	for (struct dirent *e; (e = readdir(top));) {
		if (e->d_name[0] == '.')
			continue;
		DIR *sub = fdopendir(openat(dirfd(top), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (!sub)
			continue;
		for (struct dirent *f; (f = readdir(sub));) {
			struct idx_chunk_id id;
			struct idx_chunk c;
			if (chunk_id_from_hex(f->d_name, &id) < 0)
				continue;   /* not a chunk name: fsck's business */
			if (idx_chunk_get(txn, &id, &c) == -ENOENT && chunk_unlink(a->store->chunks, &id) == 0)
				a->removed++;
		}
		closedir(sub);
	}
	closedir(top);
	return 0;
}

/* What a crashed daemon of this store left: run/ records and unnamed chunks. */
static void recover_after_crash(struct store *store, const char *spec)
{
	int stale = remove_stale_records(store);
	if (!stale)
		return;
	struct sweep_arg a = { .store = store };
	int r = idx_update(store->idx, sweep_unnamed_chunks, &a);
	if (r < 0)
		syslog(LOG_WARNING, "volfs %s: removing chunks a crash left: %s", spec, strerror(-r));
	else
		syslog(LOG_INFO, "volfs %s: a daemon of this store had died: removed %llu chunk "
		       "files no record names", spec, (unsigned long long)a.removed);
}

/* ---- serving ----------------------------------------------------------------- */

/* Threads serving FUSE requests (libfuse's default maximum). */
#define DAEMON_THREADS 10


/*
 * The kernel writes back (launders) the dirty pages of an inode whose cache
 * we invalidate, and waits until we have them: what a snapshot needs.
 */
static int notify_writeback(void *arg, uint64_t ino)
{
	return fuse_lowlevel_notify_inval_inode(arg, ino, 0, 0);
}

static int write_mount_record(struct store *store, const char *mountpoint, const char *spec,
			      char *path, size_t pathlen)
{
	char real[PATH_MAX];
	if (!realpath(mountpoint, real))
		return -errno;
	snprintf(path, pathlen, "%s/run/mount-%ld", store->path, (long)getpid());
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n%s\n", real, spec);
	return fclose(f) == 0 ? 0 : -errno;
}

static int serve(const struct daemon_config *cfg, struct startup *su)
{
	char err[1024], opts[512], record[PATH_MAX + 64] = "";
	struct store *store = NULL;
	struct vfs *vfs = NULL;
	struct fuse_session *se = NULL;
	struct control *ctl = NULL;
	int lock_fd = -1, status = 1, r;
	bool snapshot = strchr(cfg->spec, '@') != NULL;
	bool rdonly = cfg->vfs.rdonly || snapshot;

	r = store_open(cfg->store_path, rdonly ? STORE_RDONLY : STORE_RECYCLE, &store);
	if (r < 0)
		return startup_fail(su, "%s", store_error(r, cfg->store_path, err, sizeof(err)));
	if (!rdonly)
		recover_after_crash(store, cfg->spec);

	/*
	 * A read-write mount holds the volume's lock for as long as it lives; a
	 * mount of a snapshot holds the snapshot's lock shared, so that the
	 * snapshot is not removed under it.
	 */
	char volname[IDX_NAME_MAX + 1], snapname[IDX_NAME_MAX + 1];
	struct idx_volume vol;
	if (snapshot) {
		r = snapshot_parse(cfg->spec, volname, snapname);
	} else {
		r = strlen(cfg->spec) <= IDX_NAME_MAX ? 0 : -EINVAL;
		if (r == 0)
			strcpy(volname, cfg->spec);
	}
	if (r == 0) {
		struct idx_txn *txn;
		r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
		if (r == 0) {
			r = idx_volume_get(txn, volname, &vol);
			idx_txn_abort(txn);
		}
	}
	if (r == 0 && snapshot)
		r = store_lock_snapshot(store, vol.id, snapname, true, &lock_fd);
	else if (r == 0 && !rdonly)
		r = store_lock_volume(store, vol.id, &lock_fd);
	if (r == -EBUSY) {
		status = startup_fail(su, snapshot ? "snapshot '%s' is being removed" :
				      "volume '%s' is already mounted read-write "
				      "(one read-write mount per volume; snapshots mount read-only "
				      "any number of times)", cfg->spec);
		goto out;
	}
	if (r == 0)
		r = vfs_open(store, cfg->spec, &cfg->vfs, &vfs);
	if (r < 0) {
		if (r == -ENOENT)
			status = startup_fail(su, "no volume or snapshot '%s' in store %s", cfg->spec,
					      cfg->store_path);
		else if (r == -EINVAL)
			status = startup_fail(su, "invalid volume name '%s'", cfg->spec);
		else
			status = startup_fail(su, "opening '%s': %s", cfg->spec, strerror(-r));
		goto out;
	}

	/* like a local disk: device nodes and set-user-ID work unless asked not to */
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=volfs,default_permissions,allow_other%s%s%s%s",
		 cfg->spec, rdonly ? ",ro" : "", cfg->nosuid ? ",nosuid" : ",suid",
		 cfg->nodev ? ",nodev" : ",dev", cfg->noexec ? ",noexec" : "");
	char arg0[] = "volfs", arg1[] = "-o", argd[] = "-d";
	char *argv[] = { arg0, arg1, opts, cfg->debug ? argd : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(cfg->debug ? 4 : 3, argv);
	se = fuse_session_new(&args, &volfs_fuse_ops, sizeof(volfs_fuse_ops), vfs);
	fuse_opt_free_args(&args);
	if (!se) {
		status = startup_fail(su, "cannot start a FUSE session (is the fuse3 package installed?)");
		goto out;
	}
	vfs_set_kernel_writeback(vfs, notify_writeback, se);
	if (fuse_set_signal_handlers(se) != 0) {
		status = startup_fail(su, "cannot set signal handlers");
		goto out;
	}
	if (fuse_session_mount(se, cfg->mountpoint) != 0) {
		status = startup_fail(su, "cannot mount on %s (is /dev/fuse there? see the log above)",
				      cfg->mountpoint);
		goto out_signals;
	}
	/* FUSE_HANDLE_KILLPRIV_V2: no security.capability round trip per write */
	r = fuse_wire_attach(se);
	if (r < 0)
		syslog(LOG_WARNING, "volfs %s: cannot watch the FUSE requests (%s): every "
		       "write asks for security.capability", cfg->spec, strerror(-r));
	r = write_mount_record(store, cfg->mountpoint, cfg->spec, record, sizeof(record));
	if (r < 0)
		syslog(LOG_WARNING, "volfs %s: cannot record the mount: %s", cfg->spec, strerror(-r));
	r = vfs_start_threads(vfs);
	if (r == 0 && !rdonly) {
		char path[PATH_MAX];
		control_path(store->path, vol.id, path, sizeof(path));
		r = control_start(vfs, path, &ctl);
	}
	if (r < 0) {
		fuse_session_unmount(se);
		status = startup_fail(su, "cannot start the background threads or the control socket: %s",
				      strerror(-r));
		goto out_signals;
	}
	syslog(LOG_INFO, "volfs %s: mounted on %s%s", cfg->spec, cfg->mountpoint,
	       rdonly ? " read-only" : "");
	startup_ok(su);

	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	if (loop) {
		/*
		 * As many idle threads kept as there may be threads: an fsync's
		 * burst of write-backs would otherwise start and end threads
		 * by the hundred a second.
		 */
		fuse_loop_cfg_set_clone_fd(loop, 0);
		fuse_loop_cfg_set_max_threads(loop, DAEMON_THREADS);
		fuse_loop_cfg_set_idle_threads(loop, DAEMON_THREADS);
		r = fuse_session_loop_mt(se, loop);
		fuse_loop_cfg_destroy(loop);
	} else {
		r = fuse_session_loop(se);
	}
	fuse_session_unmount(se);
	status = 0;
out_signals:
	fuse_remove_signal_handlers(se);
out:
	control_stop(ctl);
	/* the kernel has let go: write back and commit what is left */
	if (vfs) {
		r = vfs_close(vfs);
		if (r < 0) {
			syslog(LOG_ERR, "volfs %s: final commit failed: %s", cfg->spec, strerror(-r));
			status = 1;
		} else if (status == 0) {
			syslog(LOG_INFO, "volfs %s: unmounted, all data committed", cfg->spec);
		}
	}
	if (se)
		fuse_session_destroy(se);
	if (record[0])
		unlink(record);
	store_close(store);
	if (lock_fd >= 0)
		close(lock_fd);
	return status;
}

int daemon_main(const struct daemon_config *given)
{
	char err[1024], mountpoint[PATH_MAX], store_path[PATH_MAX];
	struct startup su = { .foreground = given->foreground, .fd = -1 };
	struct daemon_config c = *given, *cfg = &c;

	if (check_mountpoint(given->mountpoint, err, sizeof(err)) < 0) {
		fprintf(stderr, "volfs: %s\n", err);
		return 1;
	}
	/* absolute paths: the daemon leaves the caller's working directory */
	if (!realpath(given->mountpoint, mountpoint)) {
		fprintf(stderr, "volfs: mount point %s: %s\n", given->mountpoint, strerror(errno));
		return 1;
	}
	cfg->mountpoint = mountpoint;
	if (realpath(given->store_path, store_path))
		cfg->store_path = store_path;   /* else store_open() names the problem */
	openlog("volfs", LOG_PID | (cfg->foreground ? LOG_PERROR : 0), LOG_DAEMON);
	if (cfg->foreground)
		return serve(cfg, &su);

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("volfs: pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("volfs: fork");
		return 1;
	}
	if (pid > 0) {
		close(pipefd[1]);
		return wait_for_child(pid, pipefd[0]);
	}
	/* the child: detach from the terminal and the caller's session */
	close(pipefd[0]);
	su.fd = pipefd[1];
	setsid();
	if (chdir("/") < 0) {
		/* the mount point and store are absolute or already resolved */
	}
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	exit(serve(cfg, &su));
}

/* ---- unmounting ------------------------------------------------------------------ */


/*
 * Looks through the store's run/mount-<pid> records (mount point, spec) of
 * live daemons for one with mount point @dir or spec @spec (either may be
 * NULL); returns its pid (0: none) and copies its mount point to @ret_dir.
 */
static pid_t find_daemon(const char *store_path, const char *dir, const char *spec,
			 char *ret_dir, size_t len)
{
	char path[PATH_MAX];
	pid_t found = 0;
	snprintf(path, sizeof(path), "%s/run", store_path);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	for (struct dirent *e; !found && (e = readdir(d));) {
		char mnt[PATH_MAX + 2], sp[2 * IDX_NAME_MAX + 4];
		long pid;
		if (sscanf(e->d_name, "mount-%ld", &pid) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/run/%s", store_path, e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(mnt, sizeof(mnt), f) && fgets(sp, sizeof(sp), f)) {
			mnt[strcspn(mnt, "\n")] = 0;
			sp[strcspn(sp, "\n")] = 0;
			if ((!dir || !strcmp(mnt, dir)) && (!spec || !strcmp(sp, spec)) &&
			    daemon_alive((pid_t)pid)) {
				found = (pid_t)pid;
				if (ret_dir)
					snprintf(ret_dir, len, "%s", mnt);
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

int daemon_find_mount(const char *store_path, const char *spec, char *ret_dir, size_t len)
{
	return find_daemon(store_path, NULL, spec, ret_dir, len) ? 0 : -ENOENT;
}

int daemon_unmount(const char *store_path, const char *dir, char *err, size_t errlen)
{
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		if (errno != ENOTCONN || dir[0] != '/') {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -errno;
		}
		snprintf(real, sizeof(real), "%s", dir);   /* a dead mount: take it as given */
	}
	if (!daemon_is_volfs_mount(real)) {
		snprintf(err, errlen, "%s is not a volfs mount", real);
		return -EINVAL;
	}
	pid_t pid = find_daemon(store_path, real, NULL, NULL, 0);
	int pidfd = pid ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (umount2(real, 0) < 0) {
		int e = errno;
		if (e == EBUSY)
			snprintf(err, errlen, "%s is busy: a process has a file open or its working "
				 "directory there", real);
		else
			snprintf(err, errlen, "unmounting %s: %s", real, strerror(e));
		if (pidfd >= 0)
			close(pidfd);
		return -e;
	}
	/* the daemon writes back and commits after the kernel lets go: wait for it */
	if (pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		close(pidfd);
	} else if (pid) {
		while (kill(pid, 0) == 0)
			usleep(20000);
	}
	return 0;
}
