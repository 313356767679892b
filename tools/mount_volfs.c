/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mount.volfs — the mount(8) helper: `mount -t volfs NAME DIR -o OPTS` and
 * /etc/fstab lines run
 *
 *     mount.volfs NAME DIR [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t TYPE]
 *
 * It serves NAME (or NAME@SNAPSHOT, read-only) of the store given by
 * -o store=DIR (else $VOLFS_STORE, else /var/lib/volfs) and returns once the
 * mount is live.  Exit status as mount(8) expects: 0 mounted, 1 bad usage,
 * 32 the mount failed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "fault.h"
#include "store.h"

enum { EXIT_MOUNTED = 0, EXIT_USAGE = 1, EXIT_MOUNT_FAILED = 32 };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: mount.volfs NAME[@SNAPSHOT] DIR [-sfnv] [-o OPTIONS]\n\n"
		"The mount(8) helper of volfs; see `volfs mount --help` for OPTIONS.\n"
		"Example /etc/fstab line:\n"
		"  pgdata  /srv/pgdata  volfs  store=/var/lib/volfs,commit=5,nofail  0 0\n");
}

int main(int argc, char **argv)
{
	struct daemon_config cfg;
	char err[512];
	bool fake = false, sloppy = false;
	int c;

	fault_report_install("mount.volfs");
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return EXIT_MOUNTED;
	}
	if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		usage(stderr);
		return EXIT_USAGE;
	}
	daemon_config_init(&cfg);
	cfg.spec = argv[1];
	cfg.mountpoint = argv[2];
	const char *opts = NULL;
	optind = 3;
	opterr = 0;
	while ((c = getopt(argc, argv, ":sfnvN:o:t:h")) != -1) {
		switch (c) {
		case 's':
			sloppy = true;
			break;
		case 'f':
			fake = true;
			break;
		case 'n':   /* no mtab: there is none to write */
		case 'v':
		case 'N':
		case 't':
			break;
		case 'o':
			opts = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_MOUNTED;
		default:
			fprintf(stderr, "mount.volfs: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mount.volfs: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (daemon_parse_options(&cfg, opts, err, sizeof(err)) < 0 && !sloppy) {
		fprintf(stderr, "mount.volfs: %s\n", err);
		return EXIT_USAGE;
	}
	if (!cfg.store_path)
		cfg.store_path = store_path_resolve(NULL);
	if (fake)
		return EXIT_MOUNTED;
	return daemon_main(&cfg) == 0 ? EXIT_MOUNTED : EXIT_MOUNT_FAILED;
}
