"""YuNet through ONNX Runtime with our own decode (head_pose_ros.yunet_ort) against
cv2.FaceDetectorYN on the shared real photos, and the node's detector choice
(detection.resolve_detector: yunet_model, then the user cache, then the Haar cascade)."""

from __future__ import annotations

import shutil
import time

import cv2
import numpy as np
import pytest

from head_pose_ros import detection, model_files
from head_pose_ros.detection import (
    HaarCascadeDetector,
    YuNetDetector,
    box_iou,
    find_haar_cascade,
    resolve_detector,
)
from head_pose_ros.yunet_ort import decode_yunet, nms_xywh


def _yunet(shared_data):
    p = shared_data / "detector" / model_files.YUNET.filename
    if not p.is_file():
        pytest.skip(f"YuNet model missing at {p}")
    return p


def _real_images(shared_data):
    imgs = []
    lfpw = cv2.imread(str(shared_data / "real" / "lfpw_image_0010" / "image_0010.png"))
    if lfpw is not None:
        imgs.append(("lfpw_image_0010", lfpw))
    for p in sorted((shared_data / "real" / "aflw2000_subset64" / "data" / "JPEG").glob("*.jpg")):
        imgs.append((p.stem, cv2.imread(str(p))))
    cap = cv2.VideoCapture(str(shared_data / "real" / "two_faces_1080p.mp4"))
    for i in range(150):
        ok, f = cap.read()
        if not ok:
            break
        if i % 50 == 0:
            imgs.append((f"two_faces_{i}", f))
    cap.release()
    if len(imgs) < 10:
        pytest.skip("shared real photos missing")
    return imgs


def test_decode_and_nms_on_synthetic_outputs():
    """One strong cell at stride 16 (row 3, col 5 of a 640x640 input) decodes to the box and
    keypoints of the OpenCV formula; a weaker overlapping cell is suppressed."""
    outs = {}
    for s in (8, 16, 32):
        n = (640 // s) ** 2
        outs[f"cls_{s}"] = np.zeros((1, n, 1), np.float32)
        outs[f"obj_{s}"] = np.zeros((1, n, 1), np.float32)
        outs[f"bbox_{s}"] = np.zeros((1, n, 4), np.float32)
        outs[f"kps_{s}"] = np.zeros((1, n, 10), np.float32)
    cols = 640 // 16
    for idx, score in ((3 * cols + 5, 0.9), (3 * cols + 6, 0.8)):
        outs["cls_16"][0, idx] = score
        outs["obj_16"][0, idx] = 1.0
        outs["bbox_16"][0, idx] = [0.5, 0.25, np.log(4.0), np.log(5.0)]
        outs["kps_16"][0, idx] = np.arange(10) * 0.1
    faces = decode_yunet(outs, (640, 640), score_threshold=0.5, nms_threshold=0.3)
    assert faces.shape == (1, 15)
    cx, cy, w, h = (5 + 0.5) * 16, (3 + 0.25) * 16, 4 * 16, 5 * 16
    np.testing.assert_allclose(faces[0, :4], [cx - w / 2, cy - h / 2, w, h], atol=1e-4)
    kp = (np.arange(10).reshape(5, 2) * 0.1 + [5, 3]) * 16
    np.testing.assert_allclose(faces[0, 4:14], kp.ravel(), atol=1e-4)
    assert faces[0, 14] == pytest.approx(np.sqrt(0.9))
    # the second cell is 16 px to the right: IoU 0.6 > 0.3, suppressed; kept with 0.7
    assert len(decode_yunet(outs, (640, 640), 0.5, 0.7)) == 2
    assert len(decode_yunet(outs, (640, 640), 0.95, 0.3)) == 0
    # top_k limits the candidates before NMS, like cv2.dnn.NMSBoxes
    b = np.array([[0, 0, 10, 10], [100, 0, 10, 10], [200, 0, 10, 10.0]])
    assert nms_xywh(b, np.array([0.7, 0.9, 0.8]), 0.5, 0.3).tolist() == [1, 2, 0]
    assert nms_xywh(b, np.array([0.7, 0.9, 0.8]), 0.5, 0.3, top_k=2).tolist() == [1, 2]
    with pytest.raises(ValueError, match="expected"):
        decode_yunet(outs, (320, 320))


def test_onnxruntime_boxes_agree_with_opencv_on_real_photos(shared_data):
    """Measured on the shared photos (LFPW image_0010, 64 AFLW2000 images, 3 frames of the
    two-person video): same faces, box IoU >= 0.99 (OpenCV runs on the image padded to a
    multiple of 32, ONNX Runtime on the image padded to 640x640)."""
    path = _yunet(shared_data)
    cv = YuNetDetector(path, backend="opencv")
    ort = YuNetDetector(path, backend="onnxruntime")
    assert cv.backend == "opencv" and ort.backend == "onnxruntime" and ort.letterbox
    ious, n_faces = [], 0
    for name, img in _real_images(shared_data):
        a, b = cv.detect(img), ort.detect(img)
        assert len(a) == len(b), (name, a.as_array(), b.as_array())
        if len(a) == 0:
            continue
        m = box_iou(a.boxes, b.boxes)
        j = m.argmax(axis=1)
        assert len(set(j.tolist())) == len(j), name
        ious += m[np.arange(len(a)), j].tolist()
        np.testing.assert_allclose(a.scores, b.scores[j], atol=5e-3, err_msg=name)
        np.testing.assert_allclose(a.keypoints, b.keypoints[j], atol=1.0, err_msg=name)
        n_faces += len(a)
    assert n_faces >= 60
    assert min(ious) >= 0.99, min(ious)
    assert np.median(ious) > 0.999


def test_onnxruntime_detector_timing(shared_data):
    """Not a benchmark: ONNX Runtime YuNet at 640x640 stays well below a frame time on the
    CI machine (measured 9-18 ms on 2 cores, 1 thread; OpenCV 12-25 ms)."""
    path = _yunet(shared_data)
    det = YuNetDetector(path, backend="onnxruntime")
    img = cv2.imread(str(shared_data / "real" / "lfpw_image_0010" / "image_0010.png"))
    det.detect(img)
    t0 = time.perf_counter()
    for _ in range(5):
        det.detect(img)
    assert (time.perf_counter() - t0) / 5 < 0.25


def test_auto_backend_falls_back_to_onnxruntime(shared_data, monkeypatch):
    """Where cv2.FaceDetectorYN cannot run the model (OpenCV 4.5/4.6 from apt: the first
    detect fails) 'auto' uses ONNX Runtime and says why."""
    path = _yunet(shared_data)

    class Broken:
        @staticmethod
        def create(*a, **k):
            return Broken()

        def setInputSize(self, size):  # noqa: N802 (OpenCV's name)
            pass

        def detect(self, img):
            raise cv2.error("Layer with requested id=-1 not found in function 'getLayerData'")

    monkeypatch.setattr(cv2, "FaceDetectorYN", Broken, raising=False)
    det = YuNetDetector(path)
    assert det.backend == "onnxruntime" and "getLayerData" in det.opencv_problem
    assert "ONNX Runtime" in det.describe()
    img = cv2.imread(str(shared_data / "real" / "lfpw_image_0010" / "image_0010.png"))
    assert len(det.detect(img)) == 1
    with pytest.raises(RuntimeError, match="cannot run the YuNet model"):
        YuNetDetector(path, backend="opencv")
    monkeypatch.delattr(cv2, "FaceDetectorYN")
    assert YuNetDetector(path).backend == "onnxruntime"


def test_not_a_yunet_model_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="YuNet"):
        YuNetDetector(bad, backend="onnxruntime")
    with pytest.raises(ValueError, match="unknown YuNet backend"):
        YuNetDetector(bad, backend="tensorrt")


# --------------------------------------------------------------------------- detector choice
def _no_haar(monkeypatch):
    monkeypatch.delattr(cv2, "data", raising=False)
    monkeypatch.setattr(detection.haar, "HAAR_DIRS", ())


def test_auto_prefers_yunet_model_then_cache_then_haar(shared_data, tmp_path):
    path = _yunet(shared_data)
    empty = tmp_path / "empty"
    c = resolve_detector("auto", "", model_dir=empty)
    assert isinstance(c.detector, HaarCascadeDetector)
    assert "head-pose-fetch-models" in c.reason  # tells how to get YuNet
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(path, cache / model_files.YUNET.filename)
    c = resolve_detector("auto", "", model_dir=cache)
    assert isinstance(c.detector, YuNetDetector) and "user cache" in c.reason
    c = resolve_detector("auto", str(path), model_dir=empty)
    assert isinstance(c.detector, YuNetDetector) and "(yunet_model)" in c.reason
    c = resolve_detector("yunet", "", model_dir=cache, nms_threshold=0.4, top_k=60, min_size=3)
    assert c.detector.nms_threshold == 0.4 and c.detector.top_k == 60
    assert isinstance(resolve_detector("cascade", str(path)).detector, HaarCascadeDetector)
    # a damaged cached file is not used
    (cache / model_files.YUNET.filename).write_bytes(b"x")
    assert isinstance(resolve_detector("auto", "", model_dir=cache).detector,
                      HaarCascadeDetector)


def test_missing_everything_is_one_line_naming_the_fetch_command(tmp_path, monkeypatch):
    _no_haar(monkeypatch)
    assert find_haar_cascade() is None
    with pytest.raises(FileNotFoundError) as e:
        resolve_detector("auto", "", model_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "head-pose-fetch-models" in msg and "Haar cascade" in msg
    assert "/usr/share/opencv4/haarcascades" not in msg  # HAAR_DIRS emptied above
    with pytest.raises(FileNotFoundError, match="yunet_model' is empty.*head-pose-fetch-models"):
        resolve_detector("yunet", "", model_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no Haar cascade"):
        resolve_detector("cascade")
    with pytest.raises(FileNotFoundError, match="YuNet model not found at .*fetch-models"):
        resolve_detector("auto", str(tmp_path / "given.onnx"))
    with pytest.raises(ValueError, match="unknown detector"):
        resolve_detector("hog")


def test_haar_found_in_system_folders(tmp_path, monkeypatch):
    """Without cv2.data (Debian/Ubuntu python3-opencv) the cascade comes from the system folders
    (/usr/share/opencv4/haarcascades from opencv-data, ...)."""
    assert detection.HAAR_DIRS[:2] == ("/usr/share/opencv4/haarcascades",
                                       "/usr/share/opencv/haarcascades")
    base = getattr(getattr(cv2, "data", None), "haarcascades", "")
    if not base:
        pytest.skip("this OpenCV has no cv2.data to copy the cascade from")
    sysdir = tmp_path / "usr_share_opencv4_haarcascades"
    sysdir.mkdir()
    shutil.copy(f"{base}/haarcascade_frontalface_default.xml", sysdir)
    _no_haar(monkeypatch)
    monkeypatch.setattr(detection.haar, "HAAR_DIRS", ("/nonexistent/haarcascades", str(sysdir)))
    assert detection.haar_search_dirs() == ["/nonexistent/haarcascades", str(sysdir)]
    assert find_haar_cascade() == sysdir / "haarcascade_frontalface_default.xml"
    c = resolve_detector("auto", "", model_dir=tmp_path / "empty")
    assert isinstance(c.detector, HaarCascadeDetector)
    assert c.detector.cascade_path == str(sysdir / "haarcascade_frontalface_default.xml")
