"""Issue 18 item 3: where one node frame goes, in-process (no DDS transfer).

Builds the node's work (``HeadPoseNode``, not activated: no subscriptions) with the trained
model, ONNX Runtime on 1 thread and YuNet, and calls its frame handler on a 640x480 frame with
one real face (the bench's frame) and a CameraInfo, 30 warm-up + N frames with following (the
default ``detect_every_n``). Prints the mean ms per stage as ``/diagnostics`` reports them
(``stage_<name>_mean_ms``, the last 5 s) and the median ms of ``_publish`` for one face.

    python scripts/node_frame_stages.py [--frames 200] [--weights ...] [--shared-data ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.parameter import Parameter

from head_pose_ros.bench.frames import face_photo, make_frame
from head_pose_ros.bench.node import camera_info_msg, image_msg
from head_pose_ros.geometry import default_intrinsics
from head_pose_ros.ros.camera import intrinsics_from_camera_info
from head_pose_ros.ros.node import HeadPoseNode
from head_pose_ros.topology import default_shared_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--weights", default="weights/head_pose_trg.safetensors")
    ap.add_argument("--shared-data", type=Path, default=None)
    args = ap.parse_args()
    shared = args.shared_data or default_shared_data()
    rclpy.init()
    node = rclpy.create_node("node_frame_stages", parameter_overrides=[
        Parameter("weights", value=args.weights), Parameter("detector", value="yunet"),
        Parameter("yunet_model", value=str(shared / "detector/face_detection_yunet_2023mar.onnx")),
        Parameter("inference_threads", value=1), Parameter("backend", value="onnxruntime"),
        Parameter("diagnostics_period", value=0.0)])
    app = HeadPoseNode.create(node, active=False)
    patch, lm = face_photo(shared)
    size = (640, 480)
    frame, _ = make_frame(patch, lm, size, 1)
    info = camera_info_msg(default_intrinsics(*size), size)
    img = image_msg(frame)
    app.sub_info = node.create_subscription(type(info), "unused_camera_info", lambda _m: None, 1)
    for i in range(30 + args.frames):
        img.header.stamp.sec, img.header.stamp.nanosec = 100 + i // 30, (i % 30) * 33_333_333
        info.header.stamp = img.header.stamp
        app._on_info(info)
        app._process(img, time.monotonic())
    stages = {k[6:-8]: round(v, 2) for k, v in app.stats().items() if k.startswith("stage_")}
    print(f"stages, mean ms over the last 5 s ({args.frames} frames, following): {stages}")
    intr = intrinsics_from_camera_info(info, *size, "auto", "image")
    res = app.pipeline.process(frame, intr.K, 1000.0)
    ts = []
    for _ in range(300):
        t0 = time.perf_counter()
        app._publish(img.header, frame, intr, res.people, [])
        ts.append(time.perf_counter() - t0)
    print(f"_publish of {len(res.people)} face(s): median {np.median(ts) * 1e3:.2f} ms, "
          f"p90 {np.percentile(ts, 90) * 1e3:.2f} ms (300 calls)")
    app.close()
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
