"""The REAL ``head_pose_node`` process (installed executable, ``--ros-args``), DDS on loopback.

A test publisher sends synthetic frames (the template face rendered with a known pose, see
``head_pose_ros.ros.demo.TemplateFaceRenderer``) and CameraInfo; the outputs are checked:
topics, stamps, frames, TF tree, marker lifecycle, covariance, survival of a fuzzed stream of
bad messages, no backlog, bounded memory, refusal to start without usable weights.

No trained model exists in the repository yet: the tests write a RANDOM-INIT checkpoint (a small
TRG built with ``save_checkpoint`` in a tmp dir, clearly a test fixture) to exercise the whole
pipeline. Pose accuracy is tested only when trained weights are available
(``HEAD_POSE_TEST_WEIGHTS`` or the package's installed default model); otherwise that test skips
and says why.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import installed_exe, spin_in_background

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]


NODE_EXE = installed_exe("head_pose_node")
DEMO_EXE = installed_exe("head_pose_demo")
PARAMS_FILE = REPO / "config" / "head_pose.yaml"
FRAME = "test_cam_optical_frame"
W, H = 320, 240
K_TEST = np.array([[300.0, 0.0, 159.5], [0.0, 300.0, 119.5], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory, topology) -> Path:
    """A small RANDOM-INIT TRG checkpoint: a test fixture, not a trained model."""
    import torch

    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model import TRG, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(backbone_width=0.25, feature_channels=32, point_mlp_hidden=(32, 16),
                      regressor_hidden=128)
    path = tmp_path_factory.mktemp("weights") / "random_init_test_fixture.safetensors"
    save_checkpoint(path, TRG(cfg, topology).eval(),
                    {"note": "random init test fixture, NOT a trained model"})
    return path


@pytest.fixture(scope="module")
def renderer(topology):
    from head_pose_ros.ros.demo import TemplateFaceRenderer

    return TemplateFaceRenderer(topology)


@pytest.fixture(scope="module")
def ros_context():
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()


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
            ci = CameraInfo()
            ci.header = msg.header
            kk = (info or {}).get("k", K_TEST.reshape(-1).tolist())
            ci.width = (info or {}).get("width", msg.width)
            ci.height = (info or {}).get("height", msg.height)
            ci.distortion_model = "plumb_bob"
            ci.d = (info or {}).get("d", [0.0] * 5)
            ci.k = [float(x) for x in kk]
            p = np.zeros((3, 4))
            p[:, :3] = np.asarray(kk, np.float64).reshape(3, 3)
            ci.p = (info or {}).get("p", [float(x) for x in p.reshape(-1)])
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
            ci = CameraInfo()
            ci.header = msg.header
            ci.width, ci.height = width, height
            ci.distortion_model = "plumb_bob"
            ci.d = [0.0] * 5
            ci.k = [float(x) for x in K_TEST.reshape(-1)]
            p = np.zeros((3, 4))
            p[:, :3] = K_TEST
            ci.p = [float(x) for x in p.reshape(-1)]
            self.pub_info.publish(ci)
        self._compressed_pubs[topic].publish(msg)
        return stamp

    def close(self) -> None:
        self._spin.stop()
        self.executor.shutdown()
        self.node.destroy_node()


def _sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _pose_vec(pose) -> np.ndarray:
    """x, y, z, qx, qy, qz, qw of a geometry_msgs/Pose."""
    p, q = pose.position, pose.orientation
    return np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w])


def _face(renderer, yaw: float = 0.0, x: float = 0.0, z: float = 0.6) -> np.ndarray:
    from head_pose_ros.geometry import rot_y

    return renderer.render([(rot_y(yaw), np.array([x, 0.0, z]))], K_TEST, (W, H))


def _blank() -> np.ndarray:
    return np.full((H, W, 3), 110, np.uint8)


def _start(random_weights, ros_env, *extra: str) -> NodeProcess:
    args = ["-p", f"weights:={random_weights}", "-p", "detector:=cascade"]
    for e in extra:
        args += ["-p", e]
    node = NodeProcess(args, ros_env)
    node.wait_ready()
    return node


# ------------------------------------------------------------------------------ tests
def test_outputs_stamps_frames_tf_and_marker_lifecycle(random_weights, renderer, ros_env,
                                                       ros_context):
    node = _start(random_weights, ros_env, "tracker_min_hits:=2", "tracker_max_misses:=2",
                  "publish_debug_image:=true", "diagnostics_period:=0.5")
    h = Harness()
    try:
        h.wait_connected()
        sent_face, sent_blank = [], []
        for i in range(10):
            st = h.publish(_face(renderer, yaw=0.02 * i))
            sent_face.append(_sec(st))
            n = len(sent_face)
            h.wait_for(lambda n=n: len(h.msgs("heads")) >= n, 5.0)  # one frame at a time
        for _ in range(6):
            st = h.publish(_blank())
            sent_blank.append(_sec(st))
            n = len(sent_face) + len(sent_blank)
            h.wait_for(lambda n=n: len(h.msgs("heads")) >= n, 5.0)
        assert h.wait_for(lambda: len(h.msgs("diag")) > 0, 5.0), "no /diagnostics"

        # -- topics exist with the contract's types
        topics = dict(h.node.get_topic_names_and_types())
        for name, typ in [("/heads", "head_pose_ros/msg/HeadPoseArray"),
                          ("/head_pose", "geometry_msgs/msg/PoseWithCovarianceStamped"),
                          ("/markers", "visualization_msgs/msg/MarkerArray"),
                          ("/debug_image", "sensor_msgs/msg/Image"),
                          ("/tf", "tf2_msgs/msg/TFMessage"),
                          ("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")]:
            assert typ in topics.get(name, []), (name, topics.get(name))

        heads = h.msgs("heads")
        sent = set(sent_face) | set(sent_blank)
        assert len(heads) >= 14, f"only {len(heads)} heads messages\n{node.log}"
        for m in heads:  # every output: the input's stamp and frame
            assert m.header.frame_id == FRAME and _sec(m.header.stamp) in sent
        with_face = [m for m in heads if _sec(m.header.stamp) in set(sent_face)]
        ids = {hp.id for m in with_face for hp in m.heads}
        assert len(ids) == 1 and min(ids) >= 1, f"ids {ids}"
        pid = ids.pop()
        # a new id only after min_hits (2) frames: the first face frame reports nobody
        assert len(with_face[0].heads) == 0 and all(len(m.heads) == 1 for m in with_face[1:])
        assert [m.heads[0].frames_seen for m in with_face[1:]] == list(range(2, 11))
        for m in with_face[1:]:
            hp = m.heads[0]
            assert len(hp.landmarks68) == 136 and hp.score > 0 and hp.pose.pose.position.z > 0
            cov = np.array(hp.pose.covariance).reshape(6, 6)
            np.testing.assert_allclose(cov, cov.T, rtol=0, atol=1e-15)
            assert np.linalg.eigvalsh(cov).min() > 0, cov
            assert np.isfinite(hp.face_width) and 0.05 < hp.face_width < 0.3
            assert len(hp.vertices) == 0  # dense output off by default
        # nobody once the face is gone: empty arrays, still published
        blank_msgs = [m for m in heads if _sec(m.header.stamp) in set(sent_blank)]
        assert len(blank_msgs) >= 5 and all(len(m.heads) == 0 for m in blank_msgs)

        poses = h.msgs("pose")
        assert len(poses) >= 8
        for p in poses:
            assert p.header.frame_id == FRAME and _sec(p.header.stamp) in set(sent_face)
            cov = np.array(p.pose.covariance).reshape(6, 6)
            assert np.allclose(cov, cov.T) and np.linalg.eigvalsh(cov).min() > 0

        # -- TF: face_<id>, gaze_<id> children of the camera frame, image stamps; <id> is the
        # REP-155 face id of HeadPose.face_id (issue 17: one id everywhere)
        fids = {hp.face_id for m in with_face for hp in m.heads}
        assert len(fids) == 1, fids
        fid = fids.pop()
        assert fid.endswith(str(pid)) and fid[0].isalpha()
        tfs = [t for m in h.msgs("tf") for t in m.transforms]
        children = {t.child_frame_id for t in tfs}
        assert {f"face_{fid}", f"gaze_{fid}"} <= children
        for t in tfs:
            assert t.header.frame_id == FRAME and _sec(t.header.stamp) in set(sent_face)
            q = t.transform.rotation
            assert abs(q.x**2 + q.y**2 + q.z**2 + q.w**2 - 1) < 1e-6
        # -- one convention (issue 13 item 6): head_pose, heads[].pose and the face_<id> TF of a
        # frame are the same pose (REP-155 face frame), and gaze_direction is its x axis
        by_stamp = {_sec(m.header.stamp): m for m in heads}
        tf_face = {_sec(t.header.stamp): t for t in tfs if t.child_frame_id == f"face_{fid}"}
        assert len(tf_face) >= 8
        for p in poses:
            st = _sec(p.header.stamp)
            hp = by_stamp[st].heads[0]
            t = tf_face[st].transform
            want = _pose_vec(p.pose.pose)
            np.testing.assert_allclose(_pose_vec(hp.pose.pose), want, atol=1e-9)
            np.testing.assert_allclose(
                [t.translation.x, t.translation.y, t.translation.z, t.rotation.x,
                 t.rotation.y, t.rotation.z, t.rotation.w], want, atol=1e-6)
            np.testing.assert_allclose(np.array(hp.pose.covariance),
                                       np.array(p.pose.covariance), atol=0)
            from scipy.spatial.transform import Rotation

            x_axis = Rotation.from_quat(want[3:]).as_matrix()[:, 0]
            g = hp.gaze_direction
            np.testing.assert_allclose([g.x, g.y, g.z], x_axis, atol=1e-6)

        # -- markers: ADD while seen, explicit DELETE once the person is removed
        from visualization_msgs.msg import Marker

        mks = [mk for m in h.msgs("markers") for mk in m.markers]
        added = {(mk.ns, mk.id) for mk in mks if mk.action == Marker.ADD}
        assert {("mesh", pid), ("landmarks", pid), ("text", pid)} <= added
        assert sum(ns == "axes" for ns, _ in added) == 3
        deleted = {(mk.ns, mk.id) for mk in mks if mk.action == Marker.DELETE}
        assert deleted == added, (deleted, added)
        last_add = max(i for i, mk in enumerate(mks) if mk.action == Marker.ADD)
        first_del = min(i for i, mk in enumerate(mks) if mk.action == Marker.DELETE)
        assert first_del > last_add
        for mk in mks:
            assert mk.header.frame_id == FRAME
        mesh = next(mk for mk in mks if mk.ns == "mesh")
        assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) % 3 == 0
        assert 0 < mesh.lifetime.sec + mesh.lifetime.nanosec * 1e-9 <= 1.0

        # -- debug image: same stamp/frame/size as the input
        dbg = h.msgs("debug")
        assert dbg, "no debug_image"
        assert all(d.header.frame_id == FRAME and d.width == W and d.height == H for d in dbg)
        # -- diagnostics (published every 0.5 s: wait for one that saw every frame)
        def diag_kv():
            d = h.msgs("diag")
            return {v.key: v.value for v in d[-1].status[0].values} if d else {}

        assert h.wait_for(lambda: int(diag_kv().get("processed", 0)) >= 14, 5.0), diag_kv()
        assert "latency_mean_ms" in diag_kv() and int(diag_kv()["skipped"]) == 0
    finally:
        h.close()
        rc = node.stop()
    assert rc == 0, node.log


def test_survives_fuzzed_bad_input(random_weights, renderer, ros_env, ros_context):
    """Bad messages are skipped, each kind logged once; good frames still work afterwards."""
    node = _start(random_weights, ros_env, "tracker_min_hits:=1")
    h = Harness()
    rng = np.random.default_rng(0)
    face = _face(renderer)
    try:
        h.wait_connected()
        from head_pose_ros.image_encoding import bgr_to_image_fields

        good = bgr_to_image_fields(face, "bgr8")
        nan_k = K_TEST.reshape(-1).tolist()
        nan_k[0] = float("nan")
        inf_d = [float("inf"), 0.0, 0.0, 0.0, 0.0]
        bad = [
            {"fields": {**good, "encoding": "bayer_rggb8"}},
            {"fields": {**good, "encoding": "32FC1"}},
            {"fields": {**good, "data": good["data"][: len(good["data"]) // 2]}},
            {"fields": {**good, "data": b""}},
            {"fields": {**good, "step": 10}},
            {"fields": {**good, "height": 0, "width": 0, "step": 0, "data": b""}},
            {"fields": {**good, "step": good["step"] + 7}},  # padding claimed, data too short
            {"fields": {**good}, "info": {"k": nan_k}},
            {"fields": {**good}, "info": {"d": inf_d}},
            {"fields": {**good}, "info": {"width": 640, "height": 360}},  # not a resize
            {"image": face, "encoding": "mono16"},  # valid: big data path
            {"image": face, "encoding": "rgba8"},  # valid
            {"fields": {**good}, "info": {"k": [0.0] * 9, "p": [0.0] * 12}},  # uncalibrated
            {"fields": {**good}, "info": {"width": 640, "height": 480}},  # pure resize: ok
            {"fields": {**good}, "send_info": False},  # no info with this stamp
            {"fields": {**good}, "info": {"d": [-0.1, 0.01, 0.0, 0.0, 0.0]}},  # raw: K + D
            {"fields": {**bgr_to_image_fields(face, "mono16", bigendian=True)}},
            {"fields": {**good, "data": rng.integers(0, 256, len(good["data"]),
                                                      dtype=np.uint8).tobytes()}},  # noise
        ]
        for _ in range(2):  # every kind twice: logged once
            for b in bad:
                h.publish(b.get("image"), encoding=b.get("encoding", "bgr8"),
                          fields=b.get("fields"), info=b.get("info"),
                          send_info=b.get("send_info", True))
                # slower than one inference, so that the 1-slot mailbox drops none of them
                time.sleep(0.2)
        time.sleep(1.0)
        assert node.proc.poll() is None, f"node died:\n{node.log}"
        h.clear()
        stamps = [_sec(h.publish(face)) for _ in range(3)]
        assert h.wait_for(lambda: any(_sec(m.header.stamp) in stamps and len(m.heads) == 1
                                      for m in h.msgs("heads")), 20.0), node.log
        log = node.log
        for needle in ("unsupported image encoding 'bayer_rggb8'",
                       "unsupported image encoding '32FC1'", "CameraInfo K contains NaN or inf",
                       "CameraInfo D contains NaN or inf",
                       "aspect ratio differs", "step 10 is smaller than one row",
                       "K is all zero (uncalibrated camera)"):
            assert node.count(needle) == 1, (needle, log)
        assert node.count("truncated") <= 2 and node.count("empty") == 1, log
        assert "Traceback" not in log, log
    finally:
        h.close()
        rc = node.stop()
    assert rc == 0, node.log


def test_follow_mode_two_people_and_primary_by_id(renderer, ros_env, ros_context):
    """detect_every_n = 4: the detector runs on every 4th frame only, faces are followed from
    the landmarks in between; two people keep their ids; head_pose is person 2. Trained weights:
    a random-init network's landmarks do not fit a face, so the pipeline would (rightly) drop
    the followed faces and detect on every frame."""
    from head_pose_ros.geometry import rot_y

    weights = _trained_weights()
    if weights is None or not weights.is_file():
        pytest.skip("no trained model: following needs landmarks that fit the face")
    node = _start(weights, ros_env, "tracker_min_hits:=1", "detect_every_n:=4",
                  "primary_person:=tracked_id", "primary_id:=2", "diagnostics_period:=0.3")
    h = Harness()
    try:
        h.wait_connected()
        n = 12
        for i in range(n):
            poses = [(rot_y(0.1), np.array([-0.12 + 0.002 * i, 0.0, 0.65])),
                     (rot_y(-0.1), np.array([0.12, 0.0, 0.6]))]
            h.publish(renderer.render(poses, K_TEST, (W, H)))
            h.wait_for(lambda i=i: len(h.msgs("heads")) >= i + 1, 5.0)
        heads = h.msgs("heads")
        assert len(heads) == n
        assert all(sorted(hp.id for hp in m.heads) == [1, 2] for m in heads), \
            [[hp.id for hp in m.heads] for m in heads]
        # id 1 is on the left (first detected left to right is not guaranteed: check by x)
        xs = {hp.id: hp.pose.pose.position.x for hp in heads[-1].heads}
        left_id = min(xs, key=xs.get)
        for m in heads:
            x_now = {hp.id: hp.pose.pose.position.x for hp in m.heads}
            assert min(x_now, key=x_now.get) == left_id  # ids never swap
        h.wait_for(lambda: len(h.msgs("pose")) >= n, 5.0)  # its own topic: may lag heads
        poses = h.msgs("pose")
        assert len(poses) == n
        for p, m in zip(poses, heads, strict=True):
            two = next(hp for hp in m.heads if hp.id == 2)
            assert p.header.stamp == m.header.stamp
            assert p.pose.pose.position.x == pytest.approx(two.pose.pose.position.x)
        assert h.wait_for(lambda: h.msgs("diag") and int(
            {v.key: v.value for v in h.msgs("diag")[-1].status[0].values}["processed"]) >= n, 5)
        kv = {v.key: v.value for v in h.msgs("diag")[-1].status[0].values}
        assert int(kv["detector_runs"]) == 3, kv  # frames 0, 4, 8
    finally:
        h.close()
        node.stop()


def test_tracking_off_reports_every_face_with_id_0(random_weights, renderer, ros_env,
                                                  ros_context):
    node = _start(random_weights, ros_env, "tracking:=false", "publish_dense_landmarks:=true")
    h = Harness()
    try:
        h.wait_connected()
        for i in range(2):
            h.publish(_face(renderer))
            h.wait_for(lambda i=i: len(h.msgs("heads")) >= i + 1, 5.0)
        heads = h.msgs("heads")
        assert len(heads) == 2 and all(len(m.heads) == 1 for m in heads)  # no min_hits wait
        hp = heads[0].heads[0]
        assert hp.id == 0 and hp.frames_seen == 1
        assert len(hp.vertices) == 3 * 1220 and hp.topology == "arkit1220"
        assert hp.face_area > 0.01  # m^2 of the dense mesh
        assert not h.msgs("tf")  # ids are not unique: no TF frames
        # head_pose is its own topic: its second message may arrive after the second heads
        h.wait_for(lambda: len(h.msgs("pose")) >= 2, 5.0)
        assert len(h.msgs("pose")) == 2
    finally:
        h.close()
        node.stop()


def test_no_backlog_when_input_is_faster_than_inference(random_weights, renderer, ros_env,
                                                        ros_context):
    node = _start(random_weights, ros_env, "tracker_min_hits:=1", "diagnostics_period:=0.5")
    h = Harness()
    face = _face(renderer)
    try:
        h.wait_connected()
        for _ in range(3):  # warm-up (first inference is slow)
            h.publish(face)
            time.sleep(0.3)
        h.wait_for(lambda: len(h.msgs("heads")) >= 3, 10.0)
        h.clear()
        n, rate = 80, 100.0
        stamps = []
        t_start = time.monotonic()
        for i in range(n):
            stamps.append(_sec(h.publish(face)))
            time.sleep(max(0.0, t_start + (i + 1) / rate - time.monotonic()))
        t_last = time.monotonic()
        assert h.wait_for(lambda: any(_sec(m.header.stamp) == stamps[-1]
                                      for m in h.msgs("heads")), 5.0), "newest frame never done"
        with h._lock:
            done = [(t, _sec(m.header.stamp)) for t, m in h.got["heads"]]
        t_newest = next(t for t, s in done if s == stamps[-1])
        processed = len(done)
        # with a 1-slot mailbox the newest frame is done within ~2 inference times after it was
        # sent (the one in progress + itself), never after a queue of stale frames
        per_frame = (t_newest - t_start) / max(processed, 1)
        assert processed < n, "input was not faster than inference: test is meaningless"
        assert t_newest - t_last < max(1.0, 3 * per_frame), (t_newest - t_last, per_frame)
        # outputs come in stamp order, and skip frames instead of queueing them
        out_stamps = [s for _, s in done]
        assert out_stamps == sorted(out_stamps)
        time.sleep(1.2)
        kv = {v.key: v.value for v in h.msgs("diag")[-1].status[0].values}
        assert int(kv["dropped"]) > 0, kv
        print(f"\nbacklog test: {n} frames at {rate:.0f} Hz -> {processed} processed, "
              f"{kv['dropped']} dropped, newest done {1e3 * (t_newest - t_last):.0f} ms after "
              f"the last send, compute {kv['compute_mean_ms']} ms/frame")
    finally:
        h.close()
        node.stop()


def _diag_kv(h: Harness) -> dict[str, str]:
    d = h.msgs("diag")
    return {v.key: v.value for v in d[-1].status[0].values} if d else {}


def _diag_level(h: Harness) -> int | None:
    d = h.msgs("diag")
    return d[-1].status[0].level[0] if d and isinstance(d[-1].status[0].level, bytes) \
        else (int(d[-1].status[0].level) if d else None)


def test_compressed_input_and_bad_compressed_data(random_weights, renderer, ros_env,
                                                  ros_context):
    """Issue 13 item 5: image_transport:=compressed subscribes to '<image>/compressed' (JPEG or
    PNG, format strings as image_transport writes them); bad data is one log line, no crash."""
    from head_pose_ros.ros.compressed import bgr_to_compressed

    node = _start(random_weights, ros_env, "image_transport:=compressed", "tracker_min_hits:=1",
                  "diagnostics_period:=0.3")
    h = Harness()
    face = _face(renderer)
    try:
        h.wait_connected_to("image/compressed")
        assert "'/image/compressed' (sensor_msgs/CompressedImage)" in node.log, node.log
        stamps = []
        for codec in ("jpeg", "png", "jpeg"):
            fmt, data = bgr_to_compressed(face, codec, original_encoding="rgb8")
            stamps.append(_sec(h.publish_compressed(fmt, data)))
            n = len(stamps)
            assert h.wait_for(lambda n=n: len(h.msgs("heads")) >= n, 20.0), node.log
        heads = h.msgs("heads")
        assert [_sec(m.header.stamp) for m in heads] == stamps
        assert all(len(m.heads) == 1 and m.heads[0].pose.pose.position.z > 0 for m in heads)
        jpeg = bgr_to_compressed(face, "jpeg")[1]
        bad = [("jpeg", b""), ("jpeg", b"definitely not an image"), ("jpeg", jpeg[:64]),
               ("16UC1; compressedDepth png", jpeg)]
        for _ in range(2):  # every kind twice: logged once
            for fmt, data in bad:
                h.publish_compressed(fmt, data)
                time.sleep(0.2)
        time.sleep(0.5)
        assert node.proc.poll() is None, node.log
        assert node.count("compressed image skipped") == len(bad), node.log
        assert "Traceback" not in node.log
        h.clear()
        st = _sec(h.publish_compressed(*bgr_to_compressed(face, "jpeg")))
        assert h.wait_for(lambda: any(_sec(m.header.stamp) == st and len(m.heads) == 1
                                      for m in h.msgs("heads")), 20.0), node.log
        assert h.wait_for(lambda: int(_diag_kv(h).get("skipped", 0)) == 2 * len(bad), 5.0)
    finally:
        h.close()
        rc = node.stop()
    assert rc == 0, node.log


@pytest.mark.parametrize("info_mode", ["none", "slow"])
def test_missing_or_slow_camera_info_costs_no_wait_per_frame(random_weights, renderer, ros_env,
                                                             ros_context, info_mode):
    """Issue 13 item 5: without CameraInfo (or with one far slower than the images) each frame
    used to wait camera_info_wait (here 0.4 s): compute per frame >= 400 ms, < 2.5 fps."""
    node = _start(random_weights, ros_env, "camera_info_wait:=0.4", "tracker_min_hits:=1",
                  "diagnostics_period:=0.5")
    h = Harness()
    face = _face(renderer)
    try:
        h.wait_connected()
        h.publish(face, send_info=info_mode == "slow")  # warm-up (first inference is slow)
        assert h.wait_for(lambda: len(h.msgs("heads")) >= 1, 20.0), node.log
        h.clear()
        t0 = time.monotonic()
        n = 30
        for i in range(n):
            # slow: a CameraInfo once a second, with a stamp of its own
            if info_mode == "slow" and i % 15 == 7:
                h.publish(face, send_info=True, fields=None)
            else:
                h.publish(face, send_info=False)
            time.sleep(1 / 15)
        assert h.wait_for(lambda: len(h.msgs("heads")) >= 0.5 * n, 10.0), len(h.msgs("heads"))
        took = time.monotonic() - t0
        done = len(h.msgs("heads"))
        time.sleep(0.6)
        kv = _diag_kv(h)
        print(f"\ncamera_info {info_mode}: {done} of {n} frames in {took:.1f} s, compute "
              f"{kv.get('compute_mean_ms')} ms/frame, waits {kv.get('camera_info_waits')}")
        assert float(kv["compute_mean_ms"]) < 250.0, kv  # far below the 400 ms wait
        assert done >= 0.6 * n
    finally:
        h.close()
        node.stop()


def test_frame_prefix_keeps_two_nodes_apart(random_weights, renderer, ros_env, ros_context):
    """Issue 13 item 6: two nodes (one per camera), each with a frame_prefix: their TF frames
    do not collide on /tf; issue 17: their face ids differ too (per-node id prefixes)."""
    nodes = [NodeProcess(["-p", f"weights:={random_weights}", "-p", "detector:=cascade",
                          "-p", "tracker_min_hits:=1", "-p", f"frame_prefix:={cam}/",
                          "-r", f"__ns:=/{cam}"], ros_env) for cam in ("left", "right")]
    h = Harness()
    try:
        for n in nodes:
            n.wait_ready()
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        pubs = {cam: h.node.create_publisher(Image, f"/{cam}/image", qos_profile_sensor_data)
                for cam in ("left", "right")}
        assert h.wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()), 20)
        from head_pose_ros.image_encoding import bgr_to_image_fields

        f = bgr_to_image_fields(_face(renderer), "bgr8")
        for _ in range(4):
            for cam, pub in pubs.items():
                msg = Image()
                msg.header.stamp = h.stamp()
                msg.header.frame_id = f"{cam}_optical_frame"
                msg.height, msg.width, msg.encoding = f["height"], f["width"], "bgr8"
                msg.step, msg.data = f["step"], f["data"]
                pub.publish(msg)
            time.sleep(0.4)

        def children():
            return {(t.header.frame_id, t.child_frame_id) for m in h.msgs("tf")
                    for t in m.transforms}

        import re

        def ids(cam):  # the face ids of cam's TF frames (issue 17: per-node unique ids)
            got = {(k, m.group(1)) for f, c in children() if f == f"{cam}_optical_frame"
                   for k in ("face", "gaze") if (m := re.fullmatch(rf"{cam}/{k}_(\w+)", c))}
            return {i for k, i in got if ("face", i) in got and ("gaze", i) in got}

        assert h.wait_for(lambda: ids("left") and ids("right"), 20.0), (children(),
                                                                         nodes[0].log)
        assert not ids("left") & ids("right")  # two nodes never hand out the same id
        assert not any(c.startswith("face_") for _, c in children())
    finally:
        h.close()
        for n in nodes:
            n.stop()


def test_diagnostics_rate_and_error_level(random_weights, ros_env, ros_context):
    """Issue 13 item 7: the output rate was capped at 40 Hz (200 entries / 5 s) and the level
    never became ERROR, even when every frame failed."""
    node = _start(random_weights, ros_env, "diagnostics_period:=0.3", "publish_markers:=false")
    h = Harness()
    small = np.full((60, 80, 3), 100, np.uint8)  # no face: the detector only, ~1 ms a frame
    info = {"k": [100.0, 0, 39.5, 0, 100.0, 29.5, 0, 0, 1.0]}
    try:
        h.wait_connected()
        from head_pose_ros.image_encoding import bgr_to_image_fields

        bad = {**bgr_to_image_fields(small, "bgr8"), "encoding": "bayer_rggb8"}
        for _ in range(20):  # every frame fails
            h.publish(fields=bad, info=info)
            time.sleep(0.02)
        assert h.wait_for(lambda: _diag_level(h) == 2, 5.0), (_diag_level(h), _diag_kv(h))
        msg = h.msgs("diag")[-1].status[0].message
        assert "frames failed" in msg and "bayer_rggb8" in msg, msg
        for _ in range(30):  # good again: the failures are no longer the majority
            h.publish(small, info=info)
            time.sleep(0.02)
        assert h.wait_for(lambda: _diag_level(h) == 1, 5.0), (_diag_level(h), _diag_kv(h))
        t_end = time.monotonic() + 6.0  # longer than the 5 s window
        t_next = time.monotonic()
        while time.monotonic() < t_end:
            h.publish(small, info=info)
            t_next += 1 / 150
            time.sleep(max(0.0, t_next - time.monotonic()))
        time.sleep(0.4)
        kv = _diag_kv(h)
        print(f"\ndiagnostics at 150 Hz in: output_rate_hz {kv['output_rate_hz']}, "
              f"received {kv['received']}, processed {kv['processed']}, level {_diag_level(h)}")
        assert float(kv["output_rate_hz"]) > 60.0, kv
        assert _diag_level(h) == 0, kv  # the failures left the window
    finally:
        h.close()
        node.stop()


@pytest.mark.slow
def test_memory_does_not_grow(random_weights, renderer, ros_env, ros_context):
    """A few thousand small frames (every 5th with a face): RSS stays flat after warm-up."""
    import psutil

    from head_pose_ros.geometry import rot_y

    node = _start(random_weights, ros_env, "tracker_min_hits:=1", "publish_debug_image:=true",
                  "diagnostics_period:=0.5")
    h = Harness()
    k_small = K_TEST * np.array([[0.5], [0.5], [1.0]])
    k_small[0, 2], k_small[1, 2] = 79.5, 59.5
    faces = [renderer.render([(rot_y(a), np.array([0.0, 0.0, 0.45]))], k_small, (160, 120))
             for a in np.linspace(-0.3, 0.3, 7)]
    blank = np.full((120, 160, 3), 100, np.uint8)
    proc = psutil.Process(node.proc.pid)
    info = {"k": k_small.reshape(-1).tolist()}
    try:
        h.wait_connected()

        def burst(n: int, offset: int) -> None:
            for i in range(n):
                img = faces[(i // 5) % len(faces)] if i % 5 == 0 else blank
                h.publish(img, info=info)
                if i % 20 == 0:
                    time.sleep(0.01)
                # keep the inference busy but never let the reader starve
                time.sleep(0.002)

        burst(800, 0)
        time.sleep(1.0)
        rss0 = proc.memory_info().rss
        burst(2400, 800)
        time.sleep(1.5)
        rss1 = proc.memory_info().rss
        kv = {v.key: v.value for v in h.msgs("diag")[-1].status[0].values}
        grow_mb = (rss1 - rss0) / 2**20
        print(f"\nmemory test: RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MB over "
              f"{kv['received']} frames received ({kv['processed']} processed, "
              f"{kv['dropped']} dropped)")
        # best effort at ~400 Hz: DDS drops part of the 3200 frames before the node's
        # callback on a busy 2-core machine (1946 received in one CI-like run); a thousand
        # frames through the callback and hundreds through inference still exercise every path
        # (200: 263 and 300 were processed in two loaded runs on this 2-core machine)
        assert int(kv["received"]) > 1000 and int(kv["processed"]) > 200, kv
        assert grow_mb < 15.0, f"RSS grew by {grow_mb:.1f} MB"
        assert node.proc.poll() is None
    finally:
        h.close()
        node.stop()


def _trained_weights() -> Path | None:
    env = os.environ.get("HEAD_POSE_TEST_WEIGHTS")
    if env:
        return Path(env)
    from head_pose_ros.ros.params import default_weights_path

    p = default_weights_path()
    return Path(p) if p else None


def test_pose_within_tolerance_with_trained_weights(renderer, ros_env, ros_context):
    weights = _trained_weights()
    if weights is None or not weights.is_file():
        pytest.skip("no trained model: set HEAD_POSE_TEST_WEIGHTS or install the default "
                    "weights (share/head_pose_ros/weights/); a random-init network cannot "
                    "estimate a pose")
    from scipy.spatial.transform import Rotation

    from head_pose_ros.frames import person_frames
    from head_pose_ros.geometry import rot_x, rot_y

    node = _start(weights, ros_env, "tracker_min_hits:=1", "filter:=none")
    h = Harness()
    try:
        h.wait_connected()
        errs_r, errs_t = [], []
        for yaw, pitch, x, z in [(0.0, 0.0, 0.0, 0.6), (0.3, 0.1, 0.05, 0.7),
                                 (-0.35, -0.1, -0.05, 0.55), (0.15, 0.2, 0.0, 0.8)]:
            rot = rot_y(yaw) @ rot_x(pitch)
            trans = np.array([x, 0.0, z])
            img = renderer.render([(rot, trans)], K_TEST, (W, H))
            h.clear()
            st = _sec(h.publish(img))
            assert h.wait_for(lambda st=st: any(_sec(m.header.stamp) == st
                                                for m in h.msgs("heads")), 20.0)
            m = next(m for m in h.msgs("heads") if _sec(m.header.stamp) == st)
            assert len(m.heads) == 1
            p = m.heads[0].pose.pose
            q = [p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]
            est = Rotation.from_quat(q).as_matrix()  # the REP-155 face frame
            want_r, want_t = person_frames(rot, trans, renderer.topology.vertices,
                                           renderer.topology.landmarks68)["face"]
            errs_r.append(np.degrees(np.linalg.norm(Rotation.from_matrix(est.T @ want_r)
                                                    .as_rotvec())))
            errs_t.append(np.linalg.norm([p.position.x, p.position.y, p.position.z] - want_t))
        # the rendered template face is out of the training distribution: loose tolerances
        assert np.mean(errs_r) < 15.0 and np.mean(errs_t) < 0.1, (errs_r, errs_t)
    finally:
        h.close()
        node.stop()


def test_demo_publishes_matching_image_and_camera_info(random_weights, ros_env, ros_context):
    import rclpy  # noqa: F401
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    demo = subprocess.Popen([str(DEMO_EXE), "--ros-args", "-p", f"weights:={random_weights}",
                             "-p", "rate:=20.0", "-p", "num_people:=2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ros_env,
                            text=True)
    h = Harness()
    imgs, infos = [], []
    h.node.create_subscription(Image, "image", imgs.append, qos_profile_sensor_data)
    h.node.create_subscription(CameraInfo, "camera_info", infos.append, qos_profile_sensor_data)
    try:
        assert h.wait_for(lambda: len(imgs) >= 5 and len(infos) >= 5, 30.0), "demo silent"
        img, info = imgs[-2], None
        for ci in infos:
            if _sec(ci.header.stamp) == _sec(img.header.stamp):
                info = ci
        assert info is not None and info.header.frame_id == img.header.frame_id
        assert (info.width, info.height) == (img.width, img.height) == (448, 336)
        assert info.k[0] > 0 and img.encoding == "bgr8"
        from head_pose_ros.detection import HaarCascadeDetector
        from head_pose_ros.image_encoding import image_msg_to_bgr

        faces = HaarCascadeDetector().detect(image_msg_to_bgr(img))
        assert len(faces) >= 1  # the rendered heads are detectable
    finally:
        h.close()
        demo.send_signal(2)
        try:
            out, _ = demo.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            demo.kill()
            out, _ = demo.communicate()
    assert demo.returncode == 0, out


@pytest.mark.parametrize("size", [(W, H), (960, 720)])
def test_demo_plays_a_video_file_uncalibrated(tmp_path, renderer, ros_env, ros_context, size):
    """Video mode; 960x720 (2 MB per frame) only arrives with the shipped Fast DDS profile."""
    import cv2
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    if not vw.isOpened():
        pytest.skip("OpenCV cannot write an MJPG avi here")
    for i in range(5):
        vw.write(cv2.resize(_face(renderer, yaw=0.05 * i), size))
    vw.release()
    env = dict(ros_env)
    if size != (W, H):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO / "config" / "fastdds_large_images.xml")
    demo = subprocess.Popen([str(DEMO_EXE), "--ros-args", "-p", f"video:={path}",
                             "-p", "rate:=30.0", "-p", "frame_id:=video_cam"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    h = Harness()
    imgs, infos = [], []
    h.node.create_subscription(Image, "image", imgs.append, qos_profile_sensor_data)
    h.node.create_subscription(CameraInfo, "camera_info", infos.append, qos_profile_sensor_data)
    try:
        assert h.wait_for(lambda: len(imgs) >= 12, 30.0), "demo silent"  # > 5: it loops
        img = imgs[-1]
        assert (img.width, img.height, img.header.frame_id) == (*size, "video_cam")
        info = next(ci for ci in infos if ci.header.stamp == img.header.stamp)
        assert info.header.frame_id == "video_cam" and not any(info.k)  # uncalibrated
    finally:
        h.close()
        demo.send_signal(2)
        try:
            out, _ = demo.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            demo.kill()
            out, _ = demo.communicate()
    assert demo.returncode == 0, out
