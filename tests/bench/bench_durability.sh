#!/bin/bash
# tests/bench/bench_durability.sh — durability benchmark (issue 5), on demand
# only, as root: volfs side by side, in one run and on one backing
# filesystem, with libfuse's passthrough_ll example (built from
# /usr/share/doc/libfuse3-dev/examples as tests/bench/fs/run.sh does, mounted
# with -o source=DIR,writeback,default_permissions,allow_other) and the
# backing directory itself (raw).
#
#   bash tests/bench/bench_durability.sh [--quick] [options]
#
# Figures:
#   1. 4 KiB pwrite + fsync, latency median and p99 of --fsync-n (500)
#   2. create a file + write 4 KiB + fsync(file) + fsync(directory) + close,
#      median and p99 of --create-n (200)
#   3. fsck.volfs -n of a --big-mib (1024) MiB volume written through the
#      mount (incompressible, no duplicate blocks), caches dropped first:
#      seconds and MB/s (data hashed / time); for scale, the cold read of the
#      same bytes through passthrough_ll
#   4. fsck.volfs -n of a --files (100,000) file volume (4 KiB each, in 100
#      directories, written through the mount), caches dropped first:
#      seconds, files/s, MB/s
# with the ratio volfs / passthrough_ll where both were measured.
#
# Options:
#   --quick          --fsync-n 100 --create-n 50 --big-mib 64 --files 5000
#   --dir DIR        parent of the work directory (default /var/tmp)
#   --volfs PATH     volfs binary (default \$VOLFS, build/tools/volfs)
#   --fsck PATH      fsck.volfs binary (default next to --volfs)
#   --fsync-n N, --create-n N, --big-mib N, --files N
#   --block-size BS  block size of the volfs volumes (default: volfs's default)
#   --keep           keep the work directory
set -uo pipefail

# The whole script is one compound command, read before it runs.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

parent=/var/tmp
volfs_bin=${VOLFS:-$root/build/tools/volfs}
fsck_bin=
fsync_n=500 create_n=200 big_mib=1024 nfiles=100000 block_size='' keep=0
cmdline="$0 $*"
while (($#)); do
	case $1 in
	--quick) fsync_n=100; create_n=50; big_mib=64; nfiles=5000 ;;
	--dir) parent=$2; shift ;;
	--volfs) volfs_bin=$2; shift ;;
	--fsck) fsck_bin=$2; shift ;;
	--fsync-n) fsync_n=$2; shift ;;
	--create-n) create_n=$2; shift ;;
	--big-mib) big_mib=$2; shift ;;
	--files) nfiles=$2; shift ;;
	--block-size) block_size=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_durability.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
fsck_bin=${fsck_bin:-$(dirname "$volfs_bin")/fsck.volfs}

die() { echo "bench_durability.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (mounts, allow_other, drop_caches)"
[[ -c /dev/fuse ]] || die "no /dev/fuse"
[[ -x $volfs_bin && -x $fsck_bin ]] || die "no volfs or fsck.volfs binary (--volfs PATH)"
ex=/usr/share/doc/libfuse3-dev/examples
[[ -f $ex/passthrough_ll.c ]] && pkg-config --exists fuse3 || die "needs libfuse3-dev and pkg-config"

base=$(mktemp -d "$parent/volfs-durbench.XXXXXX") || die "mktemp in $parent failed"
mkdir -p "$base/build" "$base/log" "$base/raw" "$base/pt-src" "$base/mnt/pt" "$base/mnt/volfs"
store=$base/store
declare -a mounts=()
pt_pid=

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

cleanup() {
	local rc=$? i mp
	trap - EXIT INT TERM HUP
	cd /
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		mp=${mounts[i]}
		is_mounted "$mp" || continue
		if [[ $mp == "$base/mnt/volfs" ]]; then
			timeout 120 "$volfs_bin" --store "$store" umount "$mp" 2>/dev/null
		else
			fusermount3 -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null
		fi
		is_mounted "$mp" && umount -l "$mp" 2>/dev/null
		is_mounted "$mp" && echo "bench_durability.sh: COULD NOT UNMOUNT $mp" >&2
	done
	[[ -n $pt_pid ]] && kill -0 "$pt_pid" 2>/dev/null && kill "$pt_pid" 2>/dev/null
	if ((keep)); then echo "# kept $base"; else rm -rf --one-file-system "$base"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

wait_mounted() {   # MP [PID]
	for ((n = 0; n < 300; n++)); do
		is_mounted "$1" && return 0
		[[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# ---- build -----------------------------------------------------------------------
cp "$ex/passthrough_ll.c" "$ex/passthrough_helpers.h" "$base/build/" 2>/dev/null ||
	cp "$ex/passthrough_ll.c" "$base/build/" || die "no $ex/passthrough_ll.c"
# shellcheck disable=SC2046 # the flags are words
cc -O2 -Wall -o "$base/build/passthrough_ll" "$base/build/passthrough_ll.c" \
	$(pkg-config fuse3 --cflags --libs) >"$base/log/build.log" 2>&1 ||
	die "building passthrough_ll failed: $(cat "$base/log/build.log")"
cc -O2 -Wall -Wextra -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -o "$base/build/dur_lat" "$here/dur_lat.c" \
	>>"$base/log/build.log" 2>&1 || die "building dur_lat failed: $(cat "$base/log/build.log")"
lat=$base/build/dur_lat

# ---- mounts ----------------------------------------------------------------------
"$base/build/passthrough_ll" -f -o "source=$base/pt-src,writeback,default_permissions,allow_other" \
	"$base/mnt/pt" >"$base/log/pt.log" 2>&1 &
pt_pid=$!
mounts+=("$base/mnt/pt")
wait_mounted "$base/mnt/pt" "$pt_pid" || die "passthrough_ll did not mount: $(tail -3 "$base/log/pt.log")"

v() { "$volfs_bin" --store "$store" "$@"; }
v init >"$base/log/volfs.log" 2>&1 || die "volfs init failed"
vmount() {   # VOLUME
	v create "$1" ${block_size:+-o "block_size=$block_size"} >>"$base/log/volfs.log" 2>&1 || return 1
	mounts+=("$base/mnt/volfs")
	timeout 120 "$volfs_bin" --store "$store" mount "$1" "$base/mnt/volfs" >>"$base/log/volfs.log" 2>&1 &&
		wait_mounted "$base/mnt/volfs"
}
vumount() { timeout 300 "$volfs_bin" --store "$store" umount "$base/mnt/volfs"; }
vmount lat || die "volfs mount failed: $(tail -3 "$base/log/volfs.log")"

echo "# bench_durability: $(date -u '+%Y-%m-%d %H:%M UTC'), $cmdline"
echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
	"kernel $(uname -r), backing $(df -T "$base" | awk 'NR == 2 {print $2 " on " $1}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# volfs $("$volfs_bin" --version 2>/dev/null | head -1), libfuse $(pkg-config --modversion fuse3)"

declare -A fig=()
# ---- 1, 2: latencies ------------------------------------------------------------
for c in raw passthrough_ll volfs; do
	case $c in
	raw) d=$base/raw ;;
	passthrough_ll) d=$base/mnt/pt ;;
	volfs) d=$base/mnt/volfs ;;
	esac
	read -r m p < <("$lat" fsync "$d" "$fsync_n") || die "$c: fsync latency failed"
	fig[fsync_med_$c]=$m fig[fsync_p99_$c]=$p
	read -r m p < <("$lat" create "$d" "$create_n") || die "$c: create latency failed"
	fig[create_med_$c]=$m fig[create_p99_$c]=$p
done

# fsck_seconds VOLUME: runs fsck.volfs -n on VOLUME with cold caches; prints its seconds
fsck_seconds() {
	local t0 t1 rc
	drop_caches
	t0=$(date +%s.%N)
	"$fsck_bin" -n --store "$store" "$1" >"$base/log/fsck-$1.log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	(( rc == 0 )) || echo "# fsck.volfs -n $1 exited $rc: $(tail -2 "$base/log/fsck-$1.log")" >&2
	awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.6f", t1 - t0 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
echo
printf '%-44s %12s %12s %12s %10s\n' "latency (microseconds)" raw passthrough_ll volfs "volfs/pt"
for k in fsync_med fsync_p99 create_med create_p99; do
	case $k in
	fsync_med) label="4 KiB pwrite + fsync, median of $fsync_n" ;;
	fsync_p99) label="4 KiB pwrite + fsync, p99" ;;
	create_med) label="create+4 KiB+fsync+fsync(dir), median of $create_n" ;;
	create_p99) label="create+4 KiB+fsync+fsync(dir), p99" ;;
	esac
	printf '%-44s %12s %12s %12s %10s\n' "$label" "${fig[${k}_raw]}" "${fig[${k}_passthrough_ll]}" \
		"${fig[${k}_volfs]}" "$(ratio "${fig[${k}_volfs]}" "${fig[${k}_passthrough_ll]}")"
done
vumount || die "volfs umount failed"

# ---- 3: fsck of a big volume ------------------------------------------------------
echo
vmount big || die "volfs mount (big) failed"
w=$("$lat" fill "$base/mnt/volfs/big.dat" "$big_mib") || die "writing the big volume failed"
vumount || die "volfs umount failed"
"$lat" fill "$base/mnt/pt/big.dat" "$big_mib" >/dev/null || die "writing through passthrough_ll failed"
t=$(fsck_seconds big)
drop_caches
r=$("$lat" read "$base/mnt/pt/big.dat")
rm -f "$base/mnt/pt/big.dat"
awk -v t="$t" -v mib="$big_mib" -v w="$w" -v r="$r" 'BEGIN {
	printf "fsck.volfs -n, %d MiB volume (written at %.0f MB/s): %.2f s, %.0f MB/s\n", mib, mib * 1.048576 / w, t, mib * 1.048576 / t
	printf "  for scale: cold sequential read of the same bytes through passthrough_ll: %.2f s, %.0f MB/s; fsck/read time ratio %.2f\n", r, mib * 1.048576 / r, t / r
}'

# ---- 4: fsck of a many-file volume --------------------------------------------------
vmount files || die "volfs mount (files) failed"
w=$("$lat" mkfiles "$base/mnt/volfs" "$nfiles") || die "making the files failed"
vumount || die "volfs umount failed"
t=$(fsck_seconds files)
awk -v t="$t" -v n="$nfiles" -v w="$w" 'BEGIN {
	printf "fsck.volfs -n, %d-file volume (4 KiB files, made at %.0f files/s): %.2f s, %.0f files/s, %.0f MB/s\n", n, n / w, t, n / t, n * 4096 / 1e6 / t
}'
echo "# (fsck figures have no passthrough_ll counterpart: no ratio)"
exit 0
}
