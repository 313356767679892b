#!/bin/bash
# tests/docker/plugin.sh VOLFS PLUGIN — volfs-docker-plugin under a real Docker
# engine: a dockerd of our own (Debian's docker.io, storage driver vfs, its
# own data root, exec root and socket, no network, --live-restore), our own
# plugin on /run/docker/plugins/volfstest<PID>.sock (so it never meets a
# production plugin, nor another run of this test), and an image made with
# `docker import` from busybox-static.
#
# Exit 77 (skip) only where dockerd cannot run: not root, not installed, no
# /dev/fuse, or it does not start (its log's tail is printed).  Whatever
# happens, the trap removes the containers, stops dockerd, containerd and the
# plugin, unmounts everything under the temporary directory and removes it.
set -euo pipefail

VOLFS=${1:?usage: $0 PATH-TO-volfs PATH-TO-volfs-docker-plugin}
PLUGIN=${2:?usage: $0 PATH-TO-volfs PATH-TO-volfs-docker-plugin}
[[ $VOLFS == /* ]] || VOLFS=$PWD/$VOLFS
[[ $PLUGIN == /* ]] || PLUGIN=$PWD/$PLUGIN

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "dockerd and FUSE mounts need root"
DOCKERD=$(command -v dockerd || true)
[[ -n $DOCKERD ]] || skip "dockerd is not installed (apt-get install docker.io)"
# Debian's client, of the daemon's version: /usr/local/bin may hold another
DOCKER_BIN=/usr/bin/docker
[[ -x $DOCKER_BIN ]] || DOCKER_BIN=$(command -v docker || true)
[[ -n $DOCKER_BIN ]] || skip "the docker client is not installed (apt-get install docker.io)"
[[ -c /dev/fuse ]] || skip "no /dev/fuse: volfs cannot mount here"

fail() {
	echo "FAIL: $*" >&2
	if [[ -n ${T-} ]]; then
		echo "--- plugin log (tail)" >&2
		tail -n 40 "$T/plugin.log" >&2 2>/dev/null || true
		echo "--- dockerd log (tail)" >&2
		tail -n 20 "$T/dockerd.log" >&2 2>/dev/null || true
	fi
	exit 1
}
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || fail "$BUSYBOX is missing (apt-get install busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && fail "$BUSYBOX is not static (apt-get install busybox-static)"
command -v curl >/dev/null || fail "curl is missing"

T=$(mktemp -d /tmp/volfs-docker-XXXXXX)
chmod 755 "$T"
STORE=$T/store
MNT=$T/mnt
DRV=volfstest$$
while [[ -e /run/docker/plugins/$DRV.sock ]]; do DRV=volfstest$$x$RANDOM; done
SOCK=/run/docker/plugins/$DRV.sock
IMG=volfs-test-busybox:1
DOCKERD_PID=
PLUGIN_PID=
export DOCKER_HOST=unix://$T/docker.sock DOCKER_CONFIG=$T/cli
docker() { "$DOCKER_BIN" "$@"; }

# ---- cleanup ---------------------------------------------------------------

# The pids of processes whose command line names our directory (containerd and
# its shims, volfs daemons of our store): only what this test started.
our_pids() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$T/" && echo "$pid"
	done
	return 0
}

# The cgroups of our containers (dockerd's --cgroup-parent is $DRV), deepest first.
our_cgroups() {
	find /sys/fs/cgroup -maxdepth 3 -type d -name "$DRV" 2>/dev/null |
		while read -r d; do find "$d" -depth -type d; done
	return 0
}

# Mount points under $T, deepest first.
our_mounts() {
	awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

cleanup() {
	local rc=$? _ m pid d
	set +e
	trap - EXIT
	if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		local ids
		ids=$(timeout 20 "$DOCKER_BIN" ps -aq 2>/dev/null)
		[[ -n $ids ]] && timeout 60 "$DOCKER_BIN" rm -f $ids >/dev/null 2>&1
		stop_dockerd
	fi
	for pid in $(our_pids); do
		# containerd and shims of our dockerd; not the volfs daemons (unmounted below)
		grep -qaF "$T/exec" "/proc/$pid/cmdline" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
	done
	# processes of our containers that outlived dockerd and containerd: our cgroup parent
	for d in $(our_cgroups); do
		for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do
			echo "cleanup: killing leftover container process $pid" >&2
			kill -KILL "$pid" 2>/dev/null
		done
	done
	stop_plugin
	for m in $(our_mounts); do
		if awk -v m="$m" '$5 == m && / - fuse\.volfs / { f = 1 } END { exit !f }' /proc/self/mountinfo; then
			timeout 30 "$VOLFS" --store "$STORE" umount "$m" 2>/dev/null || umount -l "$m"
		else
			umount -l "$m" 2>/dev/null
		fi
	done
	for _ in $(seq 50); do
		[[ -z $(our_pids) ]] && break
		sleep 0.1
	done
	for pid in $(our_pids); do
		echo "cleanup: killing leftover process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
		kill -KILL "$pid" 2>/dev/null
	done
	for d in $(our_cgroups); do
		rmdir "$d" 2>/dev/null
	done
	rm -f "$SOCK"
	if [[ -n $(our_mounts) ]]; then
		echo "cleanup: mounts left under $T:" >&2
		our_mounts >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT

# ---- dockerd and the plugin ------------------------------------------------

start_dockerd() {
	# its own (empty) configuration file: not /etc/docker/daemon.json
	[[ -e $T/daemon.json ]] || echo '{}' >"$T/daemon.json"
	"$DOCKERD" --config-file "$T/daemon.json" --storage-driver=vfs --data-root "$T/docker" --exec-root "$T/exec" \
		--pidfile "$T/dockerd.pid" -H "unix://$T/docker.sock" --bridge=none \
		--iptables=false --ip6tables=false --live-restore --cgroup-parent="$DRV" \
		>>"$T/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	local _
	for _ in $(seq 300); do
		timeout 5 "$DOCKER_BIN" version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.2
	done
	return 1
}

stop_dockerd() {
	local _
	[[ -n $DOCKERD_PID ]] || return 0
	kill -TERM "$DOCKERD_PID" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DOCKERD_PID" 2>/dev/null || true
	wait "$DOCKERD_PID" 2>/dev/null || true
	DOCKERD_PID=
	return 0
}

start_plugin() {
	"$PLUGIN" --store "$STORE" --socket "$SOCK" --mount-root "$MNT" >>"$T/plugin.log" 2>&1 &
	PLUGIN_PID=$!
	local _
	for _ in $(seq 100); do
		[[ -S $SOCK ]] && curl -s --max-time 2 --unix-socket "$SOCK" -X POST \
			http://plugin/Plugin.Activate >/dev/null && return 0
		kill -0 "$PLUGIN_PID" 2>/dev/null || fail "the plugin exited at start"
		sleep 0.1
	done
	fail "the plugin does not answer on $SOCK"
}

# stop_plugin [SIGNAL]: stops it; with TERM (the default) it must exit 0.
stop_plugin() {
	local sig=${1:-TERM} rc=0
	[[ -n $PLUGIN_PID ]] || return 0
	kill "-$sig" "$PLUGIN_PID" 2>/dev/null || true
	wait "$PLUGIN_PID" 2>/dev/null || rc=$?
	PLUGIN_PID=
	if [[ $sig == TERM && $rc != 0 ]]; then
		echo "the plugin exited $rc after SIGTERM" >&2
		return 1
	fi
	return 0
}

# ---- helpers -----------------------------------------------------------------

# json FILE EXPR: the python expression EXPR over the JSON in FILE (as j).
json() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# api ENDPOINT [BODY [CURL-ARGS...]]: one request to the plugin; the reply in
# $T/reply; fails unless the status is 200.
api() {
	local endpoint=$1 body=${2-} code
	shift 2 || shift $#
	code=$(curl -s --max-time 20 --unix-socket "$SOCK" -o "$T/reply" -w '%{http_code}' \
		-X POST -H 'Content-Type: application/json' --data-binary "$body" "$@" \
		"http://plugin/$endpoint") || fail "curl $endpoint: no answer"
	[[ $code == 200 ]] || fail "$endpoint $body: HTTP $code"
}

# api_err ENDPOINT BODY PATTERN [CURL-ARGS...]: the reply's Err matches PATTERN,
# and the plugin lives on.
api_err() {
	local endpoint=$1 body=$2 pattern=$3 err
	shift 3
	api "$endpoint" "$body" "$@"
	err=$(json "$T/reply" 'j["Err"]') || fail "$endpoint $body: the reply is not JSON: $(cat "$T/reply")"
	[[ -n $err ]] || fail "$endpoint ${body:0:80}: no Err in $(cat "$T/reply")"
	grep -qE -- "$pattern" <<<"$err" || fail "$endpoint ${body:0:80}: Err '$err' does not match /$pattern/"
	kill -0 "$PLUGIN_PID" 2>/dev/null || fail "the plugin died after $endpoint ${body:0:80}"
}

api_ok() {
	api "$@"
	local err
	err=$(json "$T/reply" 'j["Err"]')
	[[ -z $err ]] || fail "$1 $2: Err '$err'"
}

# mounted NAME: is volume NAME mounted by the plugin (a volfs mount on $MNT/NAME)?
mounted() { awk -v m="$MNT/$1" '$5 == m && / - fuse\.volfs / { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# ids NAME: how many mount IDs the plugin's state holds for NAME.
ids() { json "$STORE/run/docker/state.json" "len(j['volumes'].get('$1', {}).get('ids', []))"; }

run() { docker run --rm --network none "$@"; }

expect_eq() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

# ---- setup -----------------------------------------------------------------

"$VOLFS" --store "$STORE" init >/dev/null
if ! start_dockerd; then
	echo "--- dockerd log (tail)"
	tail -n 25 "$T/dockerd.log"
	skip "dockerd does not start here (log above)"
fi
start_plugin

mkdir -p "$T/image/bin" "$T/image/tmp" "$T/image/etc"
chmod 1777 "$T/image/tmp"
cp "$BUSYBOX" "$T/image/bin/busybox"
for a in sh cat echo id sleep ls mkdir chown stat sync touch test seq wc head rm mv \
	md5sum usleep grep printf true dd; do
	ln -s busybox "$T/image/bin/$a"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$T/image/etc/passwd"
tar -C "$T/image" -cf "$T/image.tar" .
docker import "$T/image.tar" "$IMG" >/dev/null
echo "dockerd $(docker version --format '{{.Server.Version}}'), driver $DRV"

# ---- the protocol, straight ------------------------------------------------

api_ok Plugin.Activate ''
expect_eq "Activate" "$(json "$T/reply" 'j["Implements"]')" "['VolumeDriver']"
api_ok VolumeDriver.Capabilities ''
expect_eq "Capabilities" "$(json "$T/reply" 'j["Capabilities"]["Scope"]')" local

# ---- 1. data outlives its container -----------------------------------------

docker volume create -d "$DRV" -o block_size=16K v1 >/dev/null
expect_eq "block size" "$("$VOLFS" --store "$STORE" inspect v1 | json /dev/stdin 'j["block_size"]')" 16384
docker run --name w1 --network none -v v1:/data "$IMG" sh -c 'echo hello > /data/f'
mounted v1 && fail "v1 is still mounted after its only container stopped"
docker rm w1 >/dev/null
expect_eq "read by a new container" "$(run -v v1:/data "$IMG" cat /data/f)" hello
mounted v1 && fail "v1 is still mounted after --rm"
echo "ok: data written in one container is read by the next"

# ---- 2. two containers share a volume ----------------------------------------

docker run -d --name c1 --network none -v v1:/data "$IMG" sleep 600 >/dev/null
mounted v1 || fail "v1 is not mounted while c1 runs"
run -v v1:/data "$IMG" sh -c 'echo shared > /data/g'
expect_eq "c1 sees c2's file" "$(docker exec c1 cat /data/g)" shared
docker run -d --name c2 --network none -v v1:/data "$IMG" sleep 600 >/dev/null
expect_eq "mount IDs with c1 and c2" "$(ids v1)" 2
docker exec c2 sh -c 'echo from-c2 > /data/h'
expect_eq "c1 sees c2's file" "$(docker exec c1 cat /data/h)" from-c2
docker rm -f c2 >/dev/null
mounted v1 || fail "v1 was unmounted while c1 still uses it"
expect_eq "mount IDs with c1" "$(ids v1)" 1
echo "ok: two containers share a volume; it stays mounted for the last"

# ---- 3. a consistent snapshot of a volume in use, and a clone at creation ------

docker exec c1 sh -c 'dd if=/dev/urandom of=/data/big bs=65536 count=64 2>/dev/null'
sum=$(docker exec c1 md5sum /data/big | cut -d' ' -f1)
# a writer that, like a database, makes each version durable before it renames it in
docker exec -d c1 sh -c 'i=0; while :; do i=$((i+1)); echo $i > /data/n.tmp; sync /data/n.tmp; mv /data/n.tmp /data/n; usleep 10000; done'
for _ in $(seq 100); do
	[[ $(cat "$MNT/v1/n" 2>/dev/null) -gt 3 ]] 2>/dev/null && break
	sleep 0.1
done
[[ -s $MNT/v1/n ]] || fail "the writer in c1 does not write"
"$VOLFS" --store "$STORE" snapshot create v1@s1 >/dev/null
docker exec c1 sh -c 'echo after > /data/f'
status=$(docker volume inspect -f '{{json .Status}}' v1)
grep -q '"snapshots":\["s1"\]' <<<"$status" || fail "v1's Status lacks its snapshot: $status"
docker volume create -d "$DRV" -o from=v1@s1 v1clone >/dev/null
out=$(run -v v1clone:/data "$IMG" sh -c 'md5sum /data/big; cat /data/f; cat /data/n')
read -r csum _ <<<"$out"
expect_eq "the clone's big file" "$csum" "$sum"
expect_eq "the clone's /data/f (before the snapshot)" "$(sed -n 2p <<<"$out")" hello
n=$(sed -n 3p <<<"$out")
[[ $n =~ ^[0-9]+$ ]] || fail "the counter in the snapshot is torn: '$n'"
grep -q '"origin":"v1@s1"' <<<"$(docker volume inspect -f '{{json .Status}}' v1clone)" ||
	fail "v1clone's Status does not name its origin"
expect_eq "v1 after the snapshot" "$(docker exec c1 cat /data/f)" after
echo "ok: snapshot of a volume in use (counter $n), clone at creation"

# ---- 4. the plugin restarts (crashes) while a container runs --------------------

stop_plugin KILL
mounted v1 || fail "v1 was unmounted when the plugin died"
expect_eq "c1 reads with the plugin down" "$(docker exec c1 cat /data/g)" shared
start_plugin
mounted v1 || fail "v1 is not mounted after the plugin restarted"
expect_eq "mount IDs after the restart" "$(ids v1)" 1
docker exec c1 sh -c 'echo after-restart > /data/r'
expect_eq "a new container after the restart" "$(run -v v1:/data "$IMG" cat /data/r)" after-restart
expect_eq "mount IDs" "$(ids v1)" 1
stop_plugin TERM || fail "the plugin did not stop cleanly"
start_plugin
mounted v1 || fail "v1 was unmounted by a plugin restart (SIGTERM)"
echo "ok: plugin restarts (SIGKILL, SIGTERM) with a container running"

# ---- 5. dockerd restarts while a container runs (live restore) --------------------

docker exec c1 sh -c 'echo before-dockerd-restart > /data/d'
stop_dockerd
mounted v1 || fail "v1 was unmounted when dockerd stopped"
start_dockerd || fail "dockerd did not start again"
expect_eq "c1 runs on" "$(docker inspect -f '{{.State.Running}}' c1)" true
expect_eq "c1 reads after the dockerd restart" "$(docker exec c1 cat /data/d)" before-dockerd-restart
mounted v1 || fail "v1 is not mounted after dockerd restarted"
docker exec c1 sh -c 'echo after-dockerd-restart > /data/d'
docker rm -f c1 >/dev/null
mounted v1 && fail "v1 is still mounted after its last container went"
expect_eq "mount IDs at the end" "$(ids v1)" 0
expect_eq "data after it all" "$(run -v v1:/data "$IMG" cat /data/d /data/r)" \
	"$(printf 'after-dockerd-restart\nafter-restart')"
echo "ok: dockerd restart with a container running; unmounted after the last"

# ---- 6. a non-root container, and a mount made by hand ---------------------------

run -v v1:/data "$IMG" sh -c 'mkdir /data/u && chown 1000:1000 /data/u'
expect_eq "uid 1000 writes" "$(run --user 1000 -v v1:/data "$IMG" sh -c 'echo mine > /data/u/f && id -u')" 1000
expect_eq "the file's owner" "$(run -v v1:/data "$IMG" stat -c '%u %s' /data/u/f)" "1000 5"
run --user 1000 -v v1:/data "$IMG" sh -c 'echo x > /data/nope' 2>/dev/null &&
	fail "uid 1000 wrote into the root-owned volume root"

"$VOLFS" --store "$STORE" create byhand >/dev/null
mkdir "$T/hand"
"$VOLFS" --store "$STORE" mount byhand "$T/hand"
mkdir "$T/hand/u" && chown 1000:1000 "$T/hand/u"
run --user 1000 -v "$T/hand:/data" "$IMG" sh -c 'echo via-bind > /data/u/f'
expect_eq "a bind mount of a hand mount" "$(cat "$T/hand/u/f")" via-bind
expect_eq "its owner" "$(stat -c %u "$T/hand/u/f")" 1000
# the plugin lends a mount made by hand to containers, and leaves it mounted
expect_eq "byhand through the plugin" "$(run -v byhand:/data "$IMG" cat /data/u/f)" via-bind
mountpoint -q "$T/hand" || fail "the plugin unmounted a mount made by hand"
"$VOLFS" --store "$STORE" umount "$T/hand"
echo "ok: uid 1000 in a container; a hand mount bind-mounted and lent"

# ---- 7. docker volume ls, inspect, rm --------------------------------------------

ls_out=$(docker volume ls --format '{{.Driver}} {{.Name}}')
for v in v1 v1clone byhand; do
	grep -qx "$DRV $v" <<<"$ls_out" || fail "docker volume ls lacks $v: $ls_out"
done
docker run -d --name c3 --network none -v v1clone:/data "$IMG" sleep 600 >/dev/null
docker volume rm v1clone >/dev/null 2>&1 && fail "docker volume rm of a volume in use succeeded"
api_err VolumeDriver.Remove '{"Name":"v1clone"}' 'in use'
docker rm -f c3 >/dev/null
out=$(docker volume rm v1 2>&1) && fail "v1 was removed while a clone depends on it"
grep -q 'clones depend' <<<"$out" || fail "docker volume rm v1: $out"
docker volume rm v1clone >/dev/null
docker volume rm v1 >/dev/null
"$VOLFS" --store "$STORE" list | grep -qE '^v1 ' && fail "v1 is still in the store"
echo "ok: ls shows volumes made by the volfs tool; rm refused in use and with clones"

# ---- 8. bad requests ----------------------------------------------------------

api_ok VolumeDriver.Create '{"Name":"bad1"}'
docker run -d --name c4 --network none -v bad1:/data "$IMG" sleep 600 >/dev/null
api_err VolumeDriver.Get '{"Name":' 'malformed JSON'
api_err VolumeDriver.Get '{bad json}' 'malformed JSON'
api_err VolumeDriver.Get '{"Name":"bad1"} {}' 'malformed JSON'
api_err VolumeDriver.Get '[1,2]' 'not a JSON object'
api_err VolumeDriver.Get '"bad1"' 'not a JSON object'
api_err VolumeDriver.Get '' 'no "Name"'
api_err VolumeDriver.Get '{}' 'no "Name"'
api_err VolumeDriver.Get '{"Name":5}' 'not a string'
api_err VolumeDriver.Get '{"Name":"../etc"}' 'invalid volume name'
api_err VolumeDriver.Get '{"Name":"a\u0000b"}' 'invalid volume name'
api_err VolumeDriver.Get "{\"Name\":\"$(printf 'x%.0s' $(seq 200))\"}" 'invalid volume name'
api_err VolumeDriver.Get '{"Name":"nosuch"}' "no volume named 'nosuch'"
api_err VolumeDriver.Path '{"Name":"nosuch"}' "no volume named"
api_err VolumeDriver.Mount '{"Name":"nosuch","ID":"x"}' "no volume named"
api_err VolumeDriver.Remove '{"Name":"nosuch"}' "no volume named"
api_err VolumeDriver.Mount '{"Name":"bad1"}' 'no "ID"'
api_err VolumeDriver.Mount '{"Name":"bad1","ID":7}' 'not a string'
api_err VolumeDriver.Remove '{"Name":"bad1"}' 'in use'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"colour":"blue"}}' "unknown option 'colour'"
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"block_size":"3K"}}' 'power of two'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"block_size":"2M"}}' 'power of two'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"block_size":"lots"}}' 'power of two'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"block_size":16384}}' 'not a string'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":"block_size=4K"}' '"Opts" is not an object'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"from":"nosnap"}}' 'VOLUME@SNAPSHOT'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"from":"bad1@nosuch"}}' 'no such snapshot'
api_err VolumeDriver.Create '{"Name":"bad2","Opts":{"from":"x@y","block_size":"4K"}}' 'do not go together'
api_err VolumeDriver.Create '{"Name":"bad1","Opts":{"block_size":"4K"}}' 'exists already'
api_err VolumeDriver.Frobnicate '{}' 'unknown endpoint'
api_err Plugin.Activate '' 'takes POST' -X GET
printf '{"Name":"%s"}' "$(head -c 100000 /dev/zero | tr '\0' a)" >"$T/big.json"
api_err VolumeDriver.Get "@$T/big.json" 'larger than'
printf '%.0s[' $(seq 2000) >"$T/deep.json"
api_err VolumeDriver.Get "@$T/deep.json" 'malformed JSON'
api_ok VolumeDriver.Unmount '{"Name":"bad1","ID":"never-mounted"}'
"$VOLFS" --store "$STORE" list | grep -q '^bad2 ' && fail "a refused Create made bad2"
out=$(docker volume create -d "$DRV" -o colour=blue bad3 2>&1) && fail "docker volume create -o colour=blue succeeded"
grep -q "unknown option 'colour'" <<<"$out" || fail "docker did not pass the Err on: $out"

# a client that stalls mid-request delays no one
python3 - "$SOCK" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /VolumeDriver.Get HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Na")
time.sleep(8)
PY
stall=$!
sleep 0.5
api_ok VolumeDriver.Get '{"Name":"bad1"}' --max-time 5
wait "$stall"
docker rm -f c4 >/dev/null
mounted bad1 && fail "bad1 is still mounted"
api_ok Plugin.Activate ''
echo "ok: every bad request gets an Err; the plugin lives on"

# ---- 9. the plugin's state after its volume daemon died, and after a reboot -------

# straight through the protocol, as dockerd would
api_ok VolumeDriver.Create '{"Name":"rec"}'
api_ok VolumeDriver.Mount '{"Name":"rec","ID":"one"}'
expect_eq "Mount's answer" "$(json "$T/reply" 'j["Mountpoint"]')" "$MNT/rec"
mounted rec || fail "rec is not mounted"
stop_plugin TERM || fail "the plugin did not stop cleanly"
daemon=$(grep -lx "$MNT/rec" "$STORE"/run/mount-* | head -n 1 | sed "s/.*mount-//") || true
[[ -n $daemon ]] || fail "no daemon record for rec"
kill -KILL "$daemon"
while kill -0 "$daemon" 2>/dev/null; do sleep 0.1; done
start_plugin
mounted rec && fail "the dead mount of rec was not detached"
expect_eq "rec's IDs kept" "$(ids rec)" 1
api_ok VolumeDriver.Mount '{"Name":"rec","ID":"two"}'
mounted rec || fail "rec was not mounted again at the next Mount"
echo again >"$MNT/rec/f"
api_ok VolumeDriver.Unmount '{"Name":"rec","ID":"one"}'
mounted rec || fail "rec was unmounted with an ID left"
api_ok VolumeDriver.Unmount '{"Name":"rec","ID":"two"}'
mounted rec && fail "rec is still mounted after its last ID"
# a state written in another boot: no container can use a volume any more
api_ok VolumeDriver.Mount '{"Name":"rec","ID":"three"}'
api_ok VolumeDriver.Unmount '{"Name":"rec","ID":"three"}'
stop_plugin TERM || fail "the plugin did not stop cleanly"
python3 - "$STORE/run/docker/state.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
j["boot_id"] = "an-earlier-boot"
j["volumes"]["rec"] = {"mountpoint": "/nonexistent", "mounted": False, "owned": True, "ids": ["old"]}
with open(sys.argv[1], "w") as f:
    json.dump(j, f)
PY
start_plugin
expect_eq "IDs after a reboot" "$(ids rec)" 0
api_ok VolumeDriver.Remove '{"Name":"rec"}'
echo "ok: state reconciled after a daemon died and after a reboot"

# ---- the end ----------------------------------------------------------------

stop_plugin TERM || fail "the plugin did not exit 0 at SIGTERM"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$T/plugin.log"; then
	fail "the sanitizers report errors in the plugin"
fi
echo "ok: docker plugin"
