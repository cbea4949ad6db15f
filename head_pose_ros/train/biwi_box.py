"""Measure how the dlib boxes of ``real/biwi_crops`` relate to the node's training-crop rule
(and, with ``--convention WEIGHTS``, which reading of the labels' rotation a model agrees with).

``python -m head_pose_ros.train.biwi_box --data ../shared/data/real/biwi_crops
--json docs/results/biwi_box.json``

On crops of the TRAINING sequences only (``data.biwi_crops.VAL_SEQUENCES`` excluded): pad each
crop with a black border (YuNet needs context around a tight face), run YuNet, and turn its
box into the node's crop box (``geometry.crop_box_from_detection``, the constants the node uses:
the crop the model sees behind YuNet). Express that crop box in units of the dlib box side W:
``ratio = side / W``, ``dx = (cx - (W-1)/2) / W``, ``dy`` likewise. The medians over the faces
YuNet finds are what ``data.biwi_crops.DLIB_BOX_GEOMETRY`` holds, so a BIWI crop is framed as
the node would frame the same face (also the profiles, which YuNet finds less often: their
dlib box gets the same rule).

(A model-based alternative, the model's own 68-landmark extent x 1.5, has no stable fixed
point: the landmark extent the model predicts shrinks with the crop it is given.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

PAD = 0.5
"""Black border added on each side, x the crop side."""


def measure(root: str, yunet: str, *, limit: int = 2000) -> dict[str, Any]:
    import cv2

    from head_pose_ros import geometry as geo
    from head_pose_ros.data.biwi_crops import VAL_SEQUENCES
    from head_pose_ros.detection import create_detector

    with np.load(Path(root) / "labels.npz") as z:
        names, seq = z["names"].astype(str), z["seq"].astype(str)
        yaw = z["pitch_yaw_roll_deg"][:, 1]
    train = np.nonzero(~np.isin(seq, VAL_SEQUENCES))[0]
    pick = train[np.linspace(0, len(train) - 1, min(limit, len(train))).astype(int)]
    det = create_detector("yunet", yunet)
    rows: dict[str, list[float]] = {"ratio": [], "dx": [], "dy": [], "abs_yaw": []}
    for i in pick:
        img = cv2.imread(str(Path(root) / "images" / names[i]))
        if img is None:
            raise FileNotFoundError(f"cannot read {names[i]}")
        h, w = img.shape[:2]
        p = int(round(PAD * max(w, h)))
        big = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        found = det.detect(big)
        if not len(found):
            continue
        b = found.as_array()[int(np.argmax(found.scores))][:4] - p
        cb = geo.crop_box_from_detection(b)
        side = float(max(w, h))
        rows["ratio"].append(cb[2] / side)
        rows["dx"].append((cb[0] - (w - 1) / 2.0) / side)
        rows["dy"].append((cb[1] - (h - 1) / 2.0) / side)
        rows["abs_yaw"].append(abs(float(yaw[i])))
    if len(rows["ratio"]) < 20:
        raise ValueError(f"YuNet found only {len(rows['ratio'])} faces")
    r = {k: np.asarray(v) for k, v in rows.items()}
    geometry = {k: round(float(np.median(r[k])), 4) for k in ("ratio", "dx", "dy")}
    return {"geometry": geometry, "n_crops": int(len(pick)), "n_found": int(len(r["ratio"])),
            "split": "train", "pad": PAD, "detector": str(yunet),
            "iqr": {k: [round(float(np.percentile(r[k], q)), 4) for q in (25, 75)]
                    for k in ("ratio", "dx", "dy")},
            "median_abs_yaw_found": round(float(np.median(r["abs_yaw"])), 1)}


def check_convention(weights: str, root: str, *, every: int = 25) -> dict[str, Any]:
    """Median geodesic error of the model against each reading of BIWI's stored rotation, on
    every ``every``-th crop of the TRAINING sequences: the right reading is far the smallest.
    Readings: the stored R, its transpose, and both mirrored left-right (F = diag(-1, 1, 1))."""
    import torch

    from head_pose_ros.checkpoint import load_checkpoint
    from head_pose_ros.data.biwi_crops import BIWICropsDataset
    from head_pose_ros.metrics import geodesic_deg
    from head_pose_ros.train.evaluate import EvalView, predict_dataset

    model, _ = load_checkpoint(weights)
    ds = BIWICropsDataset(root, model.topology(), split="train",
                          out_size=model.config.input_size)
    ds.index = ds.index[::every]
    p = predict_dataset(model, EvalView(ds), device=torch.device("cpu"))
    F = np.diag([-1.0, 1.0, 1.0])  # noqa: N806
    G = p["gt_R"]  # noqa: N806
    Gt = np.swapaxes(G, -1, -2)  # noqa: N806
    cands = {"stored R": G, "R^T": Gt, "mirrored (F R F)": F @ G @ F, "R^T mirrored": F @ Gt @ F}
    med = {k: float(np.median(geodesic_deg(p["R"], v))) for k, v in cands.items()}
    return {"weights": str(weights), "n": int(len(G)), "split": "train",
            "median_geodesic_deg": med, "best": min(med, key=med.get)}


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.topology import default_shared_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="real/biwi_crops")
    ap.add_argument("--yunet", default=str(default_shared_data() / "detector" /
                                           "face_detection_yunet_2023mar.onnx"))
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--json", default="")
    ap.add_argument("--convention", default="", metavar="WEIGHTS",
                    help="instead: check the labels' rotation convention with this model")
    args = ap.parse_args(argv)
    try:
        if args.convention:
            res = check_convention(args.convention, args.data)
            print(json.dumps(res["median_geodesic_deg"]), "best:", res["best"])
        else:
            res = measure(args.data, args.yunet, limit=args.limit)
            print(json.dumps(res["geometry"]), f"({res['n_found']}/{res['n_crops']} found)")
    except (FileNotFoundError, ValueError) as e:
        print(f"biwi_box: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
