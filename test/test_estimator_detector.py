"""HeadPoseEstimator accepts the package's own detectors (issue 13, item 9): before,
``from_checkpoint(path, detector=YuNetDetector(...))`` raised ``TypeError: 'YuNetDetector'
object is not callable`` on the first ``predict``."""

from __future__ import annotations

import typing
from pathlib import Path

import cv2
import numpy as np
import pytest

from head_pose_ros.detection import (
    FaceDetections,
    FaceDetector,
    HaarCascadeDetector,
    YuNetDetector,
    box_from_landmarks,
    box_iou,
    estimator_boxes,
)
from head_pose_ros.estimator import HeadPoseEstimator

REPO_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = REPO_ROOT / "weights" / "head_pose_trg.safetensors"


def _lfpw(shared_data):
    d = shared_data / "real" / "lfpw_image_0010"
    img = cv2.imread(str(d / "image_0010.png"))
    if img is None:
        pytest.skip(f"{d} missing")
    txt = (d / "image_0010.pts").read_text().split("{")[1].split("}")[0].split()
    return img, np.asarray(txt, np.float64).reshape(68, 2) - 1.0


def _k(img):
    h, w = img.shape[:2]
    f = 1.2 * max(w, h)
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])


@pytest.fixture(scope="module")
def weights():
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} missing")
    return WEIGHTS


def test_from_checkpoint_with_yunet_detector_object(shared_data, weights):
    model = shared_data / "detector" / "face_detection_yunet_2023mar.onnx"
    if not model.is_file():
        pytest.skip(f"{model} missing")
    img, lm = _lfpw(shared_data)
    for backend in ("opencv", "onnxruntime"):
        det = YuNetDetector(model, backend=backend)
        est = HeadPoseEstimator.from_checkpoint(weights, detector=det, backend="torch")
        (face,) = est.predict(img, _k(img))
        np.testing.assert_allclose(face.box, det.detect(img).boxes[0])  # YuNet boxes as given
        side = np.ptp(lm, axis=0).max()
        err = np.median(np.linalg.norm(face.landmarks68 - lm, axis=1))
        assert err < 0.08 * side, (backend, err, side)  # the landmarks sit on the face
        assert 0.2 < face.T[2] < 3.0 and face.score > 0.8


def test_haar_detector_object_gets_the_calibrated_boxes(shared_data, weights):
    img, lm = _lfpw(shared_data)
    try:
        haar = HaarCascadeDetector()
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.skip(str(exc))
    est = HeadPoseEstimator.from_checkpoint(weights, detector=haar, backend="torch")
    faces = est.predict(img, _k(img))
    raw = haar.detect(img)
    assert len(faces) == len(raw) >= 1
    want = estimator_boxes(raw.boxes, "cascade")  # as the node's pipeline does
    np.testing.assert_allclose(np.stack([f.box for f in faces]), want)
    best = max(faces, key=lambda f: box_iou(f.box[None], box_from_landmarks(lm)[None])[0, 0])
    side = np.ptp(lm, axis=0).max()
    assert np.median(np.linalg.norm(best.landmarks68 - lm, axis=1)) < 0.1 * side


def test_any_face_detector_or_callable_and_nothing_else(topology):
    from conftest import small_config

    from head_pose_ros.model import TRG

    model = TRG(small_config(), topology).eval()
    img = np.zeros((240, 320, 3), np.uint8)
    k = _k(img)
    box = np.array([[100.0, 60.0, 180.0, 160.0]])

    class MyDetector:  # not from this package: detect() + kind is enough
        kind = "yunet"

        def detect(self, image):
            return FaceDetections(box, np.array([0.7]), None)

    assert isinstance(MyDetector(), FaceDetector)
    (f,) = HeadPoseEstimator(model, detector=MyDetector()).predict(img, k)
    assert f.score == pytest.approx(0.7)
    np.testing.assert_allclose(f.box, box[0])
    (f,) = HeadPoseEstimator(model, detector=lambda im: np.c_[box, [0.6]]).predict(img, k)
    assert f.score == pytest.approx(0.6)
    # a callable returning FaceDetections still works
    (f,) = HeadPoseEstimator(model, detector=lambda im: MyDetector().detect(im)).predict(img, k)
    assert f.score == pytest.approx(0.7)
    with pytest.raises(TypeError, match="detector must be a FaceDetector"):
        HeadPoseEstimator(model, detector="yunet")


def test_detector_parameter_is_typed():
    hints = typing.get_type_hints(HeadPoseEstimator.from_checkpoint)
    args = typing.get_args(hints["detector"])
    assert FaceDetector in args and type(None) in args
    hints = typing.get_type_hints(HeadPoseEstimator.__init__)
    assert FaceDetector in typing.get_args(hints["detector"])
