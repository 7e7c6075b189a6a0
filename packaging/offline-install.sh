#!/bin/sh
# Install hallops on a Debian 12 box without any network: hallops_*.deb and the Debian packages in debs/ that the box
# lacks (or has older). Run as root from the unpacked bundle: sudo ./install.sh
# The bundle is a package repository of its own (its Packages index, made by scripts/package.sh): apt-get is shown it
# alone — not the box's sources nor its package lists — so it orders the installation (python3 pre-depends on
# python3-minimal) and hands each package to dpkg, and nothing can be fetched from anywhere else.
# Then: sudo hallops setup (/usr/share/doc/hallops/install.md). Exit status: 0 installed, 1 failed (apt-get says why).
set -eu
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo ./install.sh)" >&2
    exit 1
fi
here=$(pwd)
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/parts"
echo "deb [trusted=yes] file:$here ./" > "$state/sources.list"
set -- -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts="$state/parts" \
    -o Dir::State::Lists="$state/lists" -o APT::Sandbox::User=root

echo "install.sh: installing hallops and the Debian packages it needs from $here (no network)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get "$@" -q update >/dev/null
apt-get "$@" install --yes --no-install-recommends hallops
echo "install.sh: done. Next: sudo hallops setup" >&2
