"""Node section: image-in to pose-out latency through DDS.

Starts the node executable (if the ROS workspace is built and sourced) with YuNet,
``detect_every_n:=<--detect-every-n>`` (following between detector runs; 1 = the detector on
every frame) and an explicit ``backend`` (on the CPU with ``onnxruntime_int8``,
``onnxruntime`` and ``torch``, one node each; the backend the node logged at start is
recorded), publishes a 1-face image +
camera info, waits for the ``heads`` message with that stamp, repeats. Both sides use the
package's Fast DDS profile ``config/fastdds_large_images.xml`` (32 MB shared-memory segment;
with the built-in transports most 0.9 MB best-effort images were lost here);
``--dds-default-transport`` keeps the built-in one. Skipped with the reason when ROS is not
available (rclpy and the messages are imported only here, when the section runs).

Inputs (``"inputs"`` of the section, :func:`bench_node_inputs`): the same node (first backend)
fed a 1280x720 camera stream once as raw ``sensor_msgs/Image`` (bgr8, 2.7 MB) and once as
image_transport's ``compressed`` JPEG (``image_transport:=compressed``, ``<image>/compressed``),
each with a camera info per frame. Per input: the serial latency (publish, wait for the pose,
repeat) and a stream at :data:`STREAM_HZ` for a few seconds (output frames/s, frames answered,
latency under load). The JPEG is encoded once, before timing (a camera driver's job).
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
#: the camera stream of the raw vs compressed comparison
INPUT_SIZE = (1280, 720)
STREAM_HZ = 30.0
JPEG_QUALITY = 90


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
    """Backends the node section measures: on the CPU ``onnxruntime_int8`` (what ``auto``
    runs there), ``onnxruntime`` (the float graph) and ``torch``; the ONNX Runtime ones only
    when installed and not ``--skip``-ped. Torch on CUDA."""
    skip = set(args.skip or [])
    if args.device != "cpu":
        return ["torch"]
    ort = [] if onnxruntime_unavailable() is not None else \
        [b for b in ("onnxruntime_int8", "onnxruntime") if b not in skip]
    return [*ort, "torch"]


def node_section(args: argparse.Namespace, model: torch.nn.Module, shared: Path, quick: bool,
                 checkpoint: Path | None = None, xdg_cache: Path | None = None
                 ) -> dict[str, Any]:
    """:func:`bench_node` once per backend of :func:`node_backends`: ``{"runs": {backend:
    result}}``, or ``{"skipped": reason}`` when no run could start for the same reason."""
    if args.no_node:
        return {"skipped": "--no-node"}
    backends = node_backends(args)
    runs = {b: bench_node(args, model, shared, quick, backend=b, checkpoint=checkpoint,
                          xdg_cache=xdg_cache) for b in backends}
    reasons = {r.get("skipped") for r in runs.values()}
    if len(reasons) == 1 and None not in reasons:
        return {"skipped": reasons.pop()}
    inputs = bench_node_inputs(args, model, shared, quick, backend=backends[0],
                               checkpoint=checkpoint, xdg_cache=xdg_cache)
    return {"runs": runs, "inputs": inputs}


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


def node_command(exe: Path, weights: str, device: str, backend: str, yunet: Path,
                 extra: tuple[str, ...] = (), detect_every_n: int = 1) -> list[str]:
    """The node's command line: YuNet every ``detect_every_n`` frames, the bench's torch thread
    count, then ``extra`` parameters (``name:=value``)."""
    cmd = [sys.executable, str(exe), "--ros-args", "-p", f"weights:={weights}",
           "-p", f"device:={device}", "-p", f"backend:={backend}",
           "-p", f"inference_threads:={torch.get_num_threads()}",
           "-p", "detector:=yunet",
           "-p", f"yunet_model:={yunet}", "-p", f"detect_every_n:={int(detect_every_n)}"]
    for e in extra:
        cmd += ["-p", e]
    return cmd


def camera_info_msg(K: np.ndarray, size: tuple[int, int], frame_id: str = "camera") -> Any:
    """A ``sensor_msgs/CameraInfo`` of a distortion-free camera with intrinsics ``K``."""
    from sensor_msgs.msg import CameraInfo

    from head_pose_ros.ros.camera import fill_camera_info

    info = fill_camera_info(CameraInfo(), K, *size)
    info.header.frame_id = frame_id
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


def compressed_msg(frame: np.ndarray, quality: int = JPEG_QUALITY, frame_id: str = "camera"
                   ) -> tuple[Any, float]:
    """A ``sensor_msgs/CompressedImage`` (JPEG, image_transport's format string) of a BGR
    frame, and the encode time in ms."""
    from sensor_msgs.msg import CompressedImage

    from head_pose_ros.ros.compressed import bgr_to_compressed

    t0 = time.perf_counter()
    fmt, data = bgr_to_compressed(frame, "jpeg", quality)
    encode_ms = (time.perf_counter() - t0) * 1e3
    msg = CompressedImage()
    msg.header.frame_id = frame_id
    msg.format, msg.data = fmt, data
    return msg, encode_ms


def stream_frames(node: Any, pub_info: Any, pub_img: Any, info: Any, img: Any,
                  got: dict[int, float], seconds: float, hz: float = STREAM_HZ
                  ) -> dict[str, Any]:
    """Publish ``info`` + ``img`` at ``hz`` for ``seconds`` like a camera (fresh stamps, no
    waiting for answers) and count the answers: output frames/s, fraction answered and the
    latency of the answered frames (the node keeps only the newest frame: a slow node answers a
    part of them, late ones never)."""
    import rclpy

    sent: dict[int, float] = {}
    period = 1.0 / hz
    t_start = time.monotonic()
    t_next = t_start
    while time.monotonic() - t_start < seconds:
        stamp_ns = time.time_ns()
        for m in (info, img):
            m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        pub_info.publish(info)
        sent[stamp_ns] = time.perf_counter()
        pub_img.publish(img)
        t_next += period
        while True:
            left = t_next - time.monotonic()
            if left <= 0:
                break
            rclpy.spin_once(node, timeout_sec=min(left, 0.005))
    _spin_for(node, RETRY_S)
    answered = [st for st in sent if st in got]
    lat = [(got[st] - sent[st]) * 1e3 for st in answered]
    out: dict[str, Any] = {"sent": len(sent), "answered": len(answered),
                           "stream_hz": hz, "seconds": seconds,
                           "output_fps": len(answered) / seconds}
    if lat:
        out["latency_under_load"] = latency_stats(lat)
    return out


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


@dataclass
class RunningNode:
    """The node process under test and the bench's side of the connection."""

    ros: Any  # the bench's rclpy node
    pub_info: Any
    got: dict[int, float]  # heads stamp (ns) -> perf_counter when it arrived
    result: dict[str, Any]  # command, transport, backend, ...
    env: dict[str, str]


@contextmanager
def running_node(args: argparse.Namespace, model: torch.nn.Module, exe: Path, yunet: Path,
                 backend: str = "auto", checkpoint: Path | None = None,
                 xdg_cache: Path | None = None, extra: tuple[str, ...] = ()
                 ) -> Iterator[RunningNode]:
    """Start the node executable (``extra`` parameters appended), connect to its ``heads``;
    yields a :class:`RunningNode`; stops the node and restores the environment at the end."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo

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
        cmd = node_command(exe, weights, args.device, backend, yunet, extra,
                           getattr(args, "detect_every_n", 1))
        log = open(Path(tmp.name) / "node.log", "w+")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        result: dict[str, Any] = {
            "command": " ".join(cmd[1:]), "domain_id": env["ROS_DOMAIN_ID"],
            "transport": transport, "backend_requested": backend,
            "rmw": env.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)")}
        rclpy.init()
        node = rclpy.create_node("head_pose_bench")
        try:
            pub_info = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
            got: dict[int, float] = {}

            def on_heads(msg: Any) -> None:
                got[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = time.perf_counter()

            node.create_subscription(HeadPoseArray, "heads", on_heads, 10)
            deadline = time.monotonic() + 120.0
            while pub_info.get_subscription_count() == 0 or node.count_publishers("heads") == 0:
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
            if pub_info.get_subscription_count() != 1 or node.count_publishers("heads") != 1:
                raise RuntimeError(f"another node shares ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}: "
                                   "set ROS_DOMAIN_ID to a free domain")
            yield RunningNode(node, pub_info, got, result, env)
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


def _wait_subscribed(ros: Any, pub: Any, timeout: float = 20.0) -> None:
    import rclpy

    end = time.monotonic() + timeout
    while pub.get_subscription_count() == 0:
        if time.monotonic() > end:
            raise RuntimeError(f"the node does not subscribe to {pub.topic_name}")
        rclpy.spin_once(ros, timeout_sec=0.05)
    _spin_for(ros, 0.5)


def _bench_node(args: argparse.Namespace, model: torch.nn.Module, exe: Path, yunet: Path,
                shared: Path, quick: bool, backend: str = "auto",
                checkpoint: Path | None = None, xdg_cache: Path | None = None
                ) -> dict[str, Any]:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    patch, lm = face_photo(shared)
    n_frames, n_warm = (3, 2) if quick else (30, 5)
    with running_node(args, model, exe, yunet, backend, checkpoint, xdg_cache) as rn:
        pub_img = rn.ros.create_publisher(Image, "image", qos_profile_sensor_data)
        _wait_subscribed(rn.ros, pub_img)
        result = rn.result
        for size_name in frame_sizes(quick):
            size = FRAME_SIZES[size_name]
            frame, _ = make_frame(patch, lm, size, 1)
            info = camera_info_msg(default_intrinsics(*size), size)
            result[f"{size_name}_1face"] = time_frames(
                rn.ros, rn.pub_info, pub_img, info, image_msg(frame), rn.got, n_warm, n_frames)
    return result


def bench_node_inputs(args: argparse.Namespace, model: torch.nn.Module, shared: Path,
                      quick: bool, backend: str = "auto", checkpoint: Path | None = None,
                      xdg_cache: Path | None = None) -> dict[str, Any]:
    """Raw ``sensor_msgs/Image`` vs image_transport ``compressed`` (JPEG) input at
    :data:`INPUT_SIZE`, one node process each (``image_transport:=raw`` / ``compressed``):
    ``{"raw": {...}, "compressed": {...}}`` with the serial latency (``serial``), a
    :data:`STREAM_HZ` stream (``stream``), the bytes per frame and the transport."""
    try:
        import rclpy  # noqa: F401

        import head_pose_ros.msg  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"ROS workspace not importable ({exc}); source install/setup.bash"}
    exe = find_node_executable()
    yunet = yunet_model(args.yunet, shared)
    if exe is None or not yunet.is_file() or not (shared / FACE_PHOTO).is_dir():
        return {"skipped": "node executable, YuNet model or face photo missing"}
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    from head_pose_ros.ros.compressed import compressed_topic

    patch, lm = face_photo(shared)
    frame, _ = make_frame(patch, lm, INPUT_SIZE, 1)
    info = camera_info_msg(default_intrinsics(*INPUT_SIZE), INPUT_SIZE)
    n_frames, n_warm = (3, 2) if quick else (30, 5)
    seconds = 2.0 if quick else 10.0
    out: dict[str, Any] = {"size": f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]}", "backend": backend}
    for transport in ("raw", "compressed"):
        try:
            with running_node(args, model, exe, yunet, backend, checkpoint, xdg_cache,
                              (f"image_transport:={transport}",)) as rn:
                if transport == "raw":
                    msg = image_msg(frame)
                    pub = rn.ros.create_publisher(Image, "image", qos_profile_sensor_data)
                    extra: dict[str, Any] = {}
                else:
                    msg, encode_ms = compressed_msg(frame)
                    pub = rn.ros.create_publisher(CompressedImage, compressed_topic("image"),
                                                  qos_profile_sensor_data)
                    extra = {"format": msg.format, "jpeg_quality": JPEG_QUALITY,
                             "encode_ms_publisher_side": encode_ms}
                _wait_subscribed(rn.ros, pub)
                r = {**rn.result, **extra, "topic": pub.topic_name,
                     "bytes_per_frame": len(msg.data)}
                r["serial"] = time_frames(rn.ros, rn.pub_info, pub, info, msg, rn.got, n_warm,
                                          n_frames)
                r["stream"] = stream_frames(rn.ros, rn.pub_info, pub, info, msg, rn.got,
                                            seconds)
                out[transport] = r
        except Exception as exc:  # reported, not fatal
            out[transport] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return out
