"""FaceEstimate -> ROS messages (poses, transforms, HeadPose).

Frames and conventions: :mod:`head_pose_ros.frames` (REP-155 face / gaze frames) and
:mod:`head_pose_ros.geometry`. The node publishes every pose in the REP-155 face frame
(:func:`head_pose_ros.person.published_person`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseWithCovariance,
    Quaternion,
    Transform,
    TransformStamped,
    Vector3,
)

from head_pose_ros.geometry import matrix_to_quaternion

__all__ = [
    "pose_msg",
    "pose_with_covariance_msg",
    "transform_msg",
    "head_pose_msg",
]

def pose_msg(rot: np.ndarray, trans: np.ndarray) -> Pose:
    q = matrix_to_quaternion(np.asarray(rot, np.float64))  # x, y, z, w
    return Pose(
        position=Point(x=float(trans[0]), y=float(trans[1]), z=float(trans[2])),
        orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )


def pose_with_covariance_msg(rot: np.ndarray, trans: np.ndarray, cov: np.ndarray
                             ) -> PoseWithCovariance:
    """Pose + row-major 6x6 covariance (x, y, z, rotX, rotY, rotZ), camera frame."""
    return PoseWithCovariance(
        pose=pose_msg(rot, trans),
        covariance=[float(x) for x in np.asarray(cov, np.float64).reshape(36)],
    )


def transform_msg(header: Any, child: str, rot: np.ndarray, trans: np.ndarray
                  ) -> TransformStamped:
    q = matrix_to_quaternion(np.asarray(rot, np.float64))
    return TransformStamped(
        header=header,
        child_frame_id=child,
        transform=Transform(
            translation=Vector3(x=float(trans[0]), y=float(trans[1]), z=float(trans[2])),
            rotation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
        ),
    )


def head_pose_msg(msg_type: type, *, person_id: int, frames_seen: int, rot: np.ndarray,
                  trans: np.ndarray, cov: np.ndarray, box: np.ndarray, score: float,
                  landmarks68: np.ndarray | None, vertices: np.ndarray | None,
                  topology_name: str, face_width: float, face_area: float,
                  face_id: str = "", attention: float = float("nan"),
                  attention_angle: float = float("nan")) -> Any:
    """Fill a ``head_pose_ros/msg/HeadPose`` (type passed in: generated at build time).

    ``rot``, ``trans``, ``cov``: the REP-155 face-frame pose (x out of the face) in the camera
    frame and its covariance; ``vertices``: the dense mesh in that face frame
    (:func:`head_pose_ros.frames.head_to_face_points`). The gaze direction is the face frame's
    x axis. ``face_id``: the REP-155 id (TF ``face_<face_id>``); ``attention`` /
    ``attention_angle``: :mod:`head_pose_ros.attention` (NaN = no target)."""
    m = msg_type()
    m.id = int(person_id)
    if hasattr(m, "face_id"):
        m.face_id = str(face_id)
        m.attention = float(attention)
        m.attention_angle = float(attention_angle)
    m.frames_seen = int(frames_seen)
    m.pose = pose_with_covariance_msg(rot, trans, cov)
    g = np.asarray(rot, np.float64)[:, 0]
    m.gaze_direction = Vector3(x=float(g[0]), y=float(g[1]), z=float(g[2]))
    m.box = [float(x) for x in np.asarray(box, np.float64).reshape(4)]
    m.score = float(score)
    if landmarks68 is not None:
        m.landmarks68 = np.asarray(landmarks68, np.float32).reshape(-1).tolist()
    if vertices is not None:
        m.vertices = np.asarray(vertices, np.float32).reshape(-1).tolist()
        m.topology = str(topology_name)
    m.face_width = float(face_width)
    m.face_area = float(face_area)
    return m
