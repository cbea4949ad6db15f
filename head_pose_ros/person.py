"""What is published of one person, in the REP-155 face frame: pure geometry, no ROS.

The pipeline's people (:class:`~head_pose_ros.pipeline.TrackedHead`) carry their pose in the
internal head frame (ARKit: x to the left ear, y to the chin, z into the head; origin at the
template's origin). Every published pose is the REP-155 ``face`` frame instead (x out of the
face, y to the person's left, z up, origin between the eyes; REP-103 axes, metres) in the
camera optical frame. :func:`published_person` converts one person once per frame; the ROS layer
only copies its fields into messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from head_pose_ros.frames import face_covariance, face_origin, head_to_face_points, rep155_frames
from head_pose_ros.geometry import transform_points
from head_pose_ros.hri_faces import landmark_visibility, vertex_visibility
from head_pose_ros.pipeline import TrackedHead

__all__ = ["PublishedPerson", "published_person"]


@dataclass
class PublishedPerson:
    """One person of one frame as published, all in the camera optical frame.

    Attributes:
        person: the pipeline's :class:`~head_pose_ros.pipeline.TrackedHead`.
        rot, trans: the face-frame pose (HeadPose.pose, head_pose and TF
            ``<frame_prefix>face_<id>``: one pose), (3, 3) and (3,) metres.
        cov: (6, 6) covariance of that pose over x, y, z, rotX, rotY, rotZ about the camera
            axes.
        gaze: ``(rot, trans)`` of the ``<frame_prefix>gaze_<id>`` transform.
        origin: the face frame's origin (between the eyes) in the head frame (metres).
        face_width: distance (m) between the outer face-contour landmarks 0 and 16 of the
            dense face; NaN without a model topology.
        face_area: area (m^2) of the dense face's triangles; NaN without a model topology.
    """

    person: TrackedHead
    rot: np.ndarray
    trans: np.ndarray
    cov: np.ndarray
    gaze: tuple[np.ndarray, np.ndarray]
    origin: np.ndarray
    face_width: float = float("nan")
    face_area: float = float("nan")
    _vertices_cam: np.ndarray | None = field(default=None, repr=False)

    def vertices_face(self) -> np.ndarray:
        """(N, 3) dense face in the face frame (metres); computed only when asked (the node
        asks only with ``publish_dense_landmarks``)."""
        return head_to_face_points(np.asarray(self.person.est.vertices_head, np.float64),
                                   self.origin)

    def vertices_cam(self) -> np.ndarray:
        """(N, 3) dense face in the camera frame at the published (filtered) head pose,
        computed once (the ROS4HRI outputs and the markers both use it)."""
        if self._vertices_cam is None:
            p = self.person
            self._vertices_cam = transform_points(np.asarray(p.est.vertices_head, np.float64),
                                                  p.rot, p.trans)
        return self._vertices_cam

    def landmark_confidence(self, topology: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(conf, vis)``: (68,) confidence of the landmarks in [0, 1] (self-occlusion: the
        dense face's per-vertex :func:`~head_pose_ros.hri_faces.vertex_visibility` at the
        landmarks, seen along the face direction), and that per-vertex visibility; without a
        model topology the pose-only :func:`~head_pose_ros.hri_faces.landmark_visibility` and
        None."""
        tri = getattr(topology, "triangles", None)
        lm_ids = getattr(topology, "landmarks68", None)
        if tri is None or lm_ids is None:
            return landmark_visibility(None, None, None, self.rot[:, 0], self.trans), None
        vis = vertex_visibility(self.vertices_cam(), tri, self.rot[:, 0])
        return vis[lm_ids], vis


def published_person(p: TrackedHead, topology: Any = None) -> PublishedPerson:
    """The head-frame person of the pipeline -> the face-frame person that is published.

    ``topology``: the model's :class:`~head_pose_ros.topology.FaceTopology` (``landmarks68``
    indices, ``face_area``) or None (no width / area; the origin from the vertices alone).
    """
    vh = np.asarray(p.est.vertices_head, np.float64)
    lm_ids = getattr(topology, "landmarks68", None)
    origin = face_origin(vh, lm_ids)
    fr = rep155_frames(p.rot, p.trans, origin)
    rot_f, t_f = fr["face"]
    width = (float(np.linalg.norm(vh[lm_ids[0]] - vh[lm_ids[16]])) if lm_ids is not None
             else float("nan"))
    area = float(topology.face_area(vh)) if topology is not None else float("nan")
    return PublishedPerson(p, rot_f, t_f, face_covariance(p.cov, p.rot, origin), fr["gaze"],
                           origin, width, area)
