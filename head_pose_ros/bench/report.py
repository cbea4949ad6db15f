"""The machine a report was measured on, and a report as plain-text and Markdown tables (the
Markdown is what docs/BENCHMARKS.md shows)."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from head_pose_ros.bench.targets import format_targets
from head_pose_ros.bench.timing import BASELINE, timed_cases


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1


def machine_info(device: str, threads: int) -> dict[str, Any]:
    """CPU, GPU, library versions and load average at the start of a run."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "cpu": _cpu_name(),
        "cpu_count_affinity": usable_cores(), "torch_threads": threads, "device": device,
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    with contextlib.suppress(OSError):
        info["load_avg_at_start"] = list(os.getloadavg())
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def equivalence(r: dict[str, Any]) -> str:
    """A model-only row's equivalence cell: yes / NO, or "int8" for a row that is not checked
    on random inputs (its accuracy cost: ``python -m head_pose_ros.quantize``)."""
    if r["equivalent"] is None:
        return "int8 (cost: head_pose_ros.quantize)"
    return "yes" if r["equivalent"] else "NO"


def node_lines(node: dict[str, Any], skipped: Callable[[str, str], str],
               row: Callable[[str, dict[str, Any], str, dict[str, Any]], str],
               header: Callable[[dict[str, Any]], list[str]] = lambda runs: []) -> list[str]:
    """The node section: ``skipped("", reason)`` when it did not run, else ``header(runs)``
    then per run ``skipped(backend, reason)`` or ``row(backend, run, case, stats)`` per timed
    case of the run."""
    if "skipped" in node:
        return [skipped("", node["skipped"])]
    runs = node.get("runs", {})
    out: list[str] = header(runs) if runs else []
    for want, run in runs.items():
        if "skipped" in run:
            out.append(skipped(want, run["skipped"]))
        else:
            out += [row(want, run, case, r) for case, r in timed_cases(run)]
    return out


def input_rows(node: dict[str, Any]) -> list[tuple[str, dict[str, Any] | str]]:
    """``(transport, run or skip reason)`` of the node section's raw vs compressed comparison."""
    inputs = node.get("inputs") or {}
    if "skipped" in inputs:
        return [("-", inputs["skipped"])]
    return [(t, inputs[t].get("skipped") or inputs[t]) for t in ("raw", "compressed")
            if t in inputs]


def _input_cells(r: dict[str, Any]) -> tuple[str, ...]:
    se, st = r["serial"], r["stream"]
    load = st.get("latency_under_load", {})
    return (f"{r['bytes_per_frame'] / 1e6:.2f} MB", f"{se['median_ms']:.1f}", f"{se['p90_ms']:.1f}",
            f"{st['output_fps']:.1f}", f"{st['answered']}/{st['sent']}",
            f"{load['median_ms']:.1f}" if load else "-")


def input_lines_text(node: dict[str, Any]) -> list[str]:
    inputs = node.get("inputs") or {}
    out = []
    for t, r in input_rows(node):
        head = f"NODE INPUT {inputs.get('size', '')} {t}"
        if isinstance(r, str):
            out.append(f"{head}: skipped: {r}")
            continue
        size, med, p90, fps, answered, load = _input_cells(r)
        out.append(f"{head} ({size}/frame, backend {r.get('backend')}): serial median {med} ms, "
                   f"p90 {p90} ms; {r['stream']['stream_hz']:.0f} Hz stream: {fps} fps out, "
                   f"{answered} answered, latency under load {load} ms")
    return out


def input_lines_markdown(node: dict[str, Any]) -> list[str]:
    rows = input_rows(node)
    if not rows:
        return []
    inputs = node.get("inputs") or {}
    hz = next((r["stream"]["stream_hz"] for _, r in rows if not isinstance(r, str)), 30.0)
    out = ["", f"Node input, {inputs.get('size', '')} raw `sensor_msgs/Image` vs image_transport "
           f"`compressed` JPEG (one node each, backend {inputs.get('backend')}; serial = publish, "
           f"wait for the pose; stream = {hz:.0f} Hz camera):", "",
           "| input | bytes/frame | serial median ms | serial p90 ms | stream fps out | "
           "answered | stream latency median ms |", "|---|---|---|---|---|---|---|"]
    for t, r in rows:
        if isinstance(r, str):
            out.append(f"| {t} | skipped: {r} |")
        else:
            out.append(f"| {t} | " + " | ".join(_input_cells(r)) + " |")
    return out


def extra_lines(rep: dict[str, Any]) -> list[str]:
    """The pipeline, memory and ONNX Runtime options sections (Markdown, read as text too)."""
    from head_pose_ros.bench.ort_options import format_ort_options
    from head_pose_ros.bench.pipeline import format_pipeline

    return format_pipeline(rep) + format_ort_options(rep)


def format_report(rep: dict[str, Any]) -> str:
    """Plain-text tables of a bench report."""
    lines = []
    m = rep["machine"]
    lines.append(f"machine: {m['cpu']} | {m['torch_threads']} torch threads | device "
                 f"{m['device']}{' (' + m['gpu'] + ')' if 'gpu' in m else ''} | torch {m['torch']}")
    mod = rep["model"]
    lines.append(f"model: {mod['description']}")
    batches = rep["settings"]["batches"]
    lines.append("")
    lines.append("MODEL ONLY (ms per call; faces/s = batch / median; x = speed-up vs "
                 f"{BASELINE} at the same batch)")
    hdr = f"{'variant':<18}" + "".join(
        f"{'b' + str(b) + ' med':>10}{'p90':>8}{'x':>6}" for b in batches
    ) + f"{'faces/s@' + str(batches[-1]):>14}  {'max|diff| vs baseline':<28}ok"
    lines.append(hdr)
    for name, r in rep["model_only"].items():
        if "skipped" in r:
            lines.append(f"{name:<18}skipped: {r['skipped']}")
            continue
        row = f"{name:<18}"
        for b in batches:
            t = r[f"batch_{b}"]
            row += f"{t['median_ms']:>10.1f}{t['p90_ms']:>8.1f}{r['speedup'][f'batch_{b}']:>6.2f}"
        row += f"{r[f'batch_{batches[-1]}']['faces_per_s']:>14.1f}  "
        d = r["max_abs_diff"]
        row += (f"R {d['R']:.1e} T {d['T']:.1e} lm {d['landmarks68']:.1e}"
                f"  {equivalence(r)}")
        lines.append(row)
    e2e = rep.get("end_to_end", {})
    lines.append("")
    if "skipped" in e2e:
        lines.append(f"END TO END: skipped: {e2e['skipped']}")
    else:
        lines.append(f"END TO END per frame (decode JPEG + detect [{e2e.get('detector')}] + "
                     "estimator.predict), ms")
        for vname, v in e2e.get("variants", {}).items():
            for case, r in timed_cases(v):
                s = r["stages_median_ms"]
                lines.append(
                    f"  {vname:<15}{case:<16} median {r['median_ms']:7.1f}  p90 {r['p90_ms']:7.1f}"
                    f"  {r['fps']:6.1f} fps  x{r.get('speedup', 1.0):.2f}  [decode "
                    f"{s['decode']:.1f} detect {s['detect']:.1f} estimate {s['estimate']:.1f}] "
                    f"faces {r['faces_found_min']}-{r['faces_found_max']}/{r['faces_expected']}")
        for vname, d in e2e.get("equivalence", {}).items():
            lines.append(f"  estimate diff {vname:<15} R {d['R']:.1e} T {d['T']:.1e} m  "
                         f"vertices_cam {d['vertices_cam']:.1e} m  lm68 {d['landmarks68']:.1e} px")
    lines.append("")
    lines += extra_lines(rep)
    lines.append("")
    lines += node_lines(
        rep.get("node", {}), lambda want, why: "NODE (DDS image -> heads)"
        + (f" backend:={want}" if want else "") + f": skipped: {why}",
        lambda want, run, case, r: f"NODE (DDS image -> heads) backend:={want} (ran "
        f"{run.get('backend')}) {case}: median {r['median_ms']:.1f} ms, "
        f"p90 {r['p90_ms']:.1f} ms, {r['n']} frames")
    lines += input_lines_text(rep.get("node", {}))
    if rep.get("targets"):
        lines += ["", f"TARGETS ({rep['machine']['cpu_count_affinity']} usable CPU cores, "
                      f"device {rep['machine']['device']})", *format_targets(rep)]
    return "\n".join(lines)


def format_markdown(rep: dict[str, Any]) -> str:
    """The report as Markdown tables (for docs/BENCHMARKS.md)."""
    m, st = rep["machine"], rep["settings"]
    batches = st["batches"]
    out = [f"- machine: {m['cpu']}, {m['cpu_count_affinity']} usable cores, "
           f"{m['torch_threads']} torch/ORT threads, device {m['device']}"
           f"{' (' + m['gpu'] + ')' if 'gpu' in m else ''}; torch {m['torch']}, onnxruntime "
           f"{m.get('onnxruntime', '-')}; load average at start "
           f"{', '.join(f'{x:.1f}' for x in m.get('load_avg_at_start', []))}, at end "
           f"{', '.join(f'{x:.1f}' for x in m.get('load_avg_at_end', []))}",
           f"- model: {rep['model']['description']}",
           f"- warm-up {st['warmup']}, repeats {st['repeats']} (fewer, >= 10, at batch > 4)",
           "", "Model only: median (p90, min) ms per call, speed-up of the median vs `eager_fp32` "
           "at the same batch, max abs difference vs `eager_fp32` (R; T in m; landmarks68 in "
           "px).", ""]
    head = "| variant | " + " | ".join(f"batch {b} ms (p90, min)" for b in batches) + \
        " | " + " | ".join(f"x @{b}" for b in batches) + \
        f" | faces/s @{batches[-1]} | max abs diff R / T / lm68 | equivalent |"
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rep["model_only"].items():
        if "skipped" in r:
            out.append(f"| {name} | skipped: {r['skipped']} |")
            continue
        d = r["max_abs_diff"]
        out.append(
            f"| {name} | " + " | ".join(
                f"{r[f'batch_{b}']['median_ms']:.1f} ({r[f'batch_{b}']['p90_ms']:.1f}, "
                f"{r[f'batch_{b}']['min_ms']:.1f})"
                for b in batches)
            + " | " + " | ".join(f"{r['speedup'][f'batch_{b}']:.2f}" for b in batches)
            + f" | {r[f'batch_{batches[-1]}']['faces_per_s']:.1f} | {d['R']:.1e} / "
              f"{d['T']:.1e} / {d['landmarks68']:.1e} | {equivalence(r)} |")
    graph = rep.get("onnx_graph")
    if graph:
        out += ["", "ONNX graph of the `onnxruntime` rows (the estimator backend's cache): "
                + (f"exported in {graph['export_s']:.1f} s" if graph["export_s"] is not None
                   else "from the cache") + "."]
    comp = rep["model_only"].get("compile", {})
    if "compile_s" in comp:
        out += ["", "torch.compile time per input shape (s): " + ", ".join(
            f"{k.replace('batch_', 'batch ')}: {v:.0f}" for k, v in comp["compile_s"].items())]
    e2e = rep.get("end_to_end", {})
    out.append("")
    if "skipped" in e2e:
        out.append(f"End to end: skipped ({e2e['skipped']}).")
    else:
        out += [f"End to end per frame (JPEG decode + detection [{e2e['detector']}] + "
                "`HeadPoseEstimator.predict`): median / p90 ms, frames/s, speed-up vs "
                "`eager_fp32`, median stage times.", "",
                "| variant | frame | median ms | p90 ms | frames/s | x | decode | detect | "
                "estimate | faces found |", "|---|---|---|---|---|---|---|---|---|---|"]
        for vname, cases in e2e["variants"].items():
            for case, r in cases.items():
                sm = r["stages_median_ms"]
                out.append(
                    f"| {vname} | {case} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                    f"{r['fps']:.1f} | {r.get('speedup', 1.0):.2f} | {sm['decode']:.1f} | "
                    f"{sm['detect']:.1f} | {sm['estimate']:.1f} | {r['faces_found_min']}-"
                    f"{r['faces_found_max']} of {r['faces_expected']} |")
        out += ["", "Estimates vs `eager_fp32` (4-face 640x480 frame), max abs difference:", "",
                "| variant | R | T (m) | vertices_cam (m) | landmarks68 (px) |",
                "|---|---|---|---|---|"]
        for vname, d in e2e["equivalence"].items():
            out.append(f"| {vname} | {d['R']:.1e} | {d['T']:.1e} | {d['vertices_cam']:.1e} | "
                       f"{d['landmarks68']:.1e} |")
    out.append("")
    out += extra_lines(rep)
    out.append("")

    def node_header(runs: dict[str, Any]) -> list[str]:
        transport = next((r["transport"] for r in runs.values() if "transport" in r), "-")
        return [f"Node over DDS (image published -> `heads` received; {transport}):",
                "", "| backend (logged by the node) | frame | median ms | p90 ms | frames | "
                "unanswered (warm-up / timed) |", "|---|---|---|---|---|---|"]

    out += node_lines(
        rep.get("node", {}), lambda want, why: f"| {want} | skipped: {why} |" if want
        else f"Node over DDS: skipped ({why}).",
        lambda want, run, case, r: f"| {want} ({run.get('backend')}) | {case} | "
        f"{r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['n']} | {r['unanswered_warmup']} / "
        f"{r['unanswered_timed']} |", node_header)
    out += input_lines_markdown(rep.get("node", {}))
    if rep.get("targets"):
        out += ["", "Targets (fastest variant):", "", *format_targets(rep)]
    return "\n".join(out) + "\n"
