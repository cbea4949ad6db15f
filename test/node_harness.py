"""What the tests of the REAL ``head_pose_node`` process share (test/test_node_process.py,
test/test_node_robustness.py, test/test_lifecycle_process.py): the installed executable in a
subprocess (:class:`NodeProcess`), a test-side ROS node that publishes frames and records every
output (:class:`Harness`), and small helpers. The module-scoped fixtures (``random_weights``,
``renderer``, ``ros_context``) are in conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from conftest import installed_exe, spin_in_background

from head_pose_ros.ros.camera import fill_camera_info

REPO = Path(__file__).resolve().parents[1]


NODE_EXE = installed_exe("head_pose_node")
DEMO_EXE = installed_exe("head_pose_demo")
PARAMS_FILE = REPO / "config" / "head_pose.yaml"
FRAME = "test_cam_optical_frame"
W, H = 320, 240
K_TEST = np.array([[300.0, 0.0, 159.5], [0.0, 300.0, 119.5], [0.0, 0.0, 1.0]])


class NodeProcess:
    """The node executable in a subprocess; its log lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(NODE_EXE), "--ros-args", "--params-file", str(PARAMS_FILE), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, bufsize=1,
        )
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 60.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if any("head_pose_node ready" in ln for ln in self.lines):
                return
            if self.proc.poll() is not None:
                self._t.join(2)
                raise AssertionError(f"node exited with {self.proc.returncode}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"node not ready after {timeout} s:\n{self.log}")

    def count(self, needle: str) -> int:
        return sum(needle in ln for ln in self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT, as ros2 launch does
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._t.join(2)
        return self.proc.returncode


class Harness:
    """Test-side ROS node: publishes image + camera_info, records every output."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseWithCovarianceStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from tf2_msgs.msg import TFMessage
        from visualization_msgs.msg import MarkerArray

        from head_pose_ros.msg import HeadPoseArray

        self.node = rclpy.create_node(f"harness_{os.getpid()}_{time.monotonic_ns() % 100000}")
        self.pub_img = self.node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info",
                                                   qos_profile_sensor_data)
        self.got: dict[str, list] = defaultdict(list)
        self._lock = threading.Lock()

        def rec(name):
            def cb(msg):
                with self._lock:
                    self.got[name].append((time.monotonic(), msg))
            return cb

        self.node.create_subscription(HeadPoseArray, "heads", rec("heads"), 50)
        self.node.create_subscription(PoseWithCovarianceStamped, "head_pose", rec("pose"), 50)
        self.node.create_subscription(MarkerArray, "markers", rec("markers"), 50)
        self.node.create_subscription(Image, "debug_image", rec("debug"),
                                      qos_profile_sensor_data)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", rec("diag"), 10)
        self.node.create_subscription(TFMessage, "/tf", rec("tf"), QoSProfile(depth=100))
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._spin = spin_in_background(self.executor)
        self._seq = 0
        self._compressed_pubs: dict = {}

    def msgs(self, name: str) -> list:
        with self._lock:
            return [m for _, m in self.got[name]]

    def clear(self) -> None:
        with self._lock:
            self.got.clear()

    def wait_connected(self, timeout: float = 20.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if (self.pub_img.get_subscription_count() > 0
                    and self.node.count_publishers("heads") > 0):
                time.sleep(0.3)  # let the reverse direction match too
                return
            time.sleep(0.05)
        raise AssertionError("the node's subscription never matched")

    def wait_connected_to(self, topic: str, timeout: float = 20.0) -> None:
        """Like :meth:`wait_connected` for a CompressedImage publisher on ``topic``."""
        from sensor_msgs.msg import CompressedImage

        if topic not in self._compressed_pubs:
            from rclpy.qos import qos_profile_sensor_data

            self._compressed_pubs[topic] = self.node.create_publisher(
                CompressedImage, topic, qos_profile_sensor_data)
        pub = self._compressed_pubs[topic]
        assert self.wait_for(lambda: pub.get_subscription_count() > 0
                             and self.node.count_publishers("heads") > 0, timeout), \
            f"nobody subscribes to {topic}"
        time.sleep(0.3)

    def wait_for(self, pred, timeout: float = 20.0) -> bool:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred():
                return True
            time.sleep(0.02)
        return False

    def stamp(self):
        from builtin_interfaces.msg import Time

        self._seq += 1
        return Time(sec=1000 + self._seq // 100, nanosec=(self._seq % 100) * 10_000_000)

    def publish(self, image: np.ndarray | None = None, *, stamp=None, encoding: str = "bgr8",
                fields: dict | None = None, info: dict | None = None, send_info: bool = True,
                frame_id: str = FRAME):
        """Publish CameraInfo then Image with the same stamp. Returns the stamp."""
        from sensor_msgs.msg import CameraInfo, Image

        from head_pose_ros.image_encoding import bgr_to_image_fields

        stamp = stamp or self.stamp()
        f = dict(bgr_to_image_fields(image, encoding)) if image is not None else {}
        f.update(fields or {})
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        msg.height, msg.width = int(f["height"]), int(f["width"])
        msg.encoding, msg.is_bigendian = f["encoding"], int(f["is_bigendian"])
        msg.step, msg.data = int(f["step"]), f["data"]
        if send_info:
            info = info or {}
            ci = fill_camera_info(CameraInfo(), np.asarray(info.get("k", K_TEST), np.float64),
                                  info.get("width", msg.width), info.get("height", msg.height))
            ci.header = msg.header
            ci.d = info.get("d", ci.d)
            ci.p = info.get("p", ci.p)
            self.pub_info.publish(ci)
        self.pub_img.publish(msg)
        return stamp

    def publish_compressed(self, fmt: str, data: bytes, *, stamp=None, send_info: bool = True,
                           topic: str = "image/compressed", width: int = W, height: int = H):
        """Publish CameraInfo + a sensor_msgs/CompressedImage (as image_transport's compressed
        transport does) with the same stamp. Returns the stamp."""
        from sensor_msgs.msg import CameraInfo, CompressedImage

        if topic not in self._compressed_pubs:
            from rclpy.qos import qos_profile_sensor_data

            self._compressed_pubs[topic] = self.node.create_publisher(
                CompressedImage, topic, qos_profile_sensor_data)
        stamp = stamp or self.stamp()
        msg = CompressedImage()
        msg.header.stamp = stamp
        msg.header.frame_id = FRAME
        msg.format, msg.data = fmt, data
        if send_info:
            ci = fill_camera_info(CameraInfo(), K_TEST, width, height)
            ci.header = msg.header
            self.pub_info.publish(ci)
        self._compressed_pubs[topic].publish(msg)
        return stamp

    def close(self) -> None:
        self._spin.stop()
        self.executor.shutdown()
        self.node.destroy_node()


def sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def pose_vec(pose) -> np.ndarray:
    """x, y, z, qx, qy, qz, qw of a geometry_msgs/Pose."""
    p, q = pose.position, pose.orientation
    return np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w])


def face_image(renderer, yaw: float = 0.0, x: float = 0.0, z: float = 0.6) -> np.ndarray:
    from head_pose_ros.geometry import rot_y

    return renderer.render([(rot_y(yaw), np.array([x, 0.0, z]))], K_TEST, (W, H))


def blank() -> np.ndarray:
    return np.full((H, W, 3), 110, np.uint8)


def start_node(random_weights, ros_env, *extra: str) -> NodeProcess:
    args = ["-p", f"weights:={random_weights}", "-p", "detector:=cascade"]
    for e in extra:
        args += ["-p", e]
    node = NodeProcess(args, ros_env)
    node.wait_ready()
    return node


def diag_kv(h: Harness) -> dict[str, str]:
    d = h.msgs("diag")
    return {v.key: v.value for v in d[-1].status[0].values} if d else {}


def diag_level(h: Harness) -> int | None:
    d = h.msgs("diag")
    return d[-1].status[0].level[0] if d and isinstance(d[-1].status[0].level, bytes) \
        else (int(d[-1].status[0].level) if d else None)


def trained_weights() -> Path | None:
    env = os.environ.get("HEAD_POSE_TEST_WEIGHTS")
    if env:
        return Path(env)
    from head_pose_ros.ros.params import default_weights_path

    p = default_weights_path()
    return Path(p) if p else None
