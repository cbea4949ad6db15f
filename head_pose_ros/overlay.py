"""Drawing the estimated people on an image (OpenCV): the node's ``debug_image`` and the video
tool's overlay use this same function.

Per person: the face box and ``id N`` in the person's colour, the 68 sparse landmarks (yellow
dots) and the REP-155 ``face`` frame (:mod:`head_pose_ros.frames`) projected with K (and the
distortion of a raw image): x red = forward out of the face, y green = the person's left,
z blue = up, ``axis_length`` metres long.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from head_pose_ros.frames import person_frames

__all__ = ["person_rgb", "person_bgr255", "draw_people"]

AXIS_COLOURS_BGR = ((0, 0, 255), (0, 255, 0), (255, 0, 0))


def person_rgb(person_id: int) -> tuple[float, float, float]:
    """A distinct, stable colour per id in [0, 1] RGB (golden-ratio hue steps)."""
    h = (int(person_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.95)
    return float(r), float(g), float(b)


def person_bgr255(person_id: int) -> tuple[int, int, int]:
    r, g, b = person_rgb(person_id)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_people(image: np.ndarray, people: Iterable[Any], K: np.ndarray,  # noqa: N803
                dist: np.ndarray | None = None, landmarks68_ids: np.ndarray | None = None,
                axis_length: float = 0.08, thickness: int = 2) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 BGR with ``people`` drawn on it.

    ``people``: objects with ``person_id``, ``rot``, ``trans`` (the pose to draw) and ``est``
    (a :class:`head_pose_ros.estimator.FaceEstimate`: ``box``, ``landmarks68``,
    ``vertices_head``), e.g. :class:`head_pose_ros.pipeline.TrackedHead`.
    ``landmarks68_ids``: vertex ids of the 68 landmarks (axes origin between the eyes).
    """
    img = image.copy()
    d = np.zeros(5) if dist is None else np.asarray(dist, np.float64)
    K = np.asarray(K, np.float64)  # noqa: N806
    for p in people:
        colour = person_bgr255(p.person_id)
        b = np.asarray(p.est.box, np.float64).reshape(4)
        if not np.all(np.isfinite(b)):
            continue
        # boxes may extend past the image (faces partly out of frame): clipped for drawing only
        h, w = img.shape[:2]
        b = np.clip(b, [0, 0, 0, 0], [w - 1, h - 1, w - 1, h - 1])
        cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), colour, thickness)
        for u, v in np.asarray(p.est.landmarks68, np.float64).reshape(-1, 2):
            if np.isfinite(u) and np.isfinite(v):
                cv2.circle(img, (int(round(u)), int(round(v))), thickness, (0, 255, 255), -1)
        rot_f, origin = person_frames(p.rot, p.trans, p.est.vertices_head,
                                      landmarks68_ids)["face"]
        if origin[2] > 1e-3:
            pts = np.vstack([origin, origin + axis_length * rot_f.T]).astype(np.float64)
            uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, d)
            uv = uv.reshape(-1, 2)
            if np.all(np.isfinite(uv)) and np.all(np.abs(uv) < 1e5):
                o = tuple(int(x) for x in uv[0])
                for k, col in enumerate(AXIS_COLOURS_BGR):
                    cv2.line(img, o, tuple(int(x) for x in uv[k + 1]), col, thickness)
        cv2.putText(img, f"id {p.person_id}", (int(b[0]), max(12, int(b[1]) - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness, colour, thickness, cv2.LINE_AA)
    return img
