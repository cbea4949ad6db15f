"""REP-155 frames from the head frame, message conversions, markers (in-process, no node)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from head_pose_ros.covariance import sanitize_covariance
from head_pose_ros.frames import FACE_FROM_HEAD, GAZE_FROM_HEAD, eye_midpoint, rep155_frames
from head_pose_ros.geometry import quaternion_to_matrix
from head_pose_ros.ros.conversions import pose_msg, transform_msg


def test_fixed_rotations_are_proper():
    for m in (FACE_FROM_HEAD, GAZE_FROM_HEAD):
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(m) == pytest.approx(1.0)


def test_frontal_face_axes_in_camera():
    """R = I: the person looks into the camera."""
    fr = rep155_frames(np.eye(3), np.array([0.0, 0.0, 0.6]), np.zeros(3))
    rf, t = fr["face"]
    np.testing.assert_allclose(rf[:, 0], [0, 0, -1])  # x out of the face = towards the camera
    np.testing.assert_allclose(rf[:, 1], [1, 0, 0])  # y = the person's left = camera right
    np.testing.assert_allclose(rf[:, 2], [0, -1, 0])  # z = up = camera -y
    rg, tg = fr["gaze"]
    np.testing.assert_allclose(rg[:, 2], [0, 0, -1])  # z along the gaze
    np.testing.assert_allclose(rg[:, 0], [-1, 0, 0])  # x = the person's right
    np.testing.assert_allclose(rg[:, 1], [0, 1, 0])  # y = down (towards the chin)
    np.testing.assert_allclose(t, [0, 0, 0.6])
    np.testing.assert_allclose(tg, t)


def test_axes_agree_with_the_face_geometry(topo):
    """For random poses, the frames' axes point where the template's landmarks say they should."""
    v = topo.vertices.astype(np.float64)
    lm = topo.landmarks68
    origin_h = eye_midpoint(v, lm)
    # origin between the eyes: equidistant from the two inner eye corners (39, 42)
    assert abs(np.linalg.norm(v[lm[39]] - origin_h) - np.linalg.norm(v[lm[42]] - origin_h)) < 3e-3
    rng = np.random.default_rng(0)
    for _ in range(20):
        rot = Rotation.from_rotvec(rng.normal(0, 0.7, 3)).as_matrix()
        trans = np.array([0.1, -0.05, 0.8]) + rng.normal(0, 0.05, 3)
        vc = v @ rot.T + trans
        fr = rep155_frames(rot, trans, origin_h)
        rf, o = fr["face"]
        np.testing.assert_allclose(o, vc[lm[36:48]].mean(axis=0), atol=1e-9)
        head_centre = vc.mean(axis=0) + rot @ np.array([0, 0, 0.05])  # behind the face
        nose = vc[lm[30]]
        assert (nose - head_centre) @ rf[:, 0] > 0.8 * np.linalg.norm(nose - head_centre)
        left_minus_right = vc[lm[45]] - vc[lm[36]]  # subject's left eye corner - right one
        assert left_minus_right @ rf[:, 1] > 0.95 * np.linalg.norm(left_minus_right)
        up = vc[lm[27]] - vc[lm[8]]  # nose bridge - chin
        assert up @ rf[:, 2] > 0.9 * np.linalg.norm(up)
        rg, og = fr["gaze"]
        np.testing.assert_allclose(rg[:, 2], rf[:, 0], atol=1e-12)
        assert (vc[lm[36]] - vc[lm[45]]) @ rg[:, 0] > 0  # gaze x = the person's right


def test_quaternion_and_transform_messages():
    rng = np.random.default_rng(1)
    for _ in range(10):
        rot = Rotation.from_rotvec(rng.normal(0, 1.0, 3)).as_matrix()
        p = pose_msg(rot, np.array([1.0, 2.0, 3.0]))
        q = np.array([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w])
        np.testing.assert_allclose(quaternion_to_matrix(q), rot, atol=1e-9)
        assert (p.position.x, p.position.y, p.position.z) == (1.0, 2.0, 3.0)
    from std_msgs.msg import Header

    h = Header(frame_id="cam")
    tfm = transform_msg(h, "face_3", np.eye(3), np.array([0.0, 0.1, 0.5]))
    assert tfm.header.frame_id == "cam" and tfm.child_frame_id == "face_3"
    assert tfm.transform.rotation.w == pytest.approx(1.0)


def test_covariance_sanitising():
    a = np.random.default_rng(2).normal(size=(6, 6))
    spd = a @ a.T + 1e-3 * np.eye(6)
    np.testing.assert_allclose(sanitize_covariance(spd), spd)
    bad = spd.copy()
    bad[0, 1] += 0.5  # asymmetric
    bad[5, 5] = -1.0  # indefinite
    s = sanitize_covariance(bad)
    np.testing.assert_allclose(s, s.T)
    assert np.linalg.eigvalsh(s).min() > 0
    nan = spd.copy()
    nan[2, 2] = np.nan
    assert np.all(np.diag(sanitize_covariance(nan)) >= 1e6)


@pytest.mark.ros
def test_head_pose_message_fields(topo):
    from head_pose_ros.frames import FACE_FROM_HEAD
    from head_pose_ros.msg import HeadPose
    from head_pose_ros.ros.conversions import head_pose_msg

    rot = Rotation.from_euler("y", 0.3).as_matrix() @ FACE_FROM_HEAD  # a face-frame pose
    cov = np.diag([1e-4, 1e-4, 4e-4, 1e-3, 1e-3, 1e-3])
    lm2d = np.arange(136, dtype=np.float64).reshape(68, 2)
    m = head_pose_msg(HeadPose, person_id=4, frames_seen=7, rot=rot, trans=np.array([0, 0, 1.0]),
                      cov=cov, box=np.array([1, 2, 3, 4.0]), score=0.9, landmarks68=lm2d,
                      vertices=topo.vertices, topology_name="arkit1220", face_width=0.14,
                      face_area=0.038)
    assert m.id == 4 and m.frames_seen == 7 and m.topology == "arkit1220"
    assert len(m.landmarks68) == 136 and m.landmarks68[3] == 3.0
    assert len(m.vertices) == 3 * 1220
    np.testing.assert_allclose(np.array(m.pose.covariance).reshape(6, 6), cov)
    g = np.array([m.gaze_direction.x, m.gaze_direction.y, m.gaze_direction.z])
    # the face frame's x axis = the head's forward direction (-z of the head frame)
    np.testing.assert_allclose(g, rot[:, 0])
    np.testing.assert_allclose(g, Rotation.from_euler("y", 0.3).as_matrix() @ [0, 0, -1],
                               atol=1e-12)
    m2 = head_pose_msg(HeadPose, person_id=0, frames_seen=1, rot=rot, trans=np.zeros(3), cov=cov,
                       box=np.zeros(4), score=0.5, landmarks68=None, vertices=None,
                       topology_name="arkit1220", face_width=float("nan"),
                       face_area=float("nan"))
    assert len(m2.vertices) == 0 and m2.topology == ""


def test_markers_and_deletes(topo):
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker

    from head_pose_ros.ros.markers import delete_markers, person_markers

    h = Header(frame_id="cam")
    vc = topo.vertices + np.array([0, 0, 0.6])
    ms = person_markers(h, 5, vc, topo.triangles, topo.landmarks68, FACE_FROM_HEAD,
                        np.array([0, 0, 0.56]), 0.5)
    kinds = {(m.ns, m.type) for m in ms}
    assert ("mesh", Marker.TRIANGLE_LIST) in kinds and ("landmarks", Marker.POINTS) in kinds
    assert ("text", Marker.TEXT_VIEW_FACING) in kinds
    assert sum(m.type == Marker.ARROW for m in ms) == 3
    mesh = next(m for m in ms if m.ns == "mesh")
    assert len(mesh.points) == 3 * len(topo.triangles)
    assert mesh.lifetime.nanosec == 500_000_000 and mesh.header.frame_id == "cam"
    dels = delete_markers(h, 5)
    assert {(m.ns, m.id) for m in dels} == {(m.ns, m.id) for m in ms}
    assert all(m.action == Marker.DELETE for m in dels)
    # another person's markers never collide with these
    other = person_markers(h, 6, vc, topo.triangles, topo.landmarks68, FACE_FROM_HEAD,
                           np.zeros(3), 0.5)
    assert not {(m.ns, m.id) for m in other} & {(m.ns, m.id) for m in ms}


def test_tf_broadcaster_without_tf2_msgs_logs_once_and_disables(monkeypatch):
    import sys

    from head_pose_ros.ros.tf import TFBroadcaster

    class Log:
        def __init__(self):
            self.errors = []

        def error(self, text):
            self.errors.append(text)

    class FakeNode:
        def __init__(self):
            self.log = Log()
            self.publishers = []

        def get_logger(self):
            return self.log

        def create_publisher(self, *a):
            self.publishers.append(a)
            return None

    monkeypatch.setitem(sys.modules, "tf2_msgs", None)  # import fails
    monkeypatch.setitem(sys.modules, "tf2_msgs.msg", None)
    node = FakeNode()
    tf = TFBroadcaster(node)
    assert not tf.available and node.publishers == []
    assert len(node.log.errors) == 1 and "tf2_msgs is not installed" in node.log.errors[0]
    tf.send([object()])  # a no-op, no exception


@pytest.mark.ros
def test_tf_broadcaster_qos_matches_tf2_ros():
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from head_pose_ros.ros.tf import TFBroadcaster

    seen = {}

    class FakeNode:
        def get_logger(self):
            raise AssertionError("nothing to log")

        def create_publisher(self, msg_type, topic, qos):
            seen.update(type=msg_type, topic=topic, qos=qos)
            return object()

    tf = TFBroadcaster(FakeNode())
    assert tf.available and seen["topic"] == "/tf"
    assert seen["type"].__name__ == "TFMessage"
    assert seen["qos"].reliability == ReliabilityPolicy.RELIABLE
    assert seen["qos"].durability == DurabilityPolicy.VOLATILE and seen["qos"].depth == 100
