/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * volfs-docker-plugin — Docker's VolumeDriver protocol over a unix socket,
 * serving the volumes of one volfs store.
 *
 *   volfs-docker-plugin [--store DIR] [--socket PATH] [--mount-root DIR]
 *
 * HTTP comes from libmicrohttpd with one internal thread (it multiplexes
 * connections, so a stalled client delays no one), JSON from json-c.  Every
 * request is answered 200 with a JSON object whose "Err" is "" or the reason
 * (Docker shows it to the user); errors are also logged to stderr.
 *
 * Volumes are mounted by running the `volfs` binary next to this one
 * (`volfs --store S mount NAME DIR`, posix_spawn): its daemon is a separate,
 * detached process, so restarting the plugin never unmounts anything.  Which
 * Docker mount IDs use which volume is kept in STORE/run/docker/state.json
 * (docker_state.h); the last Unmount of a volume unmounts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "docker_state.h"
#include "fault.h"
#include "index.h"
#include "snapshot.h"
#include "store.h"
#include "volume.h"

#ifndef VOLFS_VERSION
#define VOLFS_VERSION "unknown"
#endif

#define PROG "volfs-docker-plugin"
#define DEFAULT_SOCKET "/run/docker/plugins/volfs.sock"
#define BODY_MAX (64 * 1024)        /* Docker's requests are a few hundred bytes */
#define ID_MAX 256
#define MOUNT_TIMEOUT_MS (30 * 1000)
#define UMOUNT_TIMEOUT_MS (60 * 1000)
#define CONTENT_TYPE "application/vnd.docker.plugins.v1+json"

extern char **environ;

struct plugin {
	char store[PATH_MAX];        /* absolute */
	char mount_root[PATH_MAX];   /* absolute */
	char socket_path[PATH_MAX];
	char volfs_bin[PATH_MAX];
	bool verbose;
	pthread_mutex_t lock;        /* the state and the store, one request at a time */
	struct dstate st;
};

static const char name_rule[] =
	"use 1-128 of A-Z a-z 0-9 _ . - starting with a letter or digit";

/* ---- messages ------------------------------------------------------------ */

static void __attribute__((format(printf, 1, 2))) log_msg(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s\n", line);
}

/* Sets the request's error message; returns -1 for `return seterr(...)`. */
static int __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- mounts -------------------------------------------------------------- */

/* Is volume @name served, by a live daemon, on @dir? */
static bool mount_live(const struct plugin *p, const char *name, const char *dir)
{
	char found[PATH_MAX];

	return daemon_find_mount(p->store, name, found, sizeof(found)) == 0 &&
	       !strcmp(found, dir) && daemon_is_volfs_mount(dir);
}

/* A volfs mount on @dir whose daemon is gone (ENOTCONN): detach it. */
static void detach_dead_mount(const char *name, const char *dir)
{
	if (!daemon_is_volfs_mount(dir))
		return;
	if (umount2(dir, MNT_DETACH) < 0)
		log_msg("volume %s: detaching the dead mount on %s: %s", name, dir, strerror(errno));
	else
		log_msg("volume %s: detached the dead mount on %s (its daemon is gone)", name, dir);
}

/* MOUNT_ROOT/NAME (main() checks that every name fits). */
static void our_mountpoint(const struct plugin *p, const char *name, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/%s", p->mount_root, name) >= (int)len)
		buf[0] = 0;
}

/* mkdir -p @path (mode 0755 for what it makes). */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != 0)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			break;
	}
	return 0;
}

/* ---- running volfs ------------------------------------------------------- */

/*
 * Runs the volfs binary with @args (after argv[0]) and waits at most
 * @timeout_ms.  0 if it exited 0; else -1 with what it said on stderr (its
 * last line), or why it did not finish, in @msg.
 */
static int run_volfs(const struct plugin *p, const char *const *args, int timeout_ms,
		     char *msg, size_t msglen)
{
	char *argv[16], out[4096];
	size_t outlen = 0, argc = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, deflt;
	int pipefd[2], pidfd, status = 0, r;
	bool exited = false;
	pid_t pid;

	argv[argc++] = (char *)p->volfs_bin;
	for (; *args && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	msg[0] = 0;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return seterr(msg, msglen, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_init(&attr);
	/* the server's threads block the stop signals, and it ignores SIGPIPE */
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	r = posix_spawn(&pid, p->volfs_bin, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return seterr(msg, msglen, "running %s: %s", p->volfs_bin, strerror(r));
	}

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	bool pipe_open = true;
	while (!exited) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			break;
		struct pollfd pf[2] = {
			{ .fd = pipe_open ? pipefd[0] : -1, .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
		};
		/* without a pidfd, look at the child every 50 ms */
		int wait = pidfd >= 0 ? (int)(timeout_ms - spent) : 50;
		if (poll(pf, 2, wait) < 0 && errno != EINTR)
			break;
		if (pipe_open && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[1024];
			ssize_t n = read(pipefd[0], buf, sizeof(buf));
			if (n <= 0) {
				pipe_open = false;
			} else {
				size_t k = (size_t)n < sizeof(out) - 1 - outlen ? (size_t)n : sizeof(out) - 1 - outlen;
				memcpy(out + outlen, buf, k);
				outlen += k;
			}
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	/* whatever is left in the pipe, without waiting for the daemon to let go of it */
	if (pipe_open && fcntl(pipefd[0], F_SETFL, O_NONBLOCK) == 0) {
		ssize_t n;
		while (outlen < sizeof(out) - 1 &&
		       (n = read(pipefd[0], out + outlen, sizeof(out) - 1 - outlen)) > 0)
			outlen += (size_t)n;
	}
	close(pipefd[0]);
	if (pidfd >= 0)
		close(pidfd);
	out[outlen] = 0;
	while (outlen && (out[outlen - 1] == '\n' || out[outlen - 1] == ' '))
		out[--outlen] = 0;

	if (!exited)
		return seterr(msg, msglen, "'volfs %s' did not finish in %d s",
			      argc > 3 ? argv[3] : "", timeout_ms / 1000);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (outlen) {
		char *last = strrchr(out, '\n');
		char *text = last ? last + 1 : out;
		if (!strncmp(text, "volfs: ", 7))
			text += 7;
		return seterr(msg, msglen, "%s", text);
	}
	if (WIFSIGNALED(status))
		return seterr(msg, msglen, "volfs was killed by signal %d", WTERMSIG(status));
	return seterr(msg, msglen, "volfs exited with status %d", WEXITSTATUS(status));
}

/* ---- the store ----------------------------------------------------------- */

static int open_store(const struct plugin *p, unsigned flags, struct store **ret,
		      char *err, size_t errlen)
{
	int r = store_open(p->store, flags, ret);

	if (r == 0)
		return 0;
	switch (r) {
	case -ENOENT:
	case -ENODATA:
		return seterr(err, errlen, "store %s: not initialised (run 'volfs init --store %s')",
			      p->store, p->store);
	case -EUCLEAN:
		return seterr(err, errlen, "store %s: the index is corrupt", p->store);
	default:
		return seterr(err, errlen, "store %s: %s", p->store, strerror(-r));
	}
}

/* Does volume @name exist?  0, or -1 with the reason. */
static int volume_exists(const struct plugin *p, const char *name, struct idx_volume *ret_vol,
			 char *err, size_t errlen)
{
	struct idx_volume vol;
	struct store *store;
	struct idx_txn *txn;
	int r;

	if (open_store(p, STORE_RDONLY, &store, err, errlen) < 0)
		return -1;
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r == 0) {
		r = idx_volume_get(txn, name, &vol);
		idx_txn_abort(txn);
	}
	store_close(store);
	if (r == -ENOENT)
		return seterr(err, errlen, "no volume named '%s'", name);
	if (r < 0)
		return seterr(err, errlen, "volume '%s': %s", name, strerror(-r));
	if (ret_vol)
		*ret_vol = vol;
	return 0;
}

static void format_time(int64_t ns, char out[32])
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

/* ---- requests ------------------------------------------------------------ */

/* The request's "Name": a valid volume name, or -1. */
static int req_name(struct json_object *req, const char **ret, char *err, size_t errlen)
{
	struct json_object *o;
	const char *name;

	if (!req || !json_object_object_get_ex(req, "Name", &o) || json_object_is_type(o, json_type_null))
		return seterr(err, errlen, "the request has no \"Name\"");
	if (!json_object_is_type(o, json_type_string))
		return seterr(err, errlen, "\"Name\" is not a string");
	name = json_object_get_string(o);
	if ((size_t)json_object_get_string_len(o) != strlen(name) || !volume_name_valid(name))
		return seterr(err, errlen, "invalid volume name '%.*s': %s", 200, name, name_rule);
	*ret = name;
	return 0;
}

/* The request's "ID" (Mount, Unmount): a non-empty string. */
static int req_id(struct json_object *req, const char **ret, char *err, size_t errlen)
{
	struct json_object *o;
	const char *id;

	if (!json_object_object_get_ex(req, "ID", &o) || json_object_is_type(o, json_type_null))
		return seterr(err, errlen, "the request has no \"ID\" (Docker 1.13 or later sends one)");
	if (!json_object_is_type(o, json_type_string))
		return seterr(err, errlen, "\"ID\" is not a string");
	id = json_object_get_string(o);
	if (!*id || strlen(id) > ID_MAX || (size_t)json_object_get_string_len(o) != strlen(id))
		return seterr(err, errlen, "\"ID\" must be 1-%d characters", ID_MAX);
	*ret = id;
	return 0;
}

static void save_state(struct plugin *p)
{
	int r = dstate_save(&p->st);

	if (r < 0)
		log_msg("writing %s: %s", p->st.file, strerror(-r));
}

/* ---- the endpoints ------------------------------------------------------- */

typedef int (*endpoint_fn)(struct plugin *p, struct json_object *req, struct json_object *resp,
			   char *err, size_t errlen);

static int ep_activate(struct plugin *p, struct json_object *req, struct json_object *resp,
		       char *err, size_t errlen)
{
	struct json_object *impl = json_object_new_array();

	json_object_array_add(impl, json_object_new_string("VolumeDriver"));
	json_object_object_add(resp, "Implements", impl);
	return 0;
}

static int ep_capabilities(struct plugin *p, struct json_object *req, struct json_object *resp,
			   char *err, size_t errlen)
{
	struct json_object *caps = json_object_new_object();

	json_object_object_add(caps, "Scope", json_object_new_string("local"));
	json_object_object_add(resp, "Capabilities", caps);
	return 0;
}

struct create_opts {
	uint64_t block_size;                 /* 0: not given */
	bool clone;
	char from_vol[IDX_NAME_MAX + 1], from_snap[IDX_NAME_MAX + 1];
};

static int parse_create_opts(struct json_object *req, struct create_opts *o, char *err, size_t errlen)
{
	struct json_object *opts;

	memset(o, 0, sizeof(*o));
	if (!json_object_object_get_ex(req, "Opts", &opts) || json_object_is_type(opts, json_type_null))
		return 0;
	if (!json_object_is_type(opts, json_type_object))
		return seterr(err, errlen, "\"Opts\" is not an object");
	json_object_object_foreach(opts, key, val) {
		const char *v;

		if (!json_object_is_type(val, json_type_string))
			return seterr(err, errlen, "option %.64s: the value is not a string", key);
		v = json_object_get_string(val);
		if (!strcmp(key, "block_size")) {
			if (volume_parse_size(v, &o->block_size) < 0 ||
			    !volume_block_size_valid(o->block_size))
				return seterr(err, errlen, "block_size=%.64s: a power of two from 4K to 1M", v);
		} else if (!strcmp(key, "from")) {
			if (snapshot_parse(v, o->from_vol, o->from_snap) < 0)
				return seterr(err, errlen, "from=%.300s: give VOLUME@SNAPSHOT (%s)", v, name_rule);
			o->clone = true;
		} else {
			return seterr(err, errlen, "unknown option '%.64s' (known: block_size, from)", key);
		}
	}
	if (o->clone && o->block_size)
		return seterr(err, errlen, "block_size and from do not go together: a clone keeps "
			      "the block size of %s", o->from_vol);
	return 0;
}

static int ep_create(struct plugin *p, struct json_object *req, struct json_object *resp,
		     char *err, size_t errlen)
{
	struct create_opts o;
	struct store *store;
	const char *name;
	int r;

	if (req_name(req, &name, err, errlen) < 0 || parse_create_opts(req, &o, err, errlen) < 0)
		return -1;
	if (open_store(p, 0, &store, err, errlen) < 0)
		return -1;
	if (o.clone)
		r = snapshot_clone(store, o.from_vol, o.from_snap, name);
	else
		r = volume_create(store, name, o.block_size ? (uint32_t)o.block_size : VOLUME_BLOCK_DEFAULT,
				  NULL);
	store_close(store);

	if (r == -EEXIST) {
		/* Docker creates volumes it does not know yet: an existing one is fine as it is */
		struct idx_volume vol;

		if (o.clone)
			return seterr(err, errlen, "volume '%s' exists already (from= applies only at "
				      "creation)", name);
		if (volume_exists(p, name, &vol, err, errlen) < 0)
			return -1;
		if (o.block_size && o.block_size != vol.block_size)
			return seterr(err, errlen, "volume '%s' exists already, with block size %" PRIu32,
				      name, vol.block_size);
		log_msg("Create %s: exists already, taken as it is", name);
		return 0;
	}
	if (r == -ENOENT)
		return seterr(err, errlen, "from=%s@%s: no such snapshot", o.from_vol, o.from_snap);
	if (r == -ELOOP)
		return seterr(err, errlen, "from=%s@%s: a clone %d levels deep, no deeper", o.from_vol,
			      o.from_snap, IDX_VIEW_DEPTH);
	if (r < 0)
		return seterr(err, errlen, "creating volume '%s': %s", name, strerror(-r));
	if (o.clone)
		log_msg("Create %s: cloned from %s@%s", name, o.from_vol, o.from_snap);
	else
		log_msg("Create %s: block size %" PRIu64, name,
			o.block_size ? o.block_size : (uint64_t)VOLUME_BLOCK_DEFAULT);
	return 0;
}

/* Unmounts the plugin's mount of @v ("volfs umount"); 0 or -1 with @err. */
static int unmount_volume(struct plugin *p, struct dstate_vol *v, char *err, size_t errlen)
{
	const char *args[] = { "--store", p->store, "umount", v->mountpoint, NULL };
	char msg[1024];

	if (!mount_live(p, v->name, v->mountpoint)) {
		detach_dead_mount(v->name, v->mountpoint);
		v->mounted = false;
		return 0;
	}
	if (run_volfs(p, args, UMOUNT_TIMEOUT_MS, msg, sizeof(msg)) < 0)
		return seterr(err, errlen, "unmounting volume '%s' from %s: %s", v->name, v->mountpoint, msg);
	v->mounted = false;
	log_msg("volume %s: unmounted from %s", v->name, v->mountpoint);
	rmdir(v->mountpoint);   /* ours, and empty now; a failure leaves an empty directory */
	return 0;
}

static int ep_remove(struct plugin *p, struct json_object *req, struct json_object *resp,
		     char *err, size_t errlen)
{
	struct dstate_vol *v;
	struct store *store;
	const char *name;
	int r;

	if (req_name(req, &name, err, errlen) < 0)
		return -1;
	v = dstate_find(&p->st, name);
	if (v && v->nids)
		return seterr(err, errlen, "volume '%s' is in use by %zu container mount%s", name,
			      v->nids, v->nids == 1 ? "" : "s");
	if (v) {
		/* no container uses it: a mount of ours left by a failed unmount goes now */
		if (v->owned && v->mounted && unmount_volume(p, v, err, errlen) < 0) {
			save_state(p);
			return -1;
		}
		dstate_drop(&p->st, v);
		save_state(p);
	}
	if (open_store(p, 0, &store, err, errlen) < 0)
		return -1;
	r = volume_remove(store, name);
	if (r == -ENOTEMPTY) {
		char names[512] = "";
		struct idx_txn *txn;
		struct idx_volume vol;

		if (idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn) == 0) {
			if (idx_volume_get(txn, name, &vol) == 0)
				snapshot_dependents(txn, vol.tree, 0, names, sizeof(names));
			idx_txn_abort(txn);
		}
		store_close(store);
		return seterr(err, errlen, "clones depend on volume '%s': %s (remove them first)", name,
			      names);
	}
	store_close(store);
	if (r == -ENOENT)
		return seterr(err, errlen, "no volume named '%s'", name);
	if (r == -EBUSY)
		return seterr(err, errlen, "volume '%s' or one of its snapshots is mounted", name);
	if (r < 0)
		return seterr(err, errlen, "removing volume '%s': %s", name, strerror(-r));
	log_msg("Remove %s: removed", name);
	return 0;
}

/*
 * Makes sure @v is mounted: reuses a live mount of the volume (ours, or one
 * made by hand), else mounts it on MOUNT_ROOT/NAME.
 */
static int mount_volume(struct plugin *p, struct dstate_vol *v, char *err, size_t errlen)
{
	char ours[PATH_MAX], found[PATH_MAX], msg[1024];
	const char *args[] = { "--store", p->store, "mount", v->name, ours, NULL };
	int r;

	our_mountpoint(p, v->name, ours, sizeof(ours));
	if (v->mounted && mount_live(p, v->name, v->mountpoint))
		return 0;
	if (v->mounted) {
		log_msg("volume %s: its mount on %s is gone; mounting it again", v->name, v->mountpoint);
		if (v->owned)
			detach_dead_mount(v->name, v->mountpoint);
		v->mounted = false;
	}
	/* mounted already (by hand, or by us before a crash)? */
	if (daemon_find_mount(p->store, v->name, found, sizeof(found)) == 0 && daemon_is_volfs_mount(found)) {
		snprintf(v->mountpoint, sizeof(v->mountpoint), "%s", found);
		v->owned = !strcmp(found, ours);
		v->mounted = true;
		if (!v->owned)
			log_msg("volume %s: using its mount on %s, made outside the plugin", v->name, found);
		return 0;
	}
	detach_dead_mount(v->name, ours);
	r = mkdir_p(ours, 0755);
	if (r < 0)
		return seterr(err, errlen, "mount point %s: %s", ours, strerror(-r));
	if (run_volfs(p, args, MOUNT_TIMEOUT_MS, msg, sizeof(msg)) < 0)
		return seterr(err, errlen, "mounting volume '%s' on %s: %s", v->name, ours, msg);
	snprintf(v->mountpoint, sizeof(v->mountpoint), "%s", ours);
	v->owned = true;
	v->mounted = true;
	log_msg("volume %s: mounted on %s", v->name, ours);
	return 0;
}

static int ep_mount(struct plugin *p, struct json_object *req, struct json_object *resp,
		    char *err, size_t errlen)
{
	struct dstate_vol *v;
	const char *name, *id;

	if (req_name(req, &name, err, errlen) < 0 || req_id(req, &id, err, errlen) < 0 ||
	    volume_exists(p, name, NULL, err, errlen) < 0)
		return -1;
	v = dstate_get(&p->st, name);
	if (!v)
		return seterr(err, errlen, "out of memory");
	if (mount_volume(p, v, err, errlen) < 0) {
		if (!v->nids)
			dstate_drop(&p->st, v);
		save_state(p);
		return -1;
	}
	if (dstate_add_id(v, id) < 0) {
		save_state(p);
		return seterr(err, errlen, "out of memory");
	}
	save_state(p);
	log_msg("Mount %s for %.12s: %s (%zu user%s)", name, id, v->mountpoint, v->nids,
		v->nids == 1 ? "" : "s");
	json_object_object_add(resp, "Mountpoint", json_object_new_string(v->mountpoint));
	return 0;
}

static int ep_unmount(struct plugin *p, struct json_object *req, struct json_object *resp,
		      char *err, size_t errlen)
{
	struct dstate_vol *v;
	const char *name, *id;

	if (req_name(req, &name, err, errlen) < 0 || req_id(req, &id, err, errlen) < 0)
		return -1;
	v = dstate_find(&p->st, name);
	if (!v || !dstate_remove_id(v, id)) {
		/* Docker may repeat an Unmount; there is nothing left to undo */
		log_msg("Unmount %s for %.12s: not mounted for it; nothing to do", name, id);
		return 0;
	}
	log_msg("Unmount %s for %.12s (%zu user%s left)", name, id, v->nids, v->nids == 1 ? "" : "s");
	if (v->nids) {
		save_state(p);
		return 0;
	}
	if (v->owned && v->mounted && unmount_volume(p, v, err, errlen) < 0) {
		/* kept, with no users: the next Mount reuses it, Remove retries */
		save_state(p);
		return -1;
	}
	dstate_drop(&p->st, v);
	save_state(p);
	return 0;
}

/* The mount point Docker should see for @name: ours if mounted, else "". */
static const char *mountpoint_of(struct plugin *p, const char *name)
{
	struct dstate_vol *v = dstate_find(&p->st, name);

	return v && v->mounted ? v->mountpoint : "";
}

static int ep_path(struct plugin *p, struct json_object *req, struct json_object *resp,
		   char *err, size_t errlen)
{
	const char *name;

	if (req_name(req, &name, err, errlen) < 0 || volume_exists(p, name, NULL, err, errlen) < 0)
		return -1;
	json_object_object_add(resp, "Mountpoint", json_object_new_string(mountpoint_of(p, name)));
	return 0;
}

static int add_snapshot_name(const char *name, const struct idx_snapshot *snap, void *arg)
{
	json_object_array_add(arg, json_object_new_string(name));
	return 0;
}

struct origin_search {
	struct idx_txn *txn;
	uint64_t tree, gen;
	const char *volume;   /* the volume being looked at */
	char found[2 * IDX_NAME_MAX + 2];
};

static int origin_snapshot(const char *name, const struct idx_snapshot *snap, void *arg)
{
	struct origin_search *s = arg;

	if (snap->tree != s->tree || snap->gen != s->gen)
		return 0;
	snprintf(s->found, sizeof(s->found), "%s@%s", s->volume, name);
	return 1;
}

static int origin_volume(const char *name, const struct idx_volume *vol, void *arg)
{
	struct origin_search *s = arg;

	s->volume = name;
	return idx_snapshot_foreach(s->txn, vol->id, origin_snapshot, s);
}

/* Volume @name's description: Name, Mountpoint, CreatedAt, Status. */
static int describe(struct plugin *p, const char *name, struct json_object **ret, char *err, size_t errlen)
{
	struct json_object *vol_o, *status, *snaps;
	struct idx_volume vol;
	struct idx_tree tree;
	struct store *store;
	struct idx_txn *txn;
	char created[32];
	int r;

	if (open_store(p, STORE_RDONLY, &store, err, errlen) < 0)
		return -1;
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0) {
		store_close(store);
		return seterr(err, errlen, "reading the store: %s", strerror(-r));
	}
	snaps = json_object_new_array();
	r = idx_volume_get(txn, name, &vol);
	if (r == 0)
		r = idx_tree_get(txn, vol.tree, &tree);
	if (r == 0)
		r = idx_snapshot_foreach(txn, vol.id, add_snapshot_name, snaps);
	struct origin_search origin = { .txn = txn };
	if (r == 0 && tree.parent) {
		origin.tree = tree.parent;
		origin.gen = tree.parent_gen;
		if (idx_volume_foreach(txn, origin_volume, &origin) < 0)
			origin.found[0] = 0;
	}
	idx_txn_abort(txn);
	store_close(store);
	if (r < 0) {
		json_object_put(snaps);
		if (r == -ENOENT)
			return seterr(err, errlen, "no volume named '%s'", name);
		return seterr(err, errlen, "volume '%s': %s", name, strerror(-r));
	}

	struct dstate_vol *v = dstate_find(&p->st, name);
	status = json_object_new_object();
	json_object_object_add(status, "block_size", json_object_new_uint64(vol.block_size));
	json_object_object_add(status, "snapshots", snaps);
	if (origin.found[0])
		json_object_object_add(status, "origin", json_object_new_string(origin.found));
	json_object_object_add(status, "mounted", json_object_new_boolean(v && v->mounted));
	json_object_object_add(status, "mounts", json_object_new_uint64(v ? v->nids : 0));

	format_time(vol.created_ns, created);
	vol_o = json_object_new_object();
	json_object_object_add(vol_o, "Name", json_object_new_string(name));
	json_object_object_add(vol_o, "Mountpoint", json_object_new_string(mountpoint_of(p, name)));
	json_object_object_add(vol_o, "CreatedAt", json_object_new_string(created));
	json_object_object_add(vol_o, "Status", status);
	*ret = vol_o;
	return 0;
}

static int ep_get(struct plugin *p, struct json_object *req, struct json_object *resp,
		  char *err, size_t errlen)
{
	struct json_object *vol;
	const char *name = NULL;

	if (req_name(req, &name, err, errlen) < 0 || describe(p, name, &vol, err, errlen) < 0)
		return -1;
	json_object_object_add(resp, "Volume", vol);
	return 0;
}

struct list_ctx {
	struct plugin *p;
	struct json_object *arr;
};

static int list_one(const char *name, const struct idx_volume *vol, void *arg)
{
	struct list_ctx *l = arg;
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "Name", json_object_new_string(name));
	json_object_object_add(o, "Mountpoint", json_object_new_string(mountpoint_of(l->p, name)));
	json_object_array_add(l->arr, o);
	return 0;
}

static int ep_list(struct plugin *p, struct json_object *req, struct json_object *resp,
		   char *err, size_t errlen)
{
	struct list_ctx l = { .p = p, .arr = json_object_new_array() };
	struct store *store;
	struct idx_txn *txn;
	int r;

	if (open_store(p, STORE_RDONLY, &store, err, errlen) < 0) {
		json_object_put(l.arr);
		return -1;
	}
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r == 0) {
		r = idx_volume_foreach(txn, list_one, &l);
		idx_txn_abort(txn);
	}
	store_close(store);
	if (r < 0) {
		json_object_put(l.arr);
		return seterr(err, errlen, "listing volumes: %s", strerror(-r));
	}
	json_object_object_add(resp, "Volumes", l.arr);
	return 0;
}

static const struct endpoint {
	const char *path;
	endpoint_fn fn;
} endpoints[] = {
	{ "/Plugin.Activate", ep_activate },
	{ "/VolumeDriver.Create", ep_create },
	{ "/VolumeDriver.Remove", ep_remove },
	{ "/VolumeDriver.Mount", ep_mount },
	{ "/VolumeDriver.Unmount", ep_unmount },
	{ "/VolumeDriver.Path", ep_path },
	{ "/VolumeDriver.Get", ep_get },
	{ "/VolumeDriver.List", ep_list },
	{ "/VolumeDriver.Capabilities", ep_capabilities },
};

/* ---- HTTP ---------------------------------------------------------------- */

struct body {
	char *buf;
	size_t len;
	bool too_big;
};

/*
 * Parses @b: NULL for an empty body or "null" (the endpoints without
 * arguments get those), else an object, or -1 with the reason.
 */
static int parse_body(const struct body *b, struct json_object **ret, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t end, i;

	*ret = NULL;
	if (b->too_big)
		return seterr(err, errlen, "the request body is larger than %d bytes", BODY_MAX);
	for (i = 0; i < b->len && strchr(" \t\r\n", b->buf[i]); i++)
		;
	if (i == b->len)
		return 0;
	if (memchr(b->buf, 0, b->len))
		return seterr(err, errlen, "malformed JSON: the body holds a NUL byte");
	tok = json_tokener_new_ex(32);
	if (!tok)
		return seterr(err, errlen, "out of memory");
	o = json_tokener_parse_ex(tok, b->buf, (int)b->len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		json_object_put(o);
		return seterr(err, errlen, "malformed JSON: the body ends too early");
	}
	if (jerr != json_tokener_success) {
		json_object_put(o);
		return seterr(err, errlen, "malformed JSON: %s", json_tokener_error_desc(jerr));
	}
	for (; end < b->len && strchr(" \t\r\n", b->buf[end]); end++)
		;
	if (end != b->len) {
		json_object_put(o);
		return seterr(err, errlen, "malformed JSON: text after the value");
	}
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return seterr(err, errlen, "the request body is not a JSON object");
	}
	*ret = o;
	return 0;
}

/* The reply to one request, as a malloc()ed string. */
static char *handle(struct plugin *p, const char *method, const char *url, const struct body *b)
{
	const struct endpoint *ep = NULL;
	struct json_object *req = NULL, *resp = json_object_new_object();
	char err[2048] = "";
	char *text;
	int r = -1;

	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (!strcmp(url, endpoints[i].path))
			ep = &endpoints[i];
	if (!ep)
		seterr(err, sizeof(err), "unknown endpoint %.200s", url);
	else if (strcmp(method, "POST"))
		seterr(err, sizeof(err), "%.200s takes POST, not %.20s", url, method);
	else if (parse_body(b, &req, err, sizeof(err)) == 0) {
		pthread_mutex_lock(&p->lock);
		r = ep->fn(p, req, resp, err, sizeof(err));
		pthread_mutex_unlock(&p->lock);
	}
	if (r < 0) {
		/* an error answers only "Err" */
		json_object_put(resp);
		resp = json_object_new_object();
		if (!err[0])
			snprintf(err, sizeof(err), "internal error");
		log_msg("%.200s: %s", url, err);
	} else if (p->verbose) {
		log_msg("%s: ok", url);
	}
	json_object_object_add(resp, "Err", json_object_new_string(err));
	text = strdup(json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(resp);
	json_object_put(req);
	return text;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct plugin *p = cls;
	struct body *b = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text;

	if (!b) {   /* the headers: the body, if any, comes next */
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*size) {
		if (!b->too_big && b->len + *size <= BODY_MAX) {
			char *nb = realloc(b->buf, b->len + *size + 1);
			if (nb) {
				b->buf = nb;
				memcpy(b->buf + b->len, data, *size);
				b->len += *size;
				b->buf[b->len] = 0;
			} else {
				b->too_big = true;
			}
		} else {
			b->too_big = true;
		}
		*size = 0;
		return MHD_YES;
	}
	text = handle(p, method, url, b);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;

	if (b) {
		free(b->buf);
		free(b);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	log_msg("http: %s", line);
}

/* ---- start-up ------------------------------------------------------------ */

/*
 * Brings the state in line with what is mounted: after a reboot nothing is;
 * a mount whose daemon died is detached.  The IDs of a volume whose mount is
 * gone are kept (Docker will Unmount them), and the next Mount mounts it again.
 */
static void reconcile(struct plugin *p)
{
	char boot[64];

	dstate_current_boot(boot, sizeof(boot));
	if (p->st.boot_id[0] && strcmp(boot, p->st.boot_id) && p->st.n) {
		log_msg("state: written before the last boot: no container uses a volume any more");
		while (p->st.n)
			dstate_drop(&p->st, &p->st.vols[p->st.n - 1]);
	}
	for (size_t i = 0; i < p->st.n;) {
		struct dstate_vol *v = &p->st.vols[i];
		bool live = v->mounted && mount_live(p, v->name, v->mountpoint);

		if (v->mounted && !live) {
			log_msg("state: volume %s: its mount on %s is gone%s", v->name, v->mountpoint,
				v->nids ? "; mounting again at the next Mount" : "");
			if (v->owned)
				detach_dead_mount(v->name, v->mountpoint);
			v->mounted = false;
		}
		if (!v->nids && live && v->owned) {
			char err[1024];
			log_msg("state: volume %s: mounted without users; unmounting", v->name);
			if (unmount_volume(p, v, err, sizeof(err)) < 0)
				log_msg("state: %s", err);
		}
		if (!v->nids && !v->mounted) {
			dstate_drop(&p->st, v);
			continue;
		}
		if (v->nids)
			log_msg("state: volume %s: %zu user%s, %s on %s", v->name, v->nids,
				v->nids == 1 ? "" : "s", v->mounted ? "mounted" : "not mounted",
				v->mountpoint);
		i++;
	}
	save_state(p);
}

/* Binds and listens on @path; refuses if a live server answers there. */
static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], *slash;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_msg("socket %s: the path is too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if ((r = mkdir_p(dir, 0755)) < 0) {
			log_msg("socket directory %s: %s", dir, strerror(-r));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_msg("socket %s: another server listens there", path);
		close(fd);
		return -1;
	}
	unlink(path);   /* a stale socket */
	mode_t old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		log_msg("socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		log_msg("socket %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* STORE/@rel (main() checks that the store's path leaves room). */
static void in_store(const struct plugin *p, const char *rel, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/%s", p->store, rel) >= (int)len)
		buf[0] = 0;
}

/* The volfs binary beside this one. */
static int find_volfs(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if (snprintf(buf, len, "%s/volfs", self) >= (int)len)
		return -1;
	return access(buf, X_OK);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [--store DIR] [--socket PATH] [--mount-root DIR]\n\n"
		"Serve the volumes of a volfs store to Docker (the VolumeDriver plugin protocol).\n\n"
		"Options:\n"
		"      --store DIR       the store (default: $VOLFS_STORE, else " STORE_DEFAULT_PATH ")\n"
		"      --socket PATH     the plugin's socket (default " DEFAULT_SOCKET ";\n"
		"                        Docker names the driver after the file: volfs)\n"
		"      --mount-root DIR  where volumes are mounted, one directory each\n"
		"                        (default STORE/docker/mnt)\n"
		"  -v, --verbose         log every request, not only changes and errors\n"
		"  -h, --help            show this help\n"
		"      --version         show the version\n");
}

enum { OPT_STORE = 0x100, OPT_SOCKET, OPT_MOUNT_ROOT, OPT_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "mount-root", required_argument, NULL, OPT_MOUNT_ROOT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 }
	};
	static struct plugin plugin = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct plugin *p = &plugin;
	const char *opt_store = NULL, *opt_socket = DEFAULT_SOCKET, *opt_root = NULL;
	char path[PATH_MAX + 64], err[1024];
	struct store *store;
	struct MHD_Daemon *mhd;
	sigset_t stop;
	int c, r, lock_fd, listen_fd, sig;

	fault_report_install(PROG);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			opt_store = optarg;
			break;
		case OPT_SOCKET:
			opt_socket = optarg;
			break;
		case OPT_MOUNT_ROOT:
			opt_root = optarg;
			break;
		case 'v':
			p->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf(PROG " %s\n", VOLFS_VERSION);
			return 0;
		case ':':
			fprintf(stderr, PROG ": option '%s' needs an argument\nTry '" PROG " --help'.\n",
				argv[optind - 1]);
			return 2;
		default:
			if (optopt)
				fprintf(stderr, PROG ": unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, PROG ": unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n", argv[optind]);
		return 2;
	}
	if (opt_socket[0] != '/') {
		fprintf(stderr, PROG ": --socket needs an absolute path\n");
		return 2;
	}

	/* the store: it must exist; its absolute path is what the volfs daemons record */
	const char *store_arg = store_path_resolve(opt_store);
	if (!realpath(store_arg, p->store)) {
		if (errno == ENOENT)
			log_msg("store %s: does not exist (run 'volfs init --store %s')", store_arg, store_arg);
		else
			log_msg("store %s: %s", store_arg, strerror(errno));
		return 1;
	}
	if (open_store(p, STORE_RDONLY, &store, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return 1;
	}
	store_close(store);
	snprintf(p->socket_path, sizeof(p->socket_path), "%s", opt_socket);
	if (find_volfs(p->volfs_bin, sizeof(p->volfs_bin)) < 0) {
		log_msg("the volfs binary is not beside this one (%s): %s", p->volfs_bin, strerror(errno));
		return 1;
	}

	/* one plugin per store */
	if (strlen(p->store) + 64 >= PATH_MAX) {
		log_msg("store %s: the path is too long", p->store);
		return 1;
	}
	in_store(p, "run/docker", path, sizeof(path));
	if ((r = mkdir_p(path, 0700)) < 0) {
		log_msg("%s: %s", path, strerror(-r));
		return 1;
	}
	in_store(p, "run/docker/plugin.lock", path, sizeof(path));
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_msg("%s: %s", path, errno == EWOULDBLOCK ? "another " PROG " serves this store" :
			strerror(errno));
		return 1;
	}

	/* where volumes are mounted */
	if (opt_root)
		snprintf(path, sizeof(path), "%s", opt_root);
	else
		in_store(p, "docker/mnt", path, sizeof(path));
	if ((r = mkdir_p(path, 0755)) < 0 || !realpath(path, p->mount_root)) {
		log_msg("mount root %s: %s", path, strerror(r < 0 ? -r : errno));
		close(lock_fd);
		return 1;
	}
	if (strlen(p->mount_root) + 1 + IDX_NAME_MAX >= PATH_MAX) {
		log_msg("mount root %s: the path is too long", p->mount_root);
		close(lock_fd);
		return 1;
	}

	in_store(p, "run/docker/state.json", path, sizeof(path));
	r = dstate_load(&p->st, path, err, sizeof(err));
	if (r < 0) {
		log_msg("state %s: %s; move it away to start afresh (the plugin then forgets which "
			"containers use which volume)", path, r == -EBADMSG ? err : strerror(-r));
		close(lock_fd);
		return 1;
	}
	reconcile(p);

	/* the stop signals are taken by sigwait() below; every thread inherits the mask */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	listen_fd = listen_unix(p->socket_path);
	if (listen_fd < 0) {
		dstate_free(&p->st);
		close(lock_fd);
		return 1;
	}
	mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			       on_request, p,
			       MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,   /* first: it applies from here */
			       MHD_OPTION_LISTEN_SOCKET, listen_fd,
			       MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
			       MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			       MHD_OPTION_CONNECTION_LIMIT, 64u,
			       MHD_OPTION_END);
	if (!mhd) {
		log_msg("starting the HTTP server on %s failed", p->socket_path);
		close(listen_fd);
		unlink(p->socket_path);
		dstate_free(&p->st);
		close(lock_fd);
		return 1;
	}
	log_msg("serving store %s on %s; volumes mount under %s", p->store, p->socket_path,
		p->mount_root);

	do
		r = sigwait(&stop, &sig);
	while (r == EINTR);
	log_msg("signal %d: stopping (mounted volumes stay mounted)", sig);
	MHD_stop_daemon(mhd);   /* closes the listening socket */
	unlink(p->socket_path);
	pthread_mutex_lock(&p->lock);
	dstate_free(&p->st);
	pthread_mutex_unlock(&p->lock);
	close(lock_fd);
	return 0;
}
