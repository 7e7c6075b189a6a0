#!/usr/bin/env bash
# Install the .deb for real on this machine and prove it works, then remove and purge it (issue 22). As root; it
# changes the system (a hallops user, /opt/hallops, /etc/hallops, /var/lib/hallops, /etc/mosquitto/hallops.*), so it
# is not part of the test command: run it on a throwaway machine or one where hallops is not installed.
#
#   scripts/install_check.sh [--from OLD] [DEB]
#                                           the package on this machine (systemd absent: started the documented way);
#                                           with --from, OLD (an earlier release's .deb) is installed first and DEB is
#                                           the upgrade, else DEB is installed over itself
#   scripts/install_check.sh --bundle TGZ   the offline bundle on an empty Debian 12 (debootstrap --variant=minbase,
#                                           the only step that uses the network), installed and run in a chroot
#                                           without any network (unshare -n)
#   scripts/install_check.sh --systemd TGZ  the same bundle in an empty Debian 12 with systemd, then booted with
#                                           systemd-nspawn (private network: loopback only): the hardened units
#                                           started by systemd itself, the gateway connected, the sign-in
# DEB defaults to dist/hallops_<version>_amd64.deb (scripts/package.sh). Ports are free ones, picked at the start,
# so it does not clash with a hall or tests running here. Exit status: 0 every check passed, 1 one failed (named).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install-check: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
[ "$(id -u)" -eq 0 ] || fail "run it as root"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PASSWORD="Hall-Install-Check-2026!"
HALL=county-01
pids=()
work=$(mktemp -d /tmp/hallops-install-check.XXXXXX)
chmod 755 "$work"

# Each process is started by `setsid` (a process group of its own: runuser and what it runs) and stopped with
# SIGTERM, as systemd stops the units (a background job of a script ignores SIGINT), then SIGKILL after 20 s. The
# SIGTERM goes to runuser alone, which passes it on: sent to the whole group, hallops would get it twice, and a second
# signal stops it hard (the demo would then leave its own broker running).
stop_started() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  pids=()
}

wait_for() {  # wait_for SECONDS WHAT COMMAND…: until COMMAND succeeds
  local limit=$1 what=$2
  shift 2
  local started=$SECONDS
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - started)) -lt "$limit" ] || return 1
    sleep 0.5
  done
  say "    $what after $((SECONDS - started)) s"
}

audit_count() {  # rows of the installed gateway's audit chain
  python3 -c 'import sqlite3; print(sqlite3.connect("file:/var/lib/hallops/hallops.db?mode=ro", uri=True).execute("SELECT count(*) FROM audit").fetchone()[0])'
}

health_connected() {  # health_connected URL: /api/health says the broker is connected
  curl -sf "$1/api/health" | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["broker_connected"] else 1)'
}

# start_and_sign_in PLAIN HTTP: the broker (the packaged configuration, its listeners moved) and the gateway, the
# documented way without systemd; until /api/health says broker_connected; then the administrator signs in
start_and_sign_in() {
  local plain=$1 http=$2 code
  setsid runuser -u mosquitto -- mosquitto -c "$work/mosquitto.conf" >> "$work/mosquitto.log" 2>&1 &
  pids+=($!)
  (cd /var/lib/hallops && exec setsid runuser -u hallops -- /usr/bin/hallops gateway --config /etc/hallops/gateway.yaml) \
    >> "$work/gateway.log" 2>&1 &
  pids+=($!)
  wait_for 120 "the gateway connected to the broker on $plain" health_connected "http://127.0.0.1:$http" \
    || { tail -20 "$work/gateway.log" "$work/mosquitto.log" >&2; fail "the gateway did not connect"; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"user\": \"admin\", \"password\": \"$PASSWORD\"}" "http://127.0.0.1:$http/api/session")
  [ "$code" = 200 ] || fail "the administrator's sign-in answered $code"
}

# ---------------------------------------------------------------------------------------------------------------------
check_deb() {
  local deb=$1 first=${2:-$1}
  [ -f "$deb" ] || fail "no $deb: build it with scripts/package.sh"
  [ -f "$first" ] || fail "no $first"
  if dpkg-query -W -f '${db:Status-Status}' hallops 2>/dev/null | grep -qv '^not-installed$'; then
    fail "hallops is installed (or its configuration is left) on this machine already: dpkg -P hallops first"
  fi
  for left in /etc/hallops /var/lib/hallops /opt/hallops /etc/mosquitto/hallops.passwd /etc/mosquitto/certs/hallops-broker.crt; do
    [ ! -e "$left" ] || fail "$left exists: this check would mix its files with yours"
  done
  trap 'stop_started; dpkg -P hallops >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  say ".deb: $deb, $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes); first installed: $first"

  local t
  t=$(now)
  dpkg -i "$first" || fail "dpkg -i"
  say "1. dpkg -i: $(since "$t") (the venv made from the wheelhouse, offline)"
  getent passwd hallops >/dev/null || fail "no hallops user"
  [ "$(stat -c '%a %U:%G' /etc/hallops)" = "750 root:hallops" ] || fail "/etc/hallops is $(stat -c '%a %U:%G' /etc/hallops)"
  [ "$(stat -c '%a %U:%G' /var/lib/hallops)" = "750 hallops:hallops" ] || fail "/var/lib/hallops: wrong owner or mode"
  [ -x /opt/hallops/venv/bin/hallops ] || fail "no /opt/hallops/venv/bin/hallops"
  /usr/bin/hallops --help >/dev/null || fail "hallops --help"
  for unit in hallops-gateway hallops-vision hallops-mosquitto; do
    [ -f "/lib/systemd/system/$unit.service" ] || fail "no $unit.service"
  done
  [ ! -e /etc/hallops/gateway.yaml ] || fail "postinst wrote a configuration: setup's job"
  say "    user hallops, /etc/hallops 750 root:hallops, /var/lib/hallops 750 hallops, venv $(du -sh /opt/hallops/venv | cut -f1)"

  printf '%s\n' "$PASSWORD" > "$work/admin-password"
  t=$(now)
  /usr/bin/hallops setup --hall "$HALL" --admin-password-file "$work/admin-password" || fail "hallops setup"
  say "2. hallops setup: $(since "$t")"
  /usr/bin/hallops setup >/dev/null 2>&1 || fail "hallops setup a second time"
  say "    again: nothing to do, exit 0"

  # started the documented way without systemd, on free ports: the packaged broker configuration with its listeners
  # moved, the gateway's configuration pointed at them
  local plain tls http demo_port
  plain=$(free_port)
  tls=$(free_port)
  http=$(free_port)
  demo_port=$(free_port)
  sed -e "s/^listener 1883 127.0.0.1$/listener $plain 127.0.0.1/" -e "s/^listener 8883$/listener $tls 127.0.0.1/" \
    /etc/mosquitto/hallops.conf > "$work/mosquitto.conf"
  sed -i -e "s|mqtt://127.0.0.1:1883|mqtt://127.0.0.1:$plain|" -e "s/^  port: 8080/  port: $http/" /etc/hallops/gateway.yaml
  t=$(now)
  start_and_sign_in "$plain" "$http"
  say "3. broker and gateway up in $(since "$t"): mosquitto -c (packaged config), hallops gateway as hallops"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/")
  [ "$code" = 200 ] || fail "the page answered $code"
  say "    /api/health: broker_connected; the administrator signs in (200); the page / answers 200"

  (cd /var/lib/hallops && exec setsid runuser -u hallops -- /usr/bin/hallops demo --http "127.0.0.1:$demo_port") \
    > "$work/demo.log" 2>&1 &
  pids+=($!)
  wait_for 90 "the demo answered" curl -sf "http://127.0.0.1:$demo_port/api/health" \
    || { tail -20 "$work/demo.log" >&2; fail "the demo did not answer"; }
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$demo_port/")
  [ "$code" = 200 ] || fail "the demo's page answered $code"
  say "4. hallops demo (as hallops): the dashboard answers 200"
  stop_started
  grep -q "Traceback" "$work/gateway.log" && fail "the gateway's log has a traceback: $(cat "$work/gateway.log")"

  local db_sum
  db_sum=$(sha256sum /var/lib/hallops/hallops.db | cut -d' ' -f1)
  t=$(now)
  dpkg -i "$deb" >/dev/null || fail "dpkg -i over the installed package (an upgrade)"
  say "5. upgrade to $(dpkg-query -W -f '${Version}' hallops) (dpkg -i): $(since "$t"); configuration and data as they were"
  [ "$(sha256sum /var/lib/hallops/hallops.db | cut -d' ' -f1)" = "$db_sum" ] || fail "the upgrade changed the data"
  grep -q "port: $http" /etc/hallops/gateway.yaml || fail "the upgrade changed gateway.yaml"
  t=$(now)
  start_and_sign_in "$plain" "$http"
  say "    started again after the upgrade in $(since "$t"): broker_connected, the administrator signs in"

  # a backup while the gateway runs; a change after it (a user added on the API); stopped; the backup restored: the
  # hall as it was at the backup (its audit chain, its users), the change gone, what it replaced kept aside
  local archive audit_rows code_after
  t=$(now)
  /usr/bin/hallops backup --config /etc/hallops/gateway.yaml > "$work/backup.log" 2>&1 \
    || { cat "$work/backup.log" >&2; fail "hallops backup while the gateway runs"; }
  archive=$(find /var/lib/hallops/backups -name "$HALL-*.tar" ! -name '*pre-upgrade*' | head -1)
  [ -n "$archive" ] || fail "hallops backup wrote no archive in /var/lib/hallops/backups"
  [ "$(stat -c '%a %U' "$archive")" = "600 hallops" ] || fail "the archive is $(stat -c '%a %U' "$archive")"
  audit_rows=$(audit_count)
  say "6. hallops backup while the gateway runs: $(since "$t"), $(du -h "$archive" | cut -f1), 0600 hallops; audit rows $audit_rows"
  curl -s -c "$work/cookies" -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"user\": \"admin\", \"password\": \"$PASSWORD\"}" "http://127.0.0.1:$http/api/session"
  code_after=$(curl -s -b "$work/cookies" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"user": "after-backup", "role": "manager", "password": "Later-Than-The-Backup-42"}' \
    "http://127.0.0.1:$http/api/users")
  [ "$code_after" = 201 ] || fail "adding a user after the backup answered $code_after"
  stop_started
  [ "$(audit_count)" -gt "$audit_rows" ] || fail "the user added after the backup is not in the audit chain"
  t=$(now)
  /usr/bin/hallops restore "$archive" --config /etc/hallops/gateway.yaml > "$work/restore.log" 2>&1 \
    || { cat "$work/restore.log" >&2; fail "hallops restore"; }
  [ "$(audit_count)" = "$audit_rows" ] || fail "after the restore the audit chain has $(audit_count) rows, not $audit_rows"
  find /var/lib/hallops -maxdepth 1 -name 'hallops.db.before-restore-*' | grep -q . || fail "the replaced database was not kept aside"
  start_and_sign_in "$plain" "$http"
  curl -s -c "$work/cookies" -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"user\": \"after-backup\", \"password\": \"Later-Than-The-Backup-42\"}" "http://127.0.0.1:$http/api/session" \
    -w '%{http_code}' | grep -qv '^200$' || fail "the user added after the backup still signs in after the restore"
  /usr/bin/hallops audit verify --db /var/lib/hallops/hallops.db >/dev/null 2>&1 || fail "the restored audit chain does not verify"
  stop_started
  grep -q "Traceback" "$work/gateway.log" && fail "the gateway's log has a traceback: $(cat "$work/gateway.log")"
  say "7. hallops restore: $(since "$t"); the same hall (audit rows $audit_rows, chain verified, the administrator signs in), the later user gone, the replaced database kept aside"

  dpkg -r hallops || fail "dpkg -r"
  for kept in /etc/hallops/gateway.yaml /var/lib/hallops/hallops.db; do
    [ -f "$kept" ] || fail "dpkg -r took $kept"
  done
  [ -f /etc/mosquitto/hallops.passwd ] || fail "dpkg -r took the broker's users"
  for gone in /opt/hallops/venv /usr/bin/hallops; do
    [ ! -e "$gone" ] || fail "dpkg -r left $gone"
  done
  say "8. dpkg -r: the application gone; /etc/hallops, /var/lib/hallops, the broker's files and the user kept"

  dpkg -P hallops || fail "dpkg -P"
  for gone in /etc/hallops /var/lib/hallops /opt/hallops /etc/mosquitto/hallops.passwd /etc/mosquitto/hallops.acl \
    /etc/mosquitto/hallops.conf /etc/mosquitto/certs/hallops-broker.key; do
    [ ! -e "$gone" ] || fail "dpkg -P left $gone"
  done
  ! getent passwd hallops >/dev/null || fail "dpkg -P left the hallops user"
  say "9. dpkg -P: configuration, data, broker files and the hallops user gone"
  say "every check passed"
}

# ---------------------------------------------------------------------------------------------------------------------
check_bundle() {
  local tgz=$1
  [ -f "$tgz" ] || fail "no $tgz: build it with scripts/package.sh"
  command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
  root=$work/root
  trap 'stop_in_root; umount "$root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
  say "bundle: $tgz, $(du -h "$tgz" | cut -f1) ($(stat -c %s "$tgz") bytes)"
  local t
  t=$(now)
  debootstrap --variant=minbase bookworm "$root" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  say "1. an empty Debian 12 (debootstrap minbase, $(chroot "$root" dpkg-query -W | wc -l) packages, $(du -sh \
"$root" | cut -f1)): $(since "$t")"
  chroot "$root" sh -c 'command -v python3 mosquitto' && fail "the empty Debian has python3 or mosquitto already"
  tar -C "$root/root" -xzf "$tgz"
  local dir
  dir=$(basename "$tgz" .tar.gz)
  local http
  http=$(free_port)
  printf '%s\n' "$PASSWORD" > "$root/root/admin-password"
  # no network at all from here on: a namespace of its own with only loopback
  t=$(now)
  # --pid: whatever is still running in there ends with the namespace
  unshare --net --mount --pid --fork sh -s "$root" "$dir" "$http" "$PASSWORD" <<'INSIDE' || fail "inside the chroot (above)"
set -eu
root=$1 dir=$2 http=$3 password=$4
ip link set lo up
mount -t proc proc "$root/proc"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
echo "install-check:    network: $(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\n' ' ')" >&2
start=$(date +%s.%N)
in_root sh -c "cd /root/$dir && ./install.sh"
echo "install-check: 2. install.sh without network: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f s", b-a}')" >&2
in_root hallops --help >/dev/null
in_root hallops setup --hall county-01 --admin-password-file /root/admin-password
sed -i "s/^  port: 8080/  port: $http/" "$root/etc/hallops/gateway.yaml"
# as the services' users, by chroot itself (it execs: $! is the broker's and the gateway's own pid)
chroot --userspec=mosquitto:mosquitto "$root" env -i PATH=/usr/sbin:/usr/bin LANG=C.UTF-8 \
  mosquitto -c /etc/mosquitto/hallops.conf > "$root/root/mosquitto.log" 2>&1 &
broker=$!
chroot --userspec=hallops:hallops "$root" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
  sh -c 'cd /var/lib/hallops && exec hallops gateway --config /etc/hallops/gateway.yaml' > "$root/root/gateway.log" 2>&1 &
gateway=$!
i=0
until in_root /opt/hallops/venv/bin/python -c "
import json, sys, urllib.request
sys.exit(0 if json.load(urllib.request.urlopen('http://127.0.0.1:$http/api/health'))['broker_connected'] else 1)" \
  2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -gt 180 ]; then tail -20 "$root/root/gateway.log" "$root/root/mosquitto.log" >&2; exit 1; fi
  sleep 0.5
done
in_root /opt/hallops/venv/bin/python -c "
import json, urllib.request
r = urllib.request.Request('http://127.0.0.1:$http/api/session', json.dumps({'user': 'admin', 'password': '$password'})
    .encode(), {'Content-Type': 'application/json'})
assert urllib.request.urlopen(r).status == 200"
echo "install-check: 3. in the chroot, no network: mosquitto and the gateway up, /api/health broker_connected," \
  "the administrator signs in" >&2
# SIGTERM, as systemd stops them (a background job ignores SIGINT)
kill -TERM "$gateway" "$broker"
wait
grep -q Traceback "$root/root/gateway.log" && { cat "$root/root/gateway.log" >&2; exit 1; }
umount "$root/proc"
INSIDE
  say "    bundle check done in $(since "$t")"
  say "every check passed"
}

stop_in_root() { :; }  # the processes inside the chroot end with its namespace's shell

# ---------------------------------------------------------------------------------------------------------------------
# Inside the container, after boot: wait for the gateway, record what systemd and the gateway say, power off.
# shellcheck disable=SC2016 # a script for the container: its variables expand there
SYSTEMD_PROBE='#!/bin/sh
out=/root/result
i=0
until curl -sf http://127.0.0.1:8080/api/health | grep -q "\"broker_connected\":true"; do
  i=$((i + 1)); [ "$i" -gt 240 ] && break; sleep 0.5
done
{
  echo "health: $(curl -s http://127.0.0.1:8080/api/health | head -c 300)"
  echo "signin: $(curl -s -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" \
    -d "{\"user\": \"admin\", \"password\": \"$(cat /root/admin-password)\"}" http://127.0.0.1:8080/api/session)"
  for unit in hallops-mosquitto hallops-gateway; do
    systemctl show -p Id -p ActiveState -p SubState -p NRestarts -p User "$unit"
    systemd-analyze security --no-pager "$unit" 2>&1 | tail -1
  done
} > "$out"
journalctl -b --no-pager -u hallops-gateway -u hallops-mosquitto > /root/journal 2>&1
systemctl poweroff'

check_systemd() {
  local tgz=$1
  [ -f "$tgz" ] || fail "no $tgz: build it with scripts/package.sh"
  command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
  command -v systemd-nspawn >/dev/null || fail "systemd-nspawn is missing: apt-get install systemd-container"
  root=$work/root
  trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
  local t
  t=$(now)
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl bookworm "$root" > "$work/debootstrap.log" \
    2>&1 || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  say "1. an empty Debian 12 with systemd (debootstrap minbase + systemd, dbus, curl): $(since "$t")"
  tar -C "$root/root" -xzf "$tgz"
  printf '%s\n' "$PASSWORD" > "$root/root/admin-password"
  printf '%s\n' "$SYSTEMD_PROBE" > "$root/root/probe.sh"
  chmod 755 "$root/root/probe.sh"
  printf '%s\n' "[Unit]" "Description=install check: the hallops units under systemd" \
    "After=hallops-gateway.service hallops-mosquitto.service" "[Service]" "Type=oneshot" "ExecStart=/root/probe.sh" \
    "[Install]" "WantedBy=multi-user.target" > "$root/etc/systemd/system/hallops-install-check.service"
  local dir
  dir=$(basename "$tgz" .tar.gz)
  unshare --net --mount --pid --fork sh -s "$root" "$dir" <<'INSIDE' || fail "installing in the chroot (above)"
set -eu
root=$1 dir=$2
mount -t proc proc "$root/proc"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
in_root sh -c "cd /root/$dir && ./install.sh" > "$root/root/install.log" 2>&1 || { tail -20 "$root/root/install.log"; exit 1; }
in_root hallops setup --hall county-01 --admin-password-file /root/admin-password > "$root/root/setup.log" 2>&1
in_root systemctl disable mosquitto.service
in_root systemctl enable hallops-mosquitto.service hallops-gateway.service hallops-install-check.service
umount "$root/proc"
INSIDE
  say "2. installed from the bundle without network, hallops setup, units enabled (Debian's mosquitto disabled)"
  t=$(now)
  timeout 300 systemd-nspawn -q -D "$root" --private-network --register=no --keep-unit -b > "$work/boot.log" 2>&1 \
    || true
  [ -f "$root/root/result" ] || { tail -30 "$work/boot.log" >&2; fail "the container did not run the check"; }
  say "3. booted with systemd-nspawn, checked and powered off in $(since "$t"):"
  sed 's/^/      /' "$root/root/result" >&2
  grep -q '"broker_connected":true' "$root/root/result" \
    || { tail -30 "$root/root/journal" >&2; fail "the gateway did not connect to the broker under systemd"; }
  grep -q '^signin: 200$' "$root/root/result" || fail "the administrator did not sign in"
  [ "$(grep -c '^ActiveState=active$' "$root/root/result")" = 2 ] || fail "a unit is not active (the journal: above)"
  [ "$(grep -c '^NRestarts=0$' "$root/root/result")" = 2 ] || fail "a unit restarted"
  say "every check passed"
}

case "${1:-}" in
  --systemd) [ $# -eq 2 ] || fail "usage: scripts/install_check.sh --systemd dist/hallops-offline-VERSION.tar.gz"
    check_systemd "$2" ;;
  --bundle) [ $# -eq 2 ] || fail "usage: scripts/install_check.sh --bundle dist/hallops-offline-VERSION.tar.gz"
    check_bundle "$2" ;;
  *)
    from=""
    if [ "${1:-}" = --from ]; then
      [ $# -ge 2 ] || fail "usage: scripts/install_check.sh --from OLD.deb [DEB]"
      from=$2
      shift 2
    fi
    version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
    check_deb "${1:-dist/hallops_${version}_amd64.deb}" "$from" ;;
esac
