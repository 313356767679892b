/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.h — serving one volume (or snapshot) at a mount point: the body of
 * `volfs mount` and of mount.volfs.
 */
#ifndef VOLFS_FS_DAEMON_H
#define VOLFS_FS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "vfs.h"

struct daemon_config {
	const char *store_path;      /* resolved store directory          */
	const char *spec;            /* "NAME" or "NAME@SNAPSHOT"          */
	const char *mountpoint;
	bool foreground;             /* stay attached; log to stderr too   */
	bool debug;                  /* libfuse's request trace            */
	bool nosuid, nodev, noexec;  /* mount flags passed to the kernel   */
	struct vfs_options vfs;
	char store_buf[4096];        /* holds store= from the option list  */
};

/* Defaults: allow_other and default_permissions are always on. */
void daemon_config_init(struct daemon_config *cfg);
/*
 * Parses a mount option list ("store=/srv/volfs,ro,commit=5") into @cfg.
 * Options mount(8) and /etc/fstab pass for their own use (defaults, noauto,
 * nofail, _netdev, x-*, …) are accepted and ignored.  On an unknown or bad
 * option returns -EINVAL with a message in @err.
 */
int daemon_parse_options(struct daemon_config *cfg, const char *opts, char *err, size_t errlen);
/*
 * Mounts and serves.  In the background (the default) the calling process
 * returns once the mount is live (0) or has failed (1, with the message on
 * stderr), and a detached child serves until unmounted.  In the foreground it
 * returns when unmounted: 0, or 1 if data could not be committed.
 */
int daemon_main(const struct daemon_config *cfg);
/*
 * Unmounts volfs mount @dir and waits until its daemon (found through the
 * run/ records of the store at @store_path) has committed and exited.
 * -EINVAL: not a volfs mount; -EBUSY: in use.  @err gets the message.
 */
int daemon_unmount(const char *store_path, const char *dir, char *err, size_t errlen);
/* Is there a volfs mount, live or dead, on @dir (absolute)?  From /proc/self/mountinfo. */
bool daemon_is_volfs_mount(const char *dir);
/* The mount point of a live daemon serving @spec in the store; -ENOENT if none. */
int daemon_find_mount(const char *store_path, const char *spec, char *ret_dir, size_t len);

#endif
