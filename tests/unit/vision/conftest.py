"""Fixtures shared by the vision tests."""

from __future__ import annotations

import pytest

from tests.media import person_model
from vision.config import DetectorConfig
from vision.detectors import Detector, load_detector


@pytest.fixture(scope="session")
def person_detector() -> Detector:
    """The default backend (ONNX Runtime) with the person detector of the test assets, at its 640 px input, class 0
    counted as a person. Loading it runs the model once (a second or more on one core), so the detector and counting
    accuracy tests share one; a detector keeps no state between frames."""
    model = person_model()
    if not model.is_file():
        pytest.fail(f"missing test asset {model}: run scripts/media.sh")
    return load_detector(DetectorConfig(backend="onnx", model=model, input_size=640, person_classes=[0]))
