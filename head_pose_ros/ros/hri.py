"""ROS4HRI (REP-155) face topics of ``head_pose_node``.

Published under ``hri_namespace`` (default ``/humans/faces``), every message stamped with the
input image's header, every publisher RELIABLE / VOLATILE (what libhri and the other ROS4HRI
consumers subscribe with; a best-effort publisher would not connect to them):

- ``<ns>/tracked`` (``hri_msgs/IdsList``): the ids of the faces seen in this image, every image,
  empty when nobody is seen (depth 10);
- per confirmed face (depth 1), created when the track is confirmed and destroyed when it is
  lost: ``<ns>/<id>/roi`` (``NormalizedRegionOfInterest2D``, the face box in [0, 1] with the
  detection score as ``c``), ``<ns>/<id>/cropped`` and ``<ns>/<id>/aligned`` (bgr8,
  ``hri_image_width`` x ``hri_image_height``, default 128 x 128: centred, zero-padded; aligned =
  rotated so that the eyes are level), ``<ns>/<id>/frontalized`` (same size: the face seen from
  the front, rendered from the dense 3D face, :class:`~head_pose_ros.hri_faces.Frontalizer`;
  only with a model topology), ``<ns>/<id>/landmarks`` (``FacialLandmarks``: the 68
  points + right and left pupil, normalised, confidence = self-occlusion from the pose and the
  dense face), and with ``publish_engagement`` ``<ns>/<id>/engagement_status``
  (``EngagementLevel``).
  Images are encoded, and the landmarks computed and sent, only while the topic has a
  subscriber.

Threads: :meth:`HriFacePublisher.publish` runs on the node's worker thread, which creates the
per-face publishers but never destroys one: a publisher destroyed while the executor thread
builds its wait set (a publisher's QoS event handler is in it) kills the executor with
``InvalidHandle``. Lost faces' publishers are handed to the executor thread instead (a guard
condition), which destroys them between two waits.

``hri_msgs`` is imported here only; without it :func:`load_hri_msgs` says why and the node runs
without these topics (one log line). Pure helpers: :mod:`head_pose_ros.hri_faces`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from head_pose_ros.hri_faces import (
    Frontalizer,
    align_face,
    crop_face,
    landmarks70,
    normalized_roi,
)
from head_pose_ros.image_encoding import bgr_to_image_fields

__all__ = ["load_hri_msgs", "HriFacePublisher", "FaceOutput", "hri_qos"]


def load_hri_msgs() -> tuple[Any, str]:
    """``(hri_msgs.msg module, '')``, or ``(None, reason)`` when it cannot be imported."""
    try:
        import hri_msgs.msg as hri

        return hri, ""
    except ImportError as exc:
        return None, (f"hri_msgs is not installed ({exc}): the ROS4HRI topics /humans/faces/... "
                      "are NOT published (install ros-$ROS_DISTRO-hri-msgs, rosdep key hri_msgs); "
                      "everything else is")


def hri_qos(depth: int) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


@dataclass
class FaceOutput:
    """What the node hands over for one confirmed face of one image."""

    face_id: str
    box: np.ndarray
    score: float
    landmarks68: np.ndarray | None
    confidence68: np.ndarray | None  # None: not computed (nobody subscribes to landmarks)
    engagement_level: int | None = None
    vertices_cam: np.ndarray | None = None  # dense face, camera frame (frontalized)
    gaze: np.ndarray | None = None  # face x axis, camera frame
    visibility: np.ndarray | None = None  # per-vertex vertex_visibility of vertices_cam


class _FacePubs:
    def __init__(self, node: Any, hri: Any, Image: Any, ns: str, fid: str,  # noqa: N803
                 engagement: bool) -> None:
        q = hri_qos(1)
        base = f"{ns}/{fid}"
        self.roi = node.create_publisher(hri.NormalizedRegionOfInterest2D, f"{base}/roi", q)
        self.cropped = node.create_publisher(Image, f"{base}/cropped", q)
        self.aligned = node.create_publisher(Image, f"{base}/aligned", q)
        self.frontalized = node.create_publisher(Image, f"{base}/frontalized", q)
        self.landmarks = node.create_publisher(hri.FacialLandmarks, f"{base}/landmarks", q)
        self.engagement = (node.create_publisher(hri.EngagementLevel,
                                                 f"{base}/engagement_status", q)
                           if engagement else None)

    def all(self) -> list[Any]:
        return [p for p in (self.roi, self.cropped, self.aligned, self.frontalized,
                            self.landmarks, self.engagement) if p is not None]


class HriFacePublisher:
    """The ROS4HRI face topics of one node (see the module doc)."""

    def __init__(self, node: Any, hri: Any, namespace: str = "/humans/faces",
                 size: tuple[int, int] = (128, 128), engagement: bool = False,
                 topology: Any = None) -> None:
        from sensor_msgs.msg import Image

        self.node = node
        self.hri = hri
        self.Image = Image
        self.ns = namespace.rstrip("/") or "/humans/faces"
        self.width, self.height = int(size[0]), int(size[1])
        self.engagement = engagement
        self.pub_tracked = node.create_publisher(hri.IdsList, f"{self.ns}/tracked", hri_qos(10))
        self.faces: dict[str, _FacePubs] = {}
        self._retired: list[Any] = []  # lost faces' publishers, destroyed by the executor thread
        self._retired_lock = threading.Lock()
        self._reaper = node.create_guard_condition(self._destroy_retired)
        self.encoded: Counter[str] = Counter()  # images encoded per kind (cropped, aligned)
        self.frontalizer = None  # rasterised once (~0.1 s) when the model has a mesh
        if getattr(topology, "vertices", None) is not None and \
                getattr(topology, "triangles", None) is not None:
            self.frontalizer = Frontalizer(topology.vertices, topology.triangles,
                                           (self.width, self.height))

    def wants_landmarks(self, fid: str) -> bool:
        """Whether face ``fid``'s ``landmarks`` or ``frontalized`` topic has a subscriber (or
        the face is new: its publishers come with this image), i.e. whether its landmark
        confidences and dense face are worth computing."""
        pubs = self.faces.get(fid)
        return pubs is None or (pubs.landmarks.get_subscription_count() > 0
                                or pubs.frontalized.get_subscription_count() > 0)

    def face_topics(self, fid: str) -> list[str]:
        return [p.topic_name for p in self.faces[fid].all()] if fid in self.faces else []

    def _image(self, kind: str, header: Any, img: np.ndarray) -> Any:
        f = bgr_to_image_fields(img, "bgr8")
        m = self.Image()
        m.header = header
        m.height, m.width, m.encoding = f["height"], f["width"], "bgr8"
        m.is_bigendian, m.step, m.data = 0, f["step"], f["data"]
        self.encoded[kind] += 1
        return m

    def _square(self, img: np.ndarray) -> np.ndarray:
        if (self.width, self.height) == (img.shape[1], img.shape[0]):
            return img
        return cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_LINEAR)

    def publish(self, header: Any, image: np.ndarray, faces: list[FaceOutput],
                lost: list[str], K: np.ndarray | None = None,  # noqa: N803
                dist: np.ndarray | None = None) -> None:
        """One image: ``faces`` seen in it (confirmed tracks), ``lost`` ids whose tracks ended
        (their publishers are destroyed); ``K``, ``dist``: the intrinsics (frontalized)."""
        hri = self.hri
        h, w = image.shape[:2]
        retired = [p for fid in lost if fid in self.faces for p in self.faces.pop(fid).all()]
        if retired:
            with self._retired_lock:
                self._retired += retired
            self._reaper.trigger()  # the executor thread destroys them (module doc: Threads)
        ids = hri.IdsList()
        ids.header = header
        ids.ids = [f.face_id for f in faces]
        side = max(self.width, self.height)
        for f in faces:
            pubs = self.faces.get(f.face_id)
            if pubs is None:
                pubs = self.faces[f.face_id] = _FacePubs(self.node, hri, self.Image, self.ns,
                                                         f.face_id, self.engagement)
            roi = hri.NormalizedRegionOfInterest2D()
            roi.header = header
            roi.xmin, roi.ymin, roi.xmax, roi.ymax = normalized_roi(f.box, w, h)
            roi.c = float(f.score)
            pubs.roi.publish(roi)
            if pubs.cropped.get_subscription_count() > 0:
                pubs.cropped.publish(self._image("cropped", header, self._square(
                    crop_face(image, f.box, side))))
            if f.landmarks68 is not None and pubs.aligned.get_subscription_count() > 0:
                pubs.aligned.publish(self._image("aligned", header, self._square(
                    align_face(image, f.box, f.landmarks68, side))))
            if (self.frontalizer is not None and f.vertices_cam is not None and K is not None
                    and pubs.frontalized.get_subscription_count() > 0):
                front = self.frontalizer.render(image, K, dist, f.vertices_cam, f.gaze,
                                                f.visibility)
                pubs.frontalized.publish(self._image("frontalized", header, front))
            if (f.landmarks68 is not None and f.confidence68 is not None
                    and pubs.landmarks.get_subscription_count() > 0):
                lm = hri.FacialLandmarks()
                lm.header = header
                lm.height, lm.width = int(h), int(w)
                pts = landmarks70(f.landmarks68, w, h, f.confidence68)
                lm.landmarks = [hri.NormalizedPointOfInterest2D(x=float(x), y=float(y),
                                                                c=float(c)) for x, y, c in pts]
                pubs.landmarks.publish(lm)
            if pubs.engagement is not None and f.engagement_level is not None:
                e = hri.EngagementLevel()
                e.header = header
                e.level = int(f.engagement_level)
                pubs.engagement.publish(e)
        self.pub_tracked.publish(ids)

    def _destroy_retired(self) -> None:
        """Executor thread (guard condition callback): destroy the lost faces' publishers."""
        with self._retired_lock:
            retired, self._retired = self._retired, []
        for p in retired:
            self.node.destroy_publisher(p)

    def close(self) -> None:
        """Destroy the per-face publishers; call once the executor no longer spins the node."""
        with self._retired_lock:
            self._retired += [p for fid in list(self.faces) for p in self.faces.pop(fid).all()]
        self._destroy_retired()
