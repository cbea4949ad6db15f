"""Broadcast transforms on ``/tf`` without tf2_ros (not available from PyPI).

Publishes ``tf2_msgs/msg/TFMessage`` on ``/tf`` with the QoS that tf2_ros' TransformBroadcaster
uses (reliable, volatile, keep last 100), so real tf2 listeners receive it. ``tf2_msgs`` is
imported lazily: on robots it is the real package, in this repository's tests a fixture package
with the upstream definition (same type hash). Without it the broadcaster disables itself and
logs one clear error; the rest of the node keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TFBroadcaster", "TF_QOS_DEPTH"]

TF_QOS_DEPTH = 100


class TFBroadcaster:
    """Minimal stand-in for ``tf2_ros.TransformBroadcaster`` (dynamic transforms only)."""

    def __init__(self, node: Any, topic: str = "/tf") -> None:
        self._node = node
        self._pub = None
        self._msg_type = None
        self.error: str | None = None
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError as exc:
            self.error = (
                f"tf2_msgs is not installed ({exc}): TF frames face_<id>/gaze_<id> are NOT "
                "published. Install ros-<distro>-tf2-msgs (or source a workspace that has it)."
            )
            node.get_logger().error(self.error)
            return
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

        qos = QoSProfile(
            depth=TF_QOS_DEPTH,
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
        self._msg_type = TFMessage
        self._pub = node.create_publisher(TFMessage, topic, qos)

    @property
    def available(self) -> bool:
        return self._pub is not None

    def send(self, transforms: list[Any]) -> None:
        """Publish ``geometry_msgs/TransformStamped`` list (no-op without tf2_msgs)."""
        if self._pub is None or not transforms:
            return
        self._pub.publish(self._msg_type(transforms=list(transforms)))
