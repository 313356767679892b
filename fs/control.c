/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control.c — the control socket of a read-write mount; see control.h. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "volume.h"

struct control {
	struct vfs *vfs;
	int fd;
	int stop_pipe[2];    /* written to stop the thread */
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

void control_path(const char *store_path, uint64_t volume_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/run/vol-%" PRIu64 ".sock", store_path, volume_id);
}

/* Reads one line (without its newline) from @fd, with a time limit. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t used = 0;
	while (used + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, timeout_ms);
		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		ssize_t got = read(fd, buf + used, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0 || buf[used] == '\n')
			break;
		used++;
	}
	buf[used] = 0;
	return 0;
}

static void answer(int fd, int r, const char *msg)
{
	if (dprintf(fd, "%d %s\n", -r, msg) < 0) {
		/* the caller went away: nothing to tell */
	}
}

static void serve_one(struct control *ctl, int fd)
{
	char line[256];
	int r = read_line(fd, line, sizeof(line), 5000);
	if (r < 0)
		return;
	if (!strncmp(line, "snapshot ", 9)) {
		const char *name = line + 9;
		if (!volume_name_valid(name)) {
			answer(fd, -EINVAL, "invalid snapshot name");
			return;
		}
		r = vfs_snapshot(ctl->vfs, name);
		answer(fd, r, r == 0 ? "taken" : strerror(-r));
		return;
	}
	answer(fd, -EINVAL, "unknown request");
}

static void *control_main(void *arg)
{
	struct control *ctl = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = ctl->fd, .events = POLLIN },
				       { .fd = ctl->stop_pipe[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(ctl, fd);
		close(fd);
	}
	return NULL;
}

int control_start(struct vfs *vfs, const char *path, struct control **ret_ctl)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct control *ctl = calloc(1, sizeof(*ctl));
	int r;
	if (!ctl)
		return -ENOMEM;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		free(ctl);
		return -ENAMETOOLONG;
	}
	ctl->vfs = vfs;
	ctl->stop_pipe[0] = ctl->stop_pipe[1] = -1;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	strcpy(addr.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0 || pipe2(ctl->stop_pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	/* a socket left by a daemon that died: we hold the volume's lock, it is ours */
	unlink(path);
	if (bind(ctl->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(ctl->fd, 8) < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&ctl->thread, NULL, control_main, ctl);
	if (r < 0)
		goto fail;
	pthread_setname_np(ctl->thread, "volfs-control");
	*ret_ctl = ctl;
	return 0;
fail:
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->stop_pipe[0] >= 0) {
		close(ctl->stop_pipe[0]);
		close(ctl->stop_pipe[1]);
	}
	free(ctl);
	return r;
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	if (write(ctl->stop_pipe[1], "x", 1) < 0) {
		/* the pipe cannot be full: one byte, once */
	}
	pthread_join(ctl->thread, NULL);
	close(ctl->fd);
	close(ctl->stop_pipe[0]);
	close(ctl->stop_pipe[1]);
	unlink(ctl->path);
	free(ctl);
}

int control_call(const char *path, const char *request, char *msg, size_t msglen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char line[512];
	int r;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    dprintf(fd, "%s\n", request) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* a snapshot writes back buffered data first: give it time */
	r = read_line(fd, line, sizeof(line), 600 * 1000);
	close(fd);
	if (r < 0)
		return r;
	int err = 0, off = 0;
	if (sscanf(line, "%d %n", &err, &off) < 1)
		return -EPROTO;
	if (msg && msglen)
		snprintf(msg, msglen, "%s", line + off);
	return -err;
}
