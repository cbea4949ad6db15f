"""Evaluation metrics of the TRG paper (§4.3) and of the AFLW2000 protocol. numpy (and scipy's
rotation log map for the head-frame offsets); no torch, so the peers' venv can import it.

Conventions (docs/CONVENTIONS.md): column vectors, ``X_cam = R @ X_head + T``, metres and
radians in, **degrees and millimetres out**. Every per-sample function takes batched arrays with
a leading sample axis ``N``.

- Rotation: yaw/pitch/roll absolute errors from the two rotation matrices, each decomposed with
  the same Euler function (:func:`head_pose_ros.geometry.rotation_to_euler_ypr`, convention
  ``"trg"`` = the paper's ARKitFace/BIWI one, or ``"aflw"`` for AFLW2000), error
  ``|wrap(pred - gt)|`` in (-180, 180]. ``MAE_r`` is the mean of
  the three. ``GE`` is the geodesic angle ``arccos((tr(R_p^T R_g) - 1) / 2)``.
- Translation: ``|T_pred - T_gt|`` per axis in mm; ``MAE_t`` is the mean of the three.
- ADD (paper Eq. 8): mean over the N^V vertices of ``||(R_p V* + T_p) - (R_g V* + T_g)||``, the
  ground-truth mesh ``V*`` (head frame) moved by the predicted vs the ground-truth pose.
- Dense landmark error (``lmk``): per sample the mean vertex distance between the predicted and the
  ground-truth dense landmarks **in the head frame** (``V_3`` vs ``V*``, as the authors' 3DRecon);
  ``lmk_median``/``lmk_mean`` are the median/mean over samples. The camera-space variant
  (``R V + T``) is reported as the extras ``lmk_cam_median``/``lmk_cam_mean``.
- Face size: sum of the triangle areas of the head-frame mesh; error ``|A_pred - A_gt|`` in mm^2.
- 2D NME (AFLW2000): mean 68-landmark pixel distance divided by ``sqrt(w * h)`` of the
  ground-truth landmarks' bounding box (the 3DDFA convention), reported in percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

#: JSON keys every evaluation writes, in this order (degrees and millimetres).
SUMMARY_KEYS: tuple[str, ...] = (
    "mae_yaw", "mae_pitch", "mae_roll", "mae_r", "ge",
    "mae_tx", "mae_ty", "mae_tz", "mae_t", "add",
    "lmk_median", "lmk_mean",
)


def wrap_deg(a: np.ndarray) -> np.ndarray:
    """Wrap angles in degrees to (-180, 180]."""
    a = np.asarray(a, dtype=np.float64)
    w = np.mod(a + 180.0, 360.0) - 180.0
    return np.where(w == -180.0, 180.0, w)


def euler_ypr_deg(R: np.ndarray, convention: str = "trg") -> np.ndarray:
    """(N,3,3) rotations -> (N,3) (yaw, pitch, roll) in degrees.

    ``convention`` is passed to :func:`head_pose_ros.geometry.rotation_to_euler_ypr`: ``"trg"``
    (the paper's ARKitFace/BIWI evaluation) or ``"aflw"`` (AFLW2000/HopeNet protocol).
    """
    from head_pose_ros.geometry import rotation_to_euler_ypr

    R = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    return np.degrees(rotation_to_euler_ypr(R, convention=convention))


def euler_signed_errors_deg(
    R_pred: np.ndarray, R_gt: np.ndarray, convention: str = "trg"
) -> np.ndarray:
    """Per-sample signed (yaw, pitch, roll) errors ``wrap(pred - gt)`` in degrees, (N, 3).

    Their mean over a test set is the bias: a constant offset between the method's head frame
    and the labels' (e.g. two face models that define "looking straight" differently) shows up
    there, not in the spread."""
    R_pred = np.asarray(R_pred, dtype=np.float64).reshape(-1, 3, 3)
    R_gt = np.asarray(R_gt, dtype=np.float64).reshape(-1, 3, 3)
    return wrap_deg(euler_ypr_deg(R_pred, convention) - euler_ypr_deg(R_gt, convention))


def head_frame_offsets_deg(R_pred: np.ndarray, R_gt: np.ndarray) -> np.ndarray:
    """Per-sample rotation vectors (N, 3), degrees, of ``R_gt.T @ R_pred``: the predicted head
    frame seen from the labelled one, about the head axes (x to the subject's left ear, y to
    the chin, z into the head). Unlike Euler angles this does not depend on a decomposition
    convention. A positive x component turns the chin away from the camera: the predicted face
    looks further up than the label. The mean over a test set is the method's frame offset."""
    from scipy.spatial.transform import Rotation

    R_pred = np.asarray(R_pred, dtype=np.float64).reshape(-1, 3, 3)
    R_gt = np.asarray(R_gt, dtype=np.float64).reshape(-1, 3, 3)
    rel = np.einsum("nji,njk->nik", R_gt, R_pred)
    return np.degrees(Rotation.from_matrix(rel).as_rotvec())


def rotation_errors_deg(
    R_pred: np.ndarray, R_gt: np.ndarray, convention: str = "trg"
) -> dict[str, np.ndarray]:
    """Per-sample |yaw|, |pitch|, |roll| errors (wrapped) and geodesic error, degrees, (N,) each;
    the signed errors ``yaw_signed``, ``pitch_signed``, ``roll_signed``
    (:func:`euler_signed_errors_deg`) and the head-frame offsets ``offset_x``, ``offset_y``,
    ``offset_z`` (:func:`head_frame_offsets_deg`)."""
    d = euler_signed_errors_deg(R_pred, R_gt, convention)
    e = np.abs(d)
    o = head_frame_offsets_deg(R_pred, R_gt)
    return {"yaw": e[:, 0], "pitch": e[:, 1], "roll": e[:, 2], "ge": geodesic_deg(R_pred, R_gt),
            "yaw_signed": d[:, 0], "pitch_signed": d[:, 1], "roll_signed": d[:, 2],
            "offset_x": o[:, 0], "offset_y": o[:, 1], "offset_z": o[:, 2]}


#: per-sample error keys of :func:`rotation_errors_deg`
ROTATION_ERROR_KEYS: tuple[str, ...] = (
    "yaw", "pitch", "roll", "ge", "yaw_signed", "pitch_signed", "roll_signed",
    "offset_x", "offset_y", "offset_z")
#: the keys of a rotation-only summary (:func:`rotation_summary`)
ROTATION_SUMMARY_KEYS: tuple[str, ...] = (
    "mae_yaw", "mae_pitch", "mae_roll", "mae_r", "ge", "bias_yaw", "bias_pitch", "bias_roll",
    "frame_offset_x", "frame_offset_y", "frame_offset_z", "n")


def rotation_bias_deg(errors: Mapping[str, np.ndarray]) -> dict[str, float | None]:
    """Means (degrees, None where absent or empty) of the signed per-sample errors of
    :func:`rotation_errors_deg`: ``bias_yaw``, ``bias_pitch``, ``bias_roll`` (Euler angles of
    the evaluation's convention) and ``frame_offset_x``, ``frame_offset_y``, ``frame_offset_z``
    (mean head-frame offset, :func:`head_frame_offsets_deg`)."""
    out = {f"bias_{a}": _mean(errors.get(f"{a}_signed")) for a in ("yaw", "pitch", "roll")}
    out.update({f"frame_offset_{a}": _mean(errors.get(f"offset_{a}")) for a in "xyz"})
    return out


def geodesic_deg(R_pred: np.ndarray, R_gt: np.ndarray) -> np.ndarray:
    """Geodesic distance on SO(3) in degrees, (N,)."""
    R_pred = np.asarray(R_pred, dtype=np.float64).reshape(-1, 3, 3)
    R_gt = np.asarray(R_gt, dtype=np.float64).reshape(-1, 3, 3)
    tr = np.einsum("nji,nji->n", R_pred, R_gt)  # trace(R_pred^T R_gt)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def translation_errors_mm(T_pred: np.ndarray, T_gt: np.ndarray) -> np.ndarray:
    """(N,3) absolute per-axis translation errors in mm (inputs in metres)."""
    return 1000.0 * np.abs(np.asarray(T_pred, np.float64) - np.asarray(T_gt, np.float64))


def add_mm(
    R_pred: np.ndarray, T_pred: np.ndarray, R_gt: np.ndarray, T_gt: np.ndarray, V_gt: np.ndarray
) -> np.ndarray:
    """ADD (paper Eq. 8) in mm, (N,). ``V_gt`` (N,V,3) or (V,3) head-frame metres."""
    R_pred = np.asarray(R_pred, np.float64).reshape(-1, 3, 3)
    R_gt = np.asarray(R_gt, np.float64).reshape(-1, 3, 3)
    V = np.asarray(V_gt, np.float64)
    if V.ndim == 2:
        V = np.broadcast_to(V, (R_pred.shape[0],) + V.shape)
    Tp = np.asarray(T_pred, np.float64).reshape(-1, 1, 3)
    Tg = np.asarray(T_gt, np.float64).reshape(-1, 1, 3)
    Xp = np.einsum("nij,nvj->nvi", R_pred, V) + Tp
    Xg = np.einsum("nij,nvj->nvi", R_gt, V) + Tg
    return 1000.0 * np.linalg.norm(Xp - Xg, axis=-1).mean(axis=-1)


def dense_landmark_error_mm(V_pred: np.ndarray, V_gt: np.ndarray) -> np.ndarray:
    """Per-sample mean vertex distance in mm, (N,). Inputs (N,V,3) in metres, same frame."""
    d = np.linalg.norm(np.asarray(V_pred, np.float64) - np.asarray(V_gt, np.float64), axis=-1)
    return 1000.0 * d.mean(axis=-1)


def face_size_mm2(V: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Sum of triangle areas in mm^2 of (N,V,3) or (V,3) meshes in metres -> (N,) or scalar."""
    V = np.asarray(V, np.float64) * 1000.0
    tri = np.asarray(triangles, dtype=np.int64)
    a, b, c = V[..., tri[:, 0], :], V[..., tri[:, 1], :], V[..., tri[:, 2], :]
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=-1).sum(axis=-1)


def nme_2d_percent(lm_pred: np.ndarray, lm_gt: np.ndarray) -> np.ndarray:
    """2D NME in percent, (N,): mean landmark distance / sqrt(w*h) of the GT landmark box."""
    p = np.asarray(lm_pred, np.float64).reshape(-1, 68, 2)
    g = np.asarray(lm_gt, np.float64).reshape(-1, 68, 2)
    wh = g.max(axis=1) - g.min(axis=1)
    norm = np.sqrt(wh[:, 0] * wh[:, 1])
    return 100.0 * np.linalg.norm(p - g, axis=-1).mean(axis=-1) / norm


def per_sample_errors(
    pred: Mapping[str, np.ndarray],
    gt: Mapping[str, np.ndarray],
    *,
    has_translation: bool = True,
    has_vertices: bool = True,
    triangles: np.ndarray | None = None,
    convention: str = "trg",
) -> dict[str, np.ndarray]:
    """All per-sample errors that the labels allow, each (N,).

    ``pred``/``gt`` hold ``R`` (N,3,3), ``T`` (N,3) metres, ``vertices`` (N,V,3) head frame and
    optionally ``landmarks68`` (N,68,2) image pixels. ``gt['vertices']`` is used for ADD even when
    ``has_vertices`` is False (e.g. a BIWI subject's neutral mesh): pass ``has_vertices=False`` to
    skip only the dense landmark and face size errors.
    """
    out: dict[str, np.ndarray] = {}
    out.update(rotation_errors_deg(pred["R"], gt["R"], convention))
    if has_translation:
        t = translation_errors_mm(pred["T"], gt["T"])
        out.update({"tx": t[:, 0], "ty": t[:, 1], "tz": t[:, 2]})
        if gt.get("vertices") is not None:
            out["add"] = add_mm(pred["R"], pred["T"], gt["R"], gt["T"], gt["vertices"])
    if has_vertices and pred.get("vertices") is not None and gt.get("vertices") is not None:
        out["lmk"] = dense_landmark_error_mm(pred["vertices"], gt["vertices"])
        if has_translation:
            Rp, Rg = np.asarray(pred["R"], np.float64), np.asarray(gt["R"], np.float64)
            cam_p = np.einsum("nij,nvj->nvi", Rp, pred["vertices"]) + np.asarray(
                pred["T"], np.float64)[:, None]
            cam_g = np.einsum("nij,nvj->nvi", Rg, gt["vertices"]) + np.asarray(
                gt["T"], np.float64)[:, None]
            out["lmk_cam"] = dense_landmark_error_mm(cam_p, cam_g)
        if triangles is not None:
            a_p = face_size_mm2(pred["vertices"], triangles)
            out["face_size"] = np.abs(a_p - face_size_mm2(gt["vertices"], triangles))
    if pred.get("landmarks68") is not None and gt.get("landmarks68") is not None:
        out["nme2d"] = nme_2d_percent(pred["landmarks68"], gt["landmarks68"])
    return out


def _mean(x: np.ndarray | None) -> float | None:
    if x is None or len(x) == 0:
        return None
    return float(np.mean(x))


def summarise(errors: Mapping[str, np.ndarray], extras: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """Reduce per-sample errors (from :func:`per_sample_errors`) to the report's JSON dict.

    Keys: exactly :data:`SUMMARY_KEYS` (degrees / mm; ``None`` where the labels do not allow
    the metric), then ``n`` and the extras that apply: ``bias_yaw``/``bias_pitch``/``bias_roll``
    and ``frame_offset_x/y/z`` (mean signed rotation errors and head-frame offset, degrees,
    :func:`rotation_bias_deg`), ``face_size_error`` (mm^2),
    ``lmk_cam_median``/``lmk_cam_mean`` (mm), ``nme2d`` (percent), plus anything in ``extras``.
    """
    n = len(errors["yaw"])
    s: dict[str, Any] = {}
    s["mae_yaw"] = _mean(errors.get("yaw"))
    s["mae_pitch"] = _mean(errors.get("pitch"))
    s["mae_roll"] = _mean(errors.get("roll"))
    parts = [s["mae_yaw"], s["mae_pitch"], s["mae_roll"]]
    s["mae_r"] = None if any(p is None for p in parts) else float(np.mean(parts))
    s["ge"] = _mean(errors.get("ge"))
    s["mae_tx"] = _mean(errors.get("tx"))
    s["mae_ty"] = _mean(errors.get("ty"))
    s["mae_tz"] = _mean(errors.get("tz"))
    tparts = [s["mae_tx"], s["mae_ty"], s["mae_tz"]]
    s["mae_t"] = None if any(p is None for p in tparts) else float(np.mean(tparts))
    s["add"] = _mean(errors.get("add"))
    lmk = errors.get("lmk")
    s["lmk_median"] = None if lmk is None or len(lmk) == 0 else float(np.median(lmk))
    s["lmk_mean"] = _mean(lmk)
    s["n"] = n
    if errors.get("yaw_signed") is not None:
        s.update(rotation_bias_deg(errors))
    if errors.get("face_size") is not None:
        s["face_size_error"] = _mean(errors["face_size"])
    cam = errors.get("lmk_cam")
    if cam is not None and len(cam):
        s["lmk_cam_median"] = float(np.median(cam))
        s["lmk_cam_mean"] = float(np.mean(cam))
    if errors.get("nme2d") is not None:
        s["nme2d"] = _mean(errors["nme2d"])
    if extras:
        s.update(extras)
    return s


def rotation_summary(errors: Mapping[str, np.ndarray] | None) -> dict[str, Any]:
    """:data:`ROTATION_SUMMARY_KEYS` of :func:`summarise` for per-sample rotation errors (those
    of :func:`rotation_errors_deg`); every value None and ``n = 0`` for None or no samples."""
    if errors is None or len(errors["yaw"]) == 0:
        return {k: (0 if k == "n" else None) for k in ROTATION_SUMMARY_KEYS}
    s = summarise({k: errors[k] for k in ROTATION_ERROR_KEYS})
    return {k: s[k] for k in ROTATION_SUMMARY_KEYS}


YAW_BINS_DEG: tuple[tuple[float, float], ...] = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0),
                                                 (90.0, 180.0))
"""|yaw| bins (degrees, ground truth) of :func:`yaw_bin_summary`: [lo, hi)."""


def yaw_bin_summary(errors: Mapping[str, np.ndarray], gt_yaw_deg: np.ndarray,
                    bins: tuple[tuple[float, float], ...] = YAW_BINS_DEG) -> dict[str, Any]:
    """Rotation errors by ground-truth |yaw| bin: ``{"0-30": {"n", "share", "mae_r", "ge"},
    ...}`` (MAE_r = mean of the yaw / pitch / roll MAEs of the bin; None for an empty bin)."""
    a = np.abs(np.asarray(gt_yaw_deg, np.float64))
    out: dict[str, Any] = {}
    for lo, hi in bins:
        m = (a >= lo) & (a < hi)
        n = int(m.sum())
        row: dict[str, Any] = {"n": n, "share": float(n / max(len(a), 1))}
        if n:
            row["mae_r"] = float(np.mean([errors[k][m].mean() for k in ("yaw", "pitch", "roll")]))
            row["ge"] = float(errors["ge"][m].mean())
        else:
            row["mae_r"] = row["ge"] = None
        out[f"{lo:g}-{hi:g}"] = row
    return out


def format_table(summary: Mapping[str, Any], title: str = "") -> str:
    """The paper's table as text: rotation (deg), translation/ADD/landmarks (mm)."""
    cols = [
        ("yaw", "mae_yaw"), ("pitch", "mae_pitch"), ("roll", "mae_roll"), ("MAE_r", "mae_r"),
        ("GE", "ge"), ("tx", "mae_tx"), ("ty", "mae_ty"), ("tz", "mae_tz"), ("MAE_t", "mae_t"),
        ("ADD", "add"), ("lmk_med", "lmk_median"), ("lmk_mean", "lmk_mean"),
    ]
    for name, key in (("size_mm2", "face_size_error"), ("NME%", "nme2d")):
        if summary.get(key) is not None:
            cols.append((name, key))

    def fmt(v: Any) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

    head = " ".join(f"{c:>8}" for c, _ in cols)
    vals = " ".join(f"{fmt(summary.get(k)):>8}" for _, k in cols)
    lines = [title] if title else []
    lines += [f"deg: yaw..GE | mm: tx..lmk | n = {summary.get('n')}", head, vals]
    return "\n".join(lines)
