/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_snapshot.c — what snapshots cost, measured on the filesystem core
 * (no FUSE: a million files are made through vfs_* directly).
 *
 *   bench_snapshot [MAXFILES]        (default 1000000; 100000 for a quick run)
 *
 * 1. snapshot create and clone time at 1,000, 100,000 and MAXFILES files
 *    (each median of 5), to see that it is flat;
 * 2. write / read throughput and small-file creates of a volume with 0 and
 *    with 100 snapshots, side by side;
 * 3. snapshot removal time against the number of files changed since it.
 * Run on demand: meson test --benchmark -C build snapshot, or the binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"
#include "store.h"
#include "vfs.h"
#include "volume.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_snapshot: %s: %s\n", what, strerror(-r));
	exit(1);
}

static const struct vfs_ctx root_ctx = { 0, 0, 022 };

/* Creates files name0..name(n-1) of @size bytes each in the root of @vfs. */
static void make_files(struct vfs *vfs, const char *prefix, long first, long n, size_t size)
{
	static char data[4096];
	memset(data, 'd', sizeof(data));
	for (long i = first; i < first + n; i++) {
		char name[64];
		struct stat st;
		snprintf(name, sizeof(name), "%s%ld", prefix, i);
		int r = vfs_create(vfs, &root_ctx, IDX_ROOT_INO, name, 0644, O_WRONLY, &st);
		if (r < 0)
			die("create", r);
		if (size && vfs_write(vfs, st.st_ino, data, size, 0) != (ssize_t)size)
			die("write", -EIO);
		vfs_release(vfs, st.st_ino);
		vfs_forget(vfs, st.st_ino, 1);
	}
}

static struct vfs *open_vfs(struct store *store, const char *name)
{
	struct vfs_options opts = { .dirty_limit = 64 << 20, .commit_interval_ms = 5000,
				    .verify_dedup = true };
	struct vfs *vfs;
	int r = vfs_open(store, name, &opts, &vfs);
	if (r < 0)
		die("vfs_open", r);
	return vfs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median time (ms) of 5 snapshot creates, and of 5 clones of the last one. */
static void time_snapshots(struct store *store, const char *vol, long files)
{
	double tc[5], tk[5];
	for (int i = 0; i < 5; i++) {
		char snap[64], clone[64];
		snprintf(snap, sizeof(snap), "s%ld-%d", files, i);
		snprintf(clone, sizeof(clone), "%s-c%ld-%d", vol, files, i);
		double t0 = now();
		int r = snapshot_create(store, vol, snap);
		double t1 = now();
		if (r == 0)
			r = snapshot_clone(store, vol, snap, clone);
		double t2 = now();
		if (r < 0)
			die("snapshot/clone", r);
		tc[i] = (t1 - t0) * 1e3;
		tk[i] = (t2 - t1) * 1e3;
	}
	qsort(tc, 5, sizeof(double), cmp_double);
	qsort(tk, 5, sizeof(double), cmp_double);
	printf("  %9ld files   snapshot create %7.2f ms   clone %7.2f ms   (median of 5)\n",
	       files, tc[2], tk[2]);
}

/* Sequential write and read of @mb MiB, and @n small-file creates: MB/s, MB/s, files/s. */
static void throughput(struct store *store, const char *vol, int mb, long n, double out[3])
{
	static char buf[1 << 20];
	struct vfs *vfs = open_vfs(store, vol);
	struct stat st;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(rand() & 0xff);
	int r = vfs_create(vfs, &root_ctx, IDX_ROOT_INO, "stream", 0644, O_RDWR, &st);
	if (r < 0)
		die("create stream", r);
	double t0 = now();
	for (int i = 0; i < mb; i++) {
		buf[0] = (char)i;   /* no dedup between the MiBs */
		if (vfs_write(vfs, st.st_ino, buf, sizeof(buf), (off_t)i << 20) != (ssize_t)sizeof(buf))
			die("write", -EIO);
	}
	r = vfs_fsync(vfs, st.st_ino, false);
	double t1 = now();
	for (int i = 0; i < mb && r == 0; i++)
		if (vfs_read(vfs, st.st_ino, buf, sizeof(buf), (off_t)i << 20, true) != (ssize_t)sizeof(buf))
			r = -EIO;
	double t2 = now();
	if (r < 0)
		die("stream", r);
	vfs_release(vfs, st.st_ino);
	vfs_forget(vfs, st.st_ino, 1);
	vfs_unlink(vfs, IDX_ROOT_INO, "stream");
	double t3 = now();
	make_files(vfs, "small", 0, n, 4096);
	r = vfs_sync(vfs);
	double t4 = now();
	if (r < 0)
		die("sync", r);
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "small%ld", i);
		vfs_unlink(vfs, IDX_ROOT_INO, name);
	}
	vfs_close(vfs);
	out[0] = mb / (t1 - t0);
	out[1] = mb / (t2 - t1);
	out[2] = n / (t4 - t3);
}

int main(int argc, char **argv)
{
	long maxfiles = argc > 1 ? atol(argv[1]) : 1000000;
	char dir[] = "/var/tmp/volfs-bench-snap-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	char path[256];
	snprintf(path, sizeof(path), "%s/store", dir);
	struct store *store;
	int r = store_init(path);
	if (r == 0)
		r = store_open(path, 0, &store);
	if (r < 0)
		die("store", r);
	printf("volfs snapshot benchmark, store %s\n", path);

	/* 1. create and clone at growing volume sizes */
	printf("\n1. snapshot create and clone (target: under 10 ms, the same at every size)\n");
	if ((r = volume_create(store, "big", 4096, NULL)) < 0)
		die("volume_create", r);
	long sizes[] = { 1000, 100000, maxfiles }, made = 0;
	for (int i = 0; i < 3; i++) {
		if (sizes[i] <= made)
			continue;
		struct vfs *vfs = open_vfs(store, "big");
		double t0 = now();
		make_files(vfs, "f", made, sizes[i] - made, 0);
		if ((r = vfs_close(vfs)) < 0)
			die("vfs_close", r);
		fprintf(stderr, "  (made %ld files in %.1f s)\n", sizes[i] - made, now() - t0);
		made = sizes[i];
		time_snapshots(store, "big", made);
	}

	/* 2. throughput with 0 and with 100 snapshots */
	printf("\n2. a volume with 0 and with 100 snapshots (target: no measurable difference;\n"
	       "   medians of 3 alternating rounds)\n");
	double with0[3], with100[3];
	if ((r = volume_create(store, "plain", 131072, NULL)) < 0 ||
	    (r = volume_create(store, "snapped", 131072, NULL)) < 0)
		die("volume_create", r);
	for (int i = 0; i < 100; i++) {
		char snap[32];
		struct vfs *vfs = open_vfs(store, "snapped");
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "gen%d-", i);
		make_files(vfs, prefix, 0, 10, 4096);   /* something for each snapshot to hold */
		vfs_close(vfs);
		snprintf(snap, sizeof(snap), "s%d", i);
		if ((r = snapshot_create(store, "snapped", snap)) < 0)
			die("snapshot_create", r);
	}
	/* three rounds, alternating, medians: one run after the other is not a fair pair */
	double runs0[3][3], runs100[3][3];
	for (int round = 0; round < 3; round++) {
		throughput(store, round % 2 ? "snapped" : "plain", 256, 10000,
			   round % 2 ? runs100[round] : runs0[round]);
		throughput(store, round % 2 ? "plain" : "snapped", 256, 10000,
			   round % 2 ? runs0[round] : runs100[round]);
	}
	for (int k = 0; k < 3; k++) {
		double a[3] = { runs0[0][k], runs0[1][k], runs0[2][k] };
		double b[3] = { runs100[0][k], runs100[1][k], runs100[2][k] };
		qsort(a, 3, sizeof(double), cmp_double);
		qsort(b, 3, sizeof(double), cmp_double);
		with0[k] = a[1];
		with100[k] = b[1];
	}
	printf("  %-16s %12s %12s %16s\n", "", "write MB/s", "read MB/s", "creates/s");
	printf("  %-16s %12.0f %12.0f %16.0f\n", "0 snapshots", with0[0], with0[1], with0[2]);
	printf("  %-16s %12.0f %12.0f %16.0f\n", "100 snapshots", with100[0], with100[1], with100[2]);
	printf("  %-16s %12.2f %12.2f %16.2f\n", "ratio 100/0", with100[0] / with0[0],
	       with100[1] / with0[1], with100[2] / with0[2]);

	/* 3. removal against what changed since */
	printf("\n3. snapshot removal time against files changed since it\n");
	long changes[] = { 1000, 10000, 100000 };
	for (int i = 0; i < 3; i++) {
		char vol[32], prefix[32];
		snprintf(vol, sizeof(vol), "rm%d", i);
		if ((r = volume_create(store, vol, 4096, NULL)) < 0)
			die("volume_create", r);
		struct vfs *vfs = open_vfs(store, vol);
		make_files(vfs, "f", 0, changes[i], 4096);
		vfs_close(vfs);
		if ((r = snapshot_create(store, vol, "old")) < 0)
			die("snapshot_create", r);
		vfs = open_vfs(store, vol);
		snprintf(prefix, sizeof(prefix), "f");
		for (long j = 0; j < changes[i]; j++) {
			char name[64];
			snprintf(name, sizeof(name), "f%ld", j);
			vfs_unlink(vfs, IDX_ROOT_INO, name);
		}
		make_files(vfs, "g", 0, changes[i], 4096);
		vfs_close(vfs);
		double t0 = now();
		if ((r = snapshot_remove(store, vol, "old")) < 0)
			die("snapshot_remove", r);
		printf("  %7ld files changed   snapshot rm %8.1f ms   (%.2f us per file)\n", changes[i],
		       (now() - t0) * 1e3, (now() - t0) * 1e6 / (double)changes[i]);
	}
	store_close(store);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return 0;
}
