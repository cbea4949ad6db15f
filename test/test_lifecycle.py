"""Issue 19 item 1: ``head_pose_node`` is a lifecycle node, IN-PROCESS.

A scripted detector and estimator stand in for the model (no torch); everything else is the
real node: configure validates (a bad value is a FAILURE with the reason), activate subscribes
and starts the worker, deactivate leaves no subscription, worker thread or timer, cleanup
removes the publishers, configure works again; tuning parameters change while running through
the same validation, the others are read-only.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import spin_in_background
from scripted import ScriptedEstimator

from head_pose_ros.detection import FaceDetections

pytestmark = pytest.mark.ros

W, H = 320, 240
K = [300.0, 0.0, 159.5, 0.0, 300.0, 119.5, 0.0, 0.0, 1.0]


class OneFace:
    kind = "yunet"

    def detect(self, image):
        return FaceDetections(np.array([[130.0, 90.0, 190.0, 150.0]]), np.array([0.9]))


def _make_app(node, active):
    from head_pose_ros.ros.node import HeadPoseNode
    from head_pose_ros.ros.params import load_config

    return HeadPoseNode(node, load_config(node), ScriptedEstimator(), OneFace(), active=active)


@pytest.fixture()
def ros():
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    c = Context()
    rclpy.init(context=c)
    ex = SingleThreadedExecutor(context=c)
    spin = spin_in_background(ex)
    yield c, ex
    spin.stop()
    ex.shutdown()
    rclpy.try_shutdown(context=c)


def _lifecycle(ctx, ns: str, **overrides):
    from rclpy.parameter import Parameter

    from head_pose_ros.ros.lifecycle import HeadPoseLifecycleNode

    base = {"autostart": False, "tracker_min_hits": 1, "weights": "unused",
            "diagnostics_period": 0.2, "publish_hri": False}
    base.update(overrides)
    return HeadPoseLifecycleNode(
        "head_pose_node", make_app=_make_app, namespace=ns, context=ctx,
        parameter_overrides=[Parameter(k, value=v) for k, v in base.items()])


def _topics(node, kind: str) -> set[str]:
    return {e.topic_name for e in getattr(node, kind)}


def _workers() -> int:
    return sum(t.name == "head_pose_worker" and t.is_alive() for t in threading.enumerate())


class Camera:
    def __init__(self, ctx, ex, ns: str) -> None:
        import rclpy
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        from head_pose_ros.msg import HeadPoseArray

        self.node = rclpy.create_node("camera", namespace=ns, context=ctx)
        self.pub = self.node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info",
                                                   qos_profile_sensor_data)
        self.heads: list = []
        self.node.create_subscription(HeadPoseArray, "heads", self.heads.append, 10)
        ex.add_node(self.node)
        self.i = 0

    def send(self) -> None:
        from sensor_msgs.msg import CameraInfo, Image

        self.i += 1
        m = Image(height=H, width=W, encoding="bgr8", step=3 * W,
                  data=bytes(np.full((H, W, 3), 80, np.uint8)))
        m.header.stamp.sec, m.header.frame_id = 100 + self.i, "cam_optical"
        ci = CameraInfo(width=W, height=H, k=K, distortion_model="plumb_bob", d=[0.0] * 5)
        ci.header = m.header
        ci.p = [K[0], 0.0, K[2], 0.0, 0.0, K[4], K[5], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.pub_info.publish(ci)
        self.pub.publish(m)

    def heads_after(self, n0: int, timeout: float = 20.0) -> bool:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            self.send()
            time.sleep(0.1)
            if len(self.heads) > n0:
                return True
        return False


@contextmanager
def node_and_camera(ros, ns: str):
    """A lifecycle node (autostart false) and a camera in namespace ``ns``, both spun."""
    ctx, ex = ros
    node = _lifecycle(ctx, ns)
    cam = Camera(ctx, ex, ns)
    ex.add_node(node)
    try:
        yield node, cam
    finally:
        ex.remove_node(node)
        ex.remove_node(cam.node)
        node.release()
        node.destroy_node()
        cam.node.destroy_node()


def test_configure_activate_deactivate_cleanup(ros):
    from lifecycle_msgs.msg import State
    from rclpy.lifecycle import TransitionCallbackReturn as R

    with node_and_camera(ros, "/lc") as (node, cam):
        # unconfigured: parameters declared, nothing else
        from head_pose_ros.ros.params import NodeConfig

        assert node.get_parameter("detect_every_n").value == NodeConfig.defaults().detect_every_n
        assert node.app is None and "/lc/heads" not in _topics(node, "publishers")
        assert node.trigger_configure() == R.SUCCESS
        assert "/lc/heads" in _topics(node, "publishers")
        assert "/lc/image" not in _topics(node, "subscriptions") and _workers() == 0
        assert node.trigger_activate() == R.SUCCESS
        assert node._state_machine.current_state[0] == State.PRIMARY_STATE_ACTIVE
        assert {"/lc/image", "/lc/camera_info"} <= _topics(node, "subscriptions")
        assert _workers() == 1 and len(list(node.timers)) == 1  # diagnostics
        assert cam.heads_after(0), "no HeadPoseArray while active"

        assert node.trigger_deactivate() == R.SUCCESS
        assert not {"/lc/image", "/lc/camera_info"} & _topics(node, "subscriptions")
        assert _workers() == 0 and not list(node.timers)  # no thread, no timer: no CPU
        received = node.app._mailbox.received
        for _ in range(5):
            cam.send()
            time.sleep(0.05)
        assert node.app._mailbox.received == received

        assert node.trigger_activate() == R.SUCCESS  # activates again
        n = len(cam.heads)
        assert cam.heads_after(n)

        assert node.trigger_deactivate() == R.SUCCESS
        assert node.trigger_cleanup() == R.SUCCESS
        assert node.app is None and "/lc/heads" not in _topics(node, "publishers")
        assert node.trigger_configure() == R.SUCCESS  # parameters declared once, read again


def test_bad_parameters_fail_configure_with_the_reason(ros):
    from rclpy.lifecycle import TransitionCallbackReturn as R

    ctx, _ = ros
    node = _lifecycle(ctx, "/bad", detect_every_n=0, filter="kalman")
    try:
        assert node.trigger_configure() == R.FAILURE
        assert "detect_every_n" in node.failure and "'filter' = 'kalman'" in node.failure
        assert node.app is None and not list(node.subscriptions)
        # both are tuning parameters: the robot fixes them and configures again
        from rclpy.parameter import Parameter

        res = node.set_parameters([Parameter("filter", value="none"),
                                   Parameter("detect_every_n", value=2)])
        assert all(r.successful for r in res)
        assert node.trigger_configure() == R.SUCCESS and node.failure == ""
        assert node.app.cfg.detect_every_n == 2
    finally:
        node.release()
        node.destroy_node()


def test_tuning_parameters_change_while_running_others_are_read_only(ros):
    from rclpy.lifecycle import TransitionCallbackReturn as R
    from rclpy.parameter import Parameter

    with node_and_camera(ros, "/tune") as (node, cam):
        assert node.trigger_configure() == R.SUCCESS and node.trigger_activate() == R.SUCCESS
        assert cam.heads_after(0)
        ok = node.set_parameters([Parameter("primary_person", value="closest"),
                                  Parameter("detect_every_n", value=5),
                                  Parameter("tracker_max_misses", value=9)])
        assert all(r.successful for r in ok)
        n = len(cam.heads)
        assert cam.heads_after(n)  # the worker applied them before a frame
        app = node.app
        assert app.cfg.primary_person == "closest" and app.pipeline.scheduler.n == 5
        assert app.pipeline.tracker.max_misses == 9
        bad = node.set_parameters([Parameter("filter", value="kalman")])[0]
        assert not bad.successful and "'filter' = 'kalman'" in bad.reason
        assert node.get_parameter("filter").value == "one_euro"
        ro = node.set_parameters([Parameter("device", value="cuda")])[0]
        assert not ro.successful and "read-only" in ro.reason.lower()
        assert app.cfg.device == "cpu"


def test_an_unexpected_error_while_loading_is_a_failure_not_a_crash(ros):
    from rclpy.lifecycle import TransitionCallbackReturn as R

    from head_pose_ros.ros.lifecycle import HeadPoseLifecycleNode

    def broken(node, active):
        raise RuntimeError("onnxruntime could not load the graph")

    ctx, _ = ros
    node = HeadPoseLifecycleNode("head_pose_node", make_app=broken, namespace="/broken",
                                 context=ctx)
    try:
        assert node.trigger_configure() == R.FAILURE
        assert node.failure == "unexpected RuntimeError: onnxruntime could not load the graph"
        assert node.app is None
    finally:
        node.destroy_node()
