#!/usr/bin/env bash
# Start a single-node OpenStack Swift with its S3 API (s3api) on 127.0.0.1, so that
# the storage tests can run the S3 backend against a server that checks signatures.
#
#   scripts/swift-s3.sh [start] [DIR]   install if needed, start, print the S3 URL
#   scripts/swift-s3.sh stop [DIR]      stop the daemons this script started
#
# DIR (default /tmp/kejian-swift) holds everything the node owns: configs, rings, the
# device folder, logs and pid files. It must be on a filesystem with xattrs (ext4,
# xfs). The one file outside it is /etc/swift/swift.conf: every Swift server reads
# the hash suffix and storage policies from that fixed path, whatever swift_dir says.
# Debian's swift package ships it; it is only written here when missing.
#
# Ports: proxy KEJIAN_SWIFT_PORT (default 18080); the object, container and account
# servers and memcached take the next four. Starting again while the proxy answers
# its health check only prints the URL. Runs as root (CI and developer machines).
set -euo pipefail

action=start
case "${1:-}" in
    start | stop)
        action=$1
        shift
        ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
esac

dir=${1:-/tmp/kejian-swift}
proxy_port=${KEJIAN_SWIFT_PORT:-18080}
object_port=$((proxy_port + 1))
container_port=$((proxy_port + 2))
account_port=$((proxy_port + 3))
memcached_port=$((proxy_port + 4))
bucket=kejian-test
s3_url="s3://test%3Atester:testing@127.0.0.1:${proxy_port}/${bucket}?secure=false&region=us-east-1"

etc=$dir/etc
run=$dir/run
log=$dir/log
node=$dir/node

packages=(swift swift-proxy swift-account swift-container swift-object memcached)
daemons=(memcached object container account proxy)

say() { printf 'swift-s3: %s\n' "$*" >&2; }

healthy() {
    [[ "$(curl -fsS --max-time 2 "http://127.0.0.1:${proxy_port}/healthcheck" \
        2>/dev/null)" == OK ]]
}

# A pid file only counts while its process still runs the command we started, so a
# recycled pid is never signalled.
running_pid() {
    local name=$1 pid marker
    [[ -f $run/$name.pid ]] || return 1
    pid=$(<"$run/$name.pid")
    [[ -r /proc/$pid/cmdline ]] || return 1
    if [[ $name == memcached ]]; then
        marker="memcached -l 127.0.0.1 -p $memcached_port "
    else
        marker="$etc/$name-server.conf"
    fi
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
    echo "$pid"
}

stop_all() {
    local name pid tries
    for name in "${daemons[@]}"; do
        if pid=$(running_pid "$name"); then
            # Each daemon leads its own process group (setsid below): signalling the
            # group also ends the worker processes Swift forks.
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for tries in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$run/$name.pid"
    done
}

if [[ $action == stop ]]; then
    stop_all
    say "stopped (data kept in $dir)"
    exit 0
fi

if healthy; then
    echo "$s3_url"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    say "must run as root (it installs Debian packages and runs Swift as root)"
    exit 1
fi

# Install only what is missing; the package lists are refreshed only when needed.
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

if [[ ! -f /etc/swift/swift.conf ]]; then
    mkdir -p /etc/swift
    cat >/etc/swift/swift.conf <<'EOF'
[swift-hash]
swift_hash_path_suffix = kejian-test-node
swift_hash_path_prefix = kejian-test-node

[storage-policy:0]
name = Policy-0
default = yes
EOF
fi

# Leftovers of an earlier start that no longer answers are stopped first.
stop_all
mkdir -p "$etc" "$run" "$log" "$node/d1"

common() {
    local port=$1 name=$2
    cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = root
swift_dir = $etc
devices = $node
mount_check = false
disable_fallocate = true
log_name = kejian-swift-$name
EOF
}

for server in object container account; do
    port_var=${server}_port
    {
        common "${!port_var}" "$server"
        cat <<EOF

[pipeline:main]
pipeline = $server-server

[app:$server-server]
use = egg:swift#$server

[$server-replicator]

[$server-updater]

[$server-auditor]
EOF
    } >"$etc/$server-server.conf"
done

{
    common "$proxy_port" proxy
    cat <<EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$memcached_port

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:tempurl]
use = egg:swift#tempurl

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF
} >"$etc/proxy-server.conf"

# One ring per server type: 2^8 partitions, one replica, one device.
for server in object container account; do
    port_var=${server}_port
    builder=$etc/$server.builder
    if [[ ! -f $etc/$server.ring.gz ]]; then
        rm -f "$builder"
        swift-ring-builder "$builder" create 8 1 1 >/dev/null
        swift-ring-builder "$builder" add "r1z1-127.0.0.1:${!port_var}/d1" 1 >/dev/null
        swift-ring-builder "$builder" rebalance >/dev/null
    fi
done

# tempauth keeps its tokens in memcache, so the proxy's cache filter needs a server.
memcached_user=memcache
id "$memcached_user" >/dev/null 2>&1 || memcached_user=nobody
setsid memcached -l 127.0.0.1 -p "$memcached_port" -U 0 -m 64 -u "$memcached_user" \
    >>"$log/memcached.log" 2>&1 </dev/null &
echo $! >"$run/memcached.pid"

for server in object container account proxy; do
    setsid "swift-$server-server" "$etc/$server-server.conf" \
        >>"$log/$server.log" 2>&1 </dev/null &
    echo $! >"$run/$server.pid"
done

# Wait for the proxy's health check, then for each backend to accept connections.
for tries in $(seq 150); do
    healthy && break
    sleep 0.2
done
if ! healthy; then
    say "the proxy did not answer on 127.0.0.1:${proxy_port}; logs in $log"
    tail -n 20 "$log"/*.log >&2 || true
    stop_all
    exit 1
fi
for port in "$object_port" "$container_port" "$account_port"; do
    for tries in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.2
    done
done

say "up in $dir (logs in $log)"
echo "$s3_url"
