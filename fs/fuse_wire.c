/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse_wire.c — reads requests from and writes replies to /dev/fuse for
 * libfuse, looking at two things on the way (fuse_wire.h):
 *
 *  - the INIT exchange: when the kernel offers FUSE_HANDLE_KILLPRIV_V2, the
 *    reply turns it on.  libfuse 3.14 knows the flag by no name, and does
 *    not otherwise read or change it;
 *  - each request's "kill suid/sgid" bit, which libfuse 3.14 drops: kept in
 *    a thread-local variable for the handler.  libfuse's loops handle a
 *    request in the thread that read it, before that thread reads again.
 *
 * The layouts are the kernel's ABI (<linux/fuse.h>); a field past what the
 * request carries is read as 0.
 */
#include "fuse_wire.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

/* The INIT request's id while its reply is due; 0 once it is sent. */
static _Atomic uint64_t init_unique;
static atomic_bool init_offers_v2, v2_on;
static _Thread_local bool kill_suidgid;

/* The 32-bit field at @off of the body of request @buf (@n bytes), or 0. */
static uint32_t body_u32(const void *buf, size_t n, size_t off)
{
	const uint8_t *p = buf;
	size_t at = sizeof(struct fuse_in_header) + off;
	uint32_t v = 0;
	if (n >= at + sizeof(v))
		__builtin_memcpy(&v, p + at, sizeof(v));
	return v;
}

static void note_request(const void *buf, size_t n)
{
	const struct fuse_in_header *h = buf;
	kill_suidgid = false;
	if (n < sizeof(*h))
		return;
	switch (h->opcode) {
	case FUSE_INIT:
		atomic_store(&init_offers_v2, (body_u32(buf, n, offsetof(struct fuse_init_in, flags)) &
					       FUSE_HANDLE_KILLPRIV_V2) != 0);
		atomic_store(&init_unique, h->unique);
		break;
	case FUSE_WRITE:
		kill_suidgid = body_u32(buf, n, offsetof(struct fuse_write_in, write_flags)) &
			       FUSE_WRITE_KILL_SUIDGID;
		break;
	case FUSE_SETATTR:
		kill_suidgid = body_u32(buf, n, offsetof(struct fuse_setattr_in, valid)) &
			       FATTR_KILL_SUIDGID;
		break;
	case FUSE_OPEN:
		kill_suidgid = body_u32(buf, n, offsetof(struct fuse_open_in, open_flags)) &
			       FUSE_OPEN_KILL_SUIDGID;
		break;
	}
}

static ssize_t wire_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(fd, buf, len);
	if (n > 0)
		note_request(buf, (size_t)n);
	return n;   /* errno as read(2) left it: libfuse looks at it */
}

/* The INIT reply: header, then struct fuse_init_out (libfuse's iovec 1). */
static void patch_init_reply(struct iovec *iov, int count)
{
	const struct fuse_out_header *oh = iov[0].iov_base;
	if (count < 2 || iov[0].iov_len < sizeof(*oh) || oh->error != 0 ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags) + sizeof(uint32_t))
		return;
	if (atomic_load(&init_offers_v2)) {
		struct fuse_init_out *out = iov[1].iov_base;
		out->flags |= FUSE_HANDLE_KILLPRIV_V2;
		atomic_store(&v2_on, true);
	}
}

static ssize_t wire_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	uint64_t want = atomic_load(&init_unique);
	if (want && count >= 1 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    ((const struct fuse_out_header *)iov[0].iov_base)->unique == want) {
		patch_init_reply(iov, count);
		atomic_store(&init_unique, 0);
	}
	return writev(fd, iov, count);
}

int fuse_wire_attach(struct fuse_session *se)
{
	static const struct fuse_custom_io io = { .read = wire_read, .writev = wire_writev };
	int r = fuse_session_custom_io(se, &io, fuse_session_fd(se));
	return r < 0 ? r : 0;
}

bool fuse_wire_killpriv_v2(void)
{
	return atomic_load(&v2_on);
}

bool fuse_wire_kill_suidgid(void)
{
	return kill_suidgid;
}
