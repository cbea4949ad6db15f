"""The detector-box constants are the measurement committed in docs/results/detector_geometry.json,
and that measurement reads only training crops (issue 21, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from head_pose_ros import detection
from head_pose_ros import geometry as g
from head_pose_ros.data.aflw_crops import is_held_out
from head_pose_ros.train import detector_geometry as dg

RESULT = Path(__file__).resolve().parents[1] / "docs" / "results" / "detector_geometry.json"


def test_constants_are_the_medians_of_the_committed_measurement():
    """Each constant is its median in the committed file, rounded to the digits it is written
    with (half a unit of the last digit); the file says it was measured on the training split
    of real/aflw_crops only."""
    d = json.loads(RESULT.read_text())
    assert d.get("split") == "train", "detector_geometry.json was not measured on train only"
    rows = [("DETECTION_CROP_SCALE", g.DETECTION_CROP_SCALE, "crop_scale", 0.005),
            ("DETECTION_CROP_OFFSET_Y", g.DETECTION_CROP_OFFSET_Y, "crop_offset_y", 0.0005)]
    for kind in ("yunet", "cascade"):
        ratio, dy = detection.DETECTOR_BOX_GEOMETRY[kind]
        rows += [(f"{kind} ratio", ratio, f"{kind}_ratio", 0.005),
                 (f"{kind} dy", dy, f"{kind}_dy", 0.005)]
    for name, const, key, tol in rows:
        assert d[key]["n"] >= 1000, key
        assert abs(const - d[key]["median"]) <= tol, (name, const, d[key]["median"])


def test_measurement_reads_only_training_crops(tmp_path, monkeypatch):
    """detector_geometry.measure never opens a held-out (val) crop of aflw_crops."""
    names = [f"img{i:04d}.jpg" for i in range(80)]
    held = [n for n in names if is_held_out(n)]
    assert held and len(held) < len(names)
    (tmp_path / "images").mkdir()
    for n in names:
        cv2.imwrite(str(tmp_path / "images" / n), np.full((40, 40, 3), 90, np.uint8))
    lm = np.tile(np.linspace(8.0, 32.0, 68)[:, None], (1, 2))
    labels = tmp_path / "pseudo.npz"
    np.savez(labels, names=np.array(names), status=np.ones(len(names), np.int64),
             lm68=np.repeat(lm[None], len(names), 0), yaw_aflw_deg=np.zeros(len(names)))

    class NoFace:
        kind = "yunet"

        def __init__(self, *a, **kw) -> None:
            pass

        def detect(self, image: np.ndarray) -> detection.FaceDetections:
            return detection.FaceDetections()

    monkeypatch.setattr(detection, "create_detector", lambda *a, **kw: NoFace())
    monkeypatch.setattr(detection, "HaarCascadeDetector", NoFace)
    read: list[str] = []
    imread = cv2.imread

    def spy(path: str, *a: object) -> np.ndarray | None:
        read.append(Path(path).name)
        return imread(path, *a)

    monkeypatch.setattr(cv2, "imread", spy)
    res = dg.measure(tmp_path, labels, "unused.onnx")
    assert not set(read) & set(held), "held-out crops were measured"
    assert sorted(read) == sorted(set(names) - set(held))
    assert res["crops_used"] == len(names) - len(held) and res["split"] == "train"
    # --limit counts training crops only
    read.clear()
    assert dg.measure(tmp_path, labels, "unused.onnx", limit=10)["crops_used"] == 10
    assert len(read) == 10 and not set(read) & set(held)


# ---- cross-check on real faces the constants were NOT fitted on ------------------------------
#: the constants before they were measured on aflw_crops: fitted on the AFLW2000 subset itself
#: (git history: geometry.py d44f5e3, detection.py 3dde2cf)
PREVIOUS_CROP = (1.18, 0.14)
PREVIOUS_BOX_GEOMETRY = {"yunet": (1.29, -0.17), "cascade": (1.23, -0.18)}


@pytest.fixture(scope="module")
def labelled_faces(shared_data):
    """(image, 68 landmarks) of the AFLW2000-3D subset (pt3d_68) and LFPW image_0010 (.pts,
    shifted to 0-based pixel centres): evaluation data, never fitted on."""
    sio = pytest.importorskip("scipy.io")
    mats = sorted((shared_data / "real" / "aflw2000_subset64" / "data" / "MAT").glob("*.mat"))
    if not mats:
        pytest.skip("AFLW2000 subset not available")
    items = [(cv2.imread(str(f).replace("MAT", "JPEG").replace(".mat", ".jpg")),
              sio.loadmat(str(f))["pt3d_68"][:2].T.astype(np.float64)) for f in mats]
    pts = shared_data / "real" / "lfpw_image_0010" / "image_0010.pts"
    if pts.is_file():
        txt = pts.read_text().split("{")[1].split("}")[0].split()
        items.append((cv2.imread(str(pts.with_suffix(".png"))),
                      np.array(txt, float).reshape(-1, 2) - 1.0))
    return items


def _detector(kind: str, shared_data: Path):
    if kind == "cascade":
        return detection.HaarCascadeDetector()
    model = shared_data / "detector" / "face_detection_yunet_2023mar.onnx"
    if not model.is_file():
        pytest.skip(f"YuNet model missing at {model}")
    return detection.YuNetDetector(model)


def _nearest_box(boxes: np.ndarray, centre: np.ndarray) -> np.ndarray | None:
    if not len(boxes):
        return None
    return boxes[np.argmin(np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - centre, axis=1))]


def test_detection_crop_on_aflw2000_tells_the_constants_apart(labelled_faces, shared_data):
    """The package's YuNet (as the node and the measurement run it) on the 64 AFLW2000 images +
    LFPW: the crop of the detection box vs the protocol crop (1.5 x the 68-landmark extent).
    The shipped constants (fitted on aflw_crops) reproduce it within a cross-dataset margin:
    measured side +8.6 %, centre 4.1 % of the side too high, 0.5 % sideways (AFLW2000's 3DMM
    landmark box is tighter and higher than the box of our fitted 68 landmarks). The previous
    1.18 / 0.14 had been fitted on these images and match them closely (side +1.7 %, centre
    0.7 %): the bands below are disjoint, so this test fails with either set in the other's
    place (the check it replaces passed both, and compared with 1.25 / 0, not the previous
    constants)."""
    det = _detector("yunet", shared_data)
    new, old = [], []
    for img, lm in labelled_faces:
        ref = g.crop_box_from_landmarks(lm, 1.5)
        b = _nearest_box(det.detect(img).boxes, ref[:2])
        if b is None:
            continue
        for out, (scale, off) in ((new, (g.DETECTION_CROP_SCALE, g.DETECTION_CROP_OFFSET_Y)),
                                  (old, PREVIOUS_CROP)):
            cb = g.crop_box_from_detection(b, scale, off)
            out.append([cb[2] / ref[2] - 1.0, (cb[0] - ref[0]) / ref[2],
                        (cb[1] - ref[1]) / ref[2]])
    assert len(new) >= 0.9 * len(labelled_faces)
    side, dx, dy = np.median(np.array(new), axis=0)
    side_old, _, dy_old = np.median(np.array(old), axis=0)
    print(f"shipped: side {side:+.4f} dx {dx:+.4f} dy {dy:+.4f}; previous: side "
          f"{side_old:+.4f} dy {dy_old:+.4f}")
    assert 0.05 < side < 0.13 and -0.07 < dy < -0.02 and abs(dx) < 0.03
    assert abs(side_old) < 0.035 and abs(dy_old) < 0.02


@pytest.mark.parametrize("kind", ["yunet", "cascade"])
def test_detector_box_geometry_on_aflw2000_tells_the_constants_apart(labelled_faces, shared_data,
                                                                     kind):
    """DETECTOR_BOX_GEOMETRY (box side / 68-extent side, box centre - extent centre in y /
    extent side) on the same faces. Measured (median): YuNet 1.293 / -0.171, Haar 1.233 / -0.181,
    against the shipped 1.19 / -0.10 and 1.16 / -0.15 (aflw_crops) and the previous 1.29 /
    -0.17 and 1.23 / -0.18 (fitted on these images). The shipped constants are off by the
    cross-dataset margin (ratio +6-9 %, centre 0.03-0.07 higher) and the previous ones are
    not: disjoint bands."""
    det = _detector(kind, shared_data)
    ratio, dy = [], []
    for img, lm in labelled_faces:
        ext = g.box_from_landmarks(lm)
        ec, es = (ext[:2] + ext[2:]) / 2.0, float(np.max(ext[2:] - ext[:2]))
        b = _nearest_box(det.detect(img).boxes, ec)
        if b is None or np.hypot(*((b[:2] + b[2:]) / 2 - ec)) > 0.5 * es:
            continue
        ratio.append(float(max(b[2] - b[0], b[3] - b[1])) / es)
        dy.append(((b[1] + b[3]) / 2 - ec[1]) / es)
    assert len(ratio) >= (0.9 if kind == "yunet" else 0.6) * len(labelled_faces)
    r_med, dy_med = float(np.median(ratio)), float(np.median(dy))
    (r_new, dy_new), (r_old, dy_old) = detection.DETECTOR_BOX_GEOMETRY[kind], \
        PREVIOUS_BOX_GEOMETRY[kind]
    print(f"{kind}: measured {r_med:.4f} / {dy_med:+.4f}; shipped {r_new} / {dy_new}, "
          f"previous {r_old} / {dy_old}")
    assert 0.03 < r_med / r_new - 1.0 < 0.15 and -0.10 < dy_med - dy_new < -0.016
    assert abs(r_med / r_old - 1.0) < 0.025 and abs(dy_med - dy_old) < 0.015
