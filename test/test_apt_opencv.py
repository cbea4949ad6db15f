"""The detector and the estimator against Debian's OpenCV (python3-opencv 4.6 from apt, the
OpenCV of an apt ROS install), in a subprocess of the system Python.

``scripts/setup_env.sh`` installs ``python3-opencv`` with apt when run as root (CI). The
subprocess is ``/usr/bin/python3`` (``$HEAD_POSE_APT_PYTHON`` to use another, e.g. the venv with
``--system-site-packages`` of the README): its own ``dist-packages`` come first, so ``cv2`` and
``numpy`` are apt's (checked), and what apt does not have (torch, onnxruntime, safetensors) comes
from this test run's venv, appended after them, the way a ``--system-site-packages`` venv with
those pip packages adds them to an apt install. What it shows:

- apt's OpenCV has no ``cv2.data`` and its ``FaceDetectorYN`` cannot run the 2023mar YuNet model;
- without a model file and without a Haar cascade the choice fails with one line naming
  ``head-pose-fetch-models``;
- the fetch command fills the cache (from a ``file://`` URL), after which ``detector: auto``
  finds YuNet there and runs it through ONNX Runtime;
- detector + estimator on a real photo (LFPW image_0010) give the face, with landmarks on the
  labelled ones, and the same boxes (IoU > 0.99) as ``cv2.FaceDetectorYN`` of this venv's
  OpenCV on the same image.

Without python3-opencv this skips, except under CI, where it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import in_ci

import head_pose_ros
from head_pose_ros.detection import YuNetDetector, box_iou

REPO_ROOT = Path(__file__).resolve().parents[1]

DRIVER = r"""
import json, os, sys
args = json.loads(sys.argv[1])
sys.path.append(args["pkg_parent"])
sys.path.append(args["venv_site"])
import cv2, numpy as np
out = {"cv2": cv2.__version__, "cv2_file": cv2.__file__, "numpy": np.__version__,
       "numpy_file": np.__file__, "has_cv2_data": hasattr(cv2, "data")}
from head_pose_ros import detection, model_files
from head_pose_ros.detection import resolve_detector, YuNetDetector
empty = os.path.join(args["tmp"], "empty")
try:
    c = resolve_detector("auto", "", model_dir=empty)
    out["no_model"] = "chose " + type(c.detector).__name__ + ": " + c.reason
except FileNotFoundError as exc:
    out["no_model"] = "error: " + str(exc)
try:
    YuNetDetector(args["yunet"], backend="opencv")
    out["opencv_yunet"] = "runs"
except RuntimeError as exc:
    out["opencv_yunet"] = "fails: " + str(exc)
from head_pose_ros.cli import fetch_models
cache = os.path.join(args["tmp"], "cache")
out["fetch_rc"] = fetch_models.main(["--dir", cache, "--url", args["yunet_url"]])
c = resolve_detector("auto", "", model_dir=cache)
det = c.detector
out["choice"] = c.reason
out["backend"] = det.backend
img = cv2.imread(args["image"])
d = det.detect(img)
out["boxes"] = d.boxes.tolist()
out["scores"] = d.scores.tolist()
from head_pose_ros.estimator import HeadPoseEstimator
est = HeadPoseEstimator.from_checkpoint(args["weights"], detector=det, backend="torch")
h, w = img.shape[:2]
f = 1.2 * max(w, h)
K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
faces = est.predict(img, K)
out["faces"] = [{"T": x.T.tolist(), "lm": x.landmarks68.tolist(), "box": x.box.tolist()}
                for x in faces]
print("RESULT " + json.dumps(out))
"""


def _apt_python() -> str | None:
    exe = os.environ.get("HEAD_POSE_APT_PYTHON", "/usr/bin/python3")
    if not Path(exe).is_file():
        return None
    r = subprocess.run([exe, "-c", "import sys, cv2; print('%d.%d' % sys.version_info[:2], "
                        "cv2.__version__, cv2.__file__)"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    ver, _cv_ver, cv_file = r.stdout.split()
    if ver != f"{sys.version_info[0]}.{sys.version_info[1]}" or not cv_file.startswith("/usr/lib/python3"):
        return None
    return exe


@pytest.fixture(scope="module")
def apt_python():
    exe = _apt_python()
    if exe is None:
        msg = ("no system Python with Debian's python3-opencv of this Python version "
               "(run scripts/setup_env.sh as root: it apt-get installs python3-opencv)")
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def test_detector_and_estimator_on_apt_opencv(apt_python, shared_data, tmp_path):
    yunet = shared_data / "detector" / "face_detection_yunet_2023mar.onnx"
    photo = shared_data / "real" / "lfpw_image_0010" / "image_0010.png"
    weights = REPO_ROOT / "weights" / "head_pose_trg.safetensors"
    for p in (yunet, photo, weights):
        if not p.is_file():
            pytest.skip(f"{p} missing")
    args = {
        "pkg_parent": str(Path(head_pose_ros.__file__).resolve().parent.parent),
        "venv_site": sysconfig.get_paths()["purelib"],
        "tmp": str(tmp_path),
        "yunet": str(yunet),
        "yunet_url": yunet.as_uri(),
        "image": str(photo),
        "weights": str(weights),
    }
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    r = subprocess.run([apt_python, "-s", "-c", DRIVER, json.dumps(args)], capture_output=True,
                       text=True, env=env, timeout=300, cwd=tmp_path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    out = json.loads(lines[-1][len("RESULT "):])

    # it really is apt's OpenCV and NumPy
    assert out["cv2_file"].startswith("/usr/lib/python3/dist-packages"), out["cv2_file"]
    assert out["numpy_file"].startswith("/usr/lib/python3/dist-packages"), out["numpy_file"]
    major, minor = (int(x) for x in out["cv2"].split(".")[:2])
    assert (major, minor) < (4, 8), out["cv2"]
    assert not out["has_cv2_data"]
    assert out["opencv_yunet"].startswith("fails"), out["opencv_yunet"]
    # nothing to detect with: one line with the fetch command (or, where Debian's opencv-data
    # is installed, the system Haar cascade with a hint to fetch YuNet)
    if out["no_model"].startswith("error: "):
        assert "\n" not in out["no_model"] and "head-pose-fetch-models" in out["no_model"]
    else:
        assert "HaarCascadeDetector" in out["no_model"] and "/usr/share/" in out["no_model"]
    assert out["fetch_rc"] == 0
    assert out["backend"] == "onnxruntime" and "user cache" in out["choice"]

    img = cv2.imread(str(photo))
    assert len(out["boxes"]) == 1 and out["scores"][0] > 0.8
    if hasattr(cv2, "FaceDetectorYN"):  # this venv's OpenCV (>= 4.8) runs the model itself
        ref = YuNetDetector(yunet, backend="opencv").detect(img)
        iou = box_iou(np.array(out["boxes"]), ref.boxes)[0, 0]
        assert iou > 0.99, (iou, out["boxes"], ref.boxes)
        np.testing.assert_allclose(out["scores"], ref.scores, atol=5e-3)

    (face,) = out["faces"]
    txt = (photo.with_suffix(".pts")).read_text().split("{")[1].split("}")[0].split()
    lm_true = np.asarray(txt, np.float64).reshape(68, 2) - 1.0
    err = np.median(np.linalg.norm(np.array(face["lm"]) - lm_true, axis=1))
    assert err < 0.08 * np.ptp(lm_true, axis=0).max(), err
    assert 0.2 < face["T"][2] < 3.0
