"""RViz markers for the estimated people (visualization_msgs/MarkerArray).

Per person id, in the camera frame of the image (``header`` = the image's stamp and frame):
- ns ``mesh``: the dense face mesh as a TRIANGLE_LIST (camera-frame vertices), coloured by id;
- ns ``landmarks``: the 68 sparse landmarks (their dense vertices) as POINTS;
- ns ``axes``: three ARROWs of the REP-155 ``face_<id>`` frame (x red = forward out of the face,
  y green = the person's left, z blue = up), 8 cm long, marker ids ``3 * id + axis``;
- ns ``text``: TEXT_VIEW_FACING "id N" above the head.
The marker id in the other namespaces is the person id. Markers live ``lifetime`` seconds; when
a person is lost the node sends an explicit DELETE for all its markers (:func:`delete_markers`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from head_pose_ros.overlay import person_rgb

__all__ = ["NAMESPACES", "person_color", "person_markers", "delete_markers", "axis_marker_id"]

NAMESPACES = ("mesh", "landmarks", "axes", "text")
AXIS_LENGTH = 0.08


def person_color(person_id: int, alpha: float = 0.8) -> ColorRGBA:
    """The person's colour (:func:`head_pose_ros.overlay.person_rgb`) as a ColorRGBA."""
    r, g, b = person_rgb(person_id)
    return ColorRGBA(r=r, g=g, b=b, a=float(alpha))


def _duration(seconds: float) -> Duration:
    ns = round(max(0.0, float(seconds)) * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _points(xyz: np.ndarray) -> list[Point]:
    return [Point(x=a, y=b, z=c) for a, b, c in np.asarray(xyz, np.float64).tolist()]


def _base(header: Any, ns: str, person_id: int, kind: int, lifetime: float) -> Marker:
    m = Marker()
    m.header = header
    m.ns = ns
    m.id = int(person_id)
    m.type = kind
    m.action = Marker.ADD
    m.pose = Pose(orientation=Quaternion(w=1.0))
    m.lifetime = _duration(lifetime)
    m.frame_locked = False
    return m


def person_markers(header: Any, person_id: int, vertices_cam: np.ndarray,
                   triangles: np.ndarray | None, landmark_ids: np.ndarray | None,
                   face_rot: np.ndarray, face_origin: np.ndarray, lifetime: float) -> list[Marker]:
    """The four markers of one person (see module docstring)."""
    v = np.asarray(vertices_cam, np.float64)
    out: list[Marker] = []
    colour = person_color(person_id)
    if triangles is not None and len(triangles):
        mesh = _base(header, "mesh", person_id, Marker.TRIANGLE_LIST, lifetime)
        mesh.scale = Vector3(x=1.0, y=1.0, z=1.0)
        mesh.color = colour
        mesh.points = _points(v[np.asarray(triangles).reshape(-1)])
        out.append(mesh)
    if landmark_ids is not None and len(landmark_ids):
        pts = _base(header, "landmarks", person_id, Marker.POINTS, lifetime)
        pts.scale = Vector3(x=0.004, y=0.004, z=0.0)
        pts.color = ColorRGBA(r=1.0, g=1.0, b=0.1, a=1.0)
        pts.points = _points(v[np.asarray(landmark_ids).reshape(-1)])
        out.append(pts)
    o = np.asarray(face_origin, np.float64)
    rot = np.asarray(face_rot, np.float64)
    rgb = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    for k in range(3):
        arrow = _base(header, "axes", axis_marker_id(person_id, k), Marker.ARROW, lifetime)
        arrow.points = _points(np.stack([o, o + AXIS_LENGTH * rot[:, k]]))
        arrow.scale = Vector3(x=0.005, y=0.010, z=0.015)  # shaft, head diameter, head length
        arrow.color = ColorRGBA(r=rgb[k][0], g=rgb[k][1], b=rgb[k][2], a=1.0)
        out.append(arrow)
    text = _base(header, "text", person_id, Marker.TEXT_VIEW_FACING, lifetime)
    top = v[np.argmin(v[:, 1])] if len(v) else o  # the highest vertex (camera y is down)
    text.pose = Pose(position=Point(x=float(top[0]), y=float(top[1]) - 0.04, z=float(top[2])),
                     orientation=Quaternion(w=1.0))
    text.scale = Vector3(x=0.0, y=0.0, z=0.04)
    text.color = person_color(person_id, 1.0)
    text.text = f"id {person_id}"
    out.append(text)
    return out


def axis_marker_id(person_id: int, axis: int) -> int:
    """Marker id of axis 0/1/2 (x/y/z) of a person in the ``axes`` namespace."""
    return 3 * int(person_id) + int(axis)


def delete_markers(header: Any, person_id: int) -> list[Marker]:
    """Explicit DELETE of every marker of a lost person."""
    keys = [("mesh", person_id), ("landmarks", person_id), ("text", person_id)]
    keys += [("axes", axis_marker_id(person_id, k)) for k in range(3)]
    out = []
    for ns, mid in keys:
        m = Marker()
        m.header = header
        m.ns = ns
        m.id = int(mid)
        m.action = Marker.DELETE
        out.append(m)
    return out
