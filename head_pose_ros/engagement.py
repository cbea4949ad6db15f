"""ROS4HRI "visual social engagement" (Webb & Lemaignan, as hri_engagement computes it), no ROS.

Inputs: the person's ``gaze_<id>`` frame (REP-155: z along the gaze, x to the person's right, y
down) as a pose ``(R, t)`` in a robot reference frame with x forward (REP-103 body axes, e.g.
``sellion_link``); for the camera optical frame itself use :data:`BODY_FROM_OPTICAL`.

- mutual gaze, robot seen by the person: the robot's position ``(x, y, z)`` in the gaze frame,
  ``gaze_AB = max(0, 1 - sqrt(x^2 + y^2) / (tan(fov) * z))`` (0 when ``z <= 0``);
- person seen by the robot: the face position ``(x, y, z)`` in the reference frame,
  ``gaze_BA = max(0, 1 - sqrt(y^2 + z^2) / (tan(fov) * x))``;
- ``S = min(1, gaze_AB * gaze_BA * log(max_d - d + 1) / log(max_d + 1))`` with ``d`` the distance,
  and ``S = 0`` from ``d >= max_d`` on (the log would turn negative).

:class:`EngagementTracker` keeps the history of one face: a sample every ``1 / rate`` s (+1 when
``S > threshold``, else -1) over ``window`` s; once the history is full its mean ``v`` moves the
state (``hri_msgs/EngagementLevel`` values): UNKNOWN -> DISENGAGED; DISENGAGED -> ENGAGING when
``v >= 0``; ENGAGING -> DISENGAGED when ``v < -0.5``, -> ENGAGED when ``v > 0``; ENGAGED ->
DISENGAGING when ``v <= 0``; DISENGAGING -> ENGAGED when ``v > 0``, else DISENGAGED.
Defaults as hri_engagement: fov 60 deg (a half-angle), max distance 4 m, threshold 0.5, 10 s at
10 Hz.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

__all__ = ["UNKNOWN", "DISENGAGED", "ENGAGING", "ENGAGED", "DISENGAGING", "LEVEL_NAMES",
           "BODY_FROM_OPTICAL", "mutual_gaze", "visual_social_engagement", "EngagementTracker"]

UNKNOWN, DISENGAGED, ENGAGING, ENGAGED, DISENGAGING = 0, 1, 2, 3, 4
LEVEL_NAMES = ("UNKNOWN", "DISENGAGED", "ENGAGING", "ENGAGED", "DISENGAGING")

BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Rotation taking optical-frame coordinates (z forward, x right, y down) to a body frame at the
same place (x forward, y left, z up): ``p_body = BODY_FROM_OPTICAL @ p_optical``."""


def mutual_gaze(forward: float, lateral: float, fov: float) -> float:
    """``max(0, 1 - lateral / (tan(fov) * forward))``; 0 behind (``forward <= 0``)."""
    if forward <= 0.0:
        return 0.0
    return max(0.0, 1.0 - lateral / (math.tan(fov) * forward))


def visual_social_engagement(rot_gaze: np.ndarray, t_gaze: np.ndarray,
                             fov: float = math.radians(60.0), max_distance: float = 4.0) -> float:
    """S in [0, 1] for a gaze frame with pose ``(rot_gaze, t_gaze)`` in an x-forward reference
    frame (the robot sits at its origin)."""
    r = np.asarray(rot_gaze, np.float64)
    t = np.asarray(t_gaze, np.float64)
    robot_in_gaze = r.T @ (-t)
    ab = mutual_gaze(float(robot_in_gaze[2]), float(np.hypot(robot_in_gaze[0], robot_in_gaze[1])),
                     fov)
    ba = mutual_gaze(float(t[0]), float(np.hypot(t[1], t[2])), fov)
    d = float(np.linalg.norm(t))
    if d >= max_distance:
        return 0.0
    prox = math.log(max_distance - d + 1.0) / math.log(max_distance + 1.0)
    return float(min(1.0, ab * ba * prox))


class EngagementTracker:
    """Hysteresis states of one face (see the module doc)."""

    def __init__(self, threshold: float = 0.5, window: float = 10.0, rate: float = 10.0) -> None:
        self.threshold = float(threshold)
        self.period = 1.0 / float(rate)
        self.history: deque[int] = deque(maxlen=max(1, int(round(window * rate))))
        self.level = UNKNOWN
        self._last: float | None = None

    def update(self, stamp: float, score: float) -> int:
        """Add the score of time ``stamp`` (s; sampled at ``rate``) and return the level."""
        if self._last is not None and stamp - self._last < self.period - 1e-6:
            return self.level
        self._last = stamp
        self.history.append(1 if score > self.threshold else -1)
        if len(self.history) < self.history.maxlen:
            return self.level
        v = sum(self.history) / len(self.history)
        lv = self.level
        if lv == UNKNOWN:
            lv = DISENGAGED
        elif lv == DISENGAGED:
            lv = ENGAGING if v >= 0 else DISENGAGED
        elif lv == ENGAGING:
            lv = DISENGAGED if v < -0.5 else (ENGAGED if v > 0 else ENGAGING)
        elif lv == ENGAGED:
            lv = DISENGAGING if v <= 0 else ENGAGED
        elif lv == DISENGAGING:
            lv = ENGAGED if v > 0 else DISENGAGED
        self.level = lv
        return lv
