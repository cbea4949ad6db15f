"""Node latency with the ROS4HRI output on vs off (issue 17 target: on <= 1.10 x off).

One run: the node executable (:func:`head_pose_ros.bench.node.running_node`: YuNet on every
frame, the package's Fast DDS profile) is started twice on the same 640x480 one-face frame,
once with ``publish_hri:=false publish_attention:=false`` and once with the defaults
(``publish_hri:=true``, ``publish_attention:=true``) while a ROS4HRI consumer in this process
subscribes to ``/humans/faces/tracked`` and, for every id, to ``roi``, ``cropped``, ``aligned``
and ``landmarks`` (so the face images are encoded and sent). Each run: the serial latency
(image -> ``heads``; the ROS4HRI topics are published after ``heads``, so also image ->
``/tracked``) and a 30 Hz stream for a few seconds (output frames/s, latency under load). The
ratio is on/off of the serial median and of the stream's median latency::

    python -m head_pose_ros.bench.hri --weights W [--yunet Y] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--yunet", default=None)
    ap.add_argument("--shared-data", default=str(Path(__file__).resolve().parents[3] / "shared"
                                                 / "data"))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--dds-profile", default=None)
    ap.add_argument("--dds-default-transport", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    off = run_once(a, False, a.seconds, a.frames)
    on = run_once(a, True, a.seconds, a.frames)
    res = {"size": list(SIZE), "threads": a.threads, "off": off, "on": on,
           "ratio_serial_median": on["serial"]["median_ms"] / off["serial"]["median_ms"]}
    lo = off["stream"].get("latency_under_load", {}).get("median_ms")
    hi = on["stream"].get("latency_under_load", {}).get("median_ms")
    if lo and hi:
        res["ratio_stream_median"] = hi / lo
    for k in ("off", "on"):
        r = res[k]
        load = r["stream"].get("latency_under_load", {}).get("median_ms", float("nan"))
        print(f"ROS4HRI {k:3s}: serial median {r['serial']['median_ms']:.1f} ms "
              f"(p90 {r['serial']['p90_ms']:.1f}); 30 Hz stream {r['stream']['output_fps']:.1f} "
              f"fps, median {load:.1f} ms"
              + (f"; received {r.get('received')}" if k == "on" else ""))
    print(f"ratio on/off: serial {res['ratio_serial_median']:.3f}, stream "
          f"{res.get('ratio_stream_median', float('nan')):.3f}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
