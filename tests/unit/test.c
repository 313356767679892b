/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int test_failed;
const char *test_case = "";

static char tmpdir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] && !getenv("VOLFS_TEST_KEEP"))
		nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/volfs-test-XXXXXX", base && *base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(99);
		}
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

const char *test_subdir(const char *name)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	if (mkdir(path, 0700) < 0) {
		perror(path);
		exit(99);
	}
	return path;
}

int test_exit(void)
{
	if (test_failed)
		fprintf(stderr, "%d case(s) failed\n", test_failed);
	return test_failed ? 1 : 0;
}
