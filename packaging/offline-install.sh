#!/bin/sh
# Install hallops on a Debian 12 box without any network: hallops_*.deb and the Debian packages in debs/ that the box
# lacks (or has older). Run as root from the unpacked bundle: sudo ./install.sh
# The bundle is a package repository of its own (its Packages index, made by scripts/package.sh): apt-get is shown it
# alone — not the box's sources nor its package lists — so it orders the installation (python3 pre-depends on
# python3-minimal) and hands each package to dpkg, and nothing can be fetched from anywhere else.
# Then: sudo hallops setup (/usr/share/doc/hallops/install.md). Exit status: 0 installed, 1 failed (apt-get says why).
# --simulate: apt-get only says what it would install (nothing is changed).
set -eu
cd "$(dirname "$0")"
simulate=""
case "${1:-}" in
    "") ;;
    --simulate) simulate=--simulate ;;
    *) echo "install.sh: unknown option '$1' (only --simulate)" >&2; exit 1 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo ./install.sh)" >&2
    exit 1
fi
here=$(pwd)
state=$(mktemp -d /tmp/hallops-install.XXXXXXXX)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/parts"
# apt's sources.list splits on spaces and reads a file: URI's own characters: the bundle is shown to it through a
# link of a plain name, so it may sit in a folder such as "/media/usb disk/"
ln -s "$here" "$state/bundle"
echo "deb [trusted=yes] file:$state/bundle ./" > "$state/sources.list"
set -- -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts="$state/parts" \
    -o Dir::State::Lists="$state/lists" -o APT::Sandbox::User=root

echo "install.sh: installing hallops and the Debian packages it needs from $here (no network)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get "$@" -q update >/dev/null
# shellcheck disable=SC2086 # $simulate is one word or none
apt-get "$@" install --yes --no-install-recommends $simulate hallops
if [ -n "$simulate" ]; then
    echo "install.sh: --simulate: nothing was installed" >&2
    exit 0
fi
echo "install.sh: done. Next: sudo hallops setup" >&2
