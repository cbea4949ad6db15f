"""Plots of one evaluation (``head-pose-eval --plots``): error vs distance, vs yaw, and the
cumulative error curves (PNG, matplotlib with the Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_plots"]


def write_plots(res: Any, out_dir: str | Path, title: str = "") -> list[Path]:
    """Error vs distance, error vs yaw, cumulative error curves (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    e, m = res.errors, res.meta
    paths = []
    series = [("ge", "GE (deg)")]
    for k, lab in (("add", "ADD (mm)"), ("tz", "tz error (mm)")):
        if k in e:
            series.append((k, lab))

    def binned(ax, x, y, label, bins=10):
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        ax.scatter(x, y, s=4, alpha=0.3)
        if len(x) > 1:
            edges = np.linspace(x.min(), x.max() + 1e-9, bins + 1)
            idx = np.digitize(x, edges) - 1
            cx = [(edges[b] + edges[b + 1]) / 2 for b in range(bins) if np.any(idx == b)]
            my = [np.median(y[idx == b]) for b in range(bins) if np.any(idx == b)]
            ax.plot(cx, my, "r-o", ms=3, label="median")
            ax.legend()
        ax.set_ylabel(label)

    for xkey, xlabel, fname in (("gt_distance_m", "GT distance (m)", "error_vs_distance.png"),
                                ("gt_yaw_deg", "GT yaw (deg)", "error_vs_yaw.png")):
        x = m.get(xkey)
        if x is None or not np.isfinite(x).any():
            continue
        fig, axes = plt.subplots(len(series), 1, figsize=(6, 2.6 * len(series)), squeeze=False)
        for ax, (k, lab) in zip(axes[:, 0], series, strict=True):
            binned(ax, x, e[k], lab)
        axes[-1, 0].set_xlabel(xlabel)
        fig.suptitle(title)
        fig.tight_layout()
        p = out / fname
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), squeeze=False)
    for ax, (k, lab) in zip(axes[0], series, strict=True):
        v = np.sort(e[k][np.isfinite(e[k])])
        ax.plot(v, np.arange(1, len(v) + 1) / max(len(v), 1))
        ax.set_xlabel(lab)
        ax.set_ylabel("fraction of samples")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    p = out / "cumulative_errors.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths
