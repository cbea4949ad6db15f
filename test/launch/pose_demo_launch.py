"""launch_testing test: ``pose.launch.py demo:=true`` brings up the demo source and the node,
and the node publishes a HeadPoseArray with people and their REP-155 TF frames.

Run by ``test/test_launch_testing.py`` as ``launch_test test/launch/pose_demo_launch.py`` (the
file name is not ``test_*.py``: pytest must not collect it itself). Needs the built workspace
(``source env.sh``); the node uses the installed default model.
"""

from __future__ import annotations

import os
import threading
import time
import unittest

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from tf2_msgs.msg import TFMessage

from head_pose_ros.msg import HeadPoseArray

TIMEOUT = float(os.environ.get("HEAD_POSE_LAUNCH_TEST_TIMEOUT", "120"))


def generate_test_description():
    pose = os.path.join(get_package_share_directory("head_pose_ros"), "launch", "pose.launch.py")
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(pose),
                                 launch_arguments={"demo": "true"}.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestDemoBringUp(unittest.TestCase):
    def test_heads_and_tf_frames(self):
        rclpy.init()
        node = rclpy.create_node("launch_test_listener")
        heads: list[HeadPoseArray] = []
        frames: set[str] = set()
        lock = threading.Lock()

        def on_heads(m: HeadPoseArray) -> None:
            with lock:
                heads.append(m)

        def on_tf(m: TFMessage) -> None:
            with lock:
                frames.update(t.child_frame_id for t in m.transforms)

        node.create_subscription(HeadPoseArray, "heads", on_heads, 10)
        node.create_subscription(TFMessage, "/tf", on_tf, 100)
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < TIMEOUT:
                rclpy.spin_once(node, timeout_sec=0.2)
                with lock:
                    people = [h for m in heads for h in m.heads]
                    ids = {h.face_id for h in people}
                    if people and all(f"face_{i}" in frames and f"gaze_{i}" in frames
                                      for i in ids):
                        break
            with lock:
                self.assertTrue(heads, f"no HeadPoseArray on /heads within {TIMEOUT} s")
                self.assertTrue(people, "HeadPoseArray messages, but nobody in them")
                for i in ids:
                    self.assertIn(f"face_{i}", frames)
                    self.assertIn(f"gaze_{i}", frames)
                self.assertTrue(all(m.header.frame_id for m in heads))
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info):
        # SIGINT at the end of the test: every process ends cleanly
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
