/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * docker_state.h — what volfs-docker-plugin remembers between requests and
 * across restarts: which volumes it has mounted where, and which Docker mount
 * IDs (containers) use each.  Kept in STORE/run/docker/state.json, written
 * atomically (a temporary file, fsync, rename, fsync of the directory):
 *
 *   { "version": 1,
 *     "boot_id": "…",                 the boot it was written in
 *     "volumes": { "NAME": { "mountpoint": "/…", "mounted": true,
 *                            "owned": true, "ids": [ "…", … ] } } }
 *
 * "owned": the plugin made the mount (at MOUNT_ROOT/NAME) and unmounts it
 * after the last ID goes; false for a mount made by hand that it lends to
 * containers.  Functions return 0 or a negative errno and do not log.
 */
#ifndef VOLFS_TOOLS_DOCKER_STATE_H
#define VOLFS_TOOLS_DOCKER_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "index.h"

struct dstate_vol {
	char name[IDX_NAME_MAX + 1];
	char mountpoint[PATH_MAX];
	bool mounted;
	bool owned;
	char **ids;
	size_t nids;
};

struct dstate {
	char file[PATH_MAX];     /* …/state.json */
	char boot_id[64];        /* as read from the file ("" if none) */
	struct dstate_vol *vols;
	size_t n, cap;
};

/*
 * Reads @file into @st (an empty state if the file does not exist).  A file
 * that is not valid state is -EBADMSG, with the reason in @err.
 */
int dstate_load(struct dstate *st, const char *file, char *err, size_t errlen);
/* Writes @st atomically, stamped with the current boot id. */
int dstate_save(struct dstate *st);
void dstate_free(struct dstate *st);

struct dstate_vol *dstate_find(struct dstate *st, const char *name);
/* The entry of @name, made empty if there was none; NULL if out of memory. */
struct dstate_vol *dstate_get(struct dstate *st, const char *name);
void dstate_drop(struct dstate *st, struct dstate_vol *v);

bool dstate_has_id(const struct dstate_vol *v, const char *id);
int dstate_add_id(struct dstate_vol *v, const char *id);      /* -ENOMEM */
bool dstate_remove_id(struct dstate_vol *v, const char *id);  /* false: not there */

/* The kernel's boot id (/proc/sys/kernel/random/boot_id), "" if unknown. */
void dstate_current_boot(char *buf, size_t len);

#endif
