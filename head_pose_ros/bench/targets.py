"""The package's speed targets, checked against a bench report."""

from __future__ import annotations

from typing import Any

from head_pose_ros.bench.frames import FRAME_SIZES

#: the package's speed targets (issue 7): GPU: one 1080p frame with 2 faces end to end within
#: 5 ms and >= 1000 faces/s batched (model only); 2 CPU cores, one face end to end: >= 30
#: frames/s with the CPU-sized (mobilenet) backbone, >= 10 with the paper's ResNet18.
GPU_FRAME_MS = 5.0
GPU_FACES_PER_S = 1000.0
CPU_FPS = {"mobilenet": 30.0, "resnet18": 10.0}
#: issue 18 (2 CPU cores, 1 thread per op, the pipeline section): following on, 640x480, 1 face
#: >= 60 frames/s and >= 1.8x the detector on every frame; 4 faces at 640x480 >= 30 frames/s;
#: 1920x1080, 1 face >= 50 frames/s; the node's median latency <= 20 ms; memory flat
FOLLOW_FPS_640_1 = 60.0
FOLLOW_SPEEDUP = 1.8
FOLLOW_FPS_640_4 = 30.0
FOLLOW_FPS_1080_1 = 50.0
NODE_MS = 20.0
#: "flat": the second half of the memory run grows by less than this (MiB)
MEMORY_GROWTH_MB = 5.0


def target_checks(rep: dict[str, Any]) -> list[dict[str, Any]]:
    """The speed targets that apply to this run's device and backbone, each with the best
    measured value (fastest variant; model-only variants only if equivalent to the baseline) and
    ``status``: ``met``, ``not met`` or ``not measured`` (section skipped)."""
    dev = rep["machine"]["device"]
    e2e = rep.get("end_to_end", {}).get("variants", {})
    model_only = rep.get("model_only", {})

    def fastest_frame(case: str) -> tuple[float | None, str]:
        runs = [(r[case]["median_ms"], name) for name, r in e2e.items() if case in r]
        return min(runs) if runs else (None, "")

    def check(name: str, measured: float | None, variant: str, target: float, unit: str,
              higher_is_better: bool) -> dict[str, Any]:
        if measured is None:
            status = "not measured"
        else:
            ok = measured >= target if higher_is_better else measured <= target
            status = "met" if ok else "not met"
        return {"target": name, "threshold": target, "unit": unit, "measured": measured,
                "variant": variant, "status": status}

    out: list[dict[str, Any]] = []
    if dev == "cuda":
        ms, var = fastest_frame("1920x1080_2face")
        out.append(check(f"end to end, 1920x1080, 2 faces <= {GPU_FRAME_MS:g} ms", ms, var,
                         GPU_FRAME_MS, "ms", False))
        best = [(r[k]["faces_per_s"], n) for n, r in model_only.items()
                if "skipped" not in r and r.get("equivalent")
                for k in r if k.startswith("batch_")]
        fps, var = max(best) if best else (None, "")
        out.append(check(f"model only, batched, >= {GPU_FACES_PER_S:g} faces/s", fps, var,
                         GPU_FACES_PER_S, "faces/s", True))
        return out
    backbone = str(rep["model"]["config"].get("backbone", "resnet18"))
    want = CPU_FPS.get(backbone, CPU_FPS["resnet18"])
    for size in FRAME_SIZES:
        ms, var = fastest_frame(f"{size}_1face")
        out.append(check(f"end to end, {size}, 1 face, {backbone}: >= {want:g} frames/s "
                         "(on 2 CPU cores)", None if ms is None else 1e3 / ms, var, want,
                         "frames/s", True))
    return out + following_checks(rep, check)


def following_checks(rep: dict[str, Any], check: Any) -> list[dict[str, Any]]:
    """The issue-18 CPU targets on the pipeline, memory and node sections."""
    fol = rep.get("pipeline", {}).get("modes", {}).get("following", {})

    def fps(case: str) -> float | None:
        return fol[case]["fps"] if case in fol else None

    out = [check("pipeline, following, 640x480, 1 face >= 60 frames/s",
                 fps("640x480_1face"), "following", FOLLOW_FPS_640_1, "frames/s", True),
           check("pipeline, following vs detector every frame, 640x480, 1 face >= 1.8x",
                 fol.get("640x480_1face", {}).get("speedup"), "following", FOLLOW_SPEEDUP, "x",
                 True),
           check("pipeline, following, 640x480, 4 faces >= 30 frames/s", fps("640x480_4face"),
                 "following", FOLLOW_FPS_640_4, "frames/s", True),
           check("pipeline, following, 1920x1080, 1 face >= 50 frames/s",
                 fps("1920x1080_1face"), "following", FOLLOW_FPS_1080_1, "frames/s", True)]
    mem = rep.get("memory", {})
    out.append(check(f"memory flat (second half grows < {MEMORY_GROWTH_MB:g} MiB)",
                     mem.get("growth_second_half_mb"), f"{mem.get('frames', 0)} frames",
                     MEMORY_GROWTH_MB, "MiB", False))
    runs = rep.get("node", {}).get("runs", {})
    best = [(r[c]["median_ms"], b) for b, r in runs.items() if isinstance(r, dict)
            for c in r if isinstance(r[c], dict) and "median_ms" in r[c]]
    ms, var = min(best) if best else (None, "")
    out.append(check(f"node median latency <= {NODE_MS:g} ms", ms, var, NODE_MS, "ms", False))
    return out


def format_targets(rep: dict[str, Any]) -> list[str]:
    """One line per target of :func:`target_checks` (plain text and Markdown alike)."""
    lines = []
    for t in rep.get("targets", []):
        got = "-" if t["measured"] is None else f"{t['measured']:.1f} {t['unit']}"
        lines.append(f"- {t['target']}: {got}"
                     + (f" ({t['variant']})" if t["variant"] else "") + f" -> {t['status']}")
    return lines
