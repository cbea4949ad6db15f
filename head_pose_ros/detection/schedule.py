"""When to run the detector and when to follow the faces."""

from __future__ import annotations

import math

from head_pose_ros.detection.follow import LandmarkFollower


class DetectionScheduler:
    """Decides per frame whether to run the detector or to follow the landmarks.

    The detector runs on frame 0, every ``detect_every_n`` frames after it, whenever the
    follower has no face, and on the frame after the follower lost a face
    (:attr:`LandmarkFollower.lost`: its landmark fit or score said the face is going). So a new
    person is found within ``detect_every_n`` frames, and a lost one at once.
    ``detect_every_n = 1`` runs the detector on every frame.
    """

    def __init__(self, detect_every_n: int = 1) -> None:
        if detect_every_n < 1:
            raise ValueError(f"detect_every_n must be >= 1, got {detect_every_n}")
        self.n = int(detect_every_n)
        self._since = math.inf

    def should_detect(self, follower: LandmarkFollower) -> bool:
        if (self.n == 1 or len(follower) == 0 or getattr(follower, "lost", 0) > 0
                or self._since + 1 >= self.n):
            self._since = 0
            return True
        self._since += 1
        return False
