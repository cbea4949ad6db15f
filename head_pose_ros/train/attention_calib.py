"""Calibrate and report the attention probability (:mod:`head_pose_ros.attention`), no ROS.

Two steps, so that the slow part (the network on every crop) runs once per checkpoint:

1. ``dump``: run a checkpoint on evaluation sets and keep, per face, the estimated face-frame
   pose (head direction ``x_face``, origin between the eyes), its 6x6 covariance (the
   checkpoint's calibrated :func:`head_pose_ros.covariance.pose_covariance`, moved to the face
   origin as the node does) and the TRUE head direction and origin::

    python -m head_pose_ros.train.attention_calib dump --weights W --out outputs/attention \\
        --set synthetic:outputs/results_data/wild_calib --set biwi_crops:ROOT ...

2. ``report``: fit ``cov_scale`` on the calibration set(s) (``--calib NAME``, log loss of P
   against the true label "the true head direction is within ``cone`` of the camera"), then
   report every set: expected calibration error (ECE, 10 equal-width bins, weighted by bin
   count), Brier score, positive rate and the reliability diagram, as JSON and a PNG::

    python -m head_pose_ros.train.attention_calib report --dir outputs/attention \\
        --calib wild_attn_calib --json docs/results/attention.json \\
        --plot docs/results/attention_reliability.png

``--cov-scale S`` reports with a given scale instead (the node's constant at another cone).
``scripts/attention_results.sh`` runs both steps for a checkpoint.

The target is the camera (origin of the camera frame). Sets without metric translation
(``aflw_crops``, ``biwi_crops``: rotation labels only) use the ESTIMATED face origin for the true
direction to the camera as well, so only the rotation is scored against truth there (the
covariance still integrates over both blocks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.attention import DEFAULT_CONE_DEG, attention_batch
from head_pose_ros.frames import FACE_FROM_HEAD, face_covariance

__all__ = ["ece", "reliability", "fit_cov_scale", "labels_and_inputs", "main"]

N_BINS = 10
SCALES = np.round(np.exp(np.linspace(np.log(0.25), np.log(4.0), 41)), 4)


def ece(prob: np.ndarray, label: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error: sum over equal-width bins of |mean P - frequency| x share."""
    rel = reliability(prob, label, n_bins)
    n = sum(b["n"] for b in rel)
    return float(sum(b["n"] / n * abs(b["mean_p"] - b["freq"]) for b in rel if b["n"]))


def reliability(prob: np.ndarray, label: np.ndarray, n_bins: int = N_BINS
                ) -> list[dict[str, float]]:
    """Per bin: range, count, mean predicted probability and observed frequency."""
    p = np.asarray(prob, np.float64)
    y = np.asarray(label, np.float64)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        out.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(m.sum()),
                    "mean_p": float(p[m].mean()) if m.any() else float("nan"),
                    "freq": float(y[m].mean()) if m.any() else float("nan")})
    return out


def log_loss(prob: np.ndarray, label: np.ndarray) -> float:
    p = np.clip(np.asarray(prob, np.float64), 1e-4, 1 - 1e-4)
    y = np.asarray(label, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def labels_and_inputs(d: dict[str, np.ndarray], cone_deg: float
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """True labels (angle of the TRUE head direction to the camera < cone) and the inputs of
    :func:`head_pose_ros.attention.attention_batch` from a dump."""
    u = -d["t_true"]
    cos = np.sum(d["gaze_true"] * u, 1) / np.linalg.norm(u, axis=1)
    label = np.degrees(np.arccos(np.clip(cos, -1, 1))) < cone_deg
    return label, {"gaze": d["gaze_est"], "trans": d["t_est"], "cov": d["cov"]}


def fit_cov_scale(sets: list[dict[str, np.ndarray]], cone_deg: float) -> tuple[float, list]:
    """The covariance scale with the lowest log loss over ``sets`` (grid :data:`SCALES`)."""
    curve = []
    for s in SCALES:
        losses, ns = [], []
        for d in sets:
            y, x = labels_and_inputs(d, cone_deg)
            p = attention_batch(**x, cone=np.deg2rad(cone_deg), cov_scale=float(s))["probability"]
            losses.append(log_loss(p, y) * len(y))
            ns.append(len(y))
        curve.append((float(s), sum(losses) / sum(ns)))
    best = min(curve, key=lambda c: c[1])[0]
    return best, curve


def set_report(d: dict[str, np.ndarray], cone_deg: float, cov_scale: float) -> dict[str, Any]:
    y, x = labels_and_inputs(d, cone_deg)
    r = attention_batch(**x, cone=np.deg2rad(cone_deg), cov_scale=cov_scale)
    p = r["probability"]
    yaw = np.abs(d["yaw_true"])
    by_yaw = {}
    for lo, hi in ((0, 30), (30, 60), (60, 180)):
        m = (yaw >= lo) & (yaw < hi)
        if m.any():
            sd = float(np.degrees(r["angle_std"][m]).mean())
            by_yaw[f"{lo}-{hi}"] = {"n": int(m.sum()), "mean_angle_std_deg": sd}
    return {"n": int(len(y)), "positive_rate": float(y.mean()), "ece": ece(p, y),
            "brier": float(np.mean((p - y) ** 2)), "log_loss": log_loss(p, y),
            "ece_point_estimate": ece((np.degrees(r["angle"]) < cone_deg).astype(float), y),
            "reliability": reliability(p, y), "angle_std_by_true_yaw": by_yaw}


# ------------------------------------------------------------------ dump (needs torch)
def dump(weights: str, specs: list[str], out: str, device: str = "cpu") -> None:
    import torch

    from head_pose_ros.checkpoint import load_checkpoint
    from head_pose_ros.covariance import CovarianceParams
    from head_pose_ros.frames import eye_midpoint
    from head_pose_ros.metrics import euler_ypr_deg
    from head_pose_ros.train.calibrate import covariances, open_set, predict

    dev = torch.device(device)
    model, info = load_checkpoint(weights, device=dev)
    params = CovarianceParams.from_dict(info.get("meta", {}).get("covariance"))
    lm = model.topology().landmarks68
    Path(out).mkdir(parents=True, exist_ok=True)
    for spec in specs:
        name, ds = open_set(spec, model)
        pred = predict(model, ds, dev)
        covs = covariances(pred, params)
        n = len(covs)
        o_est = np.stack([eye_midpoint(pred["vertices"][i], lm) for i in range(n)])
        has_v = pred["gt_has_vertices"].astype(bool).reshape(n)
        o_true = np.stack([eye_midpoint(pred["gt_vertices"][i], lm) if has_v[i] else o_est[i]
                           for i in range(n)])
        R, T, gR, gT = pred["R"], pred["T"], pred["gt_R"], pred["gt_T"]  # noqa: N806
        t_est = np.einsum("nij,nj->ni", R, o_est) + T
        metric = bool(getattr(ds, "metric_translation", True))
        t_true = np.einsum("nij,nj->ni", gR, o_true) + gT if metric else t_est.copy()
        cov_f = np.stack([face_covariance(covs[i], R[i], o_est[i]) for i in range(n)])
        np.savez(Path(out) / f"{name}.npz", gaze_est=(R @ FACE_FROM_HEAD)[:, :, 0],
                 gaze_true=(gR @ FACE_FROM_HEAD)[:, :, 0], t_est=t_est, t_true=t_true,
                 cov=cov_f, yaw_true=euler_ypr_deg(gR)[:, 0], metric=metric,
                 weights=str(weights), per_face_rotation="rot_logvar" in pred)
        print(f"{name}: {n} faces, per-face rotation {'rot_logvar' in pred}, metric {metric}")


def write_plot(path: str, sets: dict[str, dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for name, rep in sets.items():
        b = [x for x in rep["reliability"] if x["n"] > 0]
        ax.plot([x["mean_p"] for x in b], [x["freq"] for x in b], "o-",
                label=f"{name} (n={rep['n']}, ECE {rep['ece']:.3f})")
    ax.set_xlabel("predicted P(head within cone of the camera)")
    ax.set_ylabel("observed frequency")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--weights", required=True)
    d.add_argument("--set", action="append", required=True, help="KIND:PATH[:LABELS]")
    d.add_argument("--out", required=True)
    d.add_argument("--device", default="cpu")
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True, help="folder of the dumps")
    r.add_argument("--calib", action="append", required=True, help="set name(s) to fit on")
    r.add_argument("--cone", type=float, default=DEFAULT_CONE_DEG, help="half-angle (deg)")
    r.add_argument("--cov-scale", type=float, default=0.0,
                   help="use this scale instead of fitting one (e.g. the node's default at "
                        "another cone)")
    r.add_argument("--json", default="")
    r.add_argument("--plot", default="")
    a = ap.parse_args(argv)
    if a.cmd == "dump":
        dump(a.weights, a.set, a.out, a.device)
        return 0
    files = {p.stem: p for p in sorted(Path(a.dir).glob("*.npz"))}
    missing = [c for c in a.calib if c not in files]
    if missing:
        print(f"attention_calib: no dump for {missing} in {a.dir}", file=sys.stderr)
        return 2
    data = {k: _load(p) for k, p in files.items()}
    scale, curve = fit_cov_scale([data[c] for c in a.calib], a.cone)
    if a.cov_scale > 0:
        scale = a.cov_scale
    first = next(iter(data.values()))
    rep: dict[str, Any] = {"cone_deg": a.cone, "cov_scale": scale, "calibrated_on": a.calib,
                           "cov_scale_given": a.cov_scale > 0,
                           "weights": str(first["weights"]),
                           "per_face_rotation": bool(first["per_face_rotation"]),
                           "fit_curve": curve, "sets": {}}
    for k, dd in data.items():
        s = set_report(dd, a.cone, scale)
        s["in_calibration"] = k in a.calib
        s["metric_translation"] = bool(dd["metric"])
        rep["sets"][k] = s
        print(f"{k:16s} n={s['n']:5d} pos={s['positive_rate']:.2f} ECE={s['ece']:.3f} "
              f"(point estimate {s['ece_point_estimate']:.3f}) Brier={s['brier']:.3f}"
              + ("  [calibration set]" if s["in_calibration"] else ""))
    how = "given" if a.cov_scale > 0 else f"fitted on {a.calib}"
    print(f"cov_scale = {scale} ({how}, cone {a.cone} deg)")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(rep, indent=1) + "\n")
    if a.plot:
        write_plot(a.plot, {k: v for k, v in rep["sets"].items() if not v["in_calibration"]},
                   f"attention, cone {a.cone:g} deg, cov_scale {scale:g} (fit on "
                   f"{', '.join(a.calib)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
