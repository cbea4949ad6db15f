"""Attention and engagement outputs of ``head_pose_node`` (per face, per image).

- attention (:mod:`head_pose_ros.attention`): the target is ``(attention_target_x, _y, _z)`` in
  ``attention_target_frame`` (empty = the image's optical frame, so the default target is the
  camera itself), placed in the camera frame through TF (:class:`TFBuffer`, latest
  transforms); while that frame is not connected to the camera frame, attention is NaN and
  the ``attention`` topic lists no faces (one log line).
- engagement (:mod:`head_pose_ros.engagement`, ``publish_engagement``): the ``gaze_<id>`` pose
  in ``engagement_reference_frame`` (x forward; empty = the camera, x along its optical axis:
  :data:`~head_pose_ros.engagement.BODY_FROM_OPTICAL`), the score S and the hysteresis state
  per face id, history sampled at ``engagement_rate`` on the image stamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from head_pose_ros.attention import DEFAULT_COV_SCALE, attention_batch
from head_pose_ros.engagement import (
    BODY_FROM_OPTICAL,
    UNKNOWN,
    EngagementTracker,
    visual_social_engagement,
)

__all__ = ["AttentionOutput", "FaceAttentionResult"]


@dataclass
class FaceAttentionResult:
    probability: float
    angle: float
    angle_std: float
    distance: float
    engagement: float = float("nan")
    engagement_level: int = UNKNOWN


class AttentionOutput:
    """Per-image attention (and engagement) of every published face.

    Args:
        cfg: the node's ``NodeConfig``.
        tf: a :class:`head_pose_ros.ros.tf_buffer.FrameTree` (None: only the camera frame is
            known, so named frames are never found).
        warn: logger for the once-per-kind warnings.
    """

    def __init__(self, cfg: Any, tf: Any, warn: Any) -> None:
        self.cfg = cfg
        self.tf = tf
        self.warn = warn
        self.trackers: dict[str, EngagementTracker] = {}
        self.retune(cfg)
        self._warned: set[str] = set()

    def retune(self, cfg: Any) -> None:
        """Take the (run-time tunable) cone, covariance scale, target point and engagement
        threshold of ``cfg``; the target frame and the engagement trackers stay."""
        self.cfg = cfg
        self.cone = math.radians(cfg.attention_cone_deg)
        self.cov_scale = cfg.attention_cov_scale or DEFAULT_COV_SCALE
        self.point = np.array([cfg.attention_target_x, cfg.attention_target_y,
                               cfg.attention_target_z])
        for tr in self.trackers.values():
            tr.threshold = float(cfg.engagement_threshold)

    def _lookup(self, target: str, source: str) -> tuple[np.ndarray, np.ndarray] | None:
        if not target or not source or target.lstrip("/") == source.lstrip("/"):
            return np.eye(3), np.zeros(3)
        found = self.tf.lookup(target, source) if self.tf is not None else None
        if found is None:
            if (target, source) not in self._warned:
                self._warned.add((target, source))
                self.warn(f"no TF between '{target}' and the camera frame '{source}' yet: "
                          "attention / engagement are not available until it arrives")
            return None
        return found[0], found[1]

    def target_in_camera(self, camera_frame: str) -> np.ndarray | None:
        """The attention target in the camera frame, None while its frame is unknown."""
        t = self._lookup(camera_frame, self.cfg.attention_target_frame)
        return None if t is None else t[0] @ self.point + t[1]

    def compute(self, camera_frame: str, stamp: float, faces: list[tuple[str, Any]],
                lost: list[str]) -> tuple[np.ndarray | None, list[FaceAttentionResult | None]]:
        """``faces``: ``(face_id, PublishedPerson)``; returns the target (camera frame) and one
        result per face (None where the target is unknown)."""
        for fid in lost:
            self.trackers.pop(fid, None)
        target = self.target_in_camera(camera_frame)
        if not faces:
            return target, []
        out: list[FaceAttentionResult | None] = [None] * len(faces)
        if target is not None:
            r = attention_batch(np.stack([p.rot[:, 0] for _, p in faces]),
                                np.stack([p.trans for _, p in faces]),
                                np.stack([p.cov for _, p in faces]), target, self.cone,
                                self.cov_scale)
            out = [FaceAttentionResult(float(r["probability"][i]), float(r["angle"][i]),
                                       float(r["angle_std"][i]), float(r["distance"][i]))
                   for i in range(len(faces))]
        if self.cfg.publish_engagement:
            ref = self.cfg.engagement_reference_frame
            rc = ((BODY_FROM_OPTICAL, np.zeros(3)) if not ref
                  else self._lookup(ref, camera_frame))
            for i, (fid, p) in enumerate(faces):
                if out[i] is None:
                    out[i] = FaceAttentionResult(*(float("nan"),) * 4)
                if rc is None or not fid:
                    continue
                rg, tg = p.gaze
                s = visual_social_engagement(rc[0] @ rg, rc[0] @ tg + rc[1],
                                             math.radians(self.cfg.engagement_fov_deg),
                                             self.cfg.engagement_max_distance)
                tr = self.trackers.get(fid)
                if tr is None:
                    tr = self.trackers[fid] = EngagementTracker(
                        self.cfg.engagement_threshold, self.cfg.engagement_window,
                        self.cfg.engagement_rate)
                out[i].engagement = s
                out[i].engagement_level = tr.update(stamp, s)
        return target, out
