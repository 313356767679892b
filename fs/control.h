/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control.h — the control socket of a read-write mount, STORE/run/vol-<id>.sock
 * (the store is mode 0700: root only).  What another process cannot do
 * safely against a mounted volume goes through it.  One request per
 * connection, one line each way:
 *
 *     snapshot NAME\n   ->   0\n               taken
 *                            ERRNO MESSAGE\n   refused or failed
 */
#ifndef VOLFS_FS_CONTROL_H
#define VOLFS_FS_CONTROL_H

#include <stddef.h>

#include "vfs.h"

struct control;

/* Listens on @path (replacing a stale socket) with a thread of its own. */
int control_start(struct vfs *vfs, const char *path, struct control **ret_ctl);
void control_stop(struct control *ctl);          /* NULL is fine */

/* Sends @request to the daemon at @path: its -errno, with its message in @msg. */
int control_call(const char *path, const char *request, char *msg, size_t msglen);

/* The socket path of volume @volume_id in @store_path. */
void control_path(const char *store_path, uint64_t volume_id, char *buf, size_t len);

#endif
