/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * docker_state.c — the state file of volfs-docker-plugin (docker_state.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docker_state.h"
#include "volume.h"

#define STATE_VERSION 1

void dstate_current_boot(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void vol_clear(struct dstate_vol *v)
{
	for (size_t i = 0; i < v->nids; i++)
		free(v->ids[i]);
	free(v->ids);
	v->ids = NULL;
	v->nids = 0;
}

void dstate_free(struct dstate *st)
{
	for (size_t i = 0; i < st->n; i++)
		vol_clear(&st->vols[i]);
	free(st->vols);
	st->vols = NULL;
	st->n = st->cap = 0;
}

struct dstate_vol *dstate_find(struct dstate *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->vols[i].name, name))
			return &st->vols[i];
	return NULL;
}

struct dstate_vol *dstate_get(struct dstate *st, const char *name)
{
	struct dstate_vol *v = dstate_find(st, name);

	if (v)
		return v;
	if (strlen(name) > IDX_NAME_MAX)
		return NULL;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 8;
		struct dstate_vol *vols = reallocarray(st->vols, cap, sizeof(*vols));

		if (!vols)
			return NULL;
		st->vols = vols;
		st->cap = cap;
	}
	v = &st->vols[st->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	return v;
}

void dstate_drop(struct dstate *st, struct dstate_vol *v)
{
	size_t i = (size_t)(v - st->vols);

	vol_clear(v);
	memmove(&st->vols[i], &st->vols[i + 1], (st->n - i - 1) * sizeof(*v));
	st->n--;
}

bool dstate_has_id(const struct dstate_vol *v, const char *id)
{
	for (size_t i = 0; i < v->nids; i++)
		if (!strcmp(v->ids[i], id))
			return true;
	return false;
}

int dstate_add_id(struct dstate_vol *v, const char *id)
{
	char **ids, *copy;

	if (dstate_has_id(v, id))
		return 0;
	copy = strdup(id);
	ids = copy ? reallocarray(v->ids, v->nids + 1, sizeof(*ids)) : NULL;
	if (!ids) {
		free(copy);
		return -ENOMEM;
	}
	ids[v->nids++] = copy;
	v->ids = ids;
	return 0;
}

bool dstate_remove_id(struct dstate_vol *v, const char *id)
{
	for (size_t i = 0; i < v->nids; i++) {
		if (strcmp(v->ids[i], id))
			continue;
		free(v->ids[i]);
		v->ids[i] = v->ids[--v->nids];
		return true;
	}
	return false;
}

/* ---- reading ------------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -EBADMSG;
}

static int load_volume(struct dstate *st, const char *name, struct json_object *o,
		       char *err, size_t errlen)
{
	struct json_object *mp, *mounted, *owned, *ids;
	struct dstate_vol *v;

	if (!volume_name_valid(name))
		return bad(err, errlen, "a volume name is invalid");
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "mountpoint", &mp) || !json_object_is_type(mp, json_type_string) ||
	    !json_object_object_get_ex(o, "mounted", &mounted) ||
	    !json_object_is_type(mounted, json_type_boolean) ||
	    !json_object_object_get_ex(o, "owned", &owned) || !json_object_is_type(owned, json_type_boolean) ||
	    !json_object_object_get_ex(o, "ids", &ids) || !json_object_is_type(ids, json_type_array))
		return bad(err, errlen, "a volume's entry lacks mountpoint, mounted, owned or ids");
	if ((size_t)json_object_get_string_len(mp) >= PATH_MAX)
		return bad(err, errlen, "a mount point is too long");
	v = dstate_get(st, name);
	if (!v)
		return -ENOMEM;
	snprintf(v->mountpoint, sizeof(v->mountpoint), "%s", json_object_get_string(mp));
	v->mounted = json_object_get_boolean(mounted);
	v->owned = json_object_get_boolean(owned);
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		struct json_object *id = json_object_array_get_idx(ids, i);
		int r;

		if (!json_object_is_type(id, json_type_string))
			return bad(err, errlen, "a mount ID is not a string");
		r = dstate_add_id(v, json_object_get_string(id));
		if (r < 0)
			return r;
	}
	return 0;
}

int dstate_load(struct dstate *st, const char *file, char *err, size_t errlen)
{
	struct json_object *root, *version, *boot, *vols;
	int r = 0;

	memset(st, 0, sizeof(*st));
	snprintf(st->file, sizeof(st->file), "%s", file);
	if (access(file, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	root = json_object_from_file(file);
	if (!root)
		return bad(err, errlen, json_util_get_last_err() ? json_util_get_last_err() : "unreadable");
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "version", &version) ||
	    json_object_get_int(version) != STATE_VERSION ||
	    !json_object_object_get_ex(root, "volumes", &vols) ||
	    !json_object_is_type(vols, json_type_object)) {
		json_object_put(root);
		return bad(err, errlen, "not a version 1 state object with \"volumes\"");
	}
	if (json_object_object_get_ex(root, "boot_id", &boot) && json_object_is_type(boot, json_type_string))
		snprintf(st->boot_id, sizeof(st->boot_id), "%s", json_object_get_string(boot));
	json_object_object_foreach(vols, name, o) {
		r = load_volume(st, name, o, err, errlen);
		if (r < 0)
			break;
	}
	json_object_put(root);
	if (r < 0)
		dstate_free(st);
	return r;
}

/* ---- writing ------------------------------------------------------------- */

static struct json_object *to_json(const struct dstate *st, const char *boot)
{
	struct json_object *root = json_object_new_object(), *vols = json_object_new_object();

	json_object_object_add(root, "version", json_object_new_int(STATE_VERSION));
	json_object_object_add(root, "boot_id", json_object_new_string(boot));
	for (size_t i = 0; i < st->n; i++) {
		const struct dstate_vol *v = &st->vols[i];
		struct json_object *o = json_object_new_object(), *ids = json_object_new_array();

		json_object_object_add(o, "mountpoint", json_object_new_string(v->mountpoint));
		json_object_object_add(o, "mounted", json_object_new_boolean(v->mounted));
		json_object_object_add(o, "owned", json_object_new_boolean(v->owned));
		for (size_t j = 0; j < v->nids; j++)
			json_object_array_add(ids, json_object_new_string(v->ids[j]));
		json_object_object_add(o, "ids", ids);
		json_object_object_add(vols, v->name, o);
	}
	json_object_object_add(root, "volumes", vols);
	return root;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int dstate_save(struct dstate *st)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX], *slash;
	struct json_object *root;
	const char *text;
	int fd, r;

	dstate_current_boot(st->boot_id, sizeof(st->boot_id));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", st->file) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	root = to_json(st, st->boot_id);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		json_object_put(root);
		return -errno;
	}
	r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	json_object_put(root);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, st->file) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* the rename itself durable: fsync the directory */
	snprintf(dir, sizeof(dir), "%s", st->file);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			if (fsync(fd) < 0)
				r = -errno;
			close(fd);
		}
	}
	return r;
}
