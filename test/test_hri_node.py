"""Issue 17: the node's ROS4HRI (REP-155) output, attention and engagement, IN-PROCESS.

``HeadPoseNode`` runs in this process with scripted detector / estimator (no model, no torch)
and the vendored ``hri_msgs`` built into the test workspace (scripts/setup_env.sh). A consumer
node written only from REP-155 (default QoS = RELIABLE subscriptions, ids from
``/humans/faces/tracked``, TF ``gaze_<id>``) checks the topics, types, QoS, ids in names and
TF, publisher removal, that images are encoded only for subscribers, the engagement score
rebuilt from TF alone, two nodes' ids, diagnostics names and the QoS override parameters.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import in_ci, spin_in_background
from scipy.spatial.transform import Rotation
from scripted import ScriptedEstimator

from head_pose_ros.detection import FaceDetections

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
W, H = 320, 240
K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
BOX = np.array([130.0, 90.0, 190.0, 150.0])


def _require_hri() -> None:
    try:
        import hri_msgs.msg  # noqa: F401
    except ImportError as exc:
        vendor = REPO.parent / "shared" / "vendor" / "hri_msgs"
        why = f"hri_msgs not built ({exc}): bash scripts/setup_env.sh builds {vendor}"
        if in_ci() and vendor.is_dir():
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


class SwitchDetector:
    """Returns ``self.boxes`` (settable between frames)."""

    kind = "yunet"

    def __init__(self) -> None:
        self.boxes = np.zeros((0, 4))

    def detect(self, image):
        b = np.asarray(self.boxes, float).reshape(-1, 4)
        return FaceDetections(b, np.full(len(b), 0.9))


@pytest.fixture(scope="module")
def ctx():
    _require_hri()
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    c = Context()
    rclpy.init(context=c)
    ex = SingleThreadedExecutor(context=c)
    c.executor = ex
    spin = spin_in_background(ex)
    yield c
    spin.stop()
    ex.shutdown()
    rclpy.try_shutdown(context=c)


def make_app(ctx, ns: str = "", overrides=(), **params):
    import rclpy
    from rclpy.parameter import Parameter

    from head_pose_ros.ros.node import HeadPoseNode
    from head_pose_ros.ros.params import validate

    node = rclpy.create_node("head_pose_node", namespace=ns, context=ctx,
                             parameter_overrides=[Parameter(k, value=v) for k, v in overrides])
    # detect_every_n 1: the scripted estimator's landmarks do not follow a face (no model), and
    # these tests switch faces on and off through the detector
    base = {"tracker_min_hits": 3, "tracker_max_misses": 5, "publish_markers": False,
            "diagnostics_period": 0.0, "detector": "cascade", "weights": "unused",
            "detect_every_n": 1}
    base.update(params)
    app = HeadPoseNode(node, validate(base), ScriptedEstimator(
        rot_fn=lambda call, face: Rotation.from_rotvec([0, 0.05, 0]).as_matrix()),
        SwitchDetector())
    ctx.executor.add_node(node)
    return app


def close_app(ctx, app) -> None:
    ctx.executor.remove_node(app.node)
    app.deactivate()
    app.node.destroy_node()


def frame(app, i: int, face: bool, frame_id: str = "cam_optical"):
    """Process one image synchronously (what the worker does); returns its stamp (s)."""
    from sensor_msgs.msg import CameraInfo, Image

    from head_pose_ros.ros.camera import fill_camera_info

    app.detector.boxes = BOX[None] if face else np.zeros((0, 4))
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + i // 30, (i % 30) * 33_333_333
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.encoding, msg.step = H, W, "bgr8", 3 * W
    msg.data = bytes(np.full((H, W, 3), 80, np.uint8))
    ci = fill_camera_info(CameraInfo(), K, W, H)
    ci.header = msg.header
    app._on_info(ci)
    app._process(msg, time.monotonic())
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class Consumer:
    """A ROS4HRI consumer from REP-155 alone (system default QoS: RELIABLE, VOLATILE)."""

    def __init__(self, ctx, name: str = "consumer", images: tuple[str, ...] = ("cropped",)):
        import rclpy
        from hri_msgs.msg import IdsList
        from tf2_msgs.msg import TFMessage

        from head_pose_ros.msg import FaceAttentionArray, HeadPoseArray

        self.ctx = ctx
        self.node = rclpy.create_node(name, context=ctx)
        self.got: dict[str, list] = defaultdict(list)
        self.lock = threading.Lock()
        self.images = images
        self.subscribed: set[str] = set()
        sub = self.node.create_subscription
        sub(IdsList, "/humans/faces/tracked", self._tracked, 10)
        sub(TFMessage, "/tf", self._rec("tf"), 100)
        sub(HeadPoseArray, "/heads", self._rec("heads"), 50)
        sub(FaceAttentionArray, "/attention", self._rec("attention"), 50)
        ctx.executor.add_node(self.node)

    def _rec(self, key):
        def cb(m):
            with self.lock:
                self.got[key].append(m)
        return cb

    def _tracked(self, m) -> None:
        from hri_msgs.msg import FacialLandmarks, NormalizedRegionOfInterest2D
        from sensor_msgs.msg import Image

        self._rec("tracked")(m)
        for fid in m.ids:
            if fid in self.subscribed:
                continue
            self.subscribed.add(fid)
            base = f"/humans/faces/{fid}"
            self.node.create_subscription(NormalizedRegionOfInterest2D, f"{base}/roi",
                                          self._rec(f"roi:{fid}"), 10)
            self.node.create_subscription(FacialLandmarks, f"{base}/landmarks",
                                          self._rec(f"landmarks:{fid}"), 10)
            for kind in self.images:
                self.node.create_subscription(Image, f"{base}/{kind}",
                                              self._rec(f"{kind}:{fid}"), 10)

    def msgs(self, key):
        with self.lock:
            return list(self.got[key])

    def wait(self, pred, timeout: float = 5.0) -> bool:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred():
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.ctx.executor.remove_node(self.node)
        self.node.destroy_node()


def _sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _engagement_from_tf(t, fov=1.0471975511965976, max_d=4.0) -> float:
    """Visual social engagement rebuilt from a gaze_<id> TransformStamped (parent = the camera
    optical frame) as a consumer would, with the robot reference frame at the camera, x along
    the optical axis: written from the formula of ROS4HRI.md, independent of the node's code."""
    q, v = t.transform.rotation, t.transform.translation
    r_opt = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    body = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
    r, p = body @ r_opt, body @ np.array([v.x, v.y, v.z])
    xb, yb, zb = r.T @ -p  # the robot in the gaze frame (forward = z)
    ab = max(0.0, 1 - math.hypot(xb, yb) / (math.tan(fov) * zb)) if zb > 0 else 0.0
    ba = max(0.0, 1 - math.hypot(p[1], p[2]) / (math.tan(fov) * p[0])) if p[0] > 0 else 0.0
    d = float(np.linalg.norm(p))
    return 0.0 if d >= max_d else min(1.0, ab * ba * math.log(max_d - d + 1) / math.log(max_d + 1))


# ------------------------------------------------------------------ tests
def test_rep155_topics_ids_qos_lifecycle_attention_engagement(ctx):
    from rclpy.qos import ReliabilityPolicy

    # the scripted face is 20.7 deg off the camera direction: a 21 deg cone gives a P in between
    app = make_app(ctx, publish_engagement=True, engagement_window=0.3, attention_cone_deg=21.0)
    con = Consumer(ctx)
    try:
        assert con.wait(lambda: app.hri.pub_tracked.get_subscription_count() > 0
                        and app.pub_heads.get_subscription_count() > 0)
        time.sleep(0.2)
        sent = []
        for i in range(22):
            sent.append(frame(app, i, face=i < 12))
            assert con.wait(lambda n=i + 1: len(con.msgs("tracked")) >= n
                            and len(con.msgs("heads")) >= n)
            time.sleep(0.05)  # lets the per-face subscriptions of the consumer match
            if i == 11:  # while the face is there: topics, types, QoS
                fid = app.face_ids(1)
                topics = dict(con.node.get_topic_names_and_types())
                for suffix, typ in [("roi", "NormalizedRegionOfInterest2D"),
                                    ("cropped", None), ("aligned", None),
                                    ("frontalized", None),
                                    ("landmarks", "FacialLandmarks")]:
                    want = f"hri_msgs/msg/{typ}" if typ else "sensor_msgs/msg/Image"
                    assert want in topics.get(f"/humans/faces/{fid}/{suffix}", []), suffix
                    info = con.node.get_publishers_info_by_topic(f"/humans/faces/{fid}/{suffix}")
                    assert [x.qos_profile.reliability for x in info] == \
                        [ReliabilityPolicy.RELIABLE]
                assert "hri_msgs/msg/IdsList" in topics["/humans/faces/tracked"]
                info = con.node.get_publishers_info_by_topic("/humans/faces/tracked")
                assert info[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
        tracked = con.msgs("tracked")
        assert [_sec(m.header.stamp) for m in tracked] == pytest.approx(sent)
        ids = [list(m.ids) for m in tracked]
        fid = app.face_ids(1)
        assert re.fullmatch(r"[a-z]{5}1", fid), fid
        # found at the 3rd frame (tracker_min_hits), gone at the 1st frame without the face
        assert ids == [[]] * 2 + [[fid]] * 10 + [[]] * 10, ids
        # one id everywhere: HeadPose.face_id, attention, TF face_<id> / gaze_<id>
        heads = [h for m in con.msgs("heads") for h in m.heads]
        assert len(heads) == 10 and {h.face_id for h in heads} == {fid}
        tfs = [t for m in con.msgs("tf") for t in m.transforms]
        assert {t.child_frame_id for t in tfs} == {f"face_{fid}", f"gaze_{fid}"}
        # roi, landmarks, cropped: stamped with the image header, normalised
        rois = con.msgs(f"roi:{fid}")
        assert len(rois) >= 3
        for r in rois:
            assert _sec(r.header.stamp) in set(sent) and r.header.frame_id == "cam_optical"
            np.testing.assert_allclose([r.xmin, r.ymin, r.xmax, r.ymax],
                                       BOX / [W, H, W, H], atol=1e-6)
            assert r.c == pytest.approx(0.9)
        lms = con.msgs(f"landmarks:{fid}")
        assert lms and all(len(m.landmarks) == 70 and m.width == W and m.height == H
                           for m in lms)
        assert all(0 <= p.c <= 1 and 0 <= p.x <= 1 for p in lms[0].landmarks)
        crops = con.msgs(f"cropped:{fid}")
        assert crops and all((c.width, c.height, c.encoding) == (128, 128, "bgr8")
                             for c in crops)
        # images are encoded only for subscribers: nobody subscribed to 'aligned'
        assert app.hri.encoded["cropped"] == len(crops) >= 1 and app.hri.encoded["aligned"] == 0
        # per-face publishers removed once the track is lost (tracker_max_misses = 5)
        assert fid not in app.hri.faces
        assert con.wait(lambda: not con.node.get_publishers_info_by_topic(
            f"/humans/faces/{fid}/roi"))
        # attention: the node's value = the probability a consumer computes from HeadPose
        from head_pose_ros.attention import DEFAULT_COV_SCALE, attention

        att = {_sec(m.header.stamp): m for m in con.msgs("attention")}
        for m in con.msgs("heads"):
            for h in m.heads:
                pos, q = h.pose.pose.position, h.pose.pose.orientation
                rot = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
                a = attention(rot, np.array([pos.x, pos.y, pos.z]),
                              np.array(h.pose.covariance).reshape(6, 6), cone=math.radians(21),
                              cov_scale=DEFAULT_COV_SCALE)
                assert 0.05 < a.probability < 0.95
                assert h.attention == pytest.approx(a.probability, abs=1e-5)
                assert h.attention_angle == pytest.approx(a.angle, abs=1e-6)
                f = att[_sec(m.header.stamp)].faces[0]
                assert f.face_id == fid and f.probability == pytest.approx(a.probability,
                                                                          abs=1e-6)
        # engagement: the node's S = S rebuilt from the published TF alone
        gaze_tf = {_sec(t.header.stamp): t for t in tfs if t.child_frame_id == f"gaze_{fid}"}
        checked = 0
        for st, m in att.items():
            if m.faces and st in gaze_tf:
                want = _engagement_from_tf(gaze_tf[st])
                assert 0.05 < want < 1 and m.faces[0].engagement == pytest.approx(want, abs=1e-5)
                checked += 1
        assert checked >= 8
        levels = [m.faces[0].engagement_level for m in att.values() if m.faces]
        assert levels[0] == 0 and 1 in levels  # UNKNOWN until the 0.3 s history is full
    finally:
        con.close()
        close_app(ctx, app)


def test_two_nodes_never_share_ids_or_diagnostics_names(ctx):
    from diagnostic_msgs.msg import DiagnosticArray

    apps = [make_app(ctx, ns=ns, diagnostics_period=0.1, tracker_min_hits=1)
            for ns in ("/left", "/right")]
    con = Consumer(ctx, "consumer2")
    diags: list = []
    con.node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 50)
    try:
        assert con.wait(lambda: all(a.hri.pub_tracked.get_subscription_count() for a in apps))
        time.sleep(0.2)
        for i in range(3):
            for a, fr in zip(apps, ("left_optical", "right_optical"), strict=True):
                frame(a, i, True, fr)
        assert con.wait(lambda: len(con.msgs("tracked")) >= 6)
        by_frame = defaultdict(set)
        for m in con.msgs("tracked"):
            by_frame[m.header.frame_id] |= set(m.ids)
        assert len(by_frame["left_optical"]) == len(by_frame["right_optical"]) == 1
        assert not by_frame["left_optical"] & by_frame["right_optical"]
        assert apps[0].face_ids.prefix != apps[1].face_ids.prefix
        children = {t.child_frame_id for m in con.msgs("tf") for t in m.transforms}
        assert len(children) == 4  # face_ and gaze_ of two distinct ids
        assert con.wait(lambda: {s.name for d in diags for s in d.status} >= {
            "/left/head_pose_node: head pose pipeline",
            "/right/head_pose_node: head pose pipeline"})
    finally:
        con.close()
        for a in apps:
            close_app(ctx, a)


def test_qos_override_parameters_and_reliable_camera(ctx):
    """Issue 17: the subscriptions take the standard qos_overrides parameters; the default
    (best effort) subscription receives a RELIABLE camera as well."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    default = make_app(ctx, ns="/qa")
    reliable = make_app(ctx, ns="/qb", overrides=[
        ("qos_overrides./qb/image.subscription.reliability", "reliable"),
        ("qos_overrides./qb/image.subscription.depth", 3)])
    pub_node = rclpy.create_node("camera", context=ctx)
    try:
        assert default.sub_image.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        assert reliable.sub_image.qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert reliable.sub_image.qos_profile.depth == 3
        pub = pub_node.create_publisher(Image, "/qa/image", QoSProfile(depth=5))  # RELIABLE
        t0 = time.monotonic()
        while pub.get_subscription_count() == 0 and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        m = Image(height=2, width=2, encoding="bgr8", step=6, data=bytes(12))
        for _ in range(3):
            pub.publish(m)
            time.sleep(0.05)
        t0 = time.monotonic()
        while default._mailbox.received < 3 and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert default._mailbox.received >= 3
    finally:
        pub_node.destroy_node()
        close_app(ctx, default)
        close_app(ctx, reliable)


def test_without_hri_msgs_the_node_runs(ctx, monkeypatch):
    import head_pose_ros.ros.node as node_mod

    monkeypatch.setattr(node_mod, "load_hri_msgs", lambda: (None, "hri_msgs is not installed"))
    app = make_app(ctx, ns="/nohri", tracker_min_hits=1)
    try:
        assert app.hri is None
        frame(app, 0, True)  # publishes everything else without error
    finally:
        close_app(ctx, app)


def test_dense_face_outputs_frontalized_and_landmark_confidence(ctx, topology):
    """With a model mesh (the template as every estimate): the landmark confidences come from
    the mesh (they differ per point; a turned face hides its far side) and `frontalized` is
    rendered for a subscriber."""

    class MeshEstimator(ScriptedEstimator):
        def predict(self, *a, **k):
            out = super().predict(*a, **k)
            for e in out:
                e.vertices_head = np.asarray(topology.vertices, np.float64)
            return out

    app = make_app(ctx, ns="/mesh", tracker_min_hits=1)
    app.estimator = MeshEstimator(rot_fn=lambda c, f: Rotation.from_rotvec(
        [0, math.radians(50), 0]).as_matrix())
    app.pipeline.estimator = app.estimator
    app.topology, app._lm_ids = topology, topology.landmarks68
    from head_pose_ros.hri_faces import Frontalizer

    app.hri.frontalizer = Frontalizer(topology.vertices, topology.triangles, (128, 128))
    con = Consumer(ctx, "consumer3", images=("frontalized",))
    try:
        assert con.wait(lambda: app.hri.pub_tracked.get_subscription_count() > 0)
        time.sleep(0.2)
        for i in range(8):
            frame(app, i, True)
            time.sleep(0.05)
        fid = app.face_ids(1)
        assert con.wait(lambda: con.msgs(f"frontalized:{fid}") and con.msgs(f"landmarks:{fid}"))
        f = con.msgs(f"frontalized:{fid}")[-1]
        assert (f.width, f.height, f.encoding) == (128, 128, "bgr8")
        px = np.frombuffer(bytes(f.data), np.uint8).reshape(128, 128, 3)
        assert (px.max(axis=2) > 0).mean() > 0.3  # the face (the test image is grey 80)
        c = np.array([p.c for p in con.msgs(f"landmarks:{fid}")[-1].landmarks])
        assert c.std() > 0.1 and c.min() < 0.2 and c.max() > 0.9  # turned 50 deg: far side
        assert app.hri.encoded["frontalized"] >= 1
    finally:
        con.close()
        close_app(ctx, app)


def test_landmarks_are_computed_only_for_a_subscriber(ctx):
    """Issue 18 item 3: the landmark confidences (self-occlusion of the dense face, ~0.5 ms a
    face) and the landmarks message are made only while someone subscribes."""
    import rclpy
    from hri_msgs.msg import FacialLandmarks

    app = make_app(ctx, ns="/lmk", tracker_min_hits=1, hri_namespace="/lmk_faces")
    listener = rclpy.create_node("lmk_listener", context=ctx)
    try:
        frame(app, 0, True)
        fid = app.face_ids(1)
        assert fid in app.hri.faces and not app.hri.wants_landmarks(fid)
        got = []
        listener.create_subscription(FacialLandmarks, f"/lmk_faces/{fid}/landmarks",
                                     got.append, 10)
        ctx.executor.add_node(listener)
        t0 = time.monotonic()
        while not app.hri.wants_landmarks(fid) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert app.hri.wants_landmarks(fid)
        time.sleep(0.3)
        for i in range(1, 6):
            frame(app, i, True)
            time.sleep(0.05)
        t0 = time.monotonic()
        while not got and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert got and len(got[-1].landmarks) == 70
    finally:
        ctx.executor.remove_node(listener)
        listener.destroy_node()
        close_app(ctx, app)
