# ruff: noqa: N803, N806  (R, T, K: the notation of geometry.py)
"""How good are the pseudo-labels? The same teacher + fit on synthetic crops with exact labels.

``python -m head_pose_ros.teacher.validate --data DIR --json OUT`` (``DIR``: a crop cache of
``python -m head_pose_ros.data.cache``; never AFLW2000). For every crop the teacher runs (peers
venv), the 1220 model is fitted to its landmarks with the crop's EXACT intrinsics (no hand
landmarks exist here), and both the fit's rotation and the teacher's own transform (aligned to
our frame by :func:`.fit.register_mediapipe`) are compared with the true rotation:
MAE yaw/pitch/roll, geodesic error, and the mean head-frame offset (rotation vector of
``R_gt^T R``, degrees, about our x = ear-to-ear, y = down, z = back axes), which measures the
teacher-to-our-frame alignment. A systematic offset here would become a label bias.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from head_pose_ros import metrics as hm
from head_pose_ros.teacher.pseudolabel import (
    Fitter,
    run_teacher_subprocess,
)


def rotation_errors(R_pred: np.ndarray, R_gt: np.ndarray) -> dict:
    """MAE yaw/pitch/roll, MAE_r, GE, biases and the mean head-frame offset (degrees, TRG
    Euler convention; :func:`head_pose_ros.metrics.rotation_summary`)."""
    return hm.rotation_summary(hm.rotation_errors_deg(R_pred, R_gt))


def validate(data: Path, teacher: dict, canonical: str | Path) -> dict:
    with np.load(data / "labels.npz") as z:
        K_all, R_gt = z["K"], z["R"]
    fitter = Fitter.from_files(canonical)
    found = teacher["found"].astype(bool)
    t_R = fitter.teacher_rotations(teacher["transform"], found)
    fit_R, idx = [], []
    for i in np.nonzero(found)[0]:
        r = fitter.fit(K_all[i].astype(np.float64), np.zeros((21, 2)), np.zeros(21, bool),
                       teacher["lm478"][i], t_R[i])
        if r["status"] > 0:
            fit_R.append(r["R"])
            idx.append(i)
    idx_a = np.asarray(idx, np.int64)
    t_ok = np.nonzero(found & np.all(np.isfinite(t_R.reshape(len(t_R), -1)), axis=1))[0]
    return {"data": str(data), "crops": int(len(found)), "teacher_found": int(found.sum()),
            "fit_kept": int(len(idx_a)),
            "fit_vs_gt": rotation_errors(np.asarray(fit_R), R_gt[idx_a]) if len(idx_a) else None,
            "teacher_transform_vs_gt": rotation_errors(t_R[t_ok], R_gt[t_ok]),
            "align_angle_deg": fitter.align.angle_deg}


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.topology import default_shared_data

    sd = default_shared_data()
    ap = argparse.ArgumentParser(description="validate the pseudo-label pipeline on synthetic "
                                             "crops with exact labels")
    ap.add_argument("--data", required=True, help="a head_pose_ros.data.cache directory")
    ap.add_argument("--json", required=True)
    ap.add_argument("--task", default=str(sd / "baselines" / "face_landmarker.task"))
    ap.add_argument("--canonical", default=str(sd / "baselines" /
                                              "mediapipe_canonical_face.npz"))
    ap.add_argument("--peers-python", default=str(Path(__file__).resolve().parents[2] /
                                                   ".venv-peers" / "bin" / "python"))
    a = ap.parse_args(argv)
    data = Path(a.data)
    tpath = data / "teacher.npz"
    if not tpath.is_file():
        run_teacher_subprocess(data, tpath, a.peers_python, a.task, 0, images="images",
                               names_key="files")
    with np.load(tpath) as z:
        teacher = {k: z[k] for k in z.files}
    res = validate(data, teacher, a.canonical)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
