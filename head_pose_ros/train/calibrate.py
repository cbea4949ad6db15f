"""Calibrate the pose covariance of a checkpoint on held-out data and report its coverage.

:func:`head_pose_ros.covariance.pose_covariance` gives a 6x6 covariance: the translation block
from the geometry of Eq. 2 (depth error grows with distance), the rotation block from the
model's per-face log variances when it has the uncertainty head (else a constant). This command

1. fits the per-axis translation scales on a synthetic calibration set (``--calib``, metric
   labels) so that each axis' 1-sigma coverage is the nominal 68.27 %;
2. fits the per-head-axis scales of the predicted rotation sigmas (``rot_head_scale``) on the
   pooled head-frame errors of the calibration set and of held-out REAL crops
   (``--calib-real aflw_crops:ROOT:LABELS``, the aflw_crops val split against its teacher fits),
   then the per-camera-axis scales ``scale[3:]`` on the same pool so that each published axis
   covers 68.27 % (see :mod:`head_pose_ros.covariance`); without the head, the constant
   rotation scales are fitted on ``--calib`` as before;
3. writes them into a copy of the checkpoint (``meta["covariance"]``) and reports, on each
   ``--report`` set (``synthetic:DIR``, ``biwi_crops:ROOT`` (val sequences),
   ``aflw_crops:ROOT:LABELS`` (val; the calibration set itself, marked ``in_calibration``)):
   per-axis 1/2-sigma coverage (camera axes; translation only where it is metric), head-axis
   coverage, the joint chi-square (3 dof) coverage of the rotation block, and the predicted
   sigma by |yaw| bin::

    python -m head_pose_ros.train.calibrate --weights W --calib DIR --out W_CAL \\
        [--calib-real aflw_crops:ROOT:LABELS] [--report KIND:PATH[:LABELS] ...] [--json OUT]
        [--plot sigma_vs_yaw.png]

A plain directory given to ``--report`` means ``synthetic:DIR``. Crops follow each dataset's
evaluation rule with the model's own crop size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.covariance import (
    ONE_SIGMA_COVERAGE,
    CovarianceParams,
    calibrate,
    calibrate_rotation_scale,
    coverage,
    head_frame_errors,
    pose_covariance,
    pose_errors,
    rotation_covariance,
    rotation_error_vector,
)

AXES = ("x", "y", "z", "rotX", "rotY", "rotZ")
HEAD_AXES = ("head_x", "head_y", "head_z")
CHI2_3DOF = {"1sigma": 3.5267403802617303, "2sigma": 8.024881760266252}
"""chi-square (3 dof) quantiles at 68.27 % and 95.45 %: the joint rotation coverage bounds."""
YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 180.0))


def open_set(spec: str, model: Any) -> tuple[str, Any]:
    """``KIND:PATH[:LABELS]`` (or a plain synthetic directory) -> (name, evaluation dataset)."""
    kind, _, rest = spec.partition(":") if ":" in spec else ("synthetic", "", spec)
    size = {"out_size": model.config.input_size}
    topo = model.topology()
    if kind == "synthetic":
        from head_pose_ros.data.synthetic import SynthNpzDataset

        return Path(rest).name, SynthNpzDataset(rest, topo, **size)
    if kind == "biwi_crops":
        from head_pose_ros.data.biwi_crops import BIWICropsDataset

        return "biwi_crops_val", BIWICropsDataset(rest, topo, split="val", **size)
    if kind == "aflw_crops":
        from head_pose_ros.data.aflw_crops import AFLWCropsDataset

        root, _, labels = rest.partition(":")
        if not labels:
            raise ValueError(f"{spec}: aflw_crops needs ROOT:LABELS")
        return "aflw_crops_val", AFLWCropsDataset(root, labels, topo, split="val", kinds=(1,),
                                                  **size)
    raise ValueError(f"{spec}: unknown set kind {kind!r} (synthetic, biwi_crops, aflw_crops)")


def predict(model: Any, ds: Any, device: Any) -> dict[str, np.ndarray]:
    from head_pose_ros.train.evaluate import EvalView, predict_dataset

    return predict_dataset(model, EvalView(ds), device=device)


def covariances(pred: dict[str, np.ndarray], params: CovarianceParams,
                per_face: bool = True) -> np.ndarray:
    """(N, 6, 6) covariances of the predictions (per-face rotation when predicted, unless
    ``per_face`` is False: the constant rotation block)."""
    lv = pred.get("rot_logvar") if per_face else None
    return np.stack([
        pose_covariance(pred["T"][i], pred["K"][i], float(pred["box"][i][2]), params,
                        R=pred["R"][i], rot_logvar=None if lv is None else lv[i])
        for i in range(len(pred["R"]))
    ])


def coverage_report(errors: np.ndarray, covs: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-axis fraction of errors inside the 1-sigma and 2-sigma bounds."""
    one, two = coverage(errors, covs), coverage(errors, 4.0 * covs)
    return {a: {"1sigma": float(one[i]), "2sigma": float(two[i])} for i, a in enumerate(AXES)}


def rotation_report(pred: dict[str, np.ndarray], errors: np.ndarray, covs: np.ndarray,
                    params: CovarianceParams) -> dict[str, Any]:
    """Head-axis and joint (chi-square, 3 dof) coverage and sigma by |yaw| of one set
    (``errors``: its :func:`pose_errors`)."""
    from head_pose_ros.metrics import euler_ypr_deg

    d_cam = errors[:, 3:]
    rot = covs[:, 3:, 3:]
    maha = np.einsum("ni,nij,nj->n", d_cam, np.linalg.inv(rot), d_cam)
    out: dict[str, Any] = {"joint_chi2_3dof": {k: float(np.mean(maha <= q))
                                               for k, q in CHI2_3DOF.items()}}
    sd_total = np.degrees(np.sqrt(np.trace(rot, axis1=-2, axis2=-1)))
    geo = np.degrees(np.linalg.norm(d_cam, axis=1))
    lv = pred.get("rot_logvar")
    if lv is not None:
        d_head = head_frame_errors(pred["R"], pred["gt_R"])
        sd = np.exp(0.5 * lv) * np.asarray(params.rot_head_scale)
        one, two = np.mean(np.abs(d_head) <= sd, 0), np.mean(np.abs(d_head) <= 2 * sd, 0)
        out["head_axes"] = {a: {"1sigma": float(one[i]), "2sigma": float(two[i])}
                            for i, a in enumerate(HEAD_AXES)}
        out["sigma_error_corr"] = float(np.corrcoef(sd_total, geo)[0, 1])
    yaw = np.abs(euler_ypr_deg(pred["gt_R"])[:, 0])
    bins = {}
    for lo, hi in YAW_BINS:
        m = (yaw >= lo) & (yaw < hi)
        if m.any():
            bins[f"{lo:g}-{hi:g}"] = {
                "n": int(m.sum()), "mean_sigma_deg": float(sd_total[m].mean()),
                "mean_error_deg": float(geo[m].mean()),
                "rms_error_deg": float(np.sqrt(np.mean(geo[m] ** 2)))}
    out["by_yaw"] = bins
    lo_m, hi_m = yaw < 30, yaw >= 60
    out["sigma_ratio_60_vs_30"] = (float(sd_total[hi_m].mean() / sd_total[lo_m].mean())
                                   if lo_m.any() and hi_m.any() else None)
    out["_plot"] = {"abs_yaw": yaw, "sigma_deg": sd_total, "error_deg": geo}
    return out


def fit(model: Any, calib: str, calib_real: list[str], device: Any,
        before: CovarianceParams | None = None) -> tuple[CovarianceParams, dict[str, Any]]:
    """Fitted covariance constants (starting from ``before``'s model constants) and what they
    were fitted on."""
    meta_cov = before if before is not None else CovarianceParams()
    uncal = CovarianceParams.from_dict({**meta_cov.to_dict(), "scale": (1.0,) * 6,
                                        "rot_head_scale": (1.0,) * 3, "calibrated": False})
    name, ds = open_set(calib, model)
    pred = predict(model, ds, device)
    # translation (and, without the head, the constant rotation): on metric synthetic labels
    errors = pose_errors(pred["R"], pred["T"], pred["gt_R"], pred["gt_T"])
    fitted = calibrate(errors, covariances(pred, uncal, per_face=False), uncal,
                       note=f"translation fitted on {len(errors)} samples of {name}")
    info: dict[str, Any] = {"translation": {"set": name, "n": int(len(errors))}}
    if "rot_logvar" in pred:
        d_head, logvar, used = [head_frame_errors(pred["R"], pred["gt_R"])], [pred["rot_logvar"]], \
            [{"set": name, "n": int(len(errors))}]
        rots, d_cams = [pred["R"]], [rotation_error_vector(pred["R"], pred["gt_R"])]
        for spec in calib_real:
            rn, rds = open_set(spec, model)
            rp = predict(model, rds, device)
            d_head.append(head_frame_errors(rp["R"], rp["gt_R"]))
            logvar.append(rp["rot_logvar"])
            rots.append(rp["R"])
            d_cams.append(rotation_error_vector(rp["R"], rp["gt_R"]))
            used.append({"set": rn, "n": int(len(rp["R"]))})
        k = calibrate_rotation_scale(np.concatenate(d_head), np.concatenate(logvar))
        # then the published camera axes: S_r so that each one covers the target on the pooled
        # calibration sets (the head-axis shape is kept; S_r R Sigma_h R^T S_r stays PD)
        d_cam = np.concatenate(d_cams)
        cam_var = np.diagonal(rotation_covariance(np.concatenate(rots), np.concatenate(logvar),
                                                  k), axis1=-2, axis2=-1)
        s_r = np.maximum(np.quantile(np.abs(d_cam) / np.sqrt(cam_var), ONE_SIGMA_COVERAGE,
                                     axis=0), 1e-6)
        d = fitted.to_dict()
        d["rot_head_scale"] = list(k)
        d["scale"] = [*d["scale"][:3], *(float(x) for x in s_r)]
        d["calibration_note"] = (f"{d['calibration_note']}; per-face rotation sigmas scaled on "
                                 + " + ".join(f"{u['n']} of {u['set']}" for u in used))
        fitted = CovarianceParams.from_dict(d)
        info["rotation"] = {"sets": used, "rot_head_scale": list(k),
                            "camera_axis_scale": [float(x) for x in s_r],
                            "target_1sigma": ONE_SIGMA_COVERAGE}
    else:
        info["rotation"] = {"sets": [{"set": name, "n": int(len(errors))}],
                            "note": "no uncertainty head: constant per-axis rotation sigmas"}
    return fitted, info


def write_plot(path: str, sets: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    edges = np.arange(0, 95, 10)
    for name, rep in sets.items():
        p = rep["rotation"]["_plot"]
        idx = np.digitize(p["abs_yaw"], edges) - 1
        xs, sig, err = [], [], []
        for b in range(len(edges) - 1):
            m = idx == b
            if m.sum() >= 5:
                xs.append(edges[b] + 5)
                sig.append(p["sigma_deg"][m].mean())
                err.append(np.sqrt(np.mean(p["error_deg"][m] ** 2)))
        axes[0].plot(xs, sig, "o-", label=f"{name}: predicted sigma")
        axes[0].plot(xs, err, "x--", label=f"{name}: RMS error")
        axes[1].scatter(p["sigma_deg"], p["error_deg"], s=3, alpha=0.3, label=name)
    axes[0].set_xlabel("|yaw| (deg, ground truth)")
    axes[0].set_ylabel("deg")
    axes[0].set_title("rotation sigma (sqrt trace) vs |yaw|")
    axes[0].legend(fontsize=6)
    axes[1].set_xlabel("predicted sigma (deg)")
    axes[1].set_ylabel("geodesic error (deg)")
    axes[1].set_title("per-face error vs predicted sigma")
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="checkpoint to calibrate")
    ap.add_argument("--calib", required=True, help="synthetic calibration set (labels.npz dir)")
    ap.add_argument("--calib-real", action="append", default=[],
                    help="held-out real set for the rotation sigmas: aflw_crops:ROOT:LABELS")
    ap.add_argument("--out", required=True, help="calibrated checkpoint to write")
    ap.add_argument("--report", action="append", default=[],
                    help="report set: DIR (synthetic), synthetic:DIR, biwi_crops:ROOT, "
                         "aflw_crops:ROOT:LABELS")
    ap.add_argument("--json", default="", help="write the coverage report here")
    ap.add_argument("--plot", default="", help="sigma vs |yaw| plot (PNG)")
    ap.add_argument("--fp16", action="store_true", help="store the weights as float16")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    import torch

    from head_pose_ros.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    device = torch.device(args.device)
    try:
        model, info = load_checkpoint(args.weights, device=device)
    except CheckpointError as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 2
    meta = dict(info.get("meta", {}))
    try:
        fitted, fit_info = fit(model, args.calib, args.calib_real, device,
                               CovarianceParams.from_dict(meta.get("covariance")))
        meta["covariance"] = fitted.to_dict()
        save_checkpoint(args.out, model, meta, fp16=args.fp16)
        print(f"calibrated: scales {[round(s, 3) for s in fitted.scale]}, rotation head scales "
              f"{[round(s, 3) for s in fitted.rot_head_scale]} ({fitted.calibration_note})")
        report: dict[str, Any] = {"weights": str(args.weights), "calibration": fit_info,
                                  "scale": fitted.scale, "rot_head_scale": fitted.rot_head_scale,
                                  "per_face_rotation": "rot_head_scale" in fit_info["rotation"],
                                  "sets": {}}
        calib_names = {u["set"] for u in fit_info["rotation"]["sets"]}
        for spec in args.report:
            name, ds = open_set(spec, model)
            pred = predict(model, ds, device)
            covs = covariances(pred, fitted)
            e = pose_errors(pred["R"], pred["T"], pred["gt_R"], pred["gt_T"])
            cov_axes = coverage_report(e, covs)
            if not getattr(ds, "metric_translation", True):
                cov_axes = {a: v for a, v in cov_axes.items() if a.startswith("rot")}
            rep = {"n": int(len(e)), "coverage": cov_axes,
                   "rotation": rotation_report(pred, e, covs, fitted),
                   "in_calibration": name in calib_names}
            report["sets"][name] = rep
            j = rep["rotation"]["joint_chi2_3dof"]
            print(f"{name} (n={len(e)}{', in calibration' if rep['in_calibration'] else ''}): "
                  "1/2-sigma % " + ", ".join(f"{a} {100 * v['1sigma']:.1f}/{100 * v['2sigma']:.1f}"
                                              for a, v in cov_axes.items())
                  + f"; joint chi2 {100 * j['1sigma']:.1f}/{100 * j['2sigma']:.1f}; sigma "
                  f"ratio |yaw|>60 vs <30: {rep['rotation']['sigma_ratio_60_vs_30']}")
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"calibrate: error: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        write_plot(args.plot, report["sets"])
    for rep in report["sets"].values():
        rep["rotation"].pop("_plot", None)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
