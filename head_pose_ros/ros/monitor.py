"""A console view of what head_pose_node publishes (used by ``scripts/demo.sh``).

``python -m head_pose_ros.ros.monitor [--seconds S] [--save-debug PNG]`` subscribes to ``heads``
(and ``debug_image`` when ``--save-debug`` is given), prints about one line per second with every
person's id, position (of the REP-155 face frame, between the eyes; metres, camera optical
frame) and yaw/pitch/roll (degrees, of the head frame, the evaluation convention of
:func:`head_pose_ros.geometry.rotation_to_euler_ypr`), and writes the newest debug
image to a PNG on exit. At the end it prints how many different person ids were seen (one
person in front of the camera should be one id for the whole run) and for how many messages each.
Exit code 0 when at least one ``heads`` message arrived, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def format_heads(msg) -> str:  # noqa: ANN001 (head_pose_ros/msg/HeadPoseArray)
    """One line describing a HeadPoseArray: stamp, then id, position and angles per person."""
    from head_pose_ros.frames import FACE_FROM_HEAD
    from head_pose_ros.geometry import quaternion_to_matrix, rotation_to_euler_ypr

    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    parts = [f"t={stamp:.3f} {msg.header.frame_id}: {len(msg.heads)} head(s)"]
    for h in msg.heads:
        p, q = h.pose.pose.position, h.pose.pose.orientation
        # the pose is the REP-155 face frame; the angles are those of the head frame
        r_face = quaternion_to_matrix(np.array([q.x, q.y, q.z, q.w]))
        yaw, pitch, roll = np.degrees(rotation_to_euler_ypr(r_face @ FACE_FROM_HEAD.T))
        sigma_z = float(np.sqrt(max(h.pose.covariance[14], 0.0)))
        parts.append(
            f"id {h.id}: xyz=({p.x:+.3f}, {p.y:+.3f}, {p.z:+.3f}) m (sigma_z {sigma_z:.3f}) "
            f"yaw/pitch/roll=({yaw:+.1f}, {pitch:+.1f}, {roll:+.1f}) deg"
        )
    return " | ".join(parts)


def format_id_count(ids: dict[int, int]) -> str:
    """``ids seen: N (id 1: 300 messages, ...)`` for ``{id: messages}``."""
    detail = ", ".join(f"id {i}: {n} messages" for i, n in sorted(ids.items()))
    return f"ids seen: {len(ids)}" + (f" ({detail})" if detail else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="run time")
    ap.add_argument("--save-debug", default="", help="write the newest debug_image here (PNG)")
    args, ros_args = ap.parse_known_args(argv)

    import cv2
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from head_pose_ros.image_encoding import image_msg_to_bgr
    from head_pose_ros.msg import HeadPoseArray

    rclpy.init(args=ros_args)
    node = rclpy.create_node("head_pose_monitor")
    state: dict = {"n": 0, "last_print": 0.0, "debug": None, "ids": {}}

    def on_heads(msg: HeadPoseArray) -> None:
        state["n"] += 1
        for h in msg.heads:
            state["ids"][h.id] = state["ids"].get(h.id, 0) + 1
        now = time.monotonic()
        if now - state["last_print"] >= 1.0:
            state["last_print"] = now
            print(format_heads(msg), flush=True)

    def on_debug(msg: Image) -> None:
        state["debug"] = msg

    node.create_subscription(HeadPoseArray, "heads", on_heads, 10)
    if args.save_debug:
        node.create_subscription(Image, "debug_image", on_debug, qos_profile_sensor_data)
    end = time.monotonic() + args.seconds
    try:
        while rclpy.ok() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    if args.save_debug and state["debug"] is not None:
        cv2.imwrite(args.save_debug, image_msg_to_bgr(state["debug"]))
        print(f"[monitor] wrote the last debug image to {args.save_debug}", flush=True)
    print(f"[monitor] received {state['n']} 'heads' messages", flush=True)
    print(f"[monitor] {format_id_count(state['ids'])}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if state["n"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
