"""Intrinsics from sensor_msgs/CameraInfo, and image <-> CameraInfo pairing.

Nothing here imports rclpy: the functions take any object with CameraInfo fields (``width,
height, distortion_model, d, k, p, binning_x, binning_y, roi``) and stamps in seconds, so they
are tested without ROS.

Rules (pixel and frame conventions: docs/CONVENTIONS.md):
- rectified image: intrinsics = ``P[0:3, 0:3]``, no distortion;
- raw image: intrinsics = ``K`` and distortion ``D`` for ``plumb_bob`` (5 coefficients, also
  accepted: 4, 8, 12, 14 in OpenCV order) and ``rational_polynomial`` (8); any other model with
  a non-zero D is treated as undistorted with a warning;
- all-zero K (and P): uncalibrated; ``f = W + H`` with the principal point at the image centre
  (``geometry.default_intrinsics``), flagged so the estimator inflates the depth covariance;
- binning and ROI are applied as image_geometry does (crop offset, then divide by binning);
- image size different from the CameraInfo size: a pure resize (same aspect ratio within 1 %)
  scales K (pixel-centre convention: ``c' = (c + 0.5) * s - 0.5``, ``f' = f * s``); anything
  else is an error;
- NaN/inf anywhere in K, P or D is an error.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from head_pose_ros.geometry import default_intrinsics

__all__ = ["CameraIntrinsics", "CameraInfoError", "intrinsics_from_camera_info",
           "fill_camera_info",
           "CameraInfoBuffer", "CameraInfoPairer", "SUPPORTED_DISTORTION_MODELS"]

SUPPORTED_DISTORTION_MODELS = ("plumb_bob", "rational_polynomial")


class CameraInfoError(ValueError):
    """The CameraInfo cannot be used for this image; the message says why."""


@dataclass
class CameraIntrinsics:
    """Intrinsics for one image.

    ``K`` (3,3) in pixels of the image as received; ``dist`` OpenCV distortion coefficients or
    None; ``calibrated`` False when K was guessed; ``warnings``: one-time warning keys + text.
    """

    K: np.ndarray  # noqa: N815  (the usual name of the camera matrix)
    dist: np.ndarray | None
    calibrated: bool
    rectified: bool
    warnings: list[tuple[str, str]]


def _arr(x: Any, n: int) -> np.ndarray:
    a = np.asarray(list(x) if not isinstance(x, np.ndarray) else x, np.float64).reshape(-1)
    if a.size != n:
        raise CameraInfoError(f"expected {n} values, got {a.size}")
    return a


def intrinsics_from_camera_info(info: Any, image_width: int, image_height: int,
                                rectified: str = "auto", topic_hint: str = "") -> CameraIntrinsics:
    """Intrinsics for an image of ``image_width x image_height`` from a CameraInfo.

    Args:
        rectified: 'true', 'false' or 'auto' (rectified when D is all zero or ``topic_hint``,
            the resolved image topic, contains 'rect').
    Raises:
        CameraInfoError: non-finite values, or an image size that is not a resize of the
            calibrated size.
    """
    warnings: list[tuple[str, str]] = []
    k = _arr(info.k, 9).reshape(3, 3)
    p = _arr(info.p, 12).reshape(3, 4)
    d = np.asarray(list(info.d), np.float64).reshape(-1)
    for name, a in (("K", k), ("P", p), ("D", d)):
        if not np.all(np.isfinite(a)):
            raise CameraInfoError(f"CameraInfo {name} contains NaN or inf")
    model = str(info.distortion_model or "").strip()
    has_dist = d.size > 0 and bool(np.any(d != 0))
    if rectified == "auto":
        is_rect = (not has_dist) or ("rect" in topic_hint.split("/")[-1])
    else:
        is_rect = rectified == "true"

    W, H = int(image_width), int(image_height)  # noqa: N806
    iw, ih = int(info.width), int(info.height)
    # the calibrated image size after ROI and binning (image_geometry semantics)
    roi = getattr(info, "roi", None)
    ox = oy = 0
    if roi is not None and int(roi.width) > 0 and int(roi.height) > 0:
        ox, oy = int(roi.x_offset), int(roi.y_offset)
        iw, ih = int(roi.width), int(roi.height)
    bx = max(1, int(getattr(info, "binning_x", 0) or 1))
    by = max(1, int(getattr(info, "binning_y", 0) or 1))
    iw, ih = iw // bx, ih // by

    mat = p[:, :3] if is_rect else k
    if is_rect and not np.any(mat):
        mat = k  # P missing: use K
    calibrated = bool(mat[0, 0] > 0 and mat[1, 1] > 0)
    if not calibrated:
        warnings.append(("uncalibrated",
                         "CameraInfo K is all zero (uncalibrated camera): using f = W + H = "
                         f"{W + H} px and the image centre; depth covariance inflated"))
        return CameraIntrinsics(default_intrinsics(W, H), None, False, is_rect, warnings)

    K = mat.copy()  # noqa: N806
    K[0, 2] -= ox
    K[1, 2] -= oy
    if bx > 1 or by > 1:
        K[0, :] /= bx
        K[1, :] /= by
    if iw > 0 and ih > 0 and (iw, ih) != (W, H):
        sx, sy = W / iw, H / ih
        if abs(sx - sy) > 0.01 * max(sx, sy):
            raise CameraInfoError(
                f"image is {W}x{H} but CameraInfo is {iw}x{ih} (aspect ratio differs, not a "
                "resize): cannot derive intrinsics"
            )
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 1] *= sx
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        warnings.append(("resized", f"image is {W}x{H}, CameraInfo {iw}x{ih}: scaling K by "
                                    f"{sx:.4g}"))

    dist = None
    if not is_rect and has_dist:
        if model in SUPPORTED_DISTORTION_MODELS and d.size in (4, 5, 8, 12, 14):
            dist = d.copy()
        else:
            warnings.append((f"distortion:{model}",
                             f"distortion model {model!r} with {d.size} coefficients is not "
                             "supported (plumb_bob, rational_polynomial): treating the image as "
                             "undistorted"))
    return CameraIntrinsics(K, dist, True, is_rect, warnings)


def fill_camera_info(info: Any, K: np.ndarray, width: int, height: int) -> Any:  # noqa: N803
    """Fill ``info`` (a ``sensor_msgs/CameraInfo``) for a distortion-free camera with intrinsics
    ``K`` (3, 3) and image size ``width`` x ``height``: plumb_bob with zero D, R = I,
    P = [K | 0]. The inverse of :func:`intrinsics_from_camera_info`; returns ``info``."""
    K = np.asarray(K, np.float64).reshape(3, 3)  # noqa: N806
    info.width, info.height = int(width), int(height)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = K.ravel().tolist()
    info.r = np.eye(3).ravel().tolist()
    info.p = np.hstack([K, np.zeros((3, 1))]).ravel().tolist()
    return info


def stamp_to_sec(stamp: Any) -> float:
    """builtin_interfaces/Time -> seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


class CameraInfoBuffer:
    """The last few CameraInfo messages, looked up by stamp.

    :meth:`match` returns ``(info, how)`` with ``how`` in 'exact', 'nearest' (within
    ``tolerance`` s) or 'latest' (no info close enough: the newest one), or ``(None, 'none')``.
    Infos whose frame_id differs from the image's are used only when no info has the same
    frame_id.
    """

    def __init__(self, maxlen: int = 16) -> None:
        self._items: deque[tuple[float, str, Any]] = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, stamp_s: float, frame_id: str, info: Any) -> None:
        self._items.append((stamp_s, frame_id, info))

    def newest_stamp(self) -> float | None:
        return max((s for s, _, _ in self._items), default=None)

    def match(self, stamp_s: float, frame_id: str, tolerance: float) -> tuple[Any, str]:
        items = [it for it in self._items if it[1] == frame_id] or list(self._items)
        if not items:
            return None, "none"
        items.sort(key=lambda it: it[0])
        stamps = [it[0] for it in items]
        i = bisect.bisect_left(stamps, stamp_s)
        cands = [j for j in (i - 1, i) if 0 <= j < len(items)]
        best = min(cands, key=lambda j: abs(stamps[j] - stamp_s))
        dt = abs(stamps[best] - stamp_s)
        if dt < 1e-9:
            return items[best][2], "exact"
        if dt <= tolerance:
            return items[best][2], "nearest"
        return items[-1][2], "latest"


class CameraInfoPairer:
    """Pairs each image with its CameraInfo (thread-safe: :meth:`add` from the executor,
    :meth:`pair` from the worker), waiting for a late CameraInfo only when that can help.

    An image may wait up to ``wait`` seconds for the CameraInfo with its stamp only
    - before any CameraInfo ever arrived: the first image only (a driver's first CameraInfo can
      come just after its first image); after that the node runs uncalibrated without waiting
      until a CameraInfo arrives;
    - afterwards: while CameraInfo messages come about as often as images (at least half as
      many over the last ~10 images: a driver that publishes one per image, maybe slightly after
      it) and the previous image found its own. Once an image had to fall back to the latest
      CameraInfo (stamps that do not match), or the CameraInfo comes slower than the images
      (e.g. 1 Hz), images stop waiting and use the latest; waiting resumes as soon as an image
      finds its own CameraInfo again without waiting.
    So a missing or slow CameraInfo never costs ``wait`` on every frame.
    """

    DECAY = 0.9  # per image: the info / image counts cover roughly the last 10 images

    def __init__(self, maxlen: int = 16, clock=time.monotonic) -> None:
        self._buf = CameraInfoBuffer(maxlen=maxlen)
        self._cond = threading.Condition()
        self._clock = clock
        self._ever = False  # a CameraInfo has arrived
        self._first_wait_done = False
        self._matched_last = True
        self._recent_infos = 0.0  # exponentially decayed counts (per image)
        self._recent_images = 0.0
        self.waits = 0  # images that waited (diagnostics / tests)
        self.wait_s = 0.0  # total time waited

    def add(self, stamp_s: float, frame_id: str, info: Any) -> None:
        with self._cond:
            self._buf.add(stamp_s, frame_id, info)
            self._ever = True
            self._recent_infos += 1.0
            self._cond.notify_all()

    def _may_wait(self) -> bool:
        if not self._ever:
            return not self._first_wait_done
        return self._matched_last and self._recent_infos >= 0.5 * self._recent_images

    def pair(self, stamp_s: float, frame_id: str, tolerance: float, wait: float
             ) -> tuple[Any, str]:
        """``(info, how)`` as :meth:`CameraInfoBuffer.match`, after waiting when allowed."""
        with self._cond:
            self._recent_images += 1.0
            may_wait = self._may_wait() and wait > 0
            self._recent_images *= self.DECAY
            self._recent_infos *= self.DECAY
            if not self._ever:
                self._first_wait_done = True
            t0 = self._clock()
            deadline = t0 + wait
            waited = False
            while True:
                info, how = self._buf.match(stamp_s, frame_id, tolerance)
                if how in ("exact", "nearest"):
                    break
                newest = self._buf.newest_stamp()
                left = deadline - self._clock()
                if not may_wait or (newest is not None and newest >= stamp_s) or left <= 0:
                    break
                waited = True
                self._cond.wait(left)
            if waited:
                self.waits += 1
                self.wait_s += self._clock() - t0
            if self._ever:
                self._matched_last = how in ("exact", "nearest")
            return info, how
