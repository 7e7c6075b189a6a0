"""People in one frame: the person detectors of `hallops vision`, behind one small `Detector` port.

    load_detector(cfg) → Detector          raises DetectorError (a HallOpsError) with a plain sentence
    Detector.detect(frame) → list[Box]     frame: BGR uint8 H×W×3, as OpenCV reads it; boxes in its pixels,
                                           best score first

Backends:
    onnx         OnnxYolo: a YOLOv8/11-style export run by ONNX Runtime on the CPU (the default, no torch)
    hog          HogDetector: OpenCV's built-in HOG people detector; needs no file, a weak baseline for smoke tests
    ultralytics  UltralyticsYolo: a `.pt` (or anything Ultralytics loads) through the optional, AGPL-3.0 `ultralytics`
                 extra, imported only when chosen

This module owns the pixels → boxes step: letterboxing, inference, score threshold, non-maximum suppression and
mapping back to the frame. It must not read cameras, know about zones or counts, keep state between frames, or
touch the network: a model is loaded from a local file only, never by name from a hub, and nothing is loaded or
imported from an optional backend at import time.

`detector.input_size` is the square the model sees. An ONNX model exported with a fixed input shape (the usual
`dynamic=False` export) carries its own size: if `input_size` is left out of the config, the model's is used
(and logged); if it is set and differs, loading fails, because the model cannot run at another size. For HOG it is
the frame's longer side after scaling (HOG misses people under ~128 px, so small frames are scaled up).
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from devices.errors import HallOpsError
from vision.config import DetectorConfig

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
_Array = npt.NDArray[np.float32]

_PAD = 114  # the gray Ultralytics pads with; the models were trained on it
_HOG_MIN_WEIGHT = 0.5  # HOG scores are SVM margins (about 0..3), not probabilities: `confidence` does not apply
_INSTALL_ULTRALYTICS = "pip install 'hallops[ultralytics]'; see docs/vision.md"


class DetectorError(HallOpsError):
    """A detector could not be loaded or run: a missing or unreadable model, an unexpected output, or a backend
    that is not installed. The message says which file and what to do."""


@dataclass(frozen=True, slots=True)
class Box:
    """A person found in a frame, in that frame's pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


class Detector(Protocol):
    """Finds people in a frame. Each call is independent; implementations keep no per-frame state."""

    name: str  # backend, model and input size, for logs and the bench: "onnx:best_fp16.onnx@640"

    def detect(self, frame: Frame) -> list[Box]:
        """People in `frame` (BGR uint8 H×W×3), in its pixels, best score first."""
        ...


def load_detector(cfg: DetectorConfig) -> Detector:
    """The configured detector, ready to run. Raises DetectorError with a plain sentence if it cannot be."""
    detector: Detector
    if cfg.backend == "hog":
        detector = HogDetector(cfg)
    elif cfg.backend == "ultralytics":
        detector = _load_ultralytics(cfg)
    else:
        detector = OnnxYolo(cfg)
    log.info(
        "detector loaded: %s (threads=%d, confidence=%.2f, iou=%.2f)",
        detector.name,
        cfg.threads,
        cfg.confidence,
        cfg.iou,
    )
    return detector


class OnnxYolo:
    """A YOLOv8/11-format ONNX model on ONNX Runtime's CPU provider.

    Reads the raw head, (1, 4+nc, anchors) or its transpose (1, anchors, 4+nc), with centre-xywh boxes in letterbox
    pixels. Exports with NMS built in (`nms=True`, or end-to-end heads such as YOLO26's (1, 300, 6)) are refused at
    load: their rows mean something else. Safe to call from several threads (an ORT session is).
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        path = _model_file(cfg)
        options = ort.SessionOptions()
        options.intra_op_num_threads = cfg.threads
        options.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise DetectorError(f"{path} is not a model ONNX Runtime can read ({_first_line(exc)})") from exc
        meta: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        if meta.get("end2end") == "True" or "'nms': True" in meta.get("args", ""):
            raise DetectorError(
                f"{path} was exported with NMS built in; export it again without (Ultralytics: "
                "format='onnx', nms=False, and end2end=False for YOLO26)"
            )
        model_input = self._session.get_inputs()[0]
        self._input: str = model_input.name
        self._dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
        self._height, self._width = _input_size(path, model_input.shape, cfg)
        self._classes = np.asarray(cfg.person_classes, dtype=np.intp) + 4
        self._confidence = cfg.confidence
        self._iou = cfg.iou
        size = f"{self._width}" if self._width == self._height else f"{self._width}x{self._height}"
        self.name = f"onnx:{path.name}@{size}"
        # One run now, so a model that cannot run at this size or has an unexpected head fails at start, not on the
        # first frame.
        try:
            out = self._run(np.full((self._height, self._width, 3), _PAD, np.uint8))
        except Exception as exc:
            raise DetectorError(
                f"{path} does not run on a {self._width}×{self._height} input: {_first_line(exc)}"
            ) from exc
        if out.ndim != 3 or out.shape[0] != 1 or min(out.shape[1:]) < 5:
            raise DetectorError(
                f"{path} gives output {list(out.shape)}; a YOLOv8/11 detector gives "
                "[1, 4 + classes, anchors] (for example [1, 84, 8400])"
            )
        self._transposed = out.shape[2] < out.shape[1]  # the class axis is the short one
        classes = min(out.shape[1:]) - 4
        if max(cfg.person_classes) >= classes:
            names = f" ({meta['names']})" if "names" in meta else ""
            raise DetectorError(
                f"{path} has {classes} classes{names}; detector.person_classes "
                f"{cfg.person_classes} names one it does not have"
            )
        if "names" in meta:
            log.info("%s: counting classes %s of %s", self.name, cfg.person_classes, meta["names"])

    def detect(self, frame: Frame) -> list[Box]:
        height, width = _frame_size(frame)
        scale = min(self._height / height, self._width / width)
        inner_h, inner_w = max(1, round(height * scale)), max(1, round(width * scale))
        top, left = (self._height - inner_h) // 2, (self._width - inner_w) // 2
        canvas = np.full((self._height, self._width, 3), _PAD, np.uint8)
        canvas[top : top + inner_h, left : left + inner_w] = (
            frame if (inner_h, inner_w) == (height, width) else cv2.resize(frame, (inner_w, inner_h))
        )
        try:
            out = self._run(canvas)[0]
        except Exception as exc:
            raise DetectorError(f"{self.name} failed on a {width}×{height} frame: {_first_line(exc)}") from exc
        head = out.T if self._transposed else out  # (4 + classes, anchors)
        scores = head[self._classes].max(axis=0)
        keep = scores > self._confidence
        if not keep.any():
            return []
        cx, cy, bw, bh = head[:4, keep]
        x1 = (cx - bw / 2 - left) / scale
        y1 = (cy - bh / 2 - top) / scale
        xyxy = np.stack([x1, y1, x1 + bw / scale, y1 + bh / scale], axis=1)
        return _suppress(xyxy, scores[keep], self._confidence, self._iou, width, height)

    def _run(self, canvas: Frame) -> _Array:
        blob = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255, swapRB=True)  # RGB float32 NCHW, 0..1
        out = self._session.run(None, {self._input: blob.astype(self._dtype, copy=False)})[0]
        return np.asarray(out, dtype=np.float32)


class HogDetector:
    """OpenCV's default HOG + linear SVM people detector (trained on INRIA pedestrians, 64×128 windows).

    Needs no model file and only OpenCV 4 (OpenCV 5 dropped it). Upright, whole people only: it misses seated and
    partly hidden people and close-ups, and fires on some upright objects. A smoke-test baseline, not for counts.
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        if cfg.model is not None:
            log.info("the hog backend has its own model; detector.model (%s) is not used", cfg.model)
        self._hog: Any = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))
        self._long_side = cfg.input_size
        self._iou = cfg.iou
        self.name = f"hog@{cfg.input_size}"

    def detect(self, frame: Frame) -> list[Box]:
        height, width = _frame_size(frame)
        scale = self._long_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = frame if scale == 1 else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        if image.shape[0] < 128 or image.shape[1] < 64:  # smaller than one detection window
            return []
        rects, weights = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return []
        xywh = np.asarray(rects, dtype=np.float32).reshape(-1, 4) / scale
        scores = np.asarray(weights, dtype=np.float32).reshape(-1)
        keep = scores > _HOG_MIN_WEIGHT
        xyxy = np.concatenate([xywh[keep, :2], xywh[keep, :2] + xywh[keep, 2:]], axis=1)
        return _suppress(xyxy, scores[keep], _HOG_MIN_WEIGHT, self._iou, width, height)


class UltralyticsYolo:
    """A model run by the optional `ultralytics` package (AGPL-3.0; pulls torch and OpenCV 5) on the CPU."""

    def __init__(self, model: Any, path: Path, cfg: DetectorConfig) -> None:
        self._model = model
        self._classes = list(cfg.person_classes)
        self._confidence = cfg.confidence
        self._iou = cfg.iou
        self._size = cfg.input_size
        self.name = f"ultralytics:{path.name}@{cfg.input_size}"

    def detect(self, frame: Frame) -> list[Box]:
        height, width = _frame_size(frame)
        try:
            result = self._model.predict(
                frame,
                classes=self._classes,
                conf=self._confidence,
                iou=self._iou,
                imgsz=self._size,
                device="cpu",
                verbose=False,
            )[0]
            xyxy = np.asarray(result.boxes.xyxy.cpu().numpy(), dtype=np.float32).reshape(-1, 4)
            scores = np.asarray(result.boxes.conf.cpu().numpy(), dtype=np.float32).reshape(-1)
        except Exception as exc:
            raise DetectorError(f"{self.name} failed on a {width}×{height} frame: {_first_line(exc)}") from exc
        return _to_boxes(xyxy, scores, width, height)


def _load_ultralytics(cfg: DetectorConfig) -> UltralyticsYolo:
    # An existing file, passed by absolute path: given a bare name such as "yolov8n.pt", Ultralytics downloads it.
    path = _model_file(cfg).resolve()
    # Without these, importing ultralytics probes DNS and it may pip-install missing packages.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    try:
        from ultralytics import YOLO  # noqa: PLC0415 - optional and AGPL-3.0: imported only when chosen
    except ImportError as exc:
        raise DetectorError(f"the ultralytics backend is not installed ({exc}): {_INSTALL_ULTRALYTICS}") from exc
    importlib.import_module("torch").set_num_threads(cfg.threads)
    try:
        model = YOLO(str(path), task="detect")
    except Exception as exc:
        raise DetectorError(f"{path} is not a model Ultralytics can read ({_first_line(exc)})") from exc
    return UltralyticsYolo(model, path, cfg)


def _model_file(cfg: DetectorConfig) -> Path:
    if cfg.model is None:
        raise DetectorError(f"the {cfg.backend} backend needs a model file (detector.model: /path/to/model)")
    if not cfg.model.is_file():
        raise DetectorError(
            f"no such model file: {cfg.model} (models are never downloaded: copy one to the box, see docs/vision.md)"
        )
    return cfg.model


def _input_size(path: Path, shape: list[Any], cfg: DetectorConfig) -> tuple[int, int]:
    """The (height, width) to letterbox to: the model's own if it is fixed, else `input_size`."""
    channels_ok = shape[1] in (3, None) or isinstance(shape[1], str) if len(shape) == 4 else False
    if not channels_ok:
        raise DetectorError(f"{path} takes input {shape}; a YOLO detector takes [1, 3, height, width]")
    height, width = shape[2], shape[3]
    if not (isinstance(height, int) and isinstance(width, int)):  # dynamic: a name or None
        return cfg.input_size, cfg.input_size
    if (height, width) != (cfg.input_size, cfg.input_size):
        if "input_size" in cfg.model_fields_set:
            fix = f"set detector.input_size: {width}" if width == height else "leave detector.input_size out"
            raise DetectorError(
                f"{path} has a fixed {width}×{height} input and cannot run at input_size "
                f"{cfg.input_size}: {fix}, or export the model with dynamic=True"
            )
        log.info("%s has a fixed %d×%d input; using it (detector.input_size is not set)", path, width, height)
    return height, width


def _frame_size(frame: Frame) -> tuple[int, int]:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or frame.size == 0:
        raise ValueError(f"a frame is BGR uint8 H×W×3; got shape {frame.shape}, dtype {frame.dtype}")
    return frame.shape[0], frame.shape[1]


def _suppress(xyxy: _Array, scores: _Array, confidence: float, iou: float, width: int, height: int) -> list[Box]:
    """Non-maximum suppression (one person, one box), then `_to_boxes`."""
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    kept = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), confidence, iou), dtype=np.intp).reshape(-1)
    return _to_boxes(xyxy[kept], scores[kept], width, height)


def _to_boxes(xyxy: _Array, scores: _Array, width: int, height: int) -> list[Box]:
    """Boxes clipped to the frame, empty ones dropped, best score first."""
    xs = np.clip(xyxy[:, [0, 2]], 0, width)
    ys = np.clip(xyxy[:, [1, 3]], 0, height)
    boxes = [
        Box(float(x1), float(y1), float(x2), float(y2), float(score))
        for (x1, x2), (y1, y2), score in zip(xs, ys, scores, strict=True)
        if x2 > x1 and y2 > y1
    ]
    return sorted(boxes, key=lambda b: b.score, reverse=True)


def _first_line(exc: BaseException) -> str:
    """A library error's first line (ONNX Runtime's run to pages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
