"""Real DDS round trips (rclpy, Fast DDS over loopback) of the package's messages and of TFMessage.

The publisher runs in a child process (this file, executed as a script) and the subscriber in
the test process, so every message crosses the middleware: discovery, CDR serialisation, UDP or
shared-memory transport. ROS_DOMAIN_ID / ROS_AUTOMATIC_DISCOVERY_RANGE come from conftest.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

# Upstream tf2_msgs/msg/TFMessage (geometry_msgs/TransformStamped[] transforms), Kilted.
TF_MESSAGE_TYPE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"
HEADS_TOPIC = "/head_pose_test/heads"
TF_TOPIC = "/tf"
FRAME = "camera_color_optical_frame"
STAMP = (1_700_000_123, 456_789_000)


def _tf_qos():
    """QoS of tf2_ros' TransformBroadcaster / TransformListener on /tf."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        depth=100,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def _heads_qos():
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def make_head_pose_array():
    """A realistic two-person HeadPoseArray (deterministic)."""
    from geometry_msgs.msg import Point, PoseWithCovariance, Quaternion, Vector3

    from head_pose_ros.msg import HeadPose, HeadPoseArray

    rng = np.random.default_rng(1234)
    msg = HeadPoseArray()
    msg.header.stamp.sec, msg.header.stamp.nanosec = STAMP
    msg.header.frame_id = FRAME

    # person 1: tracked, dense output on
    a = HeadPose()
    a.id = 3
    a.frames_seen = 42
    q = np.array([0.05, -0.21, 0.02, 0.976])
    q /= np.linalg.norm(q)
    a.pose = PoseWithCovariance()
    a.pose.pose.position = Point(x=0.051, y=-0.023, z=0.642)
    a.pose.pose.orientation = Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])
    cov = np.diag([2.5e-5, 2.5e-5, 4.0e-4, 1.2e-3, 1.5e-3, 8.0e-4])
    cov[0, 2] = cov[2, 0] = 3.0e-5
    a.pose.covariance = cov.reshape(-1)
    a.gaze_direction = Vector3(x=0.41, y=0.08, z=-0.908)
    a.box = np.array([301.5, 188.25, 402.0, 301.75], dtype=np.float32)
    a.score = 0.973
    a.landmarks68 = (rng.uniform(300, 400, 136)).astype(np.float32).tolist()
    a.vertices = (rng.normal(0.0, 0.05, 3 * 1220)).astype(np.float32).tolist()
    a.topology = "arkit1220"
    a.face_width = 0.1412
    a.face_area = 0.0318

    # person 2: untracked, dense output off, unknown area
    b = HeadPose()
    b.id = 0
    b.frames_seen = 1
    b.pose.pose.position = Point(x=-0.35, y=0.02, z=1.9)
    b.pose.pose.orientation = Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)
    b.pose.covariance = np.diag([1e-3, 1e-3, 2e-2, 5e-3, 5e-3, 5e-3]).reshape(-1)
    b.gaze_direction = Vector3(x=0.0, y=0.0, z=-1.0)
    b.box = np.array([10.0, 20.0, 42.5, 61.0], dtype=np.float32)
    b.score = 0.51
    b.landmarks68 = []
    b.vertices = []
    b.topology = ""
    b.face_width = float("nan")
    b.face_area = float("nan")

    msg.heads = [a, b]
    return msg


def make_tf_message():
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    out = TFMessage()
    for i, name in ((3, "face_3"), (3, "gaze_3")):
        t = TransformStamped()
        t.header.stamp.sec, t.header.stamp.nanosec = STAMP
        t.header.frame_id = FRAME
        t.child_frame_id = name
        t.transform.translation.x = 0.05 * i
        t.transform.translation.y = -0.02
        t.transform.translation.z = 0.64
        t.transform.rotation.x = 0.5
        t.transform.rotation.y = -0.5
        t.transform.rotation.z = 0.5
        t.transform.rotation.w = 0.5
        out.transforms.append(t)
    return out


def _f32(x):
    return np.asarray(x, dtype=np.float32)


def _assert_head_equal(got, exp) -> None:
    assert got.id == exp.id
    assert got.frames_seen == exp.frames_seen
    gp, ep = got.pose.pose, exp.pose.pose
    assert (gp.position.x, gp.position.y, gp.position.z) == (
        ep.position.x,
        ep.position.y,
        ep.position.z,
    )
    assert (gp.orientation.x, gp.orientation.y, gp.orientation.z, gp.orientation.w) == (
        ep.orientation.x,
        ep.orientation.y,
        ep.orientation.z,
        ep.orientation.w,
    )
    np.testing.assert_array_equal(np.asarray(got.pose.covariance), np.asarray(exp.pose.covariance))
    assert (got.gaze_direction.x, got.gaze_direction.y, got.gaze_direction.z) == (
        exp.gaze_direction.x,
        exp.gaze_direction.y,
        exp.gaze_direction.z,
    )
    np.testing.assert_array_equal(_f32(got.box), _f32(exp.box))
    assert got.score == pytest.approx(exp.score, rel=1e-7)
    assert len(got.landmarks68) == len(exp.landmarks68)
    np.testing.assert_array_equal(_f32(got.landmarks68), _f32(exp.landmarks68))
    assert len(got.vertices) == len(exp.vertices)
    np.testing.assert_array_equal(_f32(got.vertices), _f32(exp.vertices))
    assert got.topology == exp.topology
    for name in ("face_width", "face_area"):
        g, e = getattr(got, name), getattr(exp, name)
        if math.isnan(e):
            assert math.isnan(g), name
        else:
            assert g == pytest.approx(e, rel=1e-7), name


def _receive_one(msg_type, topic: str, qos, what: str, timeout: float = 30.0):
    """Subscribe, start the publisher child process, return (message, publisher infos)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    proc = None
    try:
        node = rclpy.create_node("head_pose_test_sub", context=context)
        received = []
        node.create_subscription(msg_type, topic, received.append, qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), what],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            if proc.poll() is not None:
                break
        infos = node.get_publishers_info_by_topic(topic)
        if not received:
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            pytest.fail(f"no {what} message on {topic} within {timeout} s; publisher: {out}")
        executor.remove_node(node)
        node.destroy_node()
        return received[0], infos
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        rclpy.shutdown(context=context)


def test_head_pose_array_round_trip() -> None:
    from head_pose_ros.msg import HeadPoseArray

    got, infos = _receive_one(HeadPoseArray, HEADS_TOPIC, _heads_qos(), "heads")
    exp = make_head_pose_array()
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == STAMP
    assert got.header.frame_id == FRAME
    assert len(got.heads) == len(exp.heads) == 2
    for g, e in zip(got.heads, exp.heads, strict=True):
        _assert_head_equal(g, e)
    assert any(i.topic_type == "head_pose_ros/msg/HeadPoseArray" for i in infos)


def _hash_string(type_hash) -> str:
    return f"RIHS{type_hash.version:02d}_{type_hash.value.hex()}"


def test_tf_message_round_trip_and_type_hash() -> None:
    from tf2_msgs.msg import TFMessage

    got, infos = _receive_one(TFMessage, TF_TOPIC, _tf_qos(), "tf")
    exp = make_tf_message()
    assert len(got.transforms) == 2
    for g, e in zip(got.transforms, exp.transforms, strict=True):
        assert g.header.frame_id == e.header.frame_id == FRAME
        assert (g.header.stamp.sec, g.header.stamp.nanosec) == STAMP
        assert g.child_frame_id == e.child_frame_id
        gt, et = g.transform, e.transform
        assert (gt.translation.x, gt.translation.y, gt.translation.z) == (
            et.translation.x,
            et.translation.y,
            et.translation.z,
        )
        assert (gt.rotation.x, gt.rotation.y, gt.rotation.z, gt.rotation.w) == (
            et.rotation.x,
            et.rotation.y,
            et.rotation.z,
            et.rotation.w,
        )
    # what the middleware announces for the remote publisher: the upstream type and hash, and
    # tf2_ros' QoS, so real tf2 listeners match it
    pubs = [i for i in infos if i.topic_type == "tf2_msgs/msg/TFMessage"]
    assert pubs, infos
    assert _hash_string(pubs[0].topic_type_hash) == TF_MESSAGE_TYPE_HASH
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    assert pubs[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert pubs[0].qos_profile.durability == DurabilityPolicy.VOLATILE


def test_tf_message_type_description_file() -> None:
    """The generated type description of the fixture carries the upstream hash."""
    from ament_index_python.packages import get_package_share_directory

    path = Path(get_package_share_directory("tf2_msgs")) / "msg" / "TFMessage.json"
    hashes = {h["type_name"]: h["hash_string"] for h in json.loads(path.read_text())["type_hashes"]}
    assert hashes["tf2_msgs/msg/TFMessage"] == TF_MESSAGE_TYPE_HASH


# The interface of the package's messages. A change of msg/ changes these hashes: bump the package
# version, say so in the changelog/README (recorded bags and other nodes depend on it), then
# update the constants here.
# 0.2.0 (issue 17): HeadPose.face_id, attention, attention_angle; FaceAttention(Array).
MESSAGE_TYPE_HASHES = {
    "head_pose_ros/msg/HeadPose": (
        "RIHS01_837f8ab661733bdcf84805e0beda8e5cdd534147fa3a3f46ce04a9676115b54a"
    ),
    "head_pose_ros/msg/HeadPoseArray": (
        "RIHS01_1db04c4e03f7d827c3657c4b2a21173d478cd0bfdf02549615bcd360ba74c169"
    ),
    "head_pose_ros/msg/FaceAttention": (
        "RIHS01_15753f8f2a471bb4b27a4a9e258ee2c8b0077086c4f7496488bb4457d91ba596"
    ),
    "head_pose_ros/msg/FaceAttentionArray": (
        "RIHS01_95b92977501b0bf99b55c97c4e6f83d828950b158e02117be90bf2ab6eb81b79"
    ),
}


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPE_HASHES))
def test_message_interface_is_stable(type_name: str) -> None:
    from ament_index_python.packages import get_package_share_directory

    package, _, name = type_name.split("/")
    path = Path(get_package_share_directory(package)) / "msg" / f"{name}.json"
    hashes = {h["type_name"]: h["hash_string"] for h in json.loads(path.read_text())["type_hashes"]}
    assert hashes[type_name] == MESSAGE_TYPE_HASHES[type_name], (
        f"{type_name} changed: deliberate? then bump the version and update MESSAGE_TYPE_HASHES"
    )


def _publish(what: str, seconds: float = 60.0) -> None:
    """Child process: publish the sample message repeatedly until killed."""
    import rclpy

    rclpy.init()
    node = rclpy.create_node("head_pose_test_pub")
    if what == "heads":
        from head_pose_ros.msg import HeadPoseArray

        pub = node.create_publisher(HeadPoseArray, HEADS_TOPIC, _heads_qos())
        msg = make_head_pose_array()
    elif what == "tf":
        from tf2_msgs.msg import TFMessage

        pub = node.create_publisher(TFMessage, TF_TOPIC, _tf_qos())
        msg = make_tf_message()
    else:
        raise SystemExit(f"unknown message kind {what!r}")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pub.publish(msg)
        time.sleep(0.05)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    _publish(sys.argv[1])
