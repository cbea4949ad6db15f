"""The validation curve of a training run: ``python -m head_pose_ros.train.curve``.

``--history RUN/val_history.jsonl`` (one line per validation, written by the trainer) ->
``--plot PNG`` (MAE_r per validation set and, for sets with several |yaw| bins, the bins) and
``--json OUT`` (the same numbers, for docs/RESULTS.md). ``--flat-tol`` reports whether the last
``--flat-window`` validations moved each set's MAE_r by less than that many degrees.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def read_history(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no validations recorded")
    by_step: dict[int, dict[str, Any]] = {}
    for r in rows:  # a resumed run may repeat a step: the last record wins
        by_step[int(r["step"])] = r
    return [by_step[s] for s in sorted(by_step)]


def curve(rows: list[dict[str, Any]], window: int = 3, tol: float = 0.1) -> dict[str, Any]:
    sets = sorted({name for r in rows for name in r["val"]})
    out: dict[str, Any] = {"steps": [r["step"] for r in rows], "sets": {}}
    for name in sets:
        vals = [r["val"].get(name, {}) for r in rows]
        mae = [v.get("mae_r") for v in vals]
        names = sorted({b for v in vals for b in v.get("by_yaw", {})})
        bins = {b: [v.get("by_yaw", {}).get(b) for v in vals] for b in names}
        tail = [m for m in mae[-window:] if m is not None]
        flat = len(tail) == window and max(tail) - min(tail) < tol
        out["sets"][name] = {"mae_r": mae, "by_yaw": bins, "flat": flat}
    out["flat_rule"] = f"last {window} validations within {tol} deg"
    return out


def plot(c: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(c["sets"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        s = c["sets"][name]
        ax.plot(c["steps"], s["mae_r"], "k-o", label="all")
        for b, v in s["by_yaw"].items():
            if any(x is not None for x in v):
                ax.plot(c["steps"], v, "--.", label=f"|yaw| {b}")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel("MAE_r (deg)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", required=True)
    ap.add_argument("--plot", default="")
    ap.add_argument("--json", default="")
    ap.add_argument("--flat-window", type=int, default=3)
    ap.add_argument("--flat-tol", type=float, default=0.1)
    args = ap.parse_args(argv)
    try:
        c = curve(read_history(Path(args.history)), args.flat_window, args.flat_tol)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"curve: error: {e}", file=sys.stderr)
        return 2
    c["history"] = str(args.history)
    for name, s in c["sets"].items():
        print(f"{name}: MAE_r " + " ".join("-" if m is None else f"{m:.2f}" for m in s["mae_r"])
              + (" (flat)" if s["flat"] else ""))
    if args.plot:
        plot(c, Path(args.plot))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(c, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
