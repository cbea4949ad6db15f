"""``head_pose_demo``: a built-in camera for people without one.

Publishes ``image`` (bgr8) and ``camera_info`` (same stamp and frame_id) at ``rate`` Hz, and the
same frame as a JPEG ``sensor_msgs/CompressedImage`` on ``<image>/compressed`` (image_transport's
compressed transport) while someone subscribes to it, looping:
- synthetic mode (default): frames rendered on the fly from the face template carried by the
  model checkpoint (``weights``, default: the package's installed model) or, when no checkpoint
  is available, from an ARKit-1220 topology directory (``topology_dir``, default: the shared
  data when present). One or two heads turn (yaw/pitch oscillation) and move in front of a
  448x336 pinhole camera (f = 420 px); the CameraInfo carries that exact K (rectified, D = 0).
- video mode (``video`` = a file path readable by OpenCV): the file's frames; the CameraInfo
  has ``focal_px`` as focal length, or an all-zero K when ``focal_px`` is 0 (uncalibrated: the
  node then guesses f = W + H and says so).

The renderer (:class:`TemplateFaceRenderer`) is plain numpy + OpenCV (painter's algorithm with
Lambert shading and painted eyes, brows and lips so that YuNet and the Haar cascade find the
face); ``render`` also returns the ground-truth poses, which the node tests use.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from head_pose_ros.topology import FaceTopology

__all__ = ["TemplateFaceRenderer", "topology_from_checkpoint", "load_demo_topology",
           "demo_poses", "DEMO_K", "DEMO_SIZE", "main"]

# 448x336 bgr8 = 441 KB: below the 512 KB shared-memory segment of Fast DDS's default profile,
# above which best-effort images between processes are lost on these machines (see
# config/fastdds_large_images.xml for cameras that send larger images).
DEMO_SIZE = (448, 336)  # W, H
DEMO_K = np.array([[420.0, 0.0, 223.5], [0.0, 420.0, 167.5], [0.0, 0.0, 1.0]])


def topology_from_checkpoint(path: str | os.PathLike) -> FaceTopology:
    """The face topology stored in a head_pose_ros TRG checkpoint (no model is built)."""
    from safetensors import safe_open

    from head_pose_ros.checkpoint import read_checkpoint_metadata

    info = read_checkpoint_metadata(path)
    with safe_open(os.fspath(path), framework="np") as f:
        arrays = {
            "topology.vertices": f.get_tensor("template"),
            "topology.triangles": f.get_tensor("triangles"),
            "topology.landmarks68": f.get_tensor("landmark_ids"),
            "topology.subsample": f.get_tensor("subsample_ids"),
        }
    return FaceTopology.from_arrays(arrays, name=info["topology_name"])


def load_demo_topology(weights: str = "", topology_dir: str = "") -> tuple[FaceTopology, str]:
    """Topology for the demo: from ``weights``, else ``topology_dir``, else the shared data.

    Returns ``(topology, source description)``; raises FileNotFoundError saying what was tried.
    """
    tried = []
    if weights:
        if Path(weights).is_file():
            return topology_from_checkpoint(weights), f"checkpoint {weights}"
        tried.append(f"weights '{weights}' (missing)")
    from head_pose_ros.topology import default_shared_data, load_arkit1220

    for root in ([topology_dir] if topology_dir else []) + [str(default_shared_data())]:
        try:
            return load_arkit1220(root), f"topology {root}"
        except FileNotFoundError:
            tried.append(f"topology directory '{root}'")
    raise FileNotFoundError("no face template for the synthetic demo: tried " + ", ".join(tried)
                            + ". Set 'weights' to a trained checkpoint or 'topology_dir'.")


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _polyline_dist(p: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.min([_seg_dist(p, pts[i], pts[i + 1]) for i in range(len(pts) - 1)], axis=0)


class TemplateFaceRenderer:
    """Render the template face of a topology with a pose (numpy + OpenCV, ~5 ms / 640x480).

    Head frame as in docs/CONVENTIONS.md (x to the subject's left ear, y to the chin, z into the
    head); ``X_cam = R @ X_head + T``; OpenCV camera (x right, y down, z forward).
    """

    SKIN = (120.0, 150.0, 200.0)  # BGR

    def __init__(self, topology: FaceTopology) -> None:
        self.topology = topology
        v = topology.vertices.astype(np.float64)
        lm = v[topology.landmarks68]
        col = np.tile(np.array(self.SKIN), (len(v), 1))
        for eye in (range(36, 42), range(42, 48)):
            d = np.linalg.norm((v - lm[list(eye)].mean(0))[:, :2], axis=1)
            col[d < 0.011] = (235, 235, 235)
            col[d < 0.006] = (40, 30, 20)
        for brow in (range(17, 22), range(22, 27)):
            col[_polyline_dist(v, lm[list(brow)]) < 0.005] = (30, 40, 60)
        col[_polyline_dist(v, lm[[*range(48, 60), 48]]) < 0.004] = (70, 70, 170)
        d = np.linalg.norm((v - lm[60:68].mean(0))[:, :2], axis=1)
        col[d < 0.008] = (60, 60, 150)
        for n in (31, 35):
            col[np.linalg.norm(v - lm[n], axis=1) < 0.004] = (60, 80, 110)
        self._vertices = v
        self._tri_colour = col[topology.triangles].mean(axis=1)

    def render(self, poses: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray,  # noqa: N803
               size: tuple[int, int] = DEMO_SIZE, background: int = 100,
               noise_std: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
        """BGR uint8 image ``(H, W, 3)`` with one face per ``(R, T)`` pose."""
        w, h = size
        ramp = np.linspace(background - 30, background + 30, h)[:, None, None]
        img = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8).copy()
        tri = self.topology.triangles
        all_pts, all_col, all_depth = [], [], []
        for rot, trans in poses:
            vc = self._vertices @ np.asarray(rot, np.float64).T + np.asarray(trans, np.float64)
            if np.any(vc[:, 2] <= 1e-3):
                continue  # behind the camera
            uv = vc[:, :2] / vc[:, 2:3] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
            a, b, c = vc[tri[:, 0]], vc[tri[:, 1]], vc[tri[:, 2]]
            n = np.cross(b - a, c - a)
            n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
            cen = (a + b + c) / 3.0
            view = -cen / np.linalg.norm(cen, axis=1, keepdims=True)
            lam = np.abs((n * view).sum(axis=1))
            all_pts.append(np.round(uv[tri] * 16).astype(np.int32))  # 4 fractional bits
            all_col.append(np.clip(self._tri_colour * (0.35 + 0.65 * lam[:, None]), 0, 255))
            all_depth.append(cen[:, 2])
        if all_pts:
            pts = np.concatenate(all_pts)
            col = np.concatenate(all_col)
            for i in np.argsort(-np.concatenate(all_depth), kind="stable"):
                cv2.fillConvexPoly(img, pts[i], col[i].tolist(), cv2.LINE_AA, 4)
        if noise_std > 0:
            rng = rng or np.random.default_rng()
            img = np.clip(img + rng.normal(0, noise_std, img.shape), 0, 255).astype(np.uint8)
        return img


def demo_poses(t: float, num_people: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ground-truth head poses at time ``t`` (s): yaw +-35 deg, pitch +-12 deg, slow sway."""
    from head_pose_ros.geometry import rot_x, rot_y

    out = []
    for k in range(num_people):
        ph = 1.3 * k
        yaw = math.radians(35.0) * math.sin(2 * math.pi * 0.15 * t + ph)
        pitch = math.radians(12.0) * math.sin(2 * math.pi * 0.23 * t + ph)
        x = (0.0 if num_people == 1 else (-0.16 + 0.32 * k)) + 0.03 * math.sin(0.5 * t + ph)
        z = 0.65 + 0.05 * math.sin(0.31 * t + ph)
        out.append((rot_y(yaw) @ rot_x(pitch), np.array([x, 0.0, z])))
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``head_pose_demo`` executable."""
    import rclpy
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from head_pose_ros.image_encoding import bgr_to_image_fields
    from head_pose_ros.ros.camera import fill_camera_info
    from head_pose_ros.ros.compressed import bgr_to_compressed, compressed_topic
    from head_pose_ros.ros.params import default_weights_path
    from head_pose_ros.ros.process import init_ros, install_stop_signals, spin_until
    from head_pose_ros.ros.runtime import StartupError

    stop = install_stop_signals()
    try:
        init_ros(argv)
    except StartupError as exc:
        print(f"head_pose_demo: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    node = rclpy.create_node("head_pose_demo")

    def param(name: str, default: Any, text: str) -> Any:
        return node.declare_parameter(name, default, ParameterDescriptor(description=text)).value

    video = param("video", "", "Video file to play (looping); empty = synthetic frames.")
    rate = float(param("rate", 15.0, "Frames per second published."))
    frame_id = param("frame_id", "head_pose_demo_optical_frame",
                     "frame_id of the image and CameraInfo (an optical frame).")
    weights = param("weights", "", "Checkpoint whose face template is rendered (synthetic "
                    "mode); empty = the package's installed model.") or default_weights_path()
    topology_dir = param("topology_dir", "", "ARKit 1220 topology directory, used when no "
                         "checkpoint is available (default: the shared data if present).")
    num_people = int(param("num_people", 1, "Synthetic mode: 1 or 2 heads."))
    focal_px = float(param("focal_px", 0.0, "Video mode: focal length in pixels for the "
                           "CameraInfo; 0 = uncalibrated (all-zero K)."))
    log = node.get_logger()
    if rate <= 0 or not 1 <= num_people <= 2:
        log.fatal("invalid parameters: rate must be > 0 and num_people 1 or 2")
        node.destroy_node()
        rclpy.try_shutdown()
        return 2

    cap = None
    renderer = None
    if video:
        cap = cv2.VideoCapture(video)
        if not cap.isOpened():
            log.fatal(f"cannot open video '{video}'")
            node.destroy_node()
            rclpy.try_shutdown()
            return 2
        log.info(f"playing '{video}' at {rate} Hz in a loop, frame '{frame_id}'")
    else:
        try:
            topo, source = load_demo_topology(weights, topology_dir)
        except Exception as exc:  # any failure is fatal here, said clearly
            log.fatal(str(exc))
            node.destroy_node()
            rclpy.try_shutdown()
            return 2
        renderer = TemplateFaceRenderer(topo)
        log.info(f"synthetic demo: {num_people} head(s) rendered from the {source}, "
                 f"{DEMO_SIZE[0]}x{DEMO_SIZE[1]} at {rate} Hz, frame '{frame_id}'")

    pub_img = node.create_publisher(Image, "image", qos_profile_sensor_data)
    pub_info = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
    pub_jpeg = node.create_publisher(CompressedImage, compressed_topic(pub_img.topic_name),
                                     qos_profile_sensor_data)
    t_start = time.monotonic()

    def tick() -> None:
        if cap is not None:
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
                if not ok:
                    return
            h, w = frame.shape[:2]
            k = np.zeros((3, 3)) if focal_px <= 0 else np.array(
                [[focal_px, 0, (w - 1) / 2], [0, focal_px, (h - 1) / 2], [0, 0, 1]])
        else:
            frame = renderer.render(demo_poses(time.monotonic() - t_start, num_people), DEMO_K)
            h, w = frame.shape[:2]
            k = DEMO_K
        stamp = node.get_clock().now().to_msg()
        f = bgr_to_image_fields(frame, "bgr8")
        img = Image()
        img.header.stamp = stamp
        img.header.frame_id = frame_id
        img.height, img.width, img.encoding = f["height"], f["width"], "bgr8"
        img.is_bigendian, img.step, img.data = 0, f["step"], f["data"]
        info = fill_camera_info(CameraInfo(), k, w, h)
        info.header = img.header
        pub_info.publish(info)
        pub_img.publish(img)
        if pub_jpeg.get_subscription_count() > 0:
            jpeg = CompressedImage()
            jpeg.header = img.header
            jpeg.format, data = bgr_to_compressed(frame, "jpeg")
            jpeg.data = data
            pub_jpeg.publish(jpeg)

    node.create_timer(1.0 / rate, tick)
    try:
        spin_until(node, stop)
    finally:
        if cap is not None:
            cap.release()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
