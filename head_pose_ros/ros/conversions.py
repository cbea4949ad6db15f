"""FaceEstimate -> ROS messages, and the REP-155 frames built on the head frame.

Head frame (DESIGN.md section 3, the frame of the ARKit 1220 face model): x towards the
subject's left ear, y towards the chin, z from the face into the head. A pose (R, T) maps head
to camera coordinates: ``X_cam = R @ X_head + T``.

REP-155 frames, as fixed rotations of the head frame (columns = the new frame's axes written in
head coordinates) and an origin between the eyes:

``face_<id>``: x out of the face (forward) = -z_head; z to the top of the head = -y_head;
y = z cross x = (-y_head) x (-z_head) = y_head x z_head = x_head (the subject's left)::

    FACE_FROM_HEAD = [[0, 1, 0],      columns: x_face = (0, 0, -1), y_face = (1, 0, 0),
                      [0, 0, -1],                  z_face = (0, -1, 0)   (det = +1)
                      [-1, 0, 0]]

``gaze_<id>``: camera-like axes of a "camera" the person looks through: z along the gaze (out of
the face) = -z_head, x to the person's right = -x_head, y down = towards the chin = y_head;
x cross y = (-x_head) x y_head = -z_head = z (right-handed)::

    GAZE_FROM_HEAD = diag(-1, 1, -1)

TRG estimates head pose, not eye gaze: the gaze frame is the head's forward direction.
Origin of both: the midpoint of the two eye centres, each eye centre being the mean of the six
68-landmark eye-contour vertices (iBUG indices 36-41 = the subject's right eye, 42-47 = left eye)
of the estimated dense face in the head frame. The camera -> frame transform is then
``R_c = R @ FROM_HEAD``, ``t_c = R @ origin_head + T``.
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
    "FACE_FROM_HEAD",
    "GAZE_FROM_HEAD",
    "eye_midpoint",
    "rep155_frames",
    "sanitize_covariance",
    "pose_msg",
    "pose_with_covariance_msg",
    "transform_msg",
    "head_pose_msg",
]

FACE_FROM_HEAD = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
GAZE_FROM_HEAD = np.diag([-1.0, 1.0, -1.0])
HEAD_FORWARD = np.array([0.0, 0.0, -1.0])  # out of the face, head frame

RIGHT_EYE_68 = np.arange(36, 42)
LEFT_EYE_68 = np.arange(42, 48)


def eye_midpoint(vertices_head: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """Midpoint between the eye centres (head frame, m) from the dense vertices ``(V, 3)``
    and the 68-landmark vertex ids ``(68,)``."""
    v = np.asarray(vertices_head, np.float64)
    lm = np.asarray(landmarks68).reshape(-1)
    right = v[lm[RIGHT_EYE_68]].mean(axis=0)
    left = v[lm[LEFT_EYE_68]].mean(axis=0)
    return (right + left) / 2.0


def rep155_frames(rot: np.ndarray, trans: np.ndarray, origin_head: np.ndarray
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Camera -> face / gaze transforms ``{'face': (R, t), 'gaze': (R, t)}`` for a head pose."""
    rot = np.asarray(rot, np.float64)
    t = rot @ np.asarray(origin_head, np.float64) + np.asarray(trans, np.float64)
    return {"face": (rot @ FACE_FROM_HEAD, t), "gaze": (rot @ GAZE_FROM_HEAD, t.copy())}


def sanitize_covariance(cov: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """Symmetric positive-definite 6x6: symmetrise, clip eigenvalues to ``floor``; NaN -> large
    (1e6 on the diagonal: "unknown")."""
    c = np.asarray(cov, np.float64).reshape(6, 6)
    if not np.all(np.isfinite(c)):
        return np.eye(6) * 1e6
    c = 0.5 * (c + c.T)
    w, v = np.linalg.eigh(c)
    if w.min() > floor:
        return c
    w = np.maximum(w, max(floor, 1e-9 * max(float(w.max()), floor)))
    c = (v * w) @ v.T
    return 0.5 * (c + c.T)


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
                  landmarks68: np.ndarray | None, vertices_head: np.ndarray | None,
                  topology_name: str, face_width: float, face_area: float) -> Any:
    """Fill a ``head_pose_ros/msg/HeadPose`` (type passed in: generated at build time)."""
    m = msg_type()
    m.id = int(person_id)
    m.frames_seen = int(frames_seen)
    m.pose = pose_with_covariance_msg(rot, trans, cov)
    g = np.asarray(rot, np.float64) @ HEAD_FORWARD
    m.gaze_direction = Vector3(x=float(g[0]), y=float(g[1]), z=float(g[2]))
    m.box = [float(x) for x in np.asarray(box, np.float64).reshape(4)]
    m.score = float(score)
    if landmarks68 is not None:
        m.landmarks68 = np.asarray(landmarks68, np.float32).reshape(-1).tolist()
    if vertices_head is not None:
        m.vertices = np.asarray(vertices_head, np.float32).reshape(-1).tolist()
        m.topology = str(topology_name)
    m.face_width = float(face_width)
    m.face_area = float(face_area)
    return m
