/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * volfs — the admin tool: volfs [--store DIR] COMMAND [ARG...]
 *
 * One function per command, found through the table `commands`.  Each
 * command parses its own options (getopt_long), checks every argument before
 * it opens the store, and reports an error once, here, as
 * "volfs: <context>: <reason>".
 *
 * Exit status: 0 success, 1 failure (nothing was changed unless the message
 * says otherwise), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "store.h"
#include "control.h"
#include "daemon.h"
#include "fault.h"
#include "snapshot.h"
#include "volume.h"

#ifndef VOLFS_VERSION
#define VOLFS_VERSION "unknown"
#endif

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	CONTINUE = -1,          /* an option handler's "go on parsing" */
};

enum {
	OPT_STORE = 0x100,
	OPT_JSON,
	OPT_VERSION,
};

struct cmd {
	const char *name;
	int (*run)(const struct cmd *cmd, int argc, char **argv);
	const char *synopsis;   /* after "volfs NAME " */
	const char *summary;    /* one line, for the list of commands */
	const char *description;   /* its --help; NULL: the summary */
	const char *options;    /* option lines of its --help, may be NULL */
};

static const char *opt_store;   /* --store, before or after the command */

/* ---- messages ------------------------------------------------------------ */

static int __attribute__((format(printf, 2, 3)))
fail(const char *context, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "volfs: %s: ", context);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

static int __attribute__((format(printf, 2, 3)))
usage_error(const struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "volfs: %s%s", cmd ? cmd->name : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'volfs %s%s--help'.\n", cmd ? cmd->name : "", cmd ? " " : "");
	return EXIT_USAGE;
}

static const char store_help[] =
	"      --store DIR       the store (default: $VOLFS_STORE, else " STORE_DEFAULT_PATH ")\n"
	"  -h, --help            show this help\n";

static void cmd_usage(const struct cmd *cmd, FILE *out)
{
	fprintf(out, "Usage: volfs %s%s%s\n\n%s.\n\nOptions:\n%s%s",
		cmd->name, cmd->synopsis[0] ? " " : "", cmd->synopsis,
		cmd->description ? cmd->description : cmd->summary,
		cmd->options ? cmd->options : "", store_help);
}

/*
 * The options every command takes, and getopt's complaints.  Returns CONTINUE,
 * or the exit status if the command should stop here.
 */
static int common_option(const struct cmd *cmd, int c, char **argv)
{
	switch (c) {
	case OPT_STORE:
		opt_store = optarg;
		return CONTINUE;
	case 'h':
		cmd_usage(cmd, stdout);
		return EXIT_OK;
	case ':':
		return usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
	default:
		if (optopt)
			return usage_error(cmd, "unknown option '-%c'", optopt);
		return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
	}
}

#define COMMON_LONGOPTS \
	{ "store", required_argument, NULL, OPT_STORE }, \
	{ "help", no_argument, NULL, 'h' }

/* Exactly @want positional arguments remain; else a usage error. */
static int expect_args(const struct cmd *cmd, int argc, char **argv, int want, const char *what)
{
	int have = argc - optind;

	if (have < want)
		return usage_error(cmd, "missing %s", what);
	if (have > want)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind + want]);
	return CONTINUE;
}

/* ---- the store ----------------------------------------------------------- */

/* The format number of the store at @path, for a message; 0 if unknown. */
static uint32_t store_format_of(const char *path)
{
	struct idx_env *env = NULL;
	struct idx_txn *txn = NULL;
	struct idx_meta meta = { 0 };
	char *dir;

	if (asprintf(&dir, "%s/index", path) < 0)
		return 0;
	if (idx_env_open(dir, IDX_ENV_RDONLY, 0, &env) == 0 &&
	    idx_txn_begin(env, IDX_TXN_RDONLY, &txn) == 0)
		(void)idx_meta_get(txn, &meta);
	idx_txn_abort(txn);
	idx_env_close(env);
	free(dir);
	explicit_bzero(meta.secret, sizeof(meta.secret));
	return meta.format;
}

static int store_error(const char *path, int r)
{
	char context[4096];
	uint32_t format;

	snprintf(context, sizeof(context), "store %s", path);
	switch (r) {
	case -ENOENT:
		return fail(context, "does not exist (run 'volfs init --store %s')", path);
	case -ENODATA:
		return fail(context, "not initialised (run 'volfs init --store %s')", path);
	case -ENOTDIR:
		return fail(context, "not a directory");
	case -EPROTONOSUPPORT:
		format = store_format_of(path);
		if (format > IDX_FORMAT_VERSION)
			return fail(context, "store format %" PRIu32 " is newer than this volfs reads (%d)",
				    format, IDX_FORMAT_VERSION);
		return fail(context, "store format %" PRIu32 " is not one this volfs reads (%d)",
			    format, IDX_FORMAT_VERSION);
	case -EUCLEAN:
		return fail(context, "index is corrupt (%s/index/data.mdb: LMDB rejects it, or the "
			    "databases of volfs are missing); run fsck.volfs", path);
	default:
		return fail(context, "%s", strerror(-r));
	}
}

static int open_store(unsigned flags, struct store **ret_store)
{
	const char *path = store_path_resolve(opt_store);
	int r;

	r = store_open(path, flags, ret_store);
	if (r < 0)
		return store_error(path, r);
	return EXIT_OK;
}

/* ---- formatting ---------------------------------------------------------- */

static void format_time(int64_t ns, char out[32])
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "?");
}

/* 0B, 512B, 1.5K, 128K, 1.5M, 20G ... (binary units) */
static void format_size(uint64_t bytes, char out[16])
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(out, 16, "%" PRIu64 "B", bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (v < 9.95) {
		snprintf(out, 16, "%.1f%c", v, units[u]);
		size_t n = strlen(out);   /* "2.0K" -> "2K" */
		if (n >= 4 && out[n - 3] == '.' && out[n - 2] == '0')
			memmove(out + n - 3, out + n - 1, 2);
	} else {
		snprintf(out, 16, "%.0f%c", v, units[u]);
	}
}

static void print_json(struct json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- init ---------------------------------------------------------------- */

static bool store_has_index(const char *path)
{
	char *mdb;
	bool r;

	if (asprintf(&mdb, "%s/index/data.mdb", path) < 0)
		return false;
	r = access(mdb, F_OK) == 0;
	free(mdb);
	return r;
}

static int cmd_init(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	char context[4096];
	const char *path;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	if ((r = expect_args(cmd, argc, argv, 0, "")) != CONTINUE)
		return r;

	path = store_path_resolve(opt_store);
	snprintf(context, sizeof(context), "store %s", path);
	r = store_init(path);
	switch (r) {
	case 0:
		printf("initialised store %s\n", path);
		return EXIT_OK;
	case -EEXIST:
		if (store_has_index(path))
			return fail(context, "is a volfs store already");
		return fail(context, "directory is not empty: refusing to make a store there");
	case -ENOENT:
		return fail(context, "parent directory does not exist");
	case -ENOTDIR:
		return fail(context, "not a directory");
	default:
		return fail(context, "%s", strerror(-r));
	}
}

/* ---- create -------------------------------------------------------------- */

static const char name_rule[] =
	"use 1-128 of A-Z a-z 0-9 _ . - starting with a letter or digit";

/* Applies one -o argument ("key=value[,key=value]...") to *block_size. */
static int create_options(const struct cmd *cmd, char *arg, uint64_t *block_size)
{
	enum { KEY_BLOCK_SIZE };
	char *const keys[] = { [KEY_BLOCK_SIZE] = (char *)"block_size", NULL };
	char *value;

	while (*arg) {
		char *item = arg;

		switch (getsubopt(&arg, keys, &value)) {
		case KEY_BLOCK_SIZE:
			if (!value || !*value)
				return usage_error(cmd, "option block_size needs a value");
			if (volume_parse_size(value, block_size) < 0 ||
			    !volume_block_size_valid(*block_size))
				return fail(cmd->name, "block size %s must be a power of two from 4K to 1M",
					    value);
			break;
		default:
			return usage_error(cmd, "unknown option '%s' (known: block_size)", item);
		}
	}
	return CONTINUE;
}

static int cmd_create(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	uint64_t block_size = VOLUME_BLOCK_DEFAULT;
	struct store *store = NULL;
	const char *name;
	int c, r;

	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		if (c == 'o')
			r = create_options(cmd, optarg, &block_size);
		else
			r = common_option(cmd, c, argv);
		if (r != CONTINUE)
			return r;
	}
	if ((r = expect_args(cmd, argc, argv, 1, "volume name")) != CONTINUE)
		return r;
	name = argv[optind];
	if (!volume_name_valid(name))
		return fail(cmd->name, "invalid volume name '%s': %s", name, name_rule);

	if ((r = open_store(0, &store)) != EXIT_OK)
		return r;
	r = volume_create(store, name, (uint32_t)block_size, NULL);
	store_close(store);
	if (r == -EEXIST)
		return fail(cmd->name, "volume '%s' exists already", name);
	if (r < 0)
		return fail(cmd->name, "volume '%s': %s", name, strerror(-r));
	puts(name);
	return EXIT_OK;
}

/* ---- list ---------------------------------------------------------------- */

struct list_entry {
	char *name;
	struct idx_volume vol;
	struct volume_stats st;
};

struct list {
	size_t n, cap;
	struct list_entry *e;
};

static int list_collect(const char *name, const struct idx_volume *vol, void *arg)
{
	struct list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct list_entry *e = reallocarray(l->e, cap, sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	l->e[l->n] = (struct list_entry){ .name = strdup(name), .vol = *vol };
	if (!l->e[l->n].name)
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Every volume and its statistics, in name order, from one read transaction. */
static int list_load(struct store *store, struct list *l)
{
	struct idx_txn *txn;
	int r;

	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		return r;
	r = idx_volume_foreach(txn, list_collect, l);
	for (size_t i = 0; r >= 0 && i < l->n; i++)
		r = volume_stats(txn, &l->e[i].vol, &l->e[i].st);
	idx_txn_abort(txn);
	return r < 0 ? r : 0;
}

static void list_print_table(const struct list *l)
{
	int w = 4;   /* strlen("NAME") */

	for (size_t i = 0; i < l->n; i++)
		if ((int)strlen(l->e[i].name) > w)
			w = (int)strlen(l->e[i].name);
	printf("%-*s  %-20s  %6s  %8s  %8s\n", w, "NAME", "CREATED", "SIZE", "FILES", "SHARED");
	for (size_t i = 0; i < l->n; i++) {
		char created[32], size[16];

		format_time(l->e[i].vol.created_ns, created);
		format_size(l->e[i].st.bytes, size);
		printf("%-*s  %-20s  %6s  %8" PRIu64 "  %8" PRIu64 "\n", w, l->e[i].name,
		       created, size, l->e[i].st.files, l->e[i].st.blocks_shared);
	}
}

static void list_print_json(const struct list *l)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < l->n; i++) {
		struct json_object *o = json_object_new_object();
		char created[32];

		format_time(l->e[i].vol.created_ns, created);
		json_object_object_add(o, "name", json_object_new_string(l->e[i].name));
		json_object_object_add(o, "created", json_object_new_string(created));
		json_object_object_add(o, "size_bytes", json_object_new_uint64(l->e[i].st.bytes));
		json_object_object_add(o, "files", json_object_new_uint64(l->e[i].st.files));
		json_object_object_add(o, "blocks_shared",
				       json_object_new_uint64(l->e[i].st.blocks_shared));
		json_object_array_add(arr, o);
	}
	print_json(arr);
	json_object_put(arr);
}

static int cmd_list(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS, { "json", no_argument, NULL, OPT_JSON }, { 0 }
	};
	struct store *store = NULL;
	struct list l = { 0 };
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == OPT_JSON) {
			json = true;
			continue;
		}
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	}
	if ((r = expect_args(cmd, argc, argv, 0, "")) != CONTINUE)
		return r;

	if ((r = open_store(STORE_RDONLY, &store)) != EXIT_OK)
		return r;
	r = list_load(store, &l);
	store_close(store);
	if (r < 0) {
		r = fail(cmd->name, "%s", strerror(-r));
	} else {
		if (json)
			list_print_json(&l);
		else
			list_print_table(&l);
		r = EXIT_OK;
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.e[i].name);
	free(l.e);
	return r;
}

/* ---- inspect ------------------------------------------------------------- */

static int inspect_snapshot(const char *name, const struct idx_snapshot *snap, void *arg)
{
	struct json_object *o = json_object_new_object();
	char created[32];

	format_time(snap->created_ns, created);
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "generation", json_object_new_uint64(snap->gen));
	json_object_object_add(o, "created", json_object_new_string(created));
	json_object_array_add(arg, o);
	return 0;
}

/* The JSON description of volume @name, read in @txn. */
static int inspect_build(struct idx_txn *txn, const char *name, struct json_object **ret)
{
	struct json_object *o, *snaps;
	struct volume_stats st;
	struct idx_volume vol;
	struct idx_tree tree;
	char created[32];
	int r;

	r = idx_volume_get(txn, name, &vol);
	if (r < 0)
		return r;
	r = idx_tree_get(txn, vol.tree, &tree);
	if (r < 0)
		return r;
	r = volume_stats(txn, &vol, &st);
	if (r < 0)
		return r;
	snaps = json_object_new_array();
	r = idx_snapshot_foreach(txn, vol.id, inspect_snapshot, snaps);
	if (r < 0) {
		json_object_put(snaps);
		return r;
	}

	format_time(vol.created_ns, created);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "id", json_object_new_uint64(vol.id));
	json_object_object_add(o, "tree", json_object_new_uint64(vol.tree));
	json_object_object_add(o, "block_size", json_object_new_uint64(vol.block_size));
	json_object_object_add(o, "created", json_object_new_string(created));
	json_object_object_add(o, "generation", json_object_new_uint64(tree.gen));
	json_object_object_add(o, "files", json_object_new_uint64(st.files));
	json_object_object_add(o, "size_bytes", json_object_new_uint64(st.bytes));
	json_object_object_add(o, "blocks", json_object_new_uint64(st.blocks));
	json_object_object_add(o, "blocks_shared", json_object_new_uint64(st.blocks_shared));
	json_object_object_add(o, "snapshots", snaps);
	*ret = o;
	return 0;
}

static int cmd_inspect(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	struct store *store = NULL;
	struct json_object *obj = NULL;
	struct idx_txn *txn;
	const char *name;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	if ((r = expect_args(cmd, argc, argv, 1, "volume name")) != CONTINUE)
		return r;
	name = argv[optind];
	if (!volume_name_valid(name))
		return fail(cmd->name, "invalid volume name '%s': %s", name, name_rule);

	if ((r = open_store(STORE_RDONLY, &store)) != EXIT_OK)
		return r;
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r == 0) {
		r = inspect_build(txn, name, &obj);
		idx_txn_abort(txn);
	}
	store_close(store);
	if (r == -ENOENT)
		return fail(cmd->name, "no volume named '%s'", name);
	if (r < 0)
		return fail(cmd->name, "volume '%s': %s", name, strerror(-r));
	print_json(obj);
	json_object_put(obj);
	return EXIT_OK;
}

/* ---- rm ------------------------------------------------------------------ */

static int cmd_rm(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	struct store *store = NULL;
	const char *name;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	if ((r = expect_args(cmd, argc, argv, 1, "volume name")) != CONTINUE)
		return r;
	name = argv[optind];
	if (!volume_name_valid(name))
		return fail(cmd->name, "invalid volume name '%s': %s", name, name_rule);

	if ((r = open_store(0, &store)) != EXIT_OK)
		return r;
	r = volume_remove(store, name);
	if (r == -ENOTEMPTY) {
		char names[512] = "";
		struct idx_txn *txn;
		struct idx_volume v;
		if (idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn) == 0) {
			if (idx_volume_get(txn, name, &v) == 0)
				snapshot_dependents(txn, v.tree, 0, names, sizeof(names));
			idx_txn_abort(txn);
		}
		store_close(store);
		return fail(cmd->name, "clones depend on volume '%s': %s (remove them first)", name,
			    names);
	}
	if (r == -EBUSY) {
		/* the volume itself, or a read-only mount of one of its snapshots? */
		struct idx_volume v;
		struct idx_txn *txn;
		int fd = -1, lr = -EBUSY;
		if (idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn) == 0) {
			if (idx_volume_get(txn, name, &v) == 0)
				lr = store_lock_volume(store, v.id, &fd);
			idx_txn_abort(txn);
		}
		if (fd >= 0)
			close(fd);
		store_close(store);
		if (lr == 0)
			return fail(cmd->name, "a snapshot of volume '%s' is mounted", name);
		return fail(cmd->name, "volume '%s' is mounted", name);
	}
	store_close(store);
	if (r == -ENOENT)
		return fail(cmd->name, "no volume named '%s'", name);
	if (r < 0)
		return fail(cmd->name, "volume '%s': %s", name, strerror(-r));
	puts(name);
	return EXIT_OK;
}

/* ---- snapshots, clones, rollback ---------------------------------------- */

/* "VOL@SNAP" into its names, or a usage-level complaint. */
static int parse_snapshot(const struct cmd *cmd, const char *spec, char *vol, char *snap)
{
	if (snapshot_parse(spec, vol, snap) == 0)
		return CONTINUE;
	if (!strchr(spec, '@'))
		return fail(cmd->name, "'%s': give VOLUME@SNAPSHOT", spec);
	return fail(cmd->name, "invalid snapshot '%s': both names need 1-128 of A-Z a-z 0-9 _ . - "
		    "starting with a letter or digit", spec);
}

/* Asks the daemon of mounted volume @vol to take snapshot @snap. */
static int snapshot_via_daemon(struct store *store, const char *vol, const char *snap,
			       char *msg, size_t msglen)
{
	char dir[PATH_MAX], path[PATH_MAX], request[IDX_NAME_MAX + 16];
	struct idx_volume v;
	struct idx_txn *txn;
	int r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r == 0) {
		r = idx_volume_get(txn, vol, &v);
		idx_txn_abort(txn);
	}
	if (r < 0)
		return r;
	/* what write(2) has put in the kernel's page cache goes to the daemon first */
	if (daemon_find_mount(store->path, vol, dir, sizeof(dir)) == 0) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
	}
	control_path(store->path, v.id, path, sizeof(path));
	snprintf(request, sizeof(request), "snapshot %s", snap);
	return control_call(path, request, msg, msglen);
}

static int snapshot_create_cmd(const struct cmd *cmd, struct store *store, const char *spec)
{
	char vol[IDX_NAME_MAX + 1], snap[IDX_NAME_MAX + 1], msg[256] = "";
	int r = parse_snapshot(cmd, spec, vol, snap);
	if (r != CONTINUE)
		return r;
	r = snapshot_create(store, vol, snap);
	if (r == -EBUSY)   /* mounted: its daemon takes it, buffered data and all */
		r = snapshot_via_daemon(store, vol, snap, msg, sizeof(msg));
	if (r == -ENOENT)
		return fail(cmd->name, "no volume named '%s'", vol);
	if (r == -EEXIST)
		return fail(cmd->name, "snapshot '%s' exists already", spec);
	if (r < 0)
		return fail(cmd->name, "%s: %s", spec, msg[0] ? msg : strerror(-r));
	puts(spec);
	return EXIT_OK;
}

static int snapshot_remove_cmd(const struct cmd *cmd, struct store *store, const char *spec)
{
	char vol[IDX_NAME_MAX + 1], snap[IDX_NAME_MAX + 1], names[512] = "";
	int r = parse_snapshot(cmd, spec, vol, snap);
	if (r != CONTINUE)
		return r;
	r = snapshot_remove(store, vol, snap);
	if (r == -ENOTEMPTY) {
		struct idx_txn *txn;
		struct idx_volume v;
		struct idx_snapshot sn;
		if (idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn) == 0) {
			if (idx_volume_get(txn, vol, &v) == 0 &&
			    idx_snapshot_get(txn, v.id, snap, &sn) == 0)
				snapshot_dependents(txn, sn.tree, sn.gen, names, sizeof(names));
			idx_txn_abort(txn);
		}
		return fail(cmd->name, "clones depend on '%s': %s (remove them first)", spec, names);
	}
	if (r == -ENOENT)
		return fail(cmd->name, "no snapshot '%s'", spec);
	if (r == -EBUSY)
		return fail(cmd->name, "snapshot '%s' is mounted", spec);
	if (r < 0)
		return fail(cmd->name, "%s: %s", spec, strerror(-r));
	puts(spec);
	return EXIT_OK;
}

struct snapshot_rows {
	struct json_object *array;   /* --json */
	bool header;
};

static int print_snapshot(const struct snapshot_info *info, void *arg)
{
	struct snapshot_rows *rows = arg;
	char created[32], size[16], spec[2 * IDX_NAME_MAX + 2];
	format_time(info->snap.created_ns, created);
	snprintf(spec, sizeof(spec), "%s@%s", info->volume, info->name);
	if (rows->array) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(spec));
		json_object_object_add(o, "created", json_object_new_string(created));
		json_object_object_add(o, "generation", json_object_new_uint64(info->snap.gen));
		json_object_object_add(o, "unique_bytes", json_object_new_uint64(info->unique_bytes));
		json_object_array_add(rows->array, o);
		return 0;
	}
	if (!rows->header) {
		printf("%-40s %-22s %8s\n", "NAME", "CREATED", "UNIQUE");
		rows->header = true;
	}
	format_size(info->unique_bytes, size);
	printf("%-40s %-22s %8s\n", spec, created, size);
	return 0;
}

static int cmd_snapshot(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS, { "json", no_argument, NULL, OPT_JSON }, { 0 }
	};
	struct snapshot_rows rows = { 0 };
	struct store *store = NULL;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == OPT_JSON)
			json = true;
		else if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	}
	if (optind >= argc)
		return usage_error(cmd, "missing action: create, list or rm");
	const char *action = argv[optind++];
	bool list = !strcmp(action, "list");
	if (!list && strcmp(action, "create") && strcmp(action, "rm"))
		return usage_error(cmd, "unknown action '%s': create, list or rm", action);
	if (list ? argc - optind > 1 : argc - optind != 1)
		return usage_error(cmd, list ? "unexpected argument '%s'" : "%s needs VOLUME@SNAPSHOT",
				   list ? argv[optind + 1] : action);
	if ((r = open_store(list ? STORE_RDONLY : 0, &store)) != EXIT_OK)
		return r;
	if (!strcmp(action, "create")) {
		r = snapshot_create_cmd(cmd, store, argv[optind]);
	} else if (!strcmp(action, "rm")) {
		r = snapshot_remove_cmd(cmd, store, argv[optind]);
	} else {
		const char *vol = optind < argc ? argv[optind] : NULL;
		struct idx_txn *txn;
		if (json)
			rows.array = json_object_new_array();
		r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
		if (r == 0) {
			r = snapshot_list(txn, vol, print_snapshot, &rows);
			idx_txn_abort(txn);
		}
		if (r == -ENOENT)
			r = fail(cmd->name, "no volume named '%s'", vol);
		else if (r < 0)
			r = fail(cmd->name, "listing: %s", strerror(-r));
		else if (json)
			print_json(rows.array);
		if (rows.array)
			json_object_put(rows.array);
	}
	store_close(store);
	return r;
}

static int cmd_clone(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	char vol[IDX_NAME_MAX + 1], snap[IDX_NAME_MAX + 1];
	struct store *store = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	if ((r = expect_args(cmd, argc, argv, 2, "VOLUME@SNAPSHOT and the new volume's name")) != CONTINUE)
		return r;
	if ((r = parse_snapshot(cmd, argv[optind], vol, snap)) != CONTINUE)
		return r;
	const char *newvol = argv[optind + 1];
	if (!volume_name_valid(newvol))
		return fail(cmd->name, "invalid volume name '%s': %s", newvol, name_rule);
	if ((r = open_store(0, &store)) != EXIT_OK)
		return r;
	r = snapshot_clone(store, vol, snap, newvol);
	store_close(store);
	if (r == -ENOENT)
		return fail(cmd->name, "no snapshot '%s'", argv[optind]);
	if (r == -EEXIST)
		return fail(cmd->name, "volume '%s' exists already", newvol);
	if (r == -ELOOP)
		return fail(cmd->name, "'%s' is a clone %d levels deep: no deeper", argv[optind],
			    IDX_VIEW_DEPTH);
	if (r < 0)
		return fail(cmd->name, "%s: %s", argv[optind], strerror(-r));
	puts(newvol);
	return EXIT_OK;
}

static int cmd_rollback(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	char vol[IDX_NAME_MAX + 1], snap[IDX_NAME_MAX + 1], names[512] = "";
	struct store *store = NULL;
	bool destroy = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":hr", longopts, NULL)) != -1) {
		if (c == 'r')
			destroy = true;
		else if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	}
	if ((r = expect_args(cmd, argc, argv, 1, "VOLUME@SNAPSHOT")) != CONTINUE)
		return r;
	if ((r = parse_snapshot(cmd, argv[optind], vol, snap)) != CONTINUE)
		return r;
	if ((r = open_store(0, &store)) != EXIT_OK)
		return r;
	r = snapshot_rollback(store, vol, snap, destroy);
	if (r == -ENOTEMPTY) {
		struct idx_txn *txn;
		if (idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn) == 0) {
			snapshot_newer(txn, vol, snap, names, sizeof(names));
			idx_txn_abort(txn);
		}
	}
	store_close(store);
	if (r == -ENOTEMPTY && !destroy)
		return fail(cmd->name, "newer snapshots exist: %s (use -r to destroy them)", names);
	if (r == -ENOTEMPTY)
		return fail(cmd->name, "clones depend on the newer snapshots %s", names);
	if (r == -EBUSY)
		return fail(cmd->name, "volume '%s' is mounted: unmount it first (the kernel and open "
			    "files hold its present state)", vol);
	if (r == -ENOENT)
		return fail(cmd->name, "no snapshot '%s'", argv[optind]);
	if (r < 0)
		return fail(cmd->name, "%s: %s", argv[optind], strerror(-r));
	puts(argv[optind]);
	return EXIT_OK;
}

/* ---- mount, umount ------------------------------------------------------- */

static int cmd_mount(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS, { "foreground", no_argument, NULL, 'f' }, { 0 }
	};
	struct daemon_config cfg;
	char err[512];
	int c, r;

	daemon_config_init(&cfg);
	while ((c = getopt_long(argc, argv, ":hfo:", longopts, NULL)) != -1) {
		if (c == 'f') {
			cfg.foreground = true;
		} else if (c == 'o') {
			if (daemon_parse_options(&cfg, optarg, err, sizeof(err)) < 0)
				return usage_error(cmd, "%s", err);
		} else if ((r = common_option(cmd, c, argv)) != CONTINUE) {
			return r;
		}
	}
	if ((r = expect_args(cmd, argc, argv, 2, "volume and mount point")) != CONTINUE)
		return r;
	cfg.spec = argv[optind];
	cfg.mountpoint = argv[optind + 1];
	/* --store wins over -o store=, which wins over $VOLFS_STORE */
	if (opt_store || !cfg.store_path)
		cfg.store_path = store_path_resolve(opt_store);
	return daemon_main(&cfg) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int cmd_umount(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	char err[PATH_MAX + 128];
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	if ((r = expect_args(cmd, argc, argv, 1, "mount point")) != CONTINUE)
		return r;
	if (daemon_unmount(store_path_resolve(opt_store), argv[optind], err, sizeof(err)) < 0)
		return fail(cmd->name, "%s", err);
	return EXIT_OK;
}

/* ---- help and the table -------------------------------------------------- */

static int cmd_help(const struct cmd *cmd, int argc, char **argv);

static const struct cmd commands[] = {
	{ "init", cmd_init, "", "Create a new, empty store",
	  "Create a new, empty store: the directory, mode 0700, unless it exists\n"
	  "and is empty, and its parent must exist", NULL },
	{ "create", cmd_create, "NAME [-o block_size=SIZE]", "Create an empty volume",
	  "Create an empty volume NAME: 1-128 of A-Z a-z 0-9 _ . -, starting with\n"
	  "a letter or digit", "  -o block_size=SIZE    block size of its files: a power of two from 4K to 1M\n"
	  "                        (default 128K); SIZE is bytes or takes K, KiB, M, MiB\n" },
	{ "list", cmd_list, "[--json]", "List the volumes",
	  "List the volumes: name, creation time (UTC), logical size, number of\n"
	  "files, and blocks whose chunk is shared",
	  "      --json            print a JSON array instead of a table\n" },
	{ "inspect", cmd_inspect, "NAME", "Describe a volume as JSON",
	  "Describe volume NAME as JSON: ids, block size, creation time, generation,\n"
	  "files, size, blocks, blocks shared, snapshots", NULL },
	{ "rm", cmd_rm, "NAME", "Remove a volume and free its chunks",
	  "Remove volume NAME and free the chunks no other volume uses;\n"
	  "refused while the volume is mounted", NULL },
	{ "snapshot", cmd_snapshot, "create|list|rm [VOLUME[@SNAPSHOT]]", "Take, list or remove snapshots",
	  "Take a snapshot (create VOLUME@SNAPSHOT: O(1), of a mounted volume too, with\n"
	  "its buffered data), list them (list [VOLUME]: name, creation time, and the\n"
	  "space only the snapshot holds), or remove one (rm VOLUME@SNAPSHOT: gives that\n"
	  "space back; refused while it is mounted or clones depend on it)",
	  "      --json            list: print a JSON array\n" },
	{ "clone", cmd_clone, "VOLUME@SNAPSHOT NEWVOLUME", "Make a writable volume from a snapshot",
	  "Make NEWVOLUME, a writable volume that starts as VOLUME@SNAPSHOT and shares\n"
	  "all its data until written (O(1))", NULL },
	{ "rollback", cmd_rollback, "[-r] VOLUME@SNAPSHOT", "Return a volume to a snapshot",
	  "Make VOLUME what it was at SNAPSHOT, discarding later changes; refused while\n"
	  "the volume is mounted, and while newer snapshots exist unless -r",
	  "  -r                    destroy the newer snapshots\n" },
	{ "mount", cmd_mount, "[-f] [-o OPTIONS] NAME[@SNAPSHOT] DIR", "Mount a volume or a snapshot",
	  "Mount volume NAME (read-write, one mount at a time) or snapshot\n"
	  "NAME@SNAPSHOT (read-only, any number of times) on directory DIR, and\n"
	  "return once the mount is live",
	  "  -f, --foreground      serve in the foreground until unmounted\n"
	  "  -o OPTIONS            comma-separated: ro, commit=SECONDS (default 5),\n"
	  "                        dirty_limit=SIZE (default 256M), noverify_dedup,\n"
	  "                        nosuid, nodev, noexec, debug, store=DIR\n" },
	{ "umount", cmd_umount, "DIR", "Unmount a volume",
	  "Unmount the volfs mount on DIR and return once its daemon has written\n"
	  "back and committed all data", NULL },
	{ "help", cmd_help, "[COMMAND]", "Show the help of volfs or of a command", NULL, NULL },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void main_usage(FILE *out)
{
	fprintf(out, "Usage: volfs [--store DIR] COMMAND [ARG...]\n\n"
		"Administer the named volumes of a volfs store.\n\nCommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", commands[i].name, commands[i].synopsis);
		fprintf(out, "  %-33s %s\n", head, commands[i].summary);
	}
	fprintf(out, "\nOptions:\n%s      --version         show the version\n\n"
		"Run 'volfs COMMAND --help' for the options of a command.\n", store_help);
}

static int cmd_help(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	const struct cmd *about;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = common_option(cmd, c, argv)) != CONTINUE)
			return r;
	if (argc - optind > 1)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if (argc == optind) {
		main_usage(stdout);
		return EXIT_OK;
	}
	about = cmd_find(argv[optind]);
	if (!about)
		return usage_error(NULL, "unknown command '%s'", argv[optind]);
	cmd_usage(about, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS, { "version", no_argument, NULL, OPT_VERSION }, { 0 }
	};
	const struct cmd *cmd;
	int c;

	fault_report_install("volfs");
	opterr = 0;
	/* '+': stop at the command; the command parses the rest. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			opt_store = optarg;
			break;
		case 'h':
			main_usage(stdout);
			return EXIT_OK;
		case OPT_VERSION:
			printf("volfs %s\n", VOLFS_VERSION);
			return EXIT_OK;
		case ':':
			return usage_error(NULL, "option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error(NULL, "unknown option '-%c'", optopt);
			return usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	cmd = cmd_find(argv[optind]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[optind]);

	argc -= optind;
	argv += optind;
	optind = 0;   /* glibc: start afresh, at argv[1] */
	return cmd->run(cmd, argc, argv);
}
