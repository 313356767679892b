/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsck_volfs.c — fsck.volfs: check and repair a volfs store, with fsck(8)'s
 * options and exit codes, so that fsck(8) and boot scripts can run it.
 *
 *   fsck.volfs [-n|-y|-p|-a] [-f] [--no-data] [--store DIR] [VOL…]
 *
 * fsck(8) passes the fstab device, which for volfs is the volume name.
 * The checks and repairs are fs/fsck.c's; see docs/man/fsck.volfs.8.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "fsck.h"
#include "store.h"

#define EXIT_USAGE 16

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fsck.volfs [-n|-y|-p] [-f] [--no-data] [--store DIR] [VOLUME...]\n"
		"Check a volfs store and its volumes (all of them unless named).\n"
		"  -n, --check     check only: open the store read-only, change nothing\n"
		"  -p, -a, --preen repair what can be repaired without losing anything\n"
		"  -y, --repair    repair everything that can be repaired\n"
		"  -f, --force     check even if clean (volfs always checks everything)\n"
		"      --no-data   do not read and hash every chunk\n"
		"      --store DIR the store (default $VOLFS_STORE, else %s)\n"
		"  -h, --help      this text\n"
		"Exit status (or'ed): 0 clean, 1 errors corrected, 4 errors left uncorrected,\n"
		"8 operational error, 16 usage error.\n", STORE_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'n' },
		{ "repair", no_argument, NULL, 'y' },
		{ "preen", no_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-data", no_argument, NULL, 'D' },
		{ "store", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fsck_options opts = { .mode = FSCK_CHECK };
	const char *store = NULL;
	int modes = 0, c;

	fault_report_install("fsck.volfs");
	while ((c = getopt_long(argc, argv, "nypafhvVC:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			opts.mode = FSCK_CHECK;
			modes |= 1;
			break;
		case 'y':
			opts.mode = FSCK_REPAIR;
			modes |= 2;
			break;
		case 'p':
		case 'a':
			opts.mode = FSCK_PREEN;
			modes |= 4;
			break;
		case 'f':
		case 'v':
		case 'V':
		case 'C':   /* fsck(8) progress fd: we print progress on a terminal anyway */
			break;
		case 'D':
			opts.no_data = true;
			break;
		case 'S':
			store = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (modes & (modes - 1)) {
		fprintf(stderr, "fsck.volfs: -n, -y and -p exclude one another\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	/* a path where a volume goes: most likely the store, which --store names */
	for (int i = optind; i < argc; i++) {
		if (strchr(argv[i], '/')) {
			fprintf(stderr, "fsck.volfs: '%s' is not a volume name (names hold no '/'); "
				"to check the store there: fsck.volfs --store %s\n", argv[i], argv[i]);
			return EXIT_USAGE;
		}
	}
	/* -y is the default of e2fsck only with a terminal to ask on; we never ask: -n is ours */
	opts.volumes = (const char *const *)(argv + optind);
	opts.nvolumes = (size_t)(argc - optind);
	opts.progress = !opts.no_data && isatty(STDERR_FILENO);
	opts.out = stdout;
	setvbuf(stdout, NULL, _IOLBF, 0);

	const char *path = store_path_resolve(store);
	struct fsck_result res;
	int status = fsck_store(path, &opts, &res);

	printf("%s: %llu problems found, %llu repaired; %llu lost chunks; %llu leftovers%s; "
	       "exit %d\n", path, (unsigned long long)res.errors,
	       (unsigned long long)res.errors_fixed, (unsigned long long)res.lost_chunks,
	       (unsigned long long)res.leftovers,
	       res.leftovers && res.leftovers == res.leftovers_removed ? " removed" : "", status);
	if (res.log_frames)
		printf("%s: %u frames of fsync'd changes in index/wal wait for the next read-write "
		       "open, which replays them (chunks only they name count as leftovers here)\n",
		       path, res.log_frames);
	if (res.journal_records)
		printf("%s: %llu journal records of fsync'd writes wait for the next read-write "
		       "mount, which replays them\n", path, (unsigned long long)res.journal_records);
	return status;
}
