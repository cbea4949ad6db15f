"""What a ROS4HRI (REP-155) face provider publishes per face, computed without ROS.

- :class:`FaceIds`: REP-155 face ids, ``<prefix><track number>`` (e.g. ``"kqzvb3"``): strings
  that start with a letter; the prefix is drawn once per node from the OS random source
  (5 lowercase letters, 26^5 = 11.9 M prefixes) unless the user sets one, so two nodes on one
  robot (two cameras) hand out different ids; a track number is never reused within a node, so
  an id is never reused either. The same id names the ``/humans/faces/<id>/...`` topics, the TF
  frames ``face_<id>`` / ``gaze_<id>`` and ``HeadPose.face_id``.
- :func:`normalized_roi`: the face box in [0, 1] image coordinates (clipped to the image).
- :func:`crop_face`: the face box as a square ``size x size`` bgr8 image, centred, zero-padded
  where the square leaves the image (REP-155 ``cropped``).
- :func:`align_face`: the same square rotated so that the eyes are level (the eye centres of our
  68 landmarks define the roll in the image), REP-155 ``aligned``.
- :func:`landmarks70`: the 68 landmarks plus the right (68) and left (69) pupils, normalised,
  with a per-point confidence from self-occlusion (:func:`landmark_visibility`).
- :class:`Frontalizer`: REP-155 ``frontalized``: the face seen from the front, rendered from our
  dense 3D face (see the class).
"""

from __future__ import annotations

import re
import secrets
import string

import cv2
import numpy as np

__all__ = ["FaceIds", "normalized_roi", "crop_face", "align_face", "landmark_visibility",
           "landmarks70", "eye_roll", "ID_RE", "Frontalizer", "vertex_visibility"]

ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
RIGHT_EYE = np.arange(36, 42)  # the subject's right eye (iBUG 68)
LEFT_EYE = np.arange(42, 48)


class FaceIds:
    """Face ids of one node: ``prefix + str(track number)``.

    Args:
        prefix: '' = 5 random lowercase letters (``secrets``); else a name that starts with a
            letter and has only letters, digits and '_' (valid in topic and frame names).
    """

    def __init__(self, prefix: str = "") -> None:
        if not prefix:
            prefix = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
        if not ID_RE.fullmatch(prefix):
            raise ValueError(f"face id prefix {prefix!r} must start with a letter and contain "
                             "only letters, digits and '_'")
        self.prefix = prefix

    def __call__(self, track: int) -> str:
        """The id of track number ``track`` (>= 1); '' for untracked faces (0)."""
        return f"{self.prefix}{int(track)}" if int(track) > 0 else ""


def normalized_roi(box: np.ndarray, width: int, height: int) -> tuple[float, ...]:
    """``(xmin, ymin, xmax, ymax)`` of a pixel box in [0, 1] of the image (clipped)."""
    b = np.asarray(box, np.float64).reshape(4)
    x0, x1 = np.clip([b[0] / width, b[2] / width], 0.0, 1.0)
    y0, y1 = np.clip([b[1] / height, b[3] / height], 0.0, 1.0)
    return float(x0), float(y0), float(x1), float(y1)


def _warp(image: np.ndarray, centre: np.ndarray, side: float, angle: float, size: int
          ) -> np.ndarray:
    """The square of side ``side`` px centred on ``centre``, rotated by ``angle`` (rad, image
    roll to undo), resampled to ``size x size``; zeros outside the image."""
    s = size / max(side, 1.0)
    c, si = np.cos(-angle) * s, np.sin(-angle) * s
    # output = A @ input + b: rotate by -angle about centre, scale, move centre to the middle
    a = np.array([[c, -si], [si, c]])
    mid = np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    b = mid - a @ np.asarray(centre, np.float64)
    m = np.hstack([a, b[:, None]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def crop_face(image: np.ndarray, box: np.ndarray, size: int = 128) -> np.ndarray:
    """REP-155 ``cropped``: the square around the box (side = its longer side), centred on the
    box, zero-padded, ``size x size`` (same channels as ``image``)."""
    b = np.asarray(box, np.float64).reshape(4)
    centre = np.array([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0])
    return _warp(image, centre, max(b[2] - b[0], b[3] - b[1]), 0.0, size)


def eye_roll(landmarks68: np.ndarray) -> float:
    """Roll (rad) of the face in the image: angle of the line from the subject's right eye
    centre to the left eye centre (0 = eyes level, positive = clockwise on screen)."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    d = lm[LEFT_EYE].mean(0) - lm[RIGHT_EYE].mean(0)
    return float(np.arctan2(d[1], d[0]))


def align_face(image: np.ndarray, box: np.ndarray, landmarks68: np.ndarray, size: int = 128
               ) -> np.ndarray:
    """REP-155 ``aligned``: like :func:`crop_face` but rotated about the box centre so that the
    eye centres of ``landmarks68`` are level (upright face)."""
    b = np.asarray(box, np.float64).reshape(4)
    centre = np.array([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0])
    return _warp(image, centre, max(b[2] - b[0], b[3] - b[1]), eye_roll(landmarks68), size)


def vertex_visibility(vertices_cam: np.ndarray, triangles: np.ndarray, gaze: np.ndarray
                      ) -> np.ndarray:
    """Per-vertex ``clip((cos + 0.25) / 0.5, 0, 1)`` of the angle between the area-weighted
    vertex normal and the line of sight to the camera (see :func:`landmark_visibility`)."""
    v = np.asarray(vertices_cam, np.float64)
    tri = np.asarray(triangles)
    fn = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
    idx = tri.reshape(-1)  # area-weighted vertex normals: sum of the adjacent face normals
    w = np.repeat(fn, 3, axis=0)
    vn = np.stack([np.bincount(idx, w[:, k], minlength=len(v)) for k in range(3)], axis=1)
    if np.sum(vn @ np.asarray(gaze, np.float64)) < 0:  # winding: normals out of the face
        vn = -vn
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    sight = -v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return np.clip((np.sum(vn * sight, axis=1) + 0.25) / 0.5, 0.0, 1.0)


class Frontalizer:
    """REP-155 ``frontalized`` from the dense face: every output pixel is a fixed point of the
    face mesh (a triangle and barycentric weights, rasterised once from the template seen from
    the front, orthographic, the face filling 90 % of the width); per image that point of the
    person's estimated mesh is projected into the image and sampled there (full image
    resolution, not vertex colours). Pixels whose surface the head hides from the camera
    (:func:`vertex_visibility` < 0.5, e.g. the far cheek of a profile) take the colour of their
    mirror pixel (the template is left-right symmetric) when that one is visible, else black;
    outside the face: black.

    Args:
        template: (V, 3) template vertices, head frame (x to the left ear, y to the chin).
        triangles: (F, 3) vertex ids.
        size: output ``(width, height)``.
    """

    def __init__(self, template: np.ndarray, triangles: np.ndarray, size: tuple[int, int]
                 = (128, 128)) -> None:
        w, h = int(size[0]), int(size[1])
        v = np.asarray(template, np.float64)
        self.tri = np.asarray(triangles, np.int64)
        self.size = (w, h)
        s = 0.9 * w / max(2 * np.abs(v[:, 0]).max(), 1e-9)
        cy = 0.5 * (v[:, 1].min() + v[:, 1].max())
        u = (w - 1) / 2.0 + s * v[:, 0]  # the person's left ear on the image's right
        q = (h - 1) / 2.0 + s * (v[:, 1] - cy)
        depth = v[:, 2]  # smaller = nearer a frontal viewer (z points into the head)
        zbuf = np.full((h, w), np.inf)
        tid = np.full((h, w), -1, np.int64)
        bary = np.zeros((h, w, 3))
        for f, (a, b, c) in enumerate(self.tri):
            xs, ys = np.array([u[a], u[b], u[c]]), np.array([q[a], q[b], q[c]])
            x0, x1 = int(max(np.floor(xs.min()), 0)), int(min(np.ceil(xs.max()), w - 1))
            y0, y1 = int(max(np.floor(ys.min()), 0)), int(min(np.ceil(ys.max()), h - 1))
            if x1 < x0 or y1 < y0:
                continue
            den = (ys[1] - ys[2]) * (xs[0] - xs[2]) + (xs[2] - xs[1]) * (ys[0] - ys[2])
            if abs(den) < 1e-12:
                continue
            gx, gy = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
            l0 = ((ys[1] - ys[2]) * (gx - xs[2]) + (xs[2] - xs[1]) * (gy - ys[2])) / den
            l1 = ((ys[2] - ys[0]) * (gx - xs[2]) + (xs[0] - xs[2]) * (gy - ys[2])) / den
            l2 = 1.0 - l0 - l1
            inside = (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
            z = l0 * depth[a] + l1 * depth[b] + l2 * depth[c]
            sel = inside & (z < zbuf[gy, gx])
            if not sel.any():
                continue
            yy, xx = gy[sel], gx[sel]
            zbuf[yy, xx] = z[sel]
            tid[yy, xx] = f
            bary[yy, xx] = np.stack([l0[sel], l1[sel], l2[sel]], axis=1)
        self.mask = tid >= 0
        pix_tri = self.tri[tid[self.mask]]  # (P, 3)
        pix_bary = bary[self.mask]  # (P, 3)
        from scipy.sparse import csr_matrix

        n_pix = len(pix_tri)  # (P, V) interpolation matrix: pixel point = W @ vertices
        self.weights = csr_matrix((pix_bary.reshape(-1), (np.repeat(np.arange(n_pix), 3),
                                                          pix_tri.reshape(-1))),
                                  shape=(n_pix, len(v)))

    def render(self, image: np.ndarray, K: np.ndarray, dist: np.ndarray | None,  # noqa: N803
               vertices_cam: np.ndarray, gaze: np.ndarray,
               visibility: np.ndarray | None = None) -> np.ndarray:
        """The frontal view (``height x width x 3``, uint8) of the face whose mesh is
        ``vertices_cam`` (camera frame, same topology) in ``image`` (intrinsics ``K``,
        distortion ``dist``); ``visibility``: :func:`vertex_visibility` if already computed."""
        w, h = self.size
        v = np.asarray(vertices_cam, np.float64)
        pts = self.weights @ v
        if dist is not None and np.any(np.asarray(dist) != 0):
            uv = cv2.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                                   np.asarray(K, np.float64), np.asarray(dist, np.float64)
                                   )[0].reshape(-1, 2)
        else:
            p = pts @ np.asarray(K, np.float64).T
            uv = p[:, :2] / np.maximum(p[:, 2:3], 1e-9)
        mx = np.full((h, w), -1.0, np.float32)
        my = np.full((h, w), -1.0, np.float32)
        mx[self.mask], my[self.mask] = uv[:, 0], uv[:, 1]
        out = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=(0, 0, 0))
        vis_v = vertex_visibility(v, self.tri, gaze) if visibility is None else visibility
        vis = np.zeros((h, w))
        vis[self.mask] = self.weights @ vis_v
        hidden = self.mask & (vis < 0.5)
        mirror_ok = (self.mask & (vis >= 0.5))[:, ::-1]
        fill = hidden & mirror_ok
        out[fill] = out[:, ::-1][fill]
        out[(hidden & ~mirror_ok) | ~self.mask] = 0
        return out


def landmark_visibility(vertices_cam: np.ndarray | None, triangles: np.ndarray | None,
                        landmark_ids: np.ndarray | None, gaze: np.ndarray, trans: np.ndarray
                        ) -> np.ndarray:
    """Per-landmark confidence (68,) in [0, 1] from self-occlusion.

    With the dense face (camera-frame vertices, triangles, the 68 landmark vertex ids), from the
    cosine ``c`` between the area-weighted surface normal at the landmark and the line of sight
    to the camera: ``clip((c + 0.25) / 0.5, 0, 1)``: 1 = the surface faces the camera (viewing
    angle up to 75 deg), 0.5 = on the silhouette (90 deg; the jaw contour of a frontal face),
    0 = it faces away by 105 deg or more (the head itself hides it: the far jaw line, eye and
    brow of a profile). Without the dense face: ``max(0, cos)`` of the face as a whole (``gaze``,
    the face x axis, against the direction from the face origin ``trans`` to the camera) for
    every point.
    """
    g = np.asarray(gaze, np.float64)
    t = np.asarray(trans, np.float64)
    whole = float(max(0.0, -g @ t / max(np.linalg.norm(t), 1e-9)))
    if vertices_cam is None or triangles is None or landmark_ids is None:
        return np.full(68, whole)
    return vertex_visibility(vertices_cam, triangles, g)[np.asarray(landmark_ids).reshape(-1)]


def landmarks70(landmarks68: np.ndarray, width: int, height: int, conf68: np.ndarray
                ) -> np.ndarray:
    """(70, 3) ``x, y, c``: the 68 landmarks normalised by the image size, then the right pupil
    (68) and the left pupil (69), each the centre of its eye contour, with the lowest
    confidence of that contour. TRG has no eye model: the pupils are eye centres."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    c = np.asarray(conf68, np.float64).reshape(68)
    pts = np.vstack([lm, lm[RIGHT_EYE].mean(0), lm[LEFT_EYE].mean(0)])
    conf = np.concatenate([c, [c[RIGHT_EYE].min(), c[LEFT_EYE].min()]])
    out = np.empty((70, 3))
    out[:, 0] = pts[:, 0] / width
    out[:, 1] = pts[:, 1] / height
    out[:, 2] = conf
    return out
