"""Node latency with the ROS4HRI output on vs off (issue 17 target: on <= 1.10 x off).

One run: the node executable (:func:`head_pose_ros.bench.node.running_node`: YuNet on every
frame, the package's Fast DDS profile) is started twice on the same 640x480 one-face frame,
once with ``publish_hri:=false publish_attention:=false`` and once with the defaults
(``publish_hri:=true``, ``publish_attention:=true``) while a ROS4HRI consumer in this process
subscribes to ``/humans/faces/tracked`` and, for every id, to ``roi``, ``cropped``, ``aligned``,
``frontalized`` and ``landmarks`` (so the face images are encoded and sent). Each run: the
serial latency (image -> ``heads``; the ROS4HRI topics are published after ``heads``, so also
image -> ``/tracked``, the last output) and a 30 Hz stream for a few seconds (output frames/s,
latency under load). Ratios on/off: serial median to ``heads``, serial median to the last
output (``heads`` + the ``heads`` -> ``/tracked`` median), stream median; ``--pairs`` off/on
runs alternate (default 3) and the medians of the per-pair ratios are reported, so that a change
of the load of a shared machine does not land on one side only::

    python -m head_pose_ros.bench.hri --weights W [--yunet Y] [--pairs 3] [--json out.json]
    python -m head_pose_ros.bench.hri --cost-only   # the in-process cost only (no node, no DDS)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from head_pose_ros.bench.frames import face_photo, make_frame, yunet_model
from head_pose_ros.bench.node import (
    _spin_for,
    _wait_subscribed,
    camera_info_msg,
    find_node_executable,
    image_msg,
    running_node,
    stream_frames,
    time_frames,
)
from head_pose_ros.bench.timing import latency_stats
from head_pose_ros.geometry import default_intrinsics

SIZE = (640, 480)


def _consumer(ros: Any, got_tracked: dict[int, float], counts: dict[str, int]) -> None:
    from hri_msgs.msg import FacialLandmarks, IdsList, NormalizedRegionOfInterest2D
    from sensor_msgs.msg import Image

    seen: set[str] = set()

    def count(kind):
        def cb(_m):
            counts[kind] = counts.get(kind, 0) + 1
        return cb

    def on_tracked(m: Any) -> None:
        got_tracked[m.header.stamp.sec * 10**9 + m.header.stamp.nanosec] = time.perf_counter()
        for fid in m.ids:
            if fid in seen:
                continue
            seen.add(fid)
            base = f"/humans/faces/{fid}"
            ros.create_subscription(NormalizedRegionOfInterest2D, f"{base}/roi", count("roi"), 10)
            ros.create_subscription(FacialLandmarks, f"{base}/landmarks", count("landmarks"), 10)
            ros.create_subscription(Image, f"{base}/cropped", count("cropped"), 10)
            ros.create_subscription(Image, f"{base}/aligned", count("aligned"), 10)
            ros.create_subscription(Image, f"{base}/frontalized", count("frontalized"), 10)

    ros.create_subscription(IdsList, "/humans/faces/tracked", on_tracked, 10)


def run_once(args: argparse.Namespace, hri: bool, seconds: float, n_frames: int
             ) -> dict[str, Any]:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    shared = Path(args.shared_data)
    patch, lm = face_photo(shared)
    frame, _ = make_frame(patch, lm, SIZE, 1)
    info = camera_info_msg(default_intrinsics(*SIZE), SIZE)
    img = image_msg(frame)
    extra = (() if hri else ("publish_hri:=false", "publish_attention:=false"))
    exe = find_node_executable()
    if exe is None:
        raise RuntimeError("head_pose_node not found on AMENT_PREFIX_PATH (source env.sh)")
    with running_node(args, None, exe, yunet_model(args.yunet, shared), args.backend,
                      Path(args.weights), None, extra + ("publish_markers:=false",)) as rn:
        tracked: dict[int, float] = {}
        counts: dict[str, int] = {}
        if hri:
            _consumer(rn.ros, tracked, counts)
        pub = rn.ros.create_publisher(Image, "image", qos_profile_sensor_data)
        _wait_subscribed(rn.ros, pub)
        serial = time_frames(rn.ros, rn.pub_info, pub, info, img, rn.got, 10, n_frames)
        _spin_for(rn.ros, 1.0)
        stream = stream_frames(rn.ros, rn.pub_info, pub, info, img, rn.got, seconds)
        out = {"hri": hri, "serial": serial, "stream": stream, "command": rn.result["command"],
               "backend": rn.result.get("backend")}
        if hri:
            common = [s for s in tracked if s in rn.got]
            out["heads_to_tracked_ms"] = latency_stats(
                [(tracked[s] - rn.got[s]) * 1e3 for s in common]) if common else None
            out["received"] = counts
    return out


def _ratios(off: dict[str, Any], on: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {"off": off, "on": on, "ratio_serial_median":
                           on["serial"]["median_ms"] / off["serial"]["median_ms"]}
    h2t = on.get("heads_to_tracked_ms") or {}
    if h2t:
        res["ratio_serial_median_last_output"] = (
            (on["serial"]["median_ms"] + h2t["median_ms"]) / off["serial"]["median_ms"])
    lo = off["stream"].get("latency_under_load", {}).get("median_ms")
    hi = on["stream"].get("latency_under_load", {}).get("median_ms")
    if lo and hi:
        res["ratio_stream_median"] = hi / lo
        if h2t:
            res["ratio_stream_median_last_output"] = (hi + h2t["median_ms"]) / lo
    return res


def _print(res: dict[str, Any]) -> None:
    for k in ("off", "on"):
        r = res[k]
        load = r["stream"].get("latency_under_load", {}).get("median_ms", float("nan"))
        print(f"ROS4HRI {k:3s}: serial median {r['serial']['median_ms']:.1f} ms "
              f"(p90 {r['serial']['p90_ms']:.1f}); 30 Hz stream {r['stream']['output_fps']:.1f} "
              f"fps, median {load:.1f} ms"
              + (f"; received {r.get('received')}" if k == "on" else ""), flush=True)
    print(f"ratio on/off: serial {res['ratio_serial_median']:.3f} (to the last ROS4HRI output "
          f"{res.get('ratio_serial_median_last_output', float('nan')):.3f}), 30 Hz stream "
          f"{res.get('ratio_stream_median', float('nan')):.3f} (to the last output "
          f"{res.get('ratio_stream_median_last_output', float('nan')):.3f})", flush=True)


def publish_cost(shared: Path, repeats: int = 200) -> dict[str, float]:
    """In-process cost (ms per image, one face) of what the node adds per frame with the
    ROS4HRI output on and every per-face topic subscribed: attention, vertex visibility and
    :meth:`HriFacePublisher.publish` (roi, cropped, aligned, frontalized, landmarks, tracked).
    Independent of DDS delivery and of the load of other processes (CPU time of one thread)."""
    import rclpy
    from hri_msgs.msg import FacialLandmarks, NormalizedRegionOfInterest2D
    from scipy.spatial.transform import Rotation
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from head_pose_ros.attention import attention_batch
    from head_pose_ros.hri_faces import vertex_visibility
    from head_pose_ros.ros.hri import FaceOutput, HriFacePublisher, load_hri_msgs
    from head_pose_ros.topology import load_arkit1220

    rclpy.init()
    node, sub = rclpy.create_node("hri_cost"), rclpy.create_node("hri_cost_sub")
    try:
        hri, why = load_hri_msgs()
        if hri is None:
            raise RuntimeError(why)
        topo = load_arkit1220(shared)
        pub = HriFacePublisher(node, hri, topology=topo)
        img = np.random.default_rng(0).integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8)
        K = default_intrinsics(*SIZE)  # noqa: N806
        r = Rotation.from_euler("y", 20, degrees=True).as_matrix()
        t = np.array([0.0, 0.0, 0.8])
        vc = np.asarray(topo.vertices) @ r.T + t
        g = r @ np.array([0.0, 0.0, -1.0])
        lm = vc[topo.landmarks68] @ K.T
        lm = lm[:, :2] / lm[:, 2:]
        box = np.array([*lm.min(0), *lm.max(0)])
        cov = np.diag([1e-4] * 3 + [3e-3] * 3)[None]

        def frame() -> None:
            attention_batch(g[None], t[None], cov)
            vis = vertex_visibility(vc, topo.triangles, g)
            f = FaceOutput("bench1", box, 0.9, lm, vis[topo.landmarks68], None, vc, g, vis)
            pub.publish(Header(), img, [f], [], K, None)

        frame()
        for k in ("cropped", "aligned", "frontalized"):
            sub.create_subscription(Image, f"/humans/faces/bench1/{k}", lambda m: None, 10)
        sub.create_subscription(NormalizedRegionOfInterest2D, "/humans/faces/bench1/roi",
                                lambda m: None, 10)
        sub.create_subscription(FacialLandmarks, "/humans/faces/bench1/landmarks",
                                lambda m: None, 10)
        end = time.monotonic() + 5.0
        while time.monotonic() < end and min(
                p.get_subscription_count() for p in pub.faces["bench1"].all()) == 0:
            time.sleep(0.05)
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(repeats):
            frame()
        wall = (time.perf_counter() - t0) / repeats * 1e3
        cpu = (time.thread_time() - c0) / repeats * 1e3
        return {"wall_ms_per_frame": wall, "thread_cpu_ms_per_frame": cpu,
                "encoded": dict(pub.encoded)}
    finally:
        node.destroy_node()
        sub.destroy_node()
        rclpy.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="", help="checkpoint (needed unless --cost-only)")
    ap.add_argument("--yunet", default=None)
    ap.add_argument("--shared-data", default=str(Path(__file__).resolve().parents[3] / "shared"
                                                 / "data"))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--pairs", type=int, default=3, help="off/on runs, alternating")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the in-process per-frame cost of the ROS4HRI output (no node)")
    ap.add_argument("--dds-profile", default=None)
    ap.add_argument("--dds-default-transport", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cost_only:
        cost = publish_cost(Path(a.shared_data))
        print(f"ROS4HRI + attention per frame, one face, every topic subscribed: "
              f"{cost['wall_ms_per_frame']:.2f} ms wall, {cost['thread_cpu_ms_per_frame']:.2f} "
              "ms CPU of the publishing thread")
        if a.json:
            Path(a.json).write_text(json.dumps({"publish_cost": cost}, indent=1) + "\n")
        return 0
    if not a.weights:
        ap.error("--weights is needed for the node runs")
    pairs = []
    for _ in range(a.pairs):  # alternating, so that a change of machine load hits both
        off = run_once(a, False, a.seconds, a.frames)
        on = run_once(a, True, a.seconds, a.frames)
        pairs.append(_ratios(off, on))
        _print(pairs[-1])
    res = {"size": list(SIZE), "threads": a.threads, "pairs": pairs,
           "publish_cost": publish_cost(Path(a.shared_data))}
    for k in ("ratio_serial_median", "ratio_serial_median_last_output", "ratio_stream_median",
              "ratio_stream_median_last_output"):
        vals = [p[k] for p in pairs if k in p]
        if vals:
            res[f"median_{k}"] = float(np.median(vals))
    print(f"median over {len(pairs)} pair(s): serial "
          f"{res.get('median_ratio_serial_median', float('nan')):.3f}, to the last ROS4HRI "
          f"output {res.get('median_ratio_serial_median_last_output', float('nan')):.3f}, "
          f"30 Hz stream {res.get('median_ratio_stream_median', float('nan')):.3f} (to the last "
          f"output {res.get('median_ratio_stream_median_last_output', float('nan')):.3f})")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
