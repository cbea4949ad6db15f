"""Does the predicted rotation sigma grow where the estimate gets worse? ``python -m
head_pose_ros.train.sigma_probe --weights W --data biwi_crops:ROOT [--json OUT]``.

Runs the model on held-out crops (any ``train.calibrate`` set spec) as they are and degraded in
four ways, each applied to the normalised model input (the crop the model sees):

* ``blur``: Gaussian blur, sigma = 2.5 % of the crop side (3.2 px at 128 px);
* ``occlusion``: the lower-left quarter of the crop set to the mean colour (a hand, an object);
* ``small``: the crop downsampled to 24 px and back (a face about 16 px wide in the image);
* ``noise``: Gaussian pixel noise, 12 % of the normalised range (a dark, noisy camera).

For each condition: mean predicted sigma (sqrt of the trace of the calibrated per-face rotation
covariance, degrees) and mean geodesic error, and their ratios to the clean crops. Needs a
model with the uncertainty head.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812


def _gauss_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(round(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def degrade(image: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """(B, 3, S, S) normalised crops -> degraded copies (see module doc)."""
    s = image.shape[-1]
    if kind == "clean":
        return image
    if kind == "blur":
        k = _gauss_kernel(0.025 * s)
        n = len(k)
        x = F.conv2d(F.pad(image, (n // 2, n // 2, 0, 0), mode="replicate"),
                     k.view(1, 1, 1, n).repeat(3, 1, 1, 1), groups=3)
        return F.conv2d(F.pad(x, (0, 0, n // 2, n // 2), mode="replicate"),
                        k.view(1, 1, n, 1).repeat(3, 1, 1, 1), groups=3)
    if kind == "occlusion":
        out = image.clone()
        out[..., s // 2:, : s // 2] = 0.0  # 0 = the normalisation mean colour
        return out
    if kind == "small":
        return F.interpolate(F.interpolate(image, size=(24, 24), mode="area"), size=(s, s),
                             mode="bilinear", align_corners=False)
    if kind == "noise":
        g = torch.Generator().manual_seed(seed)
        return image + 0.12 * 4.0 * torch.randn(image.shape, generator=g)
    raise ValueError(f"unknown degradation {kind!r}")


CONDITIONS = ("clean", "blur", "occlusion", "small", "noise")


@torch.no_grad()
def probe(model: Any, ds: Any, params: Any, batch_size: int = 64) -> dict[str, Any]:
    """Mean sigma and error per condition; ``params``: the checkpoint's CovarianceParams (the
    published rotation block: head-axis then camera-axis scales)."""
    from torch.utils.data import DataLoader

    from head_pose_ros.covariance import rotation_block
    from head_pose_ros.metrics import geodesic_deg
    from head_pose_ros.train.evaluate import EvalView, model_inputs

    model.eval()
    rows: dict[str, dict[str, list[np.ndarray]]] = {c: {"sigma": [], "err": []}
                                                   for c in CONDITIONS}
    for batch in DataLoader(EvalView(ds), batch_size=batch_size):
        image, *rest = model_inputs(batch, torch.device("cpu"))
        gt = batch["gt_R"].numpy()
        for c in CONDITIONS:
            out = model(degrade(image, c), *rest)
            if "rot_logvar" not in out:
                raise ValueError("the model has no rotation-uncertainty head")
            R = out["R"][-1].double().numpy()  # noqa: N806
            cov = rotation_block(R, out["rot_logvar"].double().numpy(), params)
            rows[c]["sigma"].append(np.degrees(np.sqrt(np.trace(cov, axis1=-2, axis2=-1))))
            rows[c]["err"].append(geodesic_deg(R, gt))
    res: dict[str, Any] = {}
    for c in CONDITIONS:
        sig, err = np.concatenate(rows[c]["sigma"]), np.concatenate(rows[c]["err"])
        res[c] = {"mean_sigma_deg": float(sig.mean()), "mean_error_deg": float(err.mean())}
    for c in CONDITIONS:
        res[c]["sigma_ratio"] = res[c]["mean_sigma_deg"] / res["clean"]["mean_sigma_deg"]
        res[c]["error_ratio"] = res[c]["mean_error_deg"] / res["clean"]["mean_error_deg"]
    res["n"] = len(ds)
    return res


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.checkpoint import CheckpointError, load_checkpoint
    from head_pose_ros.covariance import CovarianceParams
    from head_pose_ros.train.calibrate import open_set

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", action="append", required=True,
                    help="set spec as for train.calibrate --report (repeatable)")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    try:
        model, info = load_checkpoint(args.weights)
        cov = CovarianceParams.from_dict(info.get("meta", {}).get("covariance"))
        out: dict[str, Any] = {"weights": str(args.weights), "sets": {}}
        for spec in args.data:
            name, ds = open_set(spec, model)
            r = probe(model, ds, cov)
            out["sets"][name] = r
            print(f"{name} (n={r['n']}): " + "; ".join(
                f"{c}: sigma {r[c]['mean_sigma_deg']:.2f} (x{r[c]['sigma_ratio']:.2f}), error "
                f"{r[c]['mean_error_deg']:.2f} (x{r[c]['error_ratio']:.2f})" for c in CONDITIONS))
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"sigma_probe: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
