"""head-pose-bench: report structure and numerical equivalence of the optimised CPU variants.

No timing assertions: the machine is shared. The equivalence tolerances are set here,
independently of the bench's own ``TOL_FP32``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from head_pose_ros.bench.frames import face_photo, make_frame  # noqa: E402
from head_pose_ros.bench.model import (  # noqa: E402
    RANDOM_INIT_OVERRIDES,
    ModelSpec,
    max_abs_diffs,
    run_compile_variant,
    to_numpy,
)
from head_pose_ros.bench.node import bench_node, bench_node_inputs  # noqa: E402
from head_pose_ros.bench.targets import format_targets, target_checks  # noqa: E402
from head_pose_ros.cli import bench  # noqa: E402

# R/correction unitless, T/vertices metres, vertices_img/landmarks68 crop pixels
TOL = {"R": 1e-4, "T": 1e-4, "correction": 1e-4, "vertices": 1e-4, "vertices_img": 0.05,
       "landmarks68": 0.01}
CPU_VARIANTS = ("eager_fp32", "inference_mode", "channels_last", "onnxruntime")
TIMING_KEYS = ("median_ms", "p90_ms", "faces_per_s")


def _need(shared_data: Path) -> None:
    for rel in ("face_model/arkit1220", "real/lfpw_image_0010",
                "detector/face_detection_yunet_2023mar.onnx"):
        if not (shared_data / rel).exists():
            pytest.skip(f"shared data missing: {rel}")


@pytest.mark.slow
def test_quick_cpu_report_and_equivalence(tmp_path: Path, shared_data: Path, capsys) -> None:
    _need(shared_data)
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    rc = bench.main(["--quick", "--threads", "1", "--skip", "compile", "--no-node",
                     "--shared-data", str(shared_data), "--json", str(out), "--markdown", str(md)])
    assert rc == 0
    assert "| onnxruntime |" in md.read_text()
    assert "| onnxruntime_int8 |" in md.read_text()
    text = capsys.readouterr()
    assert "RANDOMLY INITIALISED" in text.err
    assert "MODEL ONLY" in text.out and "END TO END" in text.out
    rep = json.loads(out.read_text())
    assert {"machine", "model", "settings", "model_only", "end_to_end", "node"} <= set(rep)
    assert rep["model"]["random_init"] is True
    batches = rep["settings"]["batches"]
    assert batches == [1, 4]

    mo = rep["model_only"]
    assert set(CPU_VARIANTS) <= set(mo)
    for name in CPU_VARIANTS:
        r = mo[name]
        assert "skipped" not in r, f"{name}: {r.get('skipped')}"
        for b in batches:
            assert all(r[f"batch_{b}"][k] > 0 for k in TIMING_KEYS)
            assert r["speedup"][f"batch_{b}"] > 0
        assert set(r["max_abs_diff"]) == set(TOL)
        for k, d in r["max_abs_diff"].items():
            assert d <= TOL[k], f"{name} {k}: {d:.3g} > {TOL[k]}"
        assert r["equivalent"] is True
    assert all(v == 0.0 for v in mo["eager_fp32"]["max_abs_diff"].values())
    int8 = mo["onnxruntime_int8"]  # not judged on random inputs, but measured and not fp32
    assert "skipped" not in int8, int8.get("skipped")
    assert int8["equivalent"] is None and int8["max_abs_diff"]["R"] > 0
    assert all(int8["speedup"][f"batch_{b}"] > 0 for b in batches)

    e2e = rep["end_to_end"]
    assert e2e["detector"] == "yunet"
    assert {"eager_fp32", "per_face_loop", "onnxruntime"} <= set(e2e["variants"])
    for name, cases in e2e["variants"].items():
        assert set(cases) == {"640x480_1face", "640x480_4face"}, name
        for case, r in cases.items():
            # the tiled real face is found by YuNet in every frame
            assert r["faces_found_min"] == r["faces_found_max"] == r["faces_expected"], case
            assert r["median_ms"] > 0 and set(r["stages_median_ms"]) == {
                "decode", "detect", "estimate"}
    for name, d in e2e["equivalence"].items():
        assert d["R"] <= 1e-4 and d["T"] <= 1e-4 and d["vertices_cam"] <= 1e-4, name
        assert d["landmarks68"] <= 0.05, name
    assert rep["node"] == {"skipped": "--no-node"}
    # quick runs have no 1080p frames: that CPU target is reported as not measured
    status = {t["target"].split(",")[1].strip(): t["status"] for t in rep["targets"]
              if t["target"].startswith("end to end")}
    assert status["1920x1080"] == "not measured"
    assert status["640x480"] in ("met", "not met")
    assert "TARGETS" in text.out
    # pipeline section: detector every frame vs following, per-stage times, the memory run
    pipe = rep["pipeline"]["modes"]
    assert set(pipe) == {"detect_every_frame", "following"}
    for mode, cases in pipe.items():
        assert set(cases) == {"640x480_1face", "640x480_4face"}, mode
        for case, r in cases.items():
            assert r["faces_found_min"] == r["faces_found_max"] == r["faces_expected"], case
            assert set(r["stages_median_ms"]) == {"decode", "detect", "crop", "infer", "post"}
            assert r["stages_mean_ms"]["infer"] > 0
    assert pipe["detect_every_frame"]["640x480_1face"]["detector_share"] == 1.0
    # (a random-init model has no landmark fit: it may lose the face on every frame)
    assert 0.0 < pipe["following"]["640x480_1face"]["detector_share"] <= 1.0
    assert pipe["following"]["640x480_1face"]["speedup"] > 0
    mem = rep["memory"]
    assert mem["frames"] == 200 and mem["start_mb"] > 0 and mem["end_mb"] > 0
    assert "| following | 640x480_1face |" in md.read_text()
    names = [t["target"] for t in rep["targets"]]
    assert any(n.startswith("pipeline, following, 640x480, 1 face") for n in names)


def _report(device: str, backbone: str, frames_ms: dict[str, float],
            faces_per_s: float, equivalent: bool = True) -> dict:
    return {
        "machine": {"device": device},
        "model": {"config": {"backbone": backbone}},
        "model_only": {"eager_fp32": {"equivalent": True, "batch_32": {"faces_per_s": 100.0}},
                       "fast": {"equivalent": equivalent,
                                "batch_32": {"faces_per_s": faces_per_s}},
                       "compile": {"skipped": "time box"}},
        "end_to_end": {"variants": {"eager_fp32": {k: {"median_ms": 2 * v}
                                                   for k, v in frames_ms.items()},
                                    "fast": {k: {"median_ms": v}
                                             for k, v in frames_ms.items()}}},
    }


def test_target_checks_gpu() -> None:
    met = target_checks(_report("cuda", "resnet18", {"1920x1080_2face": 4.0}, 1500.0))
    assert [t["status"] for t in met] == ["met", "met"]
    assert met[0]["measured"] == 4.0 and met[0]["variant"] == "fast"
    slow = target_checks(_report("cuda", "resnet18", {"1920x1080_2face": 6.0}, 900.0))
    assert [t["status"] for t in slow] == ["not met", "not met"]
    # a variant that is not equivalent to the baseline does not count
    bad = target_checks(_report("cuda", "resnet18", {}, 5000.0, equivalent=False))
    assert bad[0]["status"] == "not measured"
    assert bad[1]["measured"] == 100.0 and bad[1]["status"] == "not met"


def test_target_checks_cpu_depend_on_the_backbone() -> None:
    frames = {"640x480_1face": 50.0, "1920x1080_1face": 20.0}  # 20 / 50 frames/s
    r18 = target_checks(_report("cpu", "resnet18", frames, 0.0))
    assert [t["status"] for t in r18[:2]] == ["met", "met"]
    # no pipeline / memory / node section in this report: those targets are not measured
    assert {t["status"] for t in r18[2:]} == {"not measured"}
    mob = target_checks(_report("cpu", "mobilenet", frames, 0.0))[:2]
    assert [t["status"] for t in mob] == ["not met", "met"]
    assert mob[0]["measured"] == pytest.approx(20.0)
    assert format_targets({"targets": mob})[0].endswith("-> not met")


def test_frames_hold_the_requested_faces(shared_data: Path) -> None:
    _need(shared_data)
    patch, lm = face_photo(shared_data)
    for size in ((640, 480), (1920, 1080)):
        for n in (1, 2, 4):
            frame, boxes = make_frame(patch, lm, size, n)
            assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8
            assert boxes.shape == (n, 4)
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= size[0]).all()
            assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= size[1]).all()
            # the faces do not overlap
            for i in range(n):
                for j in range(i + 1, n):
                    a, b = boxes[i], boxes[j]
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    with pytest.raises(ValueError):
        make_frame(patch, lm, (640, 480), 3)


@pytest.mark.slow
def test_compile_variant_matches_eager(shared_data: Path) -> None:
    if not (shared_data / "face_model" / "arkit1220").is_dir():
        pytest.skip("shared data (arkit1220) missing")
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile (inductor, CPU) needs a C++ compiler")
    import torch

    from head_pose_ros.onnx_export import ExportWrapper, example_inputs

    spec = ModelSpec(None, None, 0, dict(RANDOM_INIT_OVERRIDES))
    # one shape only (batch 3 = the check batch) keeps this to one compilation
    res = run_compile_variant(spec, [3], warmup=0, repeats=1, threads=1, device="cpu",
                                    check_batch=3, timeout_s=480)
    assert "skipped" not in res, res.get("skipped")
    model = spec.build()
    with torch.no_grad():
        ref = to_numpy(ExportWrapper(model)(*example_inputs(3, 192, seed=1)))
    diffs = max_abs_diffs(res["_check_outputs"], ref)
    for k, d in diffs.items():
        assert d <= TOL[k], f"compile {k}: {d:.3g} > {TOL[k]}"


@pytest.mark.slow
@pytest.mark.ros
def test_node_latency_over_dds(shared_data: Path) -> None:
    _need(shared_data)
    args = bench.build_parser().parse_args(["--quick", "--shared-data", str(shared_data)])
    model = ModelSpec(None, None, 0, dict(RANDOM_INIT_OVERRIDES)).build()
    res = bench_node(args, model, shared_data, quick=True)
    assert "skipped" not in res, res.get("skipped")
    r = res["640x480_1face"]
    assert r["n"] == 3 and r["median_ms"] > 0


@pytest.mark.slow
@pytest.mark.ros
def test_node_raw_vs_compressed_input(shared_data: Path) -> None:
    """Issue 13 item 5: the node section compares raw and compressed (JPEG) input at 1280x720."""
    _need(shared_data)
    args = bench.build_parser().parse_args(["--quick", "--shared-data", str(shared_data)])
    model = ModelSpec(None, None, 0, dict(RANDOM_INIT_OVERRIDES)).build()
    res = bench_node_inputs(args, model, shared_data, quick=True, backend="onnxruntime")
    assert res["size"] == "1280x720", res
    for t in ("raw", "compressed"):
        r = res[t]
        assert "skipped" not in r, r
        assert "image_transport:=" + t in r["command"]
        assert r["serial"]["n"] == 3 and r["serial"]["median_ms"] > 0
        assert r["stream"]["answered"] > 0 and r["stream"]["output_fps"] > 0
    assert res["compressed"]["topic"] == "/image/compressed"
    assert res["compressed"]["format"] == "bgr8; jpeg compressed bgr8"
    assert res["compressed"]["bytes_per_frame"] < 0.2 * res["raw"]["bytes_per_frame"]


def test_report_tables_show_every_section() -> None:
    """Text and Markdown tables of a hand-made report: model, end-to-end and node rows, a
    skipped node run, the targets."""
    from head_pose_ros.bench.report import format_markdown, format_report

    stats = {"median_ms": 10.0, "p90_ms": 12.0, "min_ms": 9.0, "n": 3}
    diff = {"R": 0.0, "T": 0.0, "landmarks68": 0.0}
    frame = {**stats, "fps": 100.0, "speedup": 1.0, "faces_expected": 1, "faces_found_min": 1,
             "faces_found_max": 1,
             "stages_median_ms": {"decode": 1.0, "detect": 2.0, "estimate": 7.0}}
    rep = {
        "machine": {"cpu": "test cpu", "cpu_count_affinity": 2, "torch_threads": 1,
                    "device": "cpu", "torch": "x"},
        "model": {"description": "random"},
        "settings": {"batches": [1], "warmup": 1, "repeats": 3},
        "model_only": {"eager_fp32": {"batch_1": {**stats, "faces_per_s": 100.0},
                                      "speedup": {"batch_1": 1.0}, "max_abs_diff": diff,
                                      "equivalent": True},
                       "compile": {"skipped": "time box"}},
        "end_to_end": {"detector": "yunet", "variants": {"eager_fp32": {"640x480_1face": frame}},
                       "equivalence": {"eager_fp32": {**diff, "vertices_cam": 0.0}}},
        "node": {"runs": {"onnxruntime": {"backend": "onnxruntime", "transport": "shm",
                                          "command": "node --ros-args",
                                          "640x480_1face": {**stats, "unanswered_warmup": 0,
                                                            "unanswered_timed": 1}},
                          "torch": {"skipped": "no ROS"}}},
        "targets": [{"target": "t", "measured": 100.0, "unit": "frames/s", "variant": "v",
                     "status": "met"}],
    }
    text = format_report(rep)
    assert "NODE (DDS image -> heads) backend:=onnxruntime (ran onnxruntime) 640x480_1face: " \
           "median 10.0 ms" in text
    assert "backend:=torch: skipped: no ROS" in text
    assert "eager_fp32     640x480_1face    median    10.0" in text and "TARGETS" in text
    md = format_markdown(rep)
    assert "| onnxruntime (onnxruntime) | 640x480_1face | 10.0 | 12.0 | 3 | 0 / 1 |" in md
    assert "| torch | skipped: no ROS |" in md and "| compile | skipped: time box |" in md
    assert "- t: 100.0 frames/s (v) -> met" in md
    inp = {"bytes_per_frame": 2764800, "backend": "onnxruntime",
           "serial": {**stats, "unanswered_warmup": 0, "unanswered_timed": 0},
           "stream": {"sent": 300, "answered": 150, "stream_hz": 30.0, "seconds": 10.0,
                      "output_fps": 15.0, "latency_under_load": stats}}
    rep["node"]["inputs"] = {"size": "1280x720", "backend": "onnxruntime", "raw": inp,
                             "compressed": {**inp, "bytes_per_frame": 140000}}
    text = format_report(rep)
    assert "NODE INPUT 1280x720 raw (2.76 MB/frame, backend onnxruntime): serial median 10.0 ms" \
        in text and "30 Hz stream: 15.0 fps out, 150/300 answered" in text
    md = format_markdown(rep)
    assert "| raw | 2.76 MB | 10.0 | 12.0 | 15.0 | 150/300 | 10.0 |" in md
    assert "| compressed | 0.14 MB | 10.0 | 12.0 | 15.0 | 150/300 | 10.0 |" in md
    rep["node"] = {"skipped": "--no-node"}
    assert "NODE (DDS image -> heads): skipped: --no-node" in format_report(rep)
    assert "Node over DDS: skipped (--no-node)." in format_markdown(rep)


def test_following_targets_read_the_pipeline_memory_and_node_sections() -> None:
    rep = _report("cpu", "resnet18", {}, 0.0)
    fast = {"fps": 70.0, "speedup": 2.0}
    rep["pipeline"] = {"modes": {"following": {"640x480_1face": fast,
                                               "640x480_4face": {"fps": 25.0},
                                               "1920x1080_1face": {"fps": 55.0}}}}
    rep["memory"] = {"frames": 10000, "growth_second_half_mb": 0.4}
    rep["node"] = {"runs": {"onnxruntime": {"640x480_1face": {"median_ms": 18.0}},
                            "torch": {"skipped": "x"}}}
    got = {t["target"]: t["status"] for t in target_checks(rep)[2:]}
    assert list(got.values()) == ["met", "met", "not met", "met", "met", "met"]


def test_cuda_without_a_gpu_is_one_clear_line(monkeypatch) -> None:
    from head_pose_ros.bench import runner

    monkeypatch.setattr(runner.torch.cuda, "is_available", lambda: False)
    args = bench.build_parser().parse_args(["--device", "cuda", "--quick"])
    with pytest.raises(SystemExit) as exc:
        runner.run_bench(args)
    msg = str(exc.value)
    assert msg.startswith("error: --device cuda: CUDA is not available") and "\n" not in msg
    assert "--device cpu" in msg


def test_ort_options_table() -> None:
    from head_pose_ros.bench.ort_options import format_ort_options, option_sets

    assert set(option_sets(None)) == {"disable_t1", "basic_t1", "extended_t1", "all_t1",
                                      "all_t2", "all_t2_spin"}
    assert "int8_all_t1" in option_sets("m.onnx")
    st = {"median_ms": 10.0, "p90_ms": 11.0, "speedup": 1.0}
    rep = {"ort_options": {"reference": "all_t1", "runs": {
        "all_t1": {"batch_1": st, "batch_8": st},
        "disable_t1": {"batch_1": {**st, "median_ms": 20.0, "speedup": 0.5}, "batch_8": st}}}}
    lines = format_ort_options(rep)
    assert "| disable_t1 | 20.0 (11.0) | 10.0 (11.0) | 0.50 | 1.00 |" in lines
    assert format_ort_options({}) == []


def test_gpu_check_script_refuses_without_a_gpu_in_one_line(tmp_path: Path) -> None:
    import subprocess

    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script would run the whole check")
    script = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"
    res = subprocess.run(["bash", str(script), str(tmp_path / "gpu")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no usable CUDA device")
