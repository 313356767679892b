/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Swaps every copy of @a with @b and of @b with @a (@len bytes) in file @path. */
static int swap_in_file(const char *path, const void *a, const void *b, size_t len)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *m = malloc(size ? size : 1);
	if (!m || pread(fd, m, size, 0) != (ssize_t)size) {
		free(m);
		close(fd);
		return -EIO;
	}
	int swapped = 0;
	for (size_t at = 0; len && at + len <= size; at++) {
		const void *with = !memcmp(m + at, a, len) ? b : !memcmp(m + at, b, len) ? a : NULL;
		if (with) {
			memcpy(m + at, with, len);
			swapped++;
			at += len - 1;
		}
	}
	int r = pwrite(fd, m, size, 0) == (ssize_t)size ? swapped : -EIO;
	free(m);
	close(fd);
	return r;
}

int test_swap_dirent_names(const char *store, uint64_t dir, const char *a, const char *b)
{
	char file[PATH_MAX + 32];
	uint8_t pa[8 + 16], pb[8 + 16];
	size_t len = strlen(a) + 1;   /* the key's name ends with a NUL (index/schema.h) */

	if (len != strlen(b) + 1 || len > 16)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		pa[i] = pb[i] = (uint8_t)(dir >> (56 - 8 * i));
	memcpy(pa + 8, a, len);
	memcpy(pb + 8, b, len);
	snprintf(file, sizeof(file), "%s/index/data.mdb", store);
	return swap_in_file(file, pa, pb, 8 + len);
}

int test_fds_open_on(const char *path, int *fds, int max)
{
	char link[PATH_MAX + 16];
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -errno;
	for (struct dirent *e; n < max && (e = readdir(d));) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = 0;
		if (strcmp(link, path) == 0)
			fds[n++] = atoi(e->d_name);
	}
	closedir(d);
	return n;
}
