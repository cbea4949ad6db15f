"""Scripted stand-ins for the face detector and the estimator (pipeline and video tests)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from head_pose_ros.detection import FaceDetections


class ScriptedDetector:
    """Returns the boxes of ``frames[i]`` on its i-th call and counts the calls."""

    kind = "yunet"

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.calls: list[int] = []
        self.i = 0

    def detect(self, image: np.ndarray) -> FaceDetections:
        self.calls.append(self.i)
        boxes = np.asarray(self.frames[min(self.i, len(self.frames) - 1)], float).reshape(-1, 4)
        self.i += 1
        return FaceDetections(boxes, np.full(len(boxes), 0.9))


class ScriptedEstimator:
    """One estimate per box: rotation from ``rot_fn(call, face)``, T from the box centre, 68
    landmarks spread over the box (so the follower can follow it)."""

    topology = None

    def __init__(self, rot_fn=None) -> None:
        self.rot_fn = rot_fn or (lambda call, face: np.eye(3))
        self.calls = 0

    def predict(self, image, K, boxes, dist_coeffs=None, intrinsics_guessed=False):  # noqa: N803
        out = []
        for j, b in enumerate(np.asarray(boxes, float).reshape(-1, 5)):
            cx, cy, side = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0]
            z = 600.0 * 0.15 / side
            u = np.linspace(b[0] + 0.1 * side, b[2] - 0.1 * side, 68)
            v = np.linspace(b[1] + 0.1 * side, b[3] - 0.1 * side, 68)
            out.append(SimpleNamespace(
                R=self.rot_fn(self.calls, j), T=np.array([(cx - 319.5) * z / 600,
                                                          (cy - 239.5) * z / 600, z]),
                box=b[:4].copy(), score=float(b[4]), covariance=np.eye(6) * 1e-4,
                landmarks68=np.stack([u, v], axis=1), vertices_cam=None,
                vertices_head=np.zeros((68, 3))))
        self.calls += 1
        return out
