/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse_wire.h — the two things volfs needs from the FUSE protocol that
 * libfuse 3.14's API does not carry: turning on FUSE_HANDLE_KILLPRIV_V2, and
 * the "kill suid/sgid" bit of the request being handled.
 *
 * Why: without HANDLE_KILLPRIV_V2 the kernel asks the daemon for
 * security.capability before every write(2), a round trip that cost 20-25 us
 * of a 30 us buffered 8 KiB write.  With it, the kernel asks once per inode
 * and leaves clearing set-user-ID and set-group-ID to the daemon, flagging
 * each request that must do so (docs/design.md, "Set-user-ID bits").
 */
#ifndef VOLFS_FS_FUSE_WIRE_H
#define VOLFS_FS_FUSE_WIRE_H

#include <stdbool.h>

#include "fuse_ops.h"   /* the libfuse API version, then <fuse_lowlevel.h> */

/*
 * Puts volfs's reader and writer between the mounted session @se and its
 * /dev/fuse descriptor (fuse_session_custom_io(), in libfuse 3.14).  Call after
 * fuse_session_mount() and before the loop.  Returns 0 or -errno.
 */
int fuse_wire_attach(struct fuse_session *se);
/* Was FUSE_HANDLE_KILLPRIV_V2 offered by the kernel and turned on? */
bool fuse_wire_killpriv_v2(void);
/*
 * Does the request this thread is handling ask the daemon to clear
 * set-user-ID, and set-group-ID with group execute, of its file?  The kernel
 * asks in a WRITE (FUSE_WRITE_KILL_SUIDGID), a SETATTR (FATTR_KILL_SUIDGID:
 * a truncate by the unprivileged, or a chown) and an OPEN with O_TRUNC
 * (FUSE_OPEN_KILL_SUIDGID).  Valid in a handler called by libfuse's loop,
 * which handles each request in the thread that read it.
 */
bool fuse_wire_kill_suidgid(void);

#endif
