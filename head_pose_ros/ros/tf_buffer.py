"""A minimal TF listener without tf2_ros (not on PyPI): the latest transform of every frame.

Subscribes ``/tf`` (RELIABLE, VOLATILE, depth 100, as tf2_ros' listener) and ``/tf_static``
(RELIABLE, TRANSIENT_LOCAL, as tf2_ros' static broadcaster latches it). It keeps only the LATEST
transform of each child frame (no time interpolation, no extrapolation check beyond
``max_age``): enough to place a target that moves slowly or not at all (a robot's head, a
screen) relative to a camera. :func:`TFBuffer.lookup` composes the chain through the tree.
The core math (:class:`FrameTree`) needs no ROS.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["FrameTree", "TFBuffer", "quat_to_matrix"]


def quat_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Rotation matrix of a (normalised here) quaternion."""
    q = np.array([x, y, z, w], np.float64)
    q /= max(np.linalg.norm(q), 1e-12)
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


class FrameTree:
    """child -> (parent, R, t, stamp, static): ``X_parent = R @ X_child + t``."""

    MAX_FRAMES = 2000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.edges: dict[str, tuple[str, np.ndarray, np.ndarray, float, bool]] = {}

    def set(self, parent: str, child: str, rot: np.ndarray, trans: np.ndarray, stamp: float,
            static: bool = False) -> None:
        p, c = parent.lstrip("/"), child.lstrip("/")
        with self._lock:
            if len(self.edges) >= self.MAX_FRAMES and c not in self.edges:
                old = sorted((v[3], k) for k, v in self.edges.items() if not v[4])
                for _, k in old[: len(old) // 2]:
                    del self.edges[k]
            self.edges[c] = (p, np.asarray(rot, np.float64), np.asarray(trans, np.float64),
                             float(stamp), bool(static))

    def _to_root(self, frame: str) -> tuple[str, np.ndarray, np.ndarray, float]:
        """(root, R, t, oldest dynamic stamp on the chain) with ``X_root = R X_frame + t``."""
        rot, t, oldest = np.eye(3), np.zeros(3), float("inf")
        seen = set()
        while frame in self.edges and frame not in seen:
            seen.add(frame)
            parent, r, tt, st, static = self.edges[frame]
            rot, t = r @ rot, r @ t + tt
            if not static:
                oldest = min(oldest, st)
            frame = parent
        return frame, rot, t, oldest

    def lookup(self, target: str, source: str) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``(R, t, oldest stamp)`` with ``X_target = R X_source + t``, None when not connected.
        The stamp is the oldest dynamic transform used (inf when all are static)."""
        target, source = target.lstrip("/"), source.lstrip("/")
        with self._lock:
            if target == source:
                return np.eye(3), np.zeros(3), float("inf")
            rt, r1, t1, s1 = self._to_root(target)
            rs, r2, t2, s2 = self._to_root(source)
        if rt != rs:
            return None
        rot = r1.T @ r2
        return rot, r1.T @ (t2 - t1), min(s1, s2)


class TFBuffer(FrameTree):
    """:class:`FrameTree` fed by ``/tf`` and ``/tf_static`` subscriptions on ``node``.
    Without tf2_msgs it stays empty (``error`` says why)."""

    def __init__(self, node: Any) -> None:
        super().__init__()
        self.error: str | None = None
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError as exc:
            self.error = f"tf2_msgs is not installed ({exc}): no TF lookups"
            return
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

        dyn = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
        static = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                            reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(TFMessage, "/tf", lambda m: self._on(m, False), dyn)
        node.create_subscription(TFMessage, "/tf_static", lambda m: self._on(m, True), static)

    def _on(self, msg: Any, static: bool) -> None:
        for t in msg.transforms:
            q, v = t.transform.rotation, t.transform.translation
            st = t.header.stamp.sec + 1e-9 * t.header.stamp.nanosec
            self.set(t.header.frame_id, t.child_frame_id, quat_to_matrix(q.x, q.y, q.z, q.w),
                     np.array([v.x, v.y, v.z]), st, static)
