"""REP-155 frames (``face_<id>``, ``gaze_<id>``) built on the head frame (pure numpy).

Head frame (docs/CONVENTIONS.md, the frame of the ARKit 1220 face model): x towards the
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

import numpy as np

__all__ = ["FACE_FROM_HEAD", "GAZE_FROM_HEAD", "HEAD_FORWARD", "eye_midpoint", "rep155_frames",
           "person_frames", "face_origin", "face_covariance", "head_to_face_points"]

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


def face_origin(vertices_head: np.ndarray, landmarks68: np.ndarray | None) -> np.ndarray:
    """Origin of the face / gaze frames in the head frame: the eye midpoint of the estimated
    dense face, or the head-frame origin when the 68-landmark vertex ids are unknown."""
    return (eye_midpoint(vertices_head, landmarks68) if landmarks68 is not None
            else np.zeros(3))


def person_frames(rot: np.ndarray, trans: np.ndarray, vertices_head: np.ndarray,
                  landmarks68: np.ndarray | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`rep155_frames` with the origin at :func:`face_origin`."""
    return rep155_frames(rot, trans, face_origin(vertices_head, landmarks68))


def face_covariance(cov_head: np.ndarray, rot: np.ndarray, origin_head: np.ndarray
                    ) -> np.ndarray:
    """Covariance of the face-frame pose from the covariance of the head pose.

    Both are 6x6 over ``(x, y, z, rotX, rotY, rotZ)`` with rotation errors about the camera's
    fixed axes (``R_est = exp([d]x) R``, geometry_msgs/PoseWithCovariance). The face frame is
    ``(R @ FACE_FROM_HEAD, T + R @ o)``: the rotation error ``d`` is the same, and the origin
    moves by ``dT + d x (R o)``, so ``cov_face = J cov_head J^T`` with
    ``J = [[I, -[R o]x], [0, I]]``.
    """
    lever = np.asarray(rot, np.float64) @ np.asarray(origin_head, np.float64).reshape(3)
    x, y, z = lever
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    jac = np.eye(6)
    jac[:3, 3:] = -skew
    c = jac @ np.asarray(cov_head, np.float64).reshape(6, 6) @ jac.T
    return 0.5 * (c + c.T)


def head_to_face_points(points_head: np.ndarray, origin_head: np.ndarray) -> np.ndarray:
    """Head-frame points ``(N, 3)`` in the face frame: ``FACE_FROM_HEAD^T (p - o)``, so that
    ``R_face @ p_face + t_face == R @ p_head + T``."""
    p = np.asarray(points_head, np.float64).reshape(-1, 3) - np.asarray(origin_head, np.float64)
    return p @ FACE_FROM_HEAD
