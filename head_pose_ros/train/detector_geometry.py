"""Fit the detector-box -> training-crop constants on ``real/aflw_crops`` (never AFLW2000).

``python -m head_pose_ros.train.detector_geometry --labels PSEUDO.npz --json OUT``

For every kept crop of the pseudo-label file (:mod:`.pseudolabel`) the protocol box is the
training crop ``geometry.crop_box_from_landmarks(lm68, 1.5)`` of its 68 landmarks: the teacher
fit's 68 projected landmarks, which the hand landmarks constrain (brows, eye corners, nose,
mouth corners and chin are AFLW points; the jaw contour comes from the fitted face). The crop
is padded (``PAD`` x its side, black) so the face is about a third of the image, as in a
photo, then YuNet and the Haar cascade run on it. Medians over the faces found:

* ``DETECTION_CROP_SCALE``: crop side / larger side of the YuNet box;
* ``DETECTION_CROP_OFFSET_Y``: (crop centre y - YuNet box centre y) / YuNet larger side;
* ``DETECTOR_BOX_GEOMETRY[kind]``: (larger box side / larger side of the 68-landmark extent,
  (box centre y - extent centre y) / extent side), for YuNet and the Haar cascade.

Only TRAINING crops enter (the ``train`` split of :mod:`head_pose_ros.data.aflw_crops`: the
held-out ``val`` crops are validation data and are never measured on), and of those only
near-frontal teacher fits (|AFLW yaw| <= ``MAX_YAW_DEG``), so that the fitted jaw contour is on
the face outline (:func:`training_indices`). The constants in ``geometry.py`` / ``detection.py``
are the medians of ``docs/results/detector_geometry.json`` (``test/test_detector_geometry.py``
compares them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from head_pose_ros import geometry as geo

PAD = 1.0
MAX_YAW_DEG = 45.0


def _stats(x: list[float]) -> dict:
    a = np.asarray(x, np.float64)
    if not a.size:
        return {"n": 0}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"n": int(a.size), "median": float(med), "iqr": [float(q1), float(q3)],
            "mean": float(a.mean())}


def training_indices(names: np.ndarray, status: np.ndarray, yaw_deg: np.ndarray,
                     limit: int = 0) -> np.ndarray:
    """Rows of the label file that are measured: teacher fits (status 1) of the training split
    (never a held-out ``val`` crop) with |yaw| <= ``MAX_YAW_DEG``, the first ``limit`` (0 =
    all) in file order."""
    from head_pose_ros.data.aflw_crops import is_held_out

    train = np.array([not is_held_out(str(n)) for n in names], bool)
    idx = np.nonzero(train & (status == 1) & (np.abs(yaw_deg) <= MAX_YAW_DEG))[0]
    return idx[:limit] if limit else idx


def measure(crops: Path, labels: Path, yunet_model: str, limit: int = 0) -> dict:
    from tqdm import tqdm

    from head_pose_ros.detection import HaarCascadeDetector, create_detector

    with np.load(labels) as z:
        names, status, lm68 = z["names"], z["status"], z["lm68"]
        yaw = z["yaw_aflw_deg"]
    idx = training_indices(names, status, yaw, limit)
    yunet = create_detector("yunet", yunet_model)
    haar = HaarCascadeDetector()
    acc: dict[str, list[float]] = {k: [] for k in (
        "crop_scale", "crop_offset_y", "crop_offset_x", "yunet_ratio", "yunet_dy",
        "cascade_ratio", "cascade_dy")}
    found = {"yunet": 0, "cascade": 0}
    for i in tqdm(idx, desc="detect", mininterval=2.0):
        img = cv2.imread(str(crops / "images" / str(names[i])))
        if img is None:
            continue
        p = int(round(PAD * max(img.shape[:2])))
        big = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        lm = lm68[i].astype(np.float64) + p
        ext = geo.box_from_landmarks(lm)
        ec = (ext[:2] + ext[2:]) / 2.0
        eside = float(np.max(ext[2:] - ext[:2]))
        crop = geo.crop_box_from_landmarks(lm, geo.LANDMARK_CROP_SCALE)
        for kind, det in (("yunet", yunet), ("cascade", haar)):
            d = det.detect(big)
            if not len(d):
                continue
            centres = (d.boxes[:, :2] + d.boxes[:, 2:]) / 2.0
            j = int(np.argmin(np.linalg.norm(centres - ec, axis=1)))
            b, bc = d.boxes[j], centres[j]
            bside = float(max(b[2] - b[0], b[3] - b[1]))
            if np.hypot(*(bc - ec)) > 0.5 * eside:  # not this face
                continue
            found[kind] += 1
            acc[f"{kind}_ratio"].append(bside / eside)
            acc[f"{kind}_dy"].append((bc[1] - ec[1]) / eside)
            if kind == "yunet":
                acc["crop_scale"].append(crop[2] / bside)
                acc["crop_offset_y"].append((crop[1] - bc[1]) / bside)
                acc["crop_offset_x"].append((crop[0] - bc[0]) / bside)
    return {"crops_used": int(len(idx)), "split": "train", "labels": Path(labels).name,
            "limit": int(limit), "found": found, "pad": PAD, "max_yaw_deg": MAX_YAW_DEG,
            **{k: _stats(v) for k, v in acc.items()}}


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.topology import default_shared_data

    sd = default_shared_data()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crops", default=str(sd / "real" / "aflw_crops"))
    ap.add_argument("--labels", required=True)
    ap.add_argument("--yunet", default=str(sd / "detector" / "face_detection_yunet_2023mar.onnx"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", required=True)
    a = ap.parse_args(argv)
    res = measure(Path(a.crops), Path(a.labels), a.yunet, a.limit)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
