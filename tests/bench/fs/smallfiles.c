/*
 * smallfiles — the small-file phase of the filesystem benchmark (run.sh).
 *
 *   smallfiles [-D] [-r SLICE] DIR COUNT
 *
 * In DIR (an existing, empty directory) it runs three timed phases over COUNT
 * files named f0000000, f0000001, ... in one flat directory:
 *   create  open(O_CREAT|O_EXCL|O_WRONLY), write 4 KiB, close
 *   stat    stat() of every file, in creation order
 *   unlink  unlink() of every file, in creation order
 * Every file gets different contents (a random buffer stamped with the file's
 * number), so a deduplicating filesystem gains nothing from identical blocks.
 *
 * -D   before the stat phase, sync() and drop the kernel's caches
 *      (echo 3 > /proc/sys/vm/drop_caches; needs root), outside the timing, so
 *      that every stat reaches the filesystem instead of the dentry/attr cache.
 * -r SLICE  also print the rate of every SLICE consecutive files of each phase.
 *
 * Output, one line per figure, for run.sh to parse:
 *   RESULT <phase> <files> <seconds> <ops/s>
 *   SLICE <phase> <first> <last> <seconds> <ops/s>
 * Exits 1 with a message on the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE 4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void name_of(char *buf, size_t len, const char *dir, long i)
{
	snprintf(buf, len, "%s/f%07ld", dir, i);
}

static int drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3\n", 2) != 2) {
		fprintf(stderr, "smallfiles: cannot drop caches: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

enum phase { CREATE, STAT, UNLINK };
static const char *const phase_name[] = { "create", "stat", "unlink" };

static int one(enum phase phase, const char *path, long i, unsigned char *buf)
{
	struct stat st;
	int fd;

	switch (phase) {
	case CREATE:
		memcpy(buf, &i, sizeof(i));
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			return -1;
		if (write(fd, buf, FILE_SIZE) != FILE_SIZE) {
			if (errno == 0)
				errno = EIO;
			close(fd);
			return -1;
		}
		return close(fd);
	case STAT:
		if (stat(path, &st) < 0)
			return -1;
		if (st.st_size != FILE_SIZE) {
			errno = EIO;
			return -1;
		}
		return 0;
	case UNLINK:
		return unlink(path);
	}
	return -1;
}

static int run_phase(enum phase phase, const char *dir, long count, long slice,
		     unsigned char *buf)
{
	char path[4096];
	double t0, ts;
	long i;

	t0 = ts = now();
	for (i = 0; i < count; i++) {
		name_of(path, sizeof(path), dir, i);
		errno = 0;
		if (one(phase, path, i, buf) < 0) {
			fprintf(stderr, "smallfiles: %s %s: %s\n", phase_name[phase], path,
				strerror(errno));
			return -1;
		}
		if (slice > 0 && ((i + 1) % slice == 0 || i + 1 == count)) {
			double t = now();
			long first = i - (i % slice);

			printf("SLICE %s %ld %ld %.6f %.1f\n", phase_name[phase], first, i,
			       t - ts, (double)(i - first + 1) / (t - ts));
			fflush(stdout);
			ts = t;
		}
	}
	ts = now() - t0;
	printf("RESULT %s %ld %.6f %.1f\n", phase_name[phase], count, ts,
	       (double)count / ts);
	fflush(stdout);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: smallfiles [-D] [-r SLICE] DIR COUNT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static unsigned char buf[FILE_SIZE];
	int drop = 0, opt;
	long count, slice = 0;
	char *end;
	size_t k;

	while ((opt = getopt(argc, argv, "Dr:")) != -1) {
		switch (opt) {
		case 'D':
			drop = 1;
			break;
		case 'r':
			slice = strtol(optarg, &end, 10);
			if (*end || slice <= 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	count = strtol(argv[optind + 1], &end, 10);
	if (*end || count <= 0 || count > 9999999)
		usage();

	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	for (k = 0; k < sizeof(buf); k++)
		buf[k] = (unsigned char)random();

	if (run_phase(CREATE, argv[optind], count, slice, buf) < 0)
		return 1;
	if (drop && drop_caches() < 0)
		return 1;
	if (run_phase(STAT, argv[optind], count, slice, buf) < 0)
		return 1;
	if (run_phase(UNLINK, argv[optind], count, slice, buf) < 0)
		return 1;
	return 0;
}
