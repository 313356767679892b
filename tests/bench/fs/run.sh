#!/bin/bash
# tests/bench/fs/run.sh — filesystem benchmark: volfs side by side, in one run,
# with the backing directory itself (raw), libfuse's passthrough_ll example
# (as the reference, and again with -o xattr) and bindfs, all over the same
# backing filesystem.  Run on demand as root; never
# part of CI.  See docs/performance.md for the method and measured figures.
#
#   bash tests/bench/fs/run.sh [--quick] [options]
#
# Workloads (caches dropped with `sync; echo 3 > /proc/sys/vm/drop_caches`
# where the output says so):
#   1. sequential write of --size (1 MiB writes) then fsync, MiB/s;
#      sequential read of it back, MiB/s
#   2. 8 KiB random writes over a --rand-size file, fsync every 64, IOPS
#   3. 4 KiB random reads over that file, IOPS
#   4. --files x (create, write 4 KiB, close), stat of all, unlink of all, ops/s
#   5. (--million) volfs only: the same at 1,000,000 files, per 100,000 slice
#   6. daemon peak memory (VmHWM) of the FUSE daemons after the workloads
set -uo pipefail

# The whole script is one compound command, read before it runs: editing the
# file while a run is under way cannot change what that run does.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)

usage() {
	cat <<EOF
usage: $0 [options]
  --quick               development mode: --size 64M --rand-size 64M --files 1000
                        --runtime 10 --write-runtime 10 --timeout 120
  --dir DIR             parent of the backing directory (default /var/tmp); every
                        candidate's data lives in one new directory under it
  --size SIZE           sequential file size, fio syntax (default 1G)
  --rand-size SIZE      random-I/O file size (default 256M)
  --runtime SEC         cap on the random-read job (default 60)
  --write-runtime SEC   length of the random-write job, which runs for that long
                        (time-based: steady state, write-back included; default 30)
  --files N             small-file count (default 10000)
  --block-sizes LIST    volfs volumes to test, one per block size (default 128K),
                        e.g. 16K,128K
  --candidates LIST     subset of raw,passthrough_ll,passthrough_xattr,bindfs,volfs
                        (default all); passthrough_xattr is passthrough_ll with
                        -o xattr, which like volfs serves extended attributes
  --volfs PATH          the volfs binary (default: \$VOLFS, $root/build/tools/volfs,
                        volfs in PATH)
  --volfs-opts OPTS     extra -o options for volfs mount
  --smallfiles PATH     a built smallfiles binary (default: compiled here)
  --million             also run the small-file test on volfs alone at 1,000,000
                        files (long), with rates per 100,000-file slice
  --million-files N     file count of that run (default 1000000; slices of N/10)
  --repeat N            run workloads 1-4 N times, rounds interleaved; report the
                        median and the range (default 1)
  --timeout SEC         a step (one fio job, one small-file phase set) that takes
                        longer fails; a FUSE daemon that stops answering is then
                        stack-dumped to the logs, killed and its candidate dropped
                        (default 600; the --million run gets 10x)
  --keep-logs           keep the work directory (fio JSON, daemon logs)
EOF
	exit "${1:-0}"
}

# ---- options ---------------------------------------------------------------
parent=/var/tmp
size=1G
rand_size=256M
runtime=60
write_runtime=30
files=10000
block_sizes=128K
candidates=raw,passthrough_ll,passthrough_xattr,bindfs,volfs
volfs_bin=${VOLFS:-}
volfs_opts=
smallfiles_bin=
million=0
million_files=1000000
keep_logs=0
quick=0
repeat=1
step_timeout=600

cmdline="$0 $*"
while (($#)); do
	case $1 in
	--quick) quick=1; size=64M; rand_size=64M; files=1000; runtime=10; write_runtime=10; step_timeout=120 ;;
	--dir) parent=$2; shift ;;
	--size) size=$2; shift ;;
	--rand-size) rand_size=$2; shift ;;
	--runtime) runtime=$2; shift ;;
	--write-runtime) write_runtime=$2; shift ;;
	--files) files=$2; shift ;;
	--block-sizes) block_sizes=$2; shift ;;
	--candidates) candidates=$2; shift ;;
	--volfs) volfs_bin=$2; shift ;;
	--volfs-opts) volfs_opts=$2; shift ;;
	--smallfiles) smallfiles_bin=$2; shift ;;
	--million) million=1 ;;
	--million-files) million_files=$2; shift ;;
	--keep-logs) keep_logs=1 ;;
	--repeat) repeat=$2; shift ;;
	--timeout) step_timeout=$2; shift ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
	esac
	shift || usage 2 >&2
done

die() { echo "run.sh: $*" >&2; exit 1; }
note() { echo "# $*"; }

[[ $(id -u) == 0 ]] || die "must run as root (mounts, allow_other, drop_caches)"
[[ -d $parent ]] || die "--dir $parent: not a directory"
[[ $files =~ ^[0-9]+$ && $million_files =~ ^[0-9]+$ && $repeat =~ ^[1-9][0-9]*$ ]] ||
	die "--files/--million-files/--repeat: not a number"

want() { [[ ,$candidates, == *,$1,* ]]; }

# ---- packages ----------------------------------------------------------------
ensure_packages() {
	local missing=()
	command -v fio >/dev/null || missing+=(fio)
	command -v bindfs >/dev/null || missing+=(bindfs)
	pkg-config --exists fuse3 2>/dev/null && [[ -f /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c ]] ||
		missing+=(libfuse3-dev pkg-config)
	command -v fusermount3 >/dev/null || missing+=(fuse3)
	[[ -x /usr/bin/time ]] || missing+=(time)
	command -v python3 >/dev/null || missing+=(python3)
	command -v cc >/dev/null || missing+=(gcc libc6-dev)
	command -v fuser >/dev/null || missing+=(psmisc)
	((${#missing[@]})) || return 0
	note "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
			apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "apt-get install ${missing[*]} failed"
}
ensure_packages

# ---- work areas, mounts and cleanup -----------------------------------------
work=$(mktemp -d /tmp/volfs-bench-work.XXXXXX) || die "mktemp failed"
base=$(mktemp -d "$parent/volfs-bench.XXXXXX") || die "cannot create a directory under $parent"
mkdir -p "$work/log" "$base/mnt"
results=$work/results.tsv
: >"$results"

declare -a mounts=()        # mount points, in mount order
declare -A mount_kind=()    # mount point -> volfs | fuse
declare -A mount_pid=()     # mount point -> daemon pid (if known)
store=$base/volfs-store

# shellcheck disable=SC2317  # (invoked by the trap)
cleanup() {
	local rc=$? i mp pid n
	trap - EXIT INT TERM HUP
	cd /
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		mp=${mounts[i]}
		pid=${mount_pid[$mp]:-}
		# a daemon that no longer answers is killed (it is ours), which aborts its connection
		if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && ! timeout 15 stat -f "$mp" >/dev/null 2>&1; then
			echo "run.sh: $mp does not answer; killing its daemon (pid $pid)" >&2
			kill -9 "$pid" 2>/dev/null
			sleep 0.5
		fi
		if mountpoint -q "$mp"; then
			if [[ ${mount_kind[$mp]} == volfs ]] && kill -0 "${pid:-0}" 2>/dev/null; then
				if ! timeout 300 "$volfs_bin" --store "$store" umount "$mp" >>"$work/log/umount.log" 2>&1; then
					echo "run.sh: volfs umount $mp failed; see $work/log/umount.log" >&2
					echo x >>"$work/failed"
				fi
			fi
			mountpoint -q "$mp" && { umount "$mp" 2>/dev/null || fusermount3 -u "$mp" 2>/dev/null; }
			mountpoint -q "$mp" && umount -l "$mp" 2>/dev/null
		fi
		# our own daemons only, by their pid
		if [[ -n $pid ]]; then
			for ((n = 0; n < 100; n++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
		fi
	done
	# never leave a mount behind: anything still mounted under our directory
	findmnt -rn -o TARGET | while read -r mp; do
		[[ $mp == "$base"/* ]] && umount -l "$mp" 2>/dev/null
	done
	rm -rf --one-file-system "$base"
	if ((keep_logs)) || [[ -e $work/failed ]]; then
		echo "# logs kept in $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# wait until MP is a mount point; PID (optional) must stay alive meanwhile
wait_mounted() {
	local mp=$1 pid=${2:-} n
	for ((n = 0; n < 300; n++)); do
		mountpoint -q "$mp" && return 0
		[[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# the daemon serving MP: a process whose command line names MP and whose
# executable is NAME
daemon_pid() {
	local mp=$1 name=$2 p
	for p in $(pgrep -f -- "$mp( |$)"); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == *"/$name" ]] && { echo "$p"; return 0; }
	done
	return 1
}

# ---- build helpers -------------------------------------------------------------
build() {
	local src=/usr/share/doc/libfuse3-dev/examples
	mkdir -p "$work/build"
	cp "$src/passthrough_ll.c" "$src/passthrough_helpers.h" "$work/build/" || die "no $src/passthrough_ll.c"
	# shellcheck disable=SC2046
	cc -O2 -Wall -o "$work/build/passthrough_ll" "$work/build/passthrough_ll.c" \
		$(pkg-config fuse3 --cflags --libs) >"$work/log/build.log" 2>&1 ||
		die "building passthrough_ll failed: $(cat "$work/log/build.log")"
	if [[ -z $smallfiles_bin ]]; then
		smallfiles_bin=$work/build/smallfiles
		cc -O2 -Wall -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -o "$smallfiles_bin" "$here/smallfiles.c" \
			>>"$work/log/build.log" 2>&1 || die "building smallfiles failed: $(cat "$work/log/build.log")"
	fi
	[[ -x $smallfiles_bin ]] || die "--smallfiles $smallfiles_bin: not executable"
}
build

# ---- candidates ---------------------------------------------------------------
declare -a cands=()         # candidate names, in run order
declare -A target=()        # candidate -> directory the workloads use
declare -A unavailable=()   # candidate -> reason

find_volfs() {
	local c
	if [[ -n $volfs_bin ]]; then
		[[ -x $volfs_bin ]] && return 0
		return 1
	fi
	for c in "$root/build/tools/volfs" "$(command -v volfs 2>/dev/null)"; do
		[[ -n $c && -x $c ]] && { volfs_bin=$c; return 0; }
	done
	return 1
}

setup_raw() {
	mkdir -p "$base/raw"
	cands+=(raw)
	target[raw]=$base/raw
}

# start a foreground FUSE daemon in the background, remember its pid
start_fuse() {   # NAME MOUNTPOINT COMMAND...
	local name=$1 mp=$2 pid
	shift 2
	mkdir -p "$mp"
	"$@" >"$work/log/$name.log" 2>&1 &
	pid=$!
	mounts+=("$mp")
	mount_kind[$mp]=fuse
	mount_pid[$mp]=$pid
	if ! wait_mounted "$mp" "$pid"; then
		unavailable[$name]="mount failed: $(tail -3 "$work/log/$name.log" | tr '\n' ' ')"
		return 1
	fi
	cands+=("$name")
	target[$name]=$mp
}

setup_passthrough() {
	mkdir -p "$base/passthrough_ll-src"
	start_fuse passthrough_ll "$base/mnt/passthrough_ll" "$work/build/passthrough_ll" -f \
		-o "source=$base/passthrough_ll-src,writeback,default_permissions,allow_other" \
		"$base/mnt/passthrough_ll"
}

# The reference's xattrs are off by default: it answers getxattr with ENOSYS and
# the kernel stops asking.  A filesystem that serves xattrs is asked for
# security.capability before every write (libfuse 3.14 cannot take that over
# with FUSE_HANDLE_KILLPRIV_V2); this candidate shows what that costs.
setup_passthrough_xattr() {
	mkdir -p "$base/passthrough_xattr-src"
	start_fuse passthrough_xattr "$base/mnt/passthrough_xattr" "$work/build/passthrough_ll" -f \
		-o "source=$base/passthrough_xattr-src,writeback,default_permissions,allow_other,xattr" \
		"$base/mnt/passthrough_xattr"
}

setup_bindfs() {
	mkdir -p "$base/bindfs-src"
	# Debian's bindfs with its defaults (single-threaded; adds allow_other)
	start_fuse bindfs "$base/mnt/bindfs" bindfs -f "$base/bindfs-src" "$base/mnt/bindfs"
}

volfs_inited=0
# mount volume NAME (block size BS) on MP; prints nothing, sets mount_pid
volfs_mount() {   # NAME BS MP
	local name=$1 bs=$2 mp=$3 log=$work/log/volfs-$1.log pid
	if ((!volfs_inited)); then
		"$volfs_bin" --store "$store" init >>"$log" 2>&1 || return 1
		volfs_inited=1
	fi
	"$volfs_bin" --store "$store" create "$name" -o "block_size=$bs" >>"$log" 2>&1 || return 1
	mkdir -p "$mp"
	mounts+=("$mp")
	mount_kind[$mp]=volfs
	timeout 120 "$volfs_bin" --store "$store" mount "$name" "$mp" ${volfs_opts:+-o "$volfs_opts"} \
		>>"$log" 2>&1 || return 1
	wait_mounted "$mp" || return 1
	pid=$(daemon_pid "$mp" volfs) && mount_pid[$mp]=$pid
	return 0
}

setup_volfs() {
	local bs name
	if ! find_volfs; then
		unavailable[volfs]="no volfs binary (build it, or pass --volfs PATH)"
		return 1
	fi
	for bs in ${block_sizes//,/ }; do
		name=volfs-$bs
		if volfs_mount "bench-$bs" "$bs" "$base/mnt/$name"; then
			cands+=("$name")
			target[$name]=$base/mnt/$name
		else
			unavailable[$name]="$(grep -v -e "^$" -e "^Try " "$work/log/volfs-bench-$bs.log" | tail -1)"
		fi
	done
}

want raw && setup_raw
want passthrough_ll && { setup_passthrough || true; }
want passthrough_xattr && { setup_passthrough_xattr || true; }
want bindfs && { setup_bindfs || true; }
want volfs && { setup_volfs || true; }

# ---- header ---------------------------------------------------------------------
fstype=$(findmnt -n -o FSTYPE -T "$base")
echo "== volfs filesystem benchmark ($( ((quick)) && echo "quick mode" || echo "full run"))"
echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel:      $(uname -srm)"
echo "machine:     $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
echo "load:        $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
echo "backing dir: $base ($fstype on $(findmnt -n -o SOURCE -T "$base"), $(findmnt -n -o OPTIONS -T "$base"))"
echo "tools:       $(fio --version), libfuse $(pkg-config --modversion fuse3), $(bindfs --version 2>&1 | head -1)"
if [[ -n $volfs_bin ]]; then
	echo "volfs:       $volfs_bin ($(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')), mount options: ${volfs_opts:-the defaults}"
fi
echo "command:     $cmdline"
echo "candidates:  ${cands[*]}"
for c in "${!unavailable[@]}"; do
	echo "unavailable: $c: ${unavailable[$c]}"
done
echo "parameters:  --size $size --rand-size $rand_size --runtime $runtime --write-runtime $write_runtime --files $files --block-sizes $block_sizes --repeat $repeat"
echo "fio:         ioengine=psync iodepth=1 numjobs=1 refill_buffers=1 fallocate=none"
echo
(( ${#cands[@]} )) || die "no candidate available"

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }   # WORKLOAD CANDIDATE VALUE
# failures are counted in a file: measurements run in command substitutions
fail() { record "$1" "$2" FAIL; echo x >>"$work/failed"; echo "  $2: $1 FAILED (see $3)"; }
failures() { [[ -e $work/failed ]] && wc -l <"$work/failed" || echo 0; }

# fio_run NAME LOGNAME ARGS...: runs one fio job, JSON in $work/log/LOGNAME.json
fio_run() {
	local json=$work/log/$2.json
	shift 2
	timeout -k 10 "$step_timeout" fio --output-format=json --output="$json" \
		--ioengine=psync --iodepth=1 --numjobs=1 --refill_buffers=1 --fallocate=none "$@" \
		>"$json.err" 2>&1
}

# fio_get LOGNAME read|write bw|iops -> MiB/s or IOPS
fio_get() {
	python3 - "$work/log/$1.json" "$2" "$3" <<'PY'
import json, sys
path, ddir, what = sys.argv[1:]
with open(path) as f:
    text = f.read()
# fio may print notices before the JSON
j = json.loads(text[text.index('{'):])
job = j["jobs"][0]
if job.get("error"):
    sys.exit(1)
d = job[ddir]
print(f"{d['bw_bytes'] / 2**20:.1f}" if what == "bw" else f"{d['iops']:.0f}")
PY
}

# A candidate whose daemon stopped answering: dump its threads' stacks to the
# logs (for whoever debugs it), kill it (ours, by pid; this aborts the FUSE
# connection and frees the stuck processes) and drop it from the run.
broken() { [[ -e $work/broken-$1 ]]; }
check_alive() {   # CANDIDATE
	local c=$1 mp=${target[$1]} pid dump
	[[ $c == raw ]] && return 0
	broken "$c" && return 1
	timeout 15 stat -f "$mp" >/dev/null 2>&1 && return 0
	pid=${mount_pid[$mp]:-}
	dump=$work/log/hang-$c.txt
	echo "  $c: the daemon does not answer; stacks in $dump; killing it (pid ${pid:-?}) and dropping $c"
	if [[ -n $pid ]]; then
		for t in /proc/"$pid"/task/*; do
			echo "-- $t $(cat "$t/wchan" 2>/dev/null)"
		done >"$dump" 2>&1
		command -v gdb >/dev/null &&
			timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' >>"$dump" 2>&1
		kill -9 "$pid" 2>/dev/null
	fi
	echo x >>"$work/failed"
	: >"$work/broken-$c"
	return 1
}

# one measurement: WORKLOAD CANDIDATE LOGNAME FIO-ARGS... -> records the figure
measure_fio() {
	local w=$1 c=$2 log=$3 ddir what v
	shift 3
	case $w in
	seqwrite) ddir=write what=bw ;;
	seqread) ddir=read what=bw ;;
	randwrite) ddir=write what=iops ;;
	randread) ddir=read what=iops ;;
	esac
	if fio_run "$w" "$log" --name="$w" "$@" && v=$(fio_get "$log" "$ddir" "$what"); then
		record "$w" "$c" "$v"
		echo "$v"
	else
		fail "$w" "$c" "$work/log/$log.json.err" >&2
		echo FAIL
	fi
}

# smallfiles_run CAND DIR COUNT PREFIX LOGNAME [SLICE]
smallfiles_run() {
	local c=$1 d=$2 n=$3 prefix=$4 out=$work/log/$5.out slice=${6:-} phase tmo=$step_timeout
	[[ -n $slice ]] && tmo=$((step_timeout * 10))
	mkdir -p "$d"
	drop_caches
	if timeout -k 10 "$tmo" "$smallfiles_bin" -D ${slice:+-r "$slice"} "$d" "$n" >"$out" 2>&1; then
		for phase in create stat unlink; do
			record "$prefix$phase" "$c" "$(awk -v p="$phase" '$1 == "RESULT" && $2 == p {print $5}' "$out")"
		done
	else
		for phase in create stat unlink; do fail "$prefix$phase" "$c" "$out"; done
		check_alive "$c" || return 1
	fi
	rm -rf --one-file-system "$d"
}

# a dropped candidate: its figures of this round are failures
skip_broken() {   # CANDIDATE WORKLOAD...
	local c=$1 w
	broken "$c" || return 1
	shift
	for w; do record "$w" "$c" FAIL; done
	echo "  $c: dropped (its daemon stopped answering)"
	return 0
}

run_round() {   # ROUND
	local r=$1 c f w r1 r2 out
	echo "-- 1. sequential: write $size in 1 MiB writes then fsync (fsync inside the timing); caches dropped; read back"
	for c in "${cands[@]}"; do
		skip_broken "$c" seqwrite seqread && continue
		f=${target[$c]}/seq.dat
		drop_caches
		r1=$(measure_fio seqwrite "$c" "seqwrite-$c-$r" --filename="$f" --rw=write --bs=1M \
			--size="$size" --end_fsync=1)
		drop_caches
		r2=$(measure_fio seqread "$c" "seqread-$c-$r" --filename="$f" --rw=read --bs=1M --size="$size")
		[[ $r1$r2 == *FAIL* ]] && ! check_alive "$c" && continue
		rm -f "$f"
		echo "  $c: write $r1 MiB/s, read $r2 MiB/s"
	done

	echo "-- 2. 8 KiB random writes over a $rand_size file (written and fsynced first; caches dropped), fsync every 64 writes, for ${write_runtime}s"
	echo "-- 3. 4 KiB random reads over the same file, caches dropped first, ≤ ${runtime}s"
	for c in "${cands[@]}"; do
		skip_broken "$c" randwrite randread && continue
		f=${target[$c]}/rand.dat
		if ! fio_run prep "prep-$c-$r" --name=prep --filename="$f" --rw=write --bs=1M \
			--size="$rand_size" --end_fsync=1; then
			fail randwrite "$c" "$work/log/prep-$c-$r.json.err"
			fail randread "$c" "$work/log/prep-$c-$r.json.err"
			check_alive "$c" && rm -f "$f"
			continue
		fi
		drop_caches
		r1=$(measure_fio randwrite "$c" "randwrite-$c-$r" --filename="$f" --rw=randwrite --bs=8k \
			--size="$rand_size" --fsync=64 --time_based --runtime="$write_runtime")
		drop_caches
		r2=$(measure_fio randread "$c" "randread-$c-$r" --filename="$f" --rw=randread --bs=4k \
			--size="$rand_size" --runtime="$runtime")
		[[ $r1$r2 == *FAIL* ]] && ! check_alive "$c" && continue
		rm -f "$f"
		echo "  $c: random write $r1 IOPS, random read $r2 IOPS"
	done

	echo "-- 4. $files × (create, write 4 KiB, close) in one directory; sync + caches dropped; stat of all; unlink of all"
	for c in "${cands[@]}"; do
		skip_broken "$c" create stat unlink && continue
		smallfiles_run "$c" "${target[$c]}/small" "$files" "" "small-$c-$r"
		out=$work/log/small-$c-$r.out
		echo "  $c: $(awk '$1 == "RESULT" {printf "%s %s  ", $2, $5}' "$out")ops/s"
	done
}

for ((round = 1; round <= repeat; round++)); do
	((repeat > 1)) && echo "== round $round of $repeat"
	run_round "$round"
done

# the resident set now, split: anonymous (heap: what the daemon allocated) and
# file-backed (mapped files such as an LMDB map, which the kernel can drop)
rss_now() {
	awk '/^(RssAnon|RssFile|RssShmem):/ {printf "%s%s %d MiB", sep, $1, $2 / 1024; sep = ", "}' "/proc/$1/status"
}

# ---- 6. daemon peak memory --------------------------------------------------------
echo "-- 6. daemon peak memory (VmHWM of the daemon process, after workloads 1-4)"
for c in "${cands[@]}"; do
	[[ $c == raw ]] && continue
	broken "$c" && { record memory "$c" FAIL; continue; }
	pid=${mount_pid[${target[$c]}]:-}
	if [[ -n $pid && -r /proc/$pid/status ]]; then
		hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
		record memory "$c" "$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')"
		echo "  $c: pid $pid VmHWM $((hwm / 1024)) MiB; now $(rss_now "$pid")"
	else
		record memory "$c" "n/a"
		echo "  $c: daemon pid not found"
	fi
done

# ---- 5. a million small files, volfs alone ---------------------------------------------
if ((million)); then
	slice=$((million_files / 10))
	((slice > 0)) || slice=1
	for bs in ${block_sizes//,/ }; do
		c=volfs-$bs
		if [[ -z ${target[$c]:-} ]] || broken "$c"; then
			echo "-- 5. $c: not available, million-file run skipped"
			continue
		fi
		mp=$base/mnt/volfs-million-$bs
		echo "-- 5. $c alone, on a fresh volume: $million_files × (create, write 4 KiB, close); sync + drop caches; stat; unlink — rates per $slice files"
		if ! volfs_mount "million-$bs" "$bs" "$mp"; then
			echo "  mount failed: $(tail -3 "$work/log/volfs-million-$bs.log")"
			echo x >>"$work/failed"
			continue
		fi
		smallfiles_run "$c" "$mp/small" "$million_files" "m_" "million-$c" "$slice"
		out=$work/log/million-$c.out
		awk '$1 == "SLICE" {printf "  %-6s files %7d-%7d  %8.1f ops/s\n", $2, $3, $4, $6}' "$out"
		awk '$1 == "SLICE" {print "mslice_" $2 "_" $3 "\t" c "\t" $6}' c="$c" "$out" >>"$results"
		pid=${mount_pid[$mp]:-}
		if [[ -n $pid && -r /proc/$pid/status ]]; then
			hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
			record m_memory "$c" "$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')"
			echo "  daemon pid $pid VmHWM $((hwm / 1024)) MiB; now $(rss_now "$pid")"
		fi
		t0=$(date +%s.%N)
		timeout 600 "$volfs_bin" --store "$store" umount "$mp" >>"$work/log/umount.log" 2>&1 &&
			echo "  umount (commit) took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s"
	done
fi

# ---- report ------------------------------------------------------------------------
echo
echo "load:        $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end"
python3 - "$results" "$size" "$rand_size" "$files" "$million_files" "$repeat" "${cands[*]}" "${!unavailable[*]}" <<'PY'
import statistics, sys
path, size, rsize, files, mfiles, repeat, cands, unavail = sys.argv[1:]
cands, unavail, repeat = cands.split(), unavail.split(), int(repeat)
raw = {}                       # (workload, candidate) -> [values as text]
for line in open(path):
    w, c, v = line.rstrip("\n").split("\t")
    raw.setdefault((w, c), []).append(v)

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def median(w, c):
    """median of the measured values, None if any failed or none measured"""
    vals = [num(v) for v in raw.get((w, c), [])]
    if not vals or None in vals:
        return None
    return statistics.median(vals)

def shown(w, c):
    vals = raw.get((w, c))
    if vals is None:
        return "not measured" if c not in cands else "-"
    if "FAIL" in vals:
        return "FAILED"
    nums = [num(v) for v in vals]
    if None in nums:
        return vals[0]
    m = statistics.median(nums)
    text = f"{m:.0f}" if m >= 100 else f"{m:.1f}"
    if len(nums) > 1:
        text += f" ({min(nums):.0f}–{max(nums):.0f})" if m >= 100 else f" ({min(nums):.1f}–{max(nums):.1f})"
    return text

workloads = [
    ("seqwrite", f"1. sequential write {size} + fsync", "MiB/s", 0.9),
    ("seqread", f"1. sequential read {size}, cold cache", "MiB/s", 0.9),
    ("randwrite", f"2. 8 KiB random write, fsync every 64, {rsize} file", "IOPS", 0.8),
    ("randread", f"3. 4 KiB random read, cold cache, {rsize} file", "IOPS", 0.8),
    ("create", f"4. create + write 4 KiB + close, {files} files", "ops/s", 1.0),
    ("stat", f"4. stat, {files} files, cold cache", "ops/s", 1.0),
    ("unlink", f"4. unlink, {files} files", "ops/s", 1.0),
    ("memory", "6. daemon peak memory (VmHWM, anonymous and file-backed pages) after 1-4", "MiB", None),
]
volfs = [c for c in cands if c.startswith("volfs")]
names = cands + [u for u in unavail if u not in cands]
ref = "passthrough_ll"
if repeat > 1:
    print(f"\nfigures: median of {repeat} rounds (min–max)")
for w, title, unit, goal in workloads:
    print(f"\n{title} [{unit}]")
    print(f"  {'candidate':<18} {unit:>20} {'/ passthrough_ll':>17}")
    r = median(w, ref)
    for c in names:
        if w == "memory" and c == "raw":
            continue
        x = median(w, c)
        ratio = f"{x / r:.2f}×" if (x is not None and r) else "-"
        print(f"  {c:<18} {shown(w, c):>20} {ratio:>17}")

print("\n== volfs / passthrough_ll, measured in this run, against the targets")
if not volfs:
    why = "; ".join(u for u in unavail if u.startswith("volfs")) or "not selected"
    print(f"  volfs: not yet measured ({why} unavailable)" if why != "not selected"
          else "  volfs: not selected")
if ref not in cands:
    print("  (passthrough_ll was not measured: no ratios)")
for c in volfs:
    print(f"  {c}:")
    for w, title, unit, goal in workloads:
        if goal is None:
            continue
        x, r = median(w, c), median(w, ref)
        if x is None or not r:
            print(f"    {w:<10} {'n/a':>8}   target ≥ {goal:.1f}×")
            continue
        ratio = x / r
        verdict = "meets" if ratio >= goal else "BELOW"
        print(f"    {w:<10} {ratio:>7.2f}×   target ≥ {goal:.1f}×   {verdict}")
    print(f"    {'memory':<10} {shown('memory', c):>8} MiB peak (target: the dirty limit + a small constant)")
    # the other references of the run, for when passthrough_ll has a bad or lucky round
    for xr, why in (("passthrough_xattr", "xattrs served, as volfs does"),
                    ("raw", "the backing directory itself")):
        if xr not in cands:
            continue
        pairs = [(w, median(w, c), median(w, xr)) for w, _, _, goal in workloads if goal is not None]
        print(f"    against {xr} ({why}): " +
              ", ".join(f"{w} {x / r:.2f}×" for w, x, r in pairs if x is not None and r))

ms = sorted(((w, c, num(v[0])) for (w, c), v in raw.items() if w.startswith("mslice_")),
            key=lambda t: (t[1], t[0].split("_")[1], int(t[0].split("_")[2])))
if ms:
    print(f"\n== 5. volfs alone at {mfiles} files: ops/s per slice of {int(mfiles) // 10} files (flat is the target)")
    for c in sorted({t[1] for t in ms}):
        for phase in ("create", "stat", "unlink"):
            rates = [v for w, cc, v in ms if cc == c and w.split("_")[1] == phase and v]
            if not rates:
                continue
            print(f"  {c} {phase:<7} " + " ".join(f"{v:.0f}" for v in rates)
                  + f"   (last/first {rates[-1] / rates[0]:.2f}, min/max {min(rates) / max(rates):.2f})")
        for phase in ("create", "stat", "unlink"):
            print(f"  {c} {phase:<7} overall {shown('m_' + phase, c)} ops/s")
        print(f"  {c} daemon peak memory (VmHWM) after the million-file run: {shown('m_memory', c)} MiB")
PY
n=$(failures)
((n == 0)) || { echo "run.sh: $n figure(s) failed; logs in $work" >&2; exit 1; }
exit 0
}
