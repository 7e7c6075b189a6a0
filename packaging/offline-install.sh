#!/bin/sh
# Install hallops on a Debian 12 box without any network: the Debian packages in debs/ that the box lacks (or has
# older), then hallops_*.deb, all with dpkg. Run as root from the unpacked bundle: sudo ./install.sh
# Then: sudo hallops setup (docs: /usr/share/doc/hallops/install.md). Exit status: 0 installed, 1 failed.
set -eu
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo ./install.sh)" >&2
    exit 1
fi

# a package goes in unless the box already has it at this version or newer
todo=""
for deb in debs/*.deb; do
    [ -e "$deb" ] || continue
    name=$(dpkg-deb -f "$deb" Package)
    version=$(dpkg-deb -f "$deb" Version)
    have=$(dpkg-query -W -f '${db:Status-Status} ${Version}' "$name" 2>/dev/null || true)
    if [ "${have%% *}" = installed ] && dpkg --compare-versions "${have#* }" ge "$version"; then
        continue
    fi
    todo="$todo $deb"
done

export DEBIAN_FRONTEND=noninteractive
if [ -n "$todo" ]; then
    echo "install.sh: the Debian packages this box lacks:$(echo "$todo" | sed 's|debs/||g')" >&2
    # shellcheck disable=SC2086 # one word per file: the names have no spaces
    dpkg -i $todo
fi
echo "install.sh: hallops…" >&2
dpkg -i hallops_*.deb
echo "install.sh: done. Next: sudo hallops setup" >&2
