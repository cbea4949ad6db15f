# ruff: noqa: N803, N806  (R, T, K: the notation of geometry.py)
"""Teacher pseudo-labels for ``real/aflw_crops``: one command, one label file (not in the repo).

``python -m head_pose_ros.teacher.pseudolabel --crops ../shared/data/real/aflw_crops
--out ~/.cache/head_pose_ros/aflw_pseudo.npz`` (``--limit N`` for a quick run)

1. **Teacher** (once, cached as ``<out>.teacher.npz``): MediaPipe Face Landmarker over every
   crop, in the peers venv (:mod:`.mediapipe_run`; ``--peers-python``, default
   ``.venv-peers/bin/python``): 478 landmarks + its facial transform.
2. **Fit** (:mod:`.fit`) of the 1220-vertex model (30 ICT identity modes + 53 expressions)
   under the VIRTUAL pinhole camera ``f = VIRTUAL_FOCAL_PER_PX x crop side`` (480 px for the
   120 px crops), principal point at the crop centre ``((W-1)/2, (H-1)/2)``: the original
   photos' intrinsics are unknown, so T is only defined up to this choice (training uses it
   only through the box-relative terms; metric translation losses are off for these samples).
   Observations: the MediaPipe vertices tied to the 1220 surface (weight 1 each) and the
   visible AFLW hand landmarks (:mod:`.aflw21`, weight ``HUMAN_WEIGHT`` x the per-point
   weight). Where the teacher found no face, the visible hand landmarks alone fit the pose on
   the mean face (``status`` 2: only the 2D terms are supervised from them).
3. **Quality**: residuals normalised by the face size ``b`` (larger side of the fitted 68
   landmarks' extent, crop px). Rejected (``status`` 0, ``reason``): see ``REJECT``.
   Kept teacher fits get ``weight = exp(-0.5 (r_human / QUALITY_SIGMA)^2)``
   (:func:`quality_weight`); hand-landmark-only fits weight 1 (their labels are the humans').

The file keeps everything a later step needs to re-render the fitted faces at new poses:
shape coefficients + the basis, R, T, K, the 68 landmarks, residuals and the teacher's rotation
(in our frame, via :class:`.fit.TeacherAlignment`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from head_pose_ros import geometry as geo
from head_pose_ros.data.aflw21 import AFLW21_VERTEX, AFLW21_WEIGHT
from head_pose_ros.teacher.fit import (
    FaceBasis,
    TeacherAlignment,
    fit_pose_shape,
    load_face_basis,
    register_mediapipe,
)

VIRTUAL_FOCAL_PER_PX = 4.0
"""Virtual focal length / crop side (480 px for 120 px crops)."""
HUMAN_WEIGHT = 4.0
MIN_HUMAN_POINTS = 7
HUMAN_RESIDUAL_MAX = 0.06
TEACHER_RESIDUAL_MAX = 0.04
TEACHER_ANGLE_MAX_DEG = 20.0
QUALITY_SIGMA = 0.05
"""Hand-landmark residual (x face size) at which a teacher fit's weight falls to 0.61. The
median residual is about 0.04: mostly where AFLW's point definitions differ from the mapped
vertex (outer brows, nose tip, chin), not fit failures."""
STATUS_REJECTED, STATUS_TEACHER, STATUS_HUMAN_ONLY = 0, 1, 2
REJECT = {
    "no_teacher_few_points": f"no teacher face and < {MIN_HUMAN_POINTS} visible hand landmarks",
    "fit_failed": "the pose fit did not converge (non-finite or behind the camera)",
    "human_disagrees": f"RMS hand-landmark residual > {HUMAN_RESIDUAL_MAX} x face size",
    "teacher_residual": f"RMS teacher-landmark residual > {TEACHER_RESIDUAL_MAX} x face size",
    "teacher_pose_disagrees": f"teacher transform and fit differ by > {TEACHER_ANGLE_MAX_DEG} deg",
}


def virtual_intrinsics(width: int, height: int) -> np.ndarray:
    f = VIRTUAL_FOCAL_PER_PX * max(width, height)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0, 0, 1.0]])


def crop_points(pts21: np.ndarray, roi_box: np.ndarray, size: int) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """AFLW points in original photo pixels -> crop pixels + visibility (x = -1: hidden)."""
    p = np.asarray(pts21, np.float64)
    vis = (p[:, 0] >= 0) & (p[:, 1] >= 0)
    side = float(roi_box[2] - roi_box[0])
    return (p - np.asarray(roi_box[:2], np.float64)) * size / side, vis


def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    c = (np.trace(Ra.T @ Rb) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


class Fitter:
    """Per-sample fit with the precomputed correspondences (see module doc)."""

    def __init__(self, basis: FaceBasis, align: TeacherAlignment, C: np.ndarray) -> None:
        self.basis, self.align, self.C = basis, align, C
        s = align.surface
        self.mp_ids = s.source_ids
        self.mp_mean = s.points(basis.mean)
        self.mp_basis = s.points(basis.basis)
        self.h_mean = basis.mean[AFLW21_VERTEX]
        self.h_basis = basis.basis[:, AFLW21_VERTEX]
        self.expr = slice(basis.n_identity, basis.num_coeffs)

    @classmethod
    def from_files(cls, canonical: str | Path, data_root: str | None = None) -> Fitter:
        """The face basis, MediaPipe's canonical mesh (``mediapipe_canonical_face.npz``) and
        their alignment (:func:`.fit.register_mediapipe`)."""
        from head_pose_ros.peers.mediapipe_peer import (
            canonical_to_head_matrix,
            load_canonical_mesh,
        )

        basis = load_face_basis(data_root=data_root)
        can = load_canonical_mesh(canonical)
        C = canonical_to_head_matrix(can)
        return cls(basis, register_mediapipe(can, C, basis), C)

    def teacher_rotations(self, transforms: np.ndarray, found: np.ndarray) -> np.ndarray:
        """MediaPipe facial transforms (N, 4, 4) -> rotations in our head frame (NaN if none)."""
        from head_pose_ros.peers.mediapipe_peer import pose_from_transform

        out = np.full((len(found), 3, 3), np.nan)
        for i in np.nonzero(found)[0]:
            if np.all(np.isfinite(transforms[i])):
                out[i] = self.align.rotation_in_our_frame(
                    pose_from_transform(transforms[i], self.C)[0])
        return out

    def fit(self, K: np.ndarray, human: np.ndarray, vis: np.ndarray,
            teacher_lm: np.ndarray | None, teacher_R: np.ndarray | None) -> dict:
        b = self.basis
        hw = AFLW21_WEIGHT * HUMAN_WEIGHT
        out: dict = {"status": STATUS_REJECTED, "reason": "", "R": np.eye(3), "T": np.zeros(3),
                     "coeffs": np.zeros(b.num_coeffs), "res_h": np.nan, "res_t": np.nan,
                     "teacher_angle": np.nan, "weight": 0.0, "lm68": np.zeros((68, 2))}
        if teacher_lm is not None:
            uv = np.r_[teacher_lm[self.mp_ids, :2], human[vis]]
            w = np.r_[np.ones(len(self.mp_ids)), hw[vis]]
            mean = np.r_[self.mp_mean, self.h_mean[vis]]
            basis = np.concatenate([self.mp_basis, self.h_basis[:, vis]], axis=1)
            r = fit_pose_shape(uv, w, mean, basis, K, b.prior_sigma,
                               expression_slice=self.expr)
            status = STATUS_TEACHER
        elif vis.sum() >= MIN_HUMAN_POINTS:
            r = fit_pose_shape(human[vis], hw[vis], self.h_mean[vis], self.h_basis[:, vis], K,
                               b.prior_sigma, fit_shape=False)
            status = STATUS_HUMAN_ONLY
        else:
            out["reason"] = "no_teacher_few_points"
            return out
        if not r.ok:
            out["reason"] = "fit_failed"
            return out
        V = b.vertices(r.coeffs)
        X = V[b.landmarks68] @ r.R.T + r.T
        lm68 = geo.project_points(X, K)
        size = float(np.max(lm68.max(0) - lm68.min(0)))
        nh = int(vis.sum())
        res_h_all = r.residual_px[-nh:] if nh else np.zeros(0)
        core = AFLW21_WEIGHT[vis] >= 1.0  # ear lobes excluded from the quality measure
        res_h = float(np.sqrt(np.mean(res_h_all[core] ** 2)) / size) if core.any() else 0.0
        out.update(R=r.R, T=r.T, coeffs=r.coeffs, res_h=res_h, lm68=lm68, status=status)
        if status == STATUS_TEACHER:
            res_t = r.residual_px[: len(self.mp_ids)]
            out["res_t"] = float(np.sqrt(np.mean(res_t ** 2)) / size)
            if teacher_R is not None and np.all(np.isfinite(teacher_R)):
                out["teacher_angle"] = _angle_deg(teacher_R, r.R)
        if res_h > HUMAN_RESIDUAL_MAX:
            out["reason"] = "human_disagrees"
        elif status == STATUS_TEACHER and out["res_t"] > TEACHER_RESIDUAL_MAX:
            out["reason"] = "teacher_residual"
        elif out["teacher_angle"] > TEACHER_ANGLE_MAX_DEG:
            out["reason"] = "teacher_pose_disagrees"
        if out["reason"]:
            out["status"] = STATUS_REJECTED
            return out
        out["weight"] = float(quality_weight(np.array([res_h]), np.array([status]))[0])
        return out


def quality_weight(res_h: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Per-sample weight: teacher fits ``exp(-0.5 (res_h / QUALITY_SIGMA)^2)``, hand-only 1,
    rejected 0."""
    w = np.exp(-0.5 * (np.nan_to_num(np.asarray(res_h, np.float64), nan=1.0) /
                       QUALITY_SIGMA) ** 2)
    st = np.asarray(status)
    return np.where(st == STATUS_TEACHER, w, np.where(st == STATUS_HUMAN_ONLY, 1.0, 0.0))


def run_teacher_subprocess(crops: Path, teacher_out: Path, peers_python: str, task: str,
                           limit: int, images: str = "images", names_key: str = "names") -> None:
    """Run :mod:`.mediapipe_run` in the peers venv over ``crops/<images>``."""
    cmd = [peers_python, "-m", "head_pose_ros.teacher.mediapipe_run", "--images",
           str(crops / images), "--names-from", str(crops / "labels.npz"), "--task", task,
           "--out", str(teacher_out), "--names-key", names_key]
    if limit:
        cmd += ["--limit", str(limit)]
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    print("[pseudolabel] teacher:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, env=env)


def build_labels(crops: Path, teacher: dict, *, limit: int = 0, canonical: str | Path,
                 progress: bool = True) -> dict[str, np.ndarray]:
    """Fit every crop -> the label arrays (see module doc)."""
    from tqdm import tqdm

    with np.load(crops / "labels.npz") as z:
        names = [str(s) for s in z["names"]]
        roi, pts21, yaw = z["roi_box"], z["pts21"], z["yaw_deg"]
    n = min(len(names), limit) if limit else len(names)
    tnames = [str(s) for s in teacher["names"]]
    if tnames[:n] != names[:n]:
        raise ValueError("teacher file does not match the crops' names (rerun the teacher)")
    fitter = Fitter.from_files(canonical)
    basis, align = fitter.basis, fitter.align
    size = 120
    import cv2

    first = cv2.imread(str(crops / "images" / names[0]))
    if first is not None:
        size = int(max(first.shape[:2]))
    K = virtual_intrinsics(size, size)
    t_R = fitter.teacher_rotations(teacher["transform"][:n], teacher["found"][:n])
    keys = ("status", "R", "T", "coeffs", "res_h", "res_t", "teacher_angle", "weight", "lm68")
    acc: dict[str, list] = {k: [] for k in keys}
    reasons, pts_c, vis_c = [], [], []
    for i in tqdm(range(n), disable=not progress, desc="fit", mininterval=2.0):
        human, vis = crop_points(pts21[i], roi[i], size)
        found = bool(teacher["found"][i])
        r = fitter.fit(K, human, vis, teacher["lm478"][i] if found else None,
                       t_R[i] if found else None)
        for k in keys:
            acc[k].append(r[k])
        reasons.append(r["reason"])
        pts_c.append(human)
        vis_c.append(vis)
    out = {k: np.asarray(v) for k, v in acc.items()}
    out.update(names=np.array(names[:n]), reason=np.array(reasons), K=K,
               pts21=np.asarray(pts_c, np.float32), visible21=np.asarray(vis_c),
               yaw_aflw_deg=np.asarray(yaw[:n], np.float32), teacher_found=teacher["found"][:n],
               teacher_R=t_R, align_rotation=align.rotation, align_scale=align.scale,
               align_translation=align.translation, align_angle_deg=align.angle_deg,
               align_anchor_residual_m=align.anchor_residual_m,
               align_surface_distance_m=align.surface.distance, **basis.to_arrays())
    return out


def summary(lab: dict[str, np.ndarray]) -> dict:
    st = lab["status"]
    reasons = {k: int((lab["reason"] == k).sum()) for k in REJECT}
    ta = lab["teacher_angle"][st == STATUS_TEACHER]
    return {
        "crops": int(len(st)),
        "kept_teacher_fit": int((st == STATUS_TEACHER).sum()),
        "kept_human_only": int((st == STATUS_HUMAN_ONLY).sum()),
        "rejected": int((st == STATUS_REJECTED).sum()),
        "rejected_by_reason": reasons,
        "reject_rules": REJECT,
        "teacher_found": int(lab["teacher_found"].sum()),
        "median_res_human": float(np.nanmedian(lab["res_h"][st > 0])) if (st > 0).any() else None,
        "median_res_teacher": float(np.nanmedian(lab["res_t"][st == 1])) if ta.size else None,
        "teacher_vs_fit_deg_median": float(np.nanmedian(ta)) if ta.size else None,
        "align_angle_deg": float(lab["align_angle_deg"]),
        "align_scale": float(lab["align_scale"]),
        "align_anchor_residual_mm_mean": float(np.mean(lab["align_anchor_residual_m"]) * 1e3),
        "align_surface_points": int(len(lab["align_surface_distance_m"])),
        "align_surface_distance_mm_median": float(
            np.median(lab["align_surface_distance_m"]) * 1e3),
    }


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.topology import default_shared_data

    sd = default_shared_data()
    ap = argparse.ArgumentParser(description="pseudo-label real/aflw_crops (see module doc)")
    ap.add_argument("--crops", default=str(sd / "real" / "aflw_crops"))
    ap.add_argument("--out", required=True, help="label file (.npz), outside the repo")
    ap.add_argument("--task", default=str(sd / "baselines" / "face_landmarker.task"))
    ap.add_argument("--canonical", default=str(sd / "baselines" /
                                              "mediapipe_canonical_face.npz"))
    ap.add_argument("--peers-python", default=str(Path(__file__).resolve().parents[2] /
                                                   ".venv-peers" / "bin" / "python"))
    ap.add_argument("--teacher", default="", help="teacher file (default <out>.teacher.npz)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", default="", help="write the summary here too")
    ap.add_argument("--summary", action="store_true",
                    help="only summarise an existing label file --out")
    a = ap.parse_args(argv)
    crops, out = Path(a.crops), Path(a.out)
    if a.summary:
        with np.load(out) as z:
            s = summary({k: z[k] for k in z.files})
        print(json.dumps(s, indent=1))
        if a.json:
            Path(a.json).write_text(json.dumps(s, indent=1) + "\n")
        return 0
    tpath = Path(a.teacher) if a.teacher else out.with_suffix(".teacher.npz")
    if not tpath.is_file():
        if not Path(a.peers_python).is_file():
            print(f"[pseudolabel] ERROR: no teacher file {tpath} and no peers python "
                  f"{a.peers_python} (create it: python3 -m venv .venv-peers && "
                  ".venv-peers/bin/pip install mediapipe==1.2.2 scipy)", file=sys.stderr)
            return 2
        run_teacher_subprocess(crops, tpath, a.peers_python, a.task, a.limit)
    with np.load(tpath) as z:
        teacher = {k: z[k] for k in z.files}
    lab = build_labels(crops, teacher, limit=a.limit, canonical=a.canonical)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **lab)
    s = summary(lab)
    print(json.dumps(s, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(s, indent=1) + "\n")
    print(f"[pseudolabel] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
