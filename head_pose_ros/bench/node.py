"""Node section: image-in to pose-out latency through DDS.

Starts the node executable (if the ROS workspace is built and sourced) with YuNet,
``detect_every_n:=1`` and an explicit ``backend`` (on the CPU once with ``onnxruntime`` and once
with ``torch``; the backend the node logged at start is recorded), publishes a 1-face image +
camera info, waits for the ``heads`` message with that stamp, repeats. Both sides use the
package's Fast DDS profile ``config/fastdds_large_images.xml`` (32 MB shared-memory segment;
with the built-in transports most 0.9 MB best-effort images were lost here);
``--dds-default-transport`` keeps the built-in one. Skipped with the reason when ROS is not
available (rclpy and the messages are imported only here, when the section runs).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from head_pose_ros.backends import onnxruntime_unavailable
from head_pose_ros.bench.frames import (
    FACE_PHOTO,
    FRAME_SIZES,
    face_photo,
    frame_sizes,
    make_frame,
    yunet_model,
)
from head_pose_ros.bench.model import bench_checkpoint
from head_pose_ros.bench.timing import latency_stats
from head_pose_ros.geometry import default_intrinsics

DDS_PROFILE_NAME = "fastdds_large_images.xml"
#: seconds to wait for the answer to one image before publishing it again
RETRY_S = 2.0


def find_dds_profile() -> Path | None:
    """The package's Fast DDS large-image profile (node helper's ``config/`` file): installed
    share directory first, then the source tree."""
    cands = [Path(p) / "share" / "head_pose_ros" / "config" / DDS_PROFILE_NAME
             for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    cands.append(Path(__file__).resolve().parents[2] / "config" / DDS_PROFILE_NAME)
    return next((c for c in cands if c.is_file()), None)


def find_node_executable() -> Path | None:
    """``lib/head_pose_ros/head_pose_node`` of the first prefix on ``AMENT_PREFIX_PATH``."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        p = Path(prefix) / "lib" / "head_pose_ros" / "head_pose_node"
        if prefix and p.is_file():
            return p
    return None


def node_backends(args: argparse.Namespace) -> list[str]:
    """Backends the node section measures: onnxruntime and torch on the CPU (onnxruntime only
    when installed and not ``--skip``-ped), torch on CUDA."""
    if args.device == "cpu" and "onnxruntime" not in set(args.skip or []) \
            and onnxruntime_unavailable() is None:
        return ["onnxruntime", "torch"]
    return ["torch"]


def node_section(args: argparse.Namespace, model: torch.nn.Module, shared: Path, quick: bool,
                 checkpoint: Path | None = None, xdg_cache: Path | None = None
                 ) -> dict[str, Any]:
    """:func:`bench_node` once per backend of :func:`node_backends`: ``{"runs": {backend:
    result}}``, or ``{"skipped": reason}`` when no run could start for the same reason."""
    if args.no_node:
        return {"skipped": "--no-node"}
    runs = {b: bench_node(args, model, shared, quick, backend=b, checkpoint=checkpoint,
                          xdg_cache=xdg_cache) for b in node_backends(args)}
    reasons = {r.get("skipped") for r in runs.values()}
    if len(reasons) == 1 and None not in reasons:
        return {"skipped": reasons.pop()}
    return {"runs": runs}


def bench_node(args: argparse.Namespace, model: torch.nn.Module, shared: Path, quick: bool,
               backend: str = "auto", checkpoint: Path | None = None,
               xdg_cache: Path | None = None) -> dict[str, Any]:
    """Image-in to ``heads``-out latency of the node executable over DDS (loopback), started
    with ``backend:=<backend>`` on ``checkpoint`` (default ``--weights``, else ``model`` saved to
    a temporary file) and ``XDG_CACHE_HOME=<xdg_cache>`` (its ONNX graph cache; default: the
    user's, or a temporary one for the random-init model saved here).
    ``result["backend"]`` is the backend the node logged at start."""
    try:
        import rclpy  # noqa: F401

        import head_pose_ros.msg  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"ROS workspace not importable ({exc}); source install/setup.bash"}
    exe = find_node_executable()
    if exe is None:
        return {"skipped": "head_pose_node executable not found on AMENT_PREFIX_PATH"}
    yunet = yunet_model(args.yunet, shared)
    if not yunet.is_file():
        return {"skipped": f"YuNet model not found at {yunet} (the node needs a detector)"}
    if not (shared / FACE_PHOTO).is_dir():
        return {"skipped": "no face photo in the shared data"}
    try:
        return _bench_node(args, model, exe, yunet, shared, quick, backend, checkpoint,
                           xdg_cache)
    except Exception as exc:  # a failing optional section is reported, not fatal
        return {"skipped": f"node benchmark failed: {type(exc).__name__}: {exc}"}


def use_dds_profile(args: argparse.Namespace) -> str:
    """Point this process's environment (the node's too) at the Fast DDS profile unless
    ``--dds-default-transport``; returns the transport in words."""
    if args.dds_default_transport:
        return "Fast DDS built-in transports"
    prof = Path(args.dds_profile) if args.dds_profile else find_dds_profile()
    if prof is None or not prof.is_file():
        raise FileNotFoundError(
            f"no {DDS_PROFILE_NAME} found (give --dds-profile or --dds-default-transport)")
    # one variable only: Fast DDS loads a file named in both twice (duplicate ids)
    os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(prof)
    return f"Fast DDS profile {prof}"


def node_command(exe: Path, weights: str, device: str, backend: str, yunet: Path) -> list[str]:
    """The node's command line: YuNet on every frame, the bench's torch thread count."""
    return [sys.executable, str(exe), "--ros-args", "-p", f"weights:={weights}",
            "-p", f"device:={device}", "-p", f"backend:={backend}",
            "-p", f"inference_threads:={torch.get_num_threads()}",
            "-p", "detector:=yunet",
            "-p", f"yunet_model:={yunet}", "-p", "detect_every_n:=1"]


def camera_info_msg(K: np.ndarray, size: tuple[int, int], frame_id: str = "camera") -> Any:
    """A ``sensor_msgs/CameraInfo`` of a distortion-free camera with intrinsics ``K``."""
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = size
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = K.ravel().tolist()
    info.r = np.eye(3).ravel().tolist()
    info.p = np.hstack([K, np.zeros((3, 1))]).ravel().tolist()
    return info


def image_msg(frame: np.ndarray, frame_id: str = "camera") -> Any:
    """A ``sensor_msgs/Image`` (bgr8) of a BGR frame."""
    from sensor_msgs.msg import Image

    h, w = frame.shape[:2]
    img = Image()
    img.header.frame_id = frame_id
    img.height, img.width, img.encoding, img.step = h, w, "bgr8", w * 3
    img.data = frame.tobytes()
    return img


def time_frames(node: Any, pub_info: Any, pub_img: Any, info: Any, img: Any,
                got: dict[int, float], n_warm: int, n_frames: int) -> dict[str, Any]:
    """Publish ``info`` + ``img`` ``n_warm + n_frames`` times with fresh stamps and time the
    answers of the last ``n_frames`` (``got``: stamp in ns -> perf_counter of its answer).

    Best-effort (SensorDataQoS) images can be dropped, and the node keeps only the newest frame:
    publish, wait for the answer with this stamp, re-publish (a new stamp) if none came within
    :data:`RETRY_S`. Only answered frames are timed.
    """
    import rclpy

    lat: list[float] = []
    lost = [0, 0]  # unanswered images during warm-up, during the timed frames
    unanswered: list[int] = []
    for i in range(n_warm + n_frames):
        for _ in range(30 if i < n_warm else 10):
            stamp_ns = time.time_ns()
            for m in (info, img):
                m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp_ns, 10**9)
            pub_info.publish(info)
            t0 = time.perf_counter()
            pub_img.publish(img)
            end = time.monotonic() + RETRY_S
            while stamp_ns not in got and time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.005)
            if stamp_ns in got:
                break
            lost[i >= n_warm] += 1
            unanswered.append(stamp_ns)
        else:
            raise RuntimeError("the node answered none of the images it was sent "
                               f"(unanswered so far: {lost})")
        if i >= n_warm:
            lat.append((got[stamp_ns] - t0) * 1e3)
    _spin_for(node, RETRY_S)
    return {**latency_stats(lat), "answered_late": sum(st in got for st in unanswered),
            "unanswered_warmup": lost[0], "unanswered_timed": lost[1]}


def _spin_for(node: Any, seconds: float) -> None:
    import rclpy

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def _bench_node(args: argparse.Namespace, model: torch.nn.Module, exe: Path, yunet: Path,
                shared: Path, quick: bool, backend: str = "auto",
                checkpoint: Path | None = None, xdg_cache: Path | None = None
                ) -> dict[str, Any]:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from head_pose_ros.msg import HeadPoseArray

    tmp = tempfile.TemporaryDirectory(prefix="head_pose_bench_node_")
    saved_env = dict(os.environ)
    proc: subprocess.Popen | None = None
    log = None
    try:
        if checkpoint is None and not args.weights:
            checkpoint, tmp_cache = bench_checkpoint(None, model, Path(tmp.name))
            xdg_cache = xdg_cache or tmp_cache  # throw-away graph
        weights = str(checkpoint) if checkpoint else args.weights
        # our environment is the child's too (rclpy reads it at init, below); restored at the end
        os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        transport = use_dds_profile(args)
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
        if xdg_cache is not None:
            env["XDG_CACHE_HOME"] = str(xdg_cache)
        cmd = node_command(exe, weights, args.device, backend, yunet)
        log = open(Path(tmp.name) / "node.log", "w+")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        patch, lm = face_photo(shared)
        n_frames, n_warm = (3, 2) if quick else (30, 5)
        result: dict[str, Any] = {
            "command": " ".join(cmd[1:]), "domain_id": env["ROS_DOMAIN_ID"],
            "transport": transport, "backend_requested": backend,
            "rmw": env.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)")}
        rclpy.init()
        node = rclpy.create_node("head_pose_bench")
        try:
            pub_img = node.create_publisher(Image, "image", qos_profile_sensor_data)
            pub_info = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
            got: dict[int, float] = {}

            def on_heads(msg: Any) -> None:
                got[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = time.perf_counter()

            node.create_subscription(HeadPoseArray, "heads", on_heads, 10)
            deadline = time.monotonic() + 120.0
            while pub_img.get_subscription_count() == 0 or node.count_publishers("heads") == 0:
                rclpy.spin_once(node, timeout_sec=0.1)
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"node exited ({proc.returncode}): {log.read()[-400:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError("node did not subscribe within 120 s")
            _spin_for(node, 1.0)  # let the reverse direction match too
            log.flush()
            log.seek(0)
            started = re.search(r"inference backend: (\w+)", log.read())
            result["backend"] = started.group(1) if started else None
            if pub_img.get_subscription_count() != 1 or node.count_publishers("heads") != 1:
                raise RuntimeError(f"another node shares ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}: "
                                   "set ROS_DOMAIN_ID to a free domain")
            for size_name in frame_sizes(quick):
                size = FRAME_SIZES[size_name]
                frame, _ = make_frame(patch, lm, size, 1)
                info = camera_info_msg(default_intrinsics(*size), size)
                result[f"{size_name}_1face"] = time_frames(
                    node, pub_info, pub_img, info, image_msg(frame), got, n_warm, n_frames)
        finally:
            node.destroy_node()
            rclpy.shutdown()
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if log is not None:
            log.close()
        tmp.cleanup()
        os.environ.clear()
        os.environ.update(saved_env)
    return result
