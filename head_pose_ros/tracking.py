"""Multi-face tracking and SE(3) pose filtering (no ROS import).

:class:`FaceTracker` gives stable person ids: detections are associated with tracks by the
Hungarian algorithm (``scipy.optimize.linear_sum_assignment``; confirmed tracks first, then the
tentative ones with the detections left) on a cost that mixes
``1 - IoU`` with the centre distance in units of the face size, against each track's box
predicted with a constant-velocity model (so two faces that cross keep their ids). A track is
*tentative* until it has been matched in ``min_hits`` consecutive frames; only then does it
get an id (ids count up from 1 and are never reused; 0 means untracked in HeadPose.msg).
A tentative track is dropped on its first miss, a confirmed one after ``max_misses``
consecutive misses.

:class:`OneEuroFilter` / :class:`PoseFilter`: the One-Euro filter (Casiez, Roussel, Vogel,
CHI 2012) applied to a pose (R, T):
- translation: a vector One-Euro filter (the speed used for the adaptive cutoff is the norm of
  the filtered velocity, in m/s);
- rotation: on the manifold. With R_f the previous filtered rotation and R the new measurement,
  delta = log(R_f^T R) (rotation vector, rad); the angular speed |delta| / dt is low-passed with
  ``d_cutoff``, the cutoff is ``min_cutoff + beta_r * speed`` and the new filtered rotation is
  R_f exp(alpha * delta) (a geodesic step of fraction alpha, i.e. slerp).
At rest the cutoff is ``min_cutoff`` (strong smoothing of jitter); during fast motion the cutoff
rises with speed (little lag). ``mode='none'`` passes poses through unchanged.

Covariance (:meth:`PoseFilter.step`): the filter's output is ``A x + (I - A) x_prev`` with the
per-block weights ``A = diag(a_t I3, a_r I3)`` of this step. The published covariance goes
through the same recursion on the second moments, ``P = D S D + E P_prev E`` with
``D = A^(1/2)``, ``E = (I - A)^(1/2)`` and ``S`` the raw estimate's covariance. That is the
covariance of the filtered error when successive raw errors are fully correlated (a per-face
estimator's errors are: the same face in the same pose gives the same error), and for one
weight an upper bound for any correlation. So filtering never makes the covariance smaller than
the raw estimate's at rest (a constant S stays S), and when S changes (the person moves away)
the covariance follows with the same lag as the pose. It is not the ``a^2 / (1 - (1 - a)^2)``
shrinkage of independent noise, which would claim about 20x less variance than the errors have.

Time comes from the image stamps (seconds). A step back in time or a gap longer than
``reset_after`` seconds restarts the filter on the new measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

from head_pose_ros.detection import box_iou

__all__ = [
    "Track",
    "FaceTracker",
    "OneEuroFilter",
    "PoseFilter",
    "smoothing_alpha",
]


# --------------------------------------------------------------------------------------------
# tracking


@dataclass
class Track:
    """One face track. ``track_id`` is None while the track is tentative."""

    box: np.ndarray  # (4,) last matched box x0,y0,x1,y1
    track_id: int | None = None
    hits: int = 1  # consecutive matched frames
    misses: int = 0  # consecutive missed frames
    age: int = 1  # frames since creation
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box change per frame
    data: dict = field(default_factory=dict)  # per-track state of the caller (pose filter)
    uid: int = 0  # unique per tracker from the first frame on, tentative tracks included

    @property
    def confirmed(self) -> bool:
        return self.track_id is not None

    #: frames the constant-velocity prediction extrapolates at most: after a few missed frames
    #: the velocity says nothing any more (it comes from jittery boxes), and extrapolating it over
    #: ``max_misses`` frames would put the prediction far from where the face reappears
    MAX_PREDICT_FRAMES = 2

    def predicted_box(self) -> np.ndarray:
        return self.box + self.velocity * min(self.misses + 1, self.MAX_PREDICT_FRAMES)


@dataclass
class TrackerUpdate:
    """Result of :meth:`FaceTracker.update`.

    ``ids[i]`` is the person id of detection ``i`` or None (tentative / unmatched);
    ``removed`` lists ids deleted in this update (for marker DELETE and TF cleanup);
    ``uids[i]`` is the :attr:`Track.uid` of detection ``i``'s track (tentative ones too: it
    says "the same face as in the frame before", e.g. to follow its motion).
    """

    ids: list[int | None]
    removed: list[int]
    tracks: dict[int, Track]
    uids: list[int] = field(default_factory=list)


class FaceTracker:
    """Associates face boxes over frames and hands out stable ids.

    Args:
        min_hits: consecutive matched frames before a track is confirmed (gets an id).
        max_misses: consecutive missed frames after which a confirmed track is removed.
        iou_weight: weight of (1 - IoU) in the matching cost; the rest is centre distance.
        max_center_distance: gate on the centre distance, in units of the track's face size
            (the mean of width and height); pairs beyond it are never matched.
        min_iou: a pair is also admissible when its IoU reaches this even if the centre gate fails.
        velocity_smoothing: EMA factor of the box velocity (0 = no prediction).
    """

    def __init__(self, min_hits: int = 3, max_misses: int = 5, iou_weight: float = 0.5,
                 max_center_distance: float = 1.0, min_iou: float = 0.1,
                 velocity_smoothing: float = 0.5) -> None:
        if min_hits < 1 or max_misses < 0:
            raise ValueError("min_hits must be >= 1 and max_misses >= 0")
        self.min_hits = int(min_hits)
        self.max_misses = int(max_misses)
        self.iou_weight = float(iou_weight)
        self.max_center_distance = float(max_center_distance)
        self.min_iou = float(min_iou)
        self.velocity_smoothing = float(velocity_smoothing)
        self.tracks: list[Track] = []
        self._next_id = 1
        self._next_uid = 1

    def reset(self) -> list[int]:
        """Forget everything; returns the ids that were confirmed."""
        ids = [t.track_id for t in self.tracks if t.track_id is not None]
        self.tracks = []
        return ids

    def confirmed_tracks(self) -> dict[int, Track]:
        return {t.track_id: t for t in self.tracks if t.track_id is not None}

    def _cost(self, boxes: np.ndarray) -> np.ndarray:
        pred = np.array([t.predicted_box() for t in self.tracks]).reshape(-1, 4)
        iou = box_iou(pred, boxes)
        pc = (pred[:, :2] + pred[:, 2:]) / 2
        dc = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = np.maximum(((pred[:, 2] - pred[:, 0]) + (pred[:, 3] - pred[:, 1])) / 2, 1e-6)
        dist = np.linalg.norm(pc[:, None, :] - dc[None, :, :], axis=2) / size[:, None]
        cost = self.iou_weight * (1 - iou) + (1 - self.iou_weight) * dist
        ok = (dist <= self.max_center_distance) | (iou >= max(self.min_iou, 1e-9))
        return np.where(ok, cost, np.inf)

    def update(self, boxes: np.ndarray) -> TrackerUpdate:
        """Associate this frame's ``boxes (M, 4)`` and advance every track by one frame."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        m = boxes.shape[0]
        assigned: dict[int, int] = {}  # det -> track index
        if self.tracks and m:
            cost = self._cost(boxes)
            # two stages: confirmed tracks first, then the tentative ones with what is left, so
            # a spurious detection next to a person (which starts a tentative track) can never
            # take the person's next detection away from the person's id
            confirmed = np.array([t.track_id is not None for t in self.tracks])
            for stage in (confirmed, ~confirmed):
                rows_idx = np.flatnonzero(stage)
                cols_idx = np.array([c for c in range(m) if c not in assigned], dtype=int)
                if rows_idx.size == 0 or cols_idx.size == 0:
                    continue
                sub = cost[np.ix_(rows_idx, cols_idx)]
                rows, cols = linear_sum_assignment(np.where(np.isfinite(sub), sub, 1e6))
                for r, c in zip(rows, cols, strict=True):
                    if np.isfinite(sub[r, c]):
                        assigned[int(cols_idx[c])] = int(rows_idx[r])
        matched_tracks = set(assigned.values())
        removed: list[int] = []
        survivors: list[Track] = []
        for ti, t in enumerate(self.tracks):
            t.age += 1
            if ti in matched_tracks:
                continue
            t.misses += 1
            t.hits = 0
            if t.track_id is None or t.misses > self.max_misses:
                if t.track_id is not None:
                    removed.append(t.track_id)
                continue
            survivors.append(t)
        ids: list[int | None] = [None] * m
        uids: list[int] = [0] * m
        a = self.velocity_smoothing
        for di in range(m):
            if di in assigned:
                t = self.tracks[assigned[di]]
                step = (boxes[di] - t.box) / (t.misses + 1)
                t.velocity = a * t.velocity + (1 - a) * step if a > 0 else np.zeros(4)
                t.box = boxes[di].copy()
                t.hits += 1
                t.misses = 0
                if t.track_id is None and t.hits >= self.min_hits:
                    t.track_id = self._next_id
                    self._next_id += 1
                survivors.append(t)
            else:
                t = Track(box=boxes[di].copy(), uid=self._next_uid)
                self._next_uid += 1
                if self.min_hits <= 1:
                    t.track_id = self._next_id
                    self._next_id += 1
                survivors.append(t)
            ids[di] = t.track_id
            uids[di] = t.uid
        # keep a deterministic order: confirmed (by id) first, then tentative by age
        survivors.sort(key=lambda t: (t.track_id is None, t.track_id or 0, -t.age))
        self.tracks = survivors
        return TrackerUpdate(ids=ids, removed=removed, tracks=self.confirmed_tracks(), uids=uids)


# --------------------------------------------------------------------------------------------
# One-Euro filtering


def smoothing_alpha(cutoff_hz: float, dt: float) -> float:
    """Exponential smoothing factor of a first-order low-pass with ``cutoff_hz`` at step ``dt``."""
    tau = 1.0 / (2.0 * math.pi * max(cutoff_hz, 1e-9))
    return 1.0 / (1.0 + tau / max(dt, 1e-9))


class OneEuroFilter:
    """Vector One-Euro filter (Casiez et al. 2012); the speed is the norm of the derivative."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.alpha = 1.0  # weight of the new sample in the last step (1 = restart)

    def reset(self) -> None:
        self.x = None
        self.dx = None
        self.alpha = 1.0

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or dt <= 0:
            self.x = x.copy()
            self.dx = np.zeros_like(x)
            self.alpha = 1.0
            return self.x.copy()
        dx = (x - self.x) / dt
        ad = smoothing_alpha(self.d_cutoff, dt)
        self.dx = ad * dx + (1 - ad) * self.dx
        cutoff = self.min_cutoff + self.beta * float(np.linalg.norm(self.dx))
        a = smoothing_alpha(cutoff, dt)
        self.alpha = a
        self.x = a * x + (1 - a) * self.x
        return self.x.copy()


class PoseFilter:
    """One-Euro filter on SE(3): translation in R^3, rotation on SO(3) (see module docstring).

    Args:
        mode: 'one_euro' or 'none'.
        min_cutoff_t, beta_t: translation cutoff (Hz) and speed coefficient (per m/s).
        min_cutoff_r, beta_r: rotation cutoff (Hz) and speed coefficient (per rad/s).
        d_cutoff: cutoff of the speed estimate (Hz).
        reset_after: a gap longer than this (s) restarts the filter.
    """

    MODES = ("one_euro", "none")

    def __init__(self, mode: str = "one_euro", min_cutoff_t: float = 0.5, beta_t: float = 10.0,
                 min_cutoff_r: float = 0.5, beta_r: float = 0.5, d_cutoff: float = 1.0,
                 reset_after: float = 1.0) -> None:
        if mode not in self.MODES:
            raise ValueError(f"filter mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.min_cutoff_r = float(min_cutoff_r)
        self.beta_r = float(beta_r)
        self.d_cutoff = float(d_cutoff)
        self.reset_after = float(reset_after)
        self._t = OneEuroFilter(min_cutoff_t, beta_t, d_cutoff)
        self._rot: np.ndarray | None = None
        self._w = 0.0  # filtered angular speed, rad/s
        self._stamp: float | None = None
        self._cov: np.ndarray | None = None

    def reset(self) -> None:
        self._t.reset()
        self._rot = None
        self._w = 0.0
        self._stamp = None
        self._cov = None

    def __call__(self, stamp: float, rot: np.ndarray,
                 trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filter the measurement (rotation (3,3), translation (3,)) taken at ``stamp`` s."""
        rot_f, trans_f, _ = self.step(stamp, rot, trans, None)
        return rot_f, trans_f

    def step(self, stamp: float, rot: np.ndarray, trans: np.ndarray,
             cov: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Filter pose and covariance ``(6, 6)`` (x, y, z, rotX, rotY, rotZ) of one measurement;
        returns the filtered ``(rot, trans, cov)`` (cov None when ``cov`` is None). The
        covariance recursion is in the module docstring."""
        rot = np.asarray(rot, np.float64)
        trans = np.asarray(trans, np.float64)
        cov = None if cov is None else np.asarray(cov, np.float64).reshape(6, 6)
        if self.mode == "none":
            return rot.copy(), trans.copy(), None if cov is None else cov.copy()
        if self._stamp is not None:
            dt = stamp - self._stamp
            if dt < 0 or dt > self.reset_after:
                self.reset()
            elif dt == 0:  # the same stamp twice: keep the filtered state
                return self._rot.copy(), self._t.x.copy(), self._cov_out(cov, 0.0, 0.0)
        if self._stamp is None:
            self._stamp = stamp
            self._rot = _orthonormalise(rot)
            self._w = 0.0
            return self._rot.copy(), self._t(trans, 0.0), self._cov_out(cov, 1.0, 1.0)
        dt = stamp - self._stamp
        self._stamp = stamp
        trans_f = self._t(trans, dt)
        delta = Rotation.from_matrix(self._rot.T @ _orthonormalise(rot)).as_rotvec()
        speed = float(np.linalg.norm(delta)) / dt
        ad = smoothing_alpha(self.d_cutoff, dt)
        self._w = ad * speed + (1 - ad) * self._w
        a = smoothing_alpha(self.min_cutoff_r + self.beta_r * self._w, dt)
        self._rot = _orthonormalise(self._rot @ Rotation.from_rotvec(a * delta).as_matrix())
        return self._rot.copy(), trans_f, self._cov_out(cov, self._t.alpha, a)

    def _cov_out(self, cov: np.ndarray | None, a_t: float, a_r: float) -> np.ndarray | None:
        """``P = D cov D + E P_prev E`` (weights ``a_t`` of the translation, ``a_r`` of the
        rotation; 1 = restart on ``cov``, 0 = keep the state)."""
        if cov is None:
            return None
        if self._cov is None or (a_t >= 1.0 and a_r >= 1.0):
            self._cov = cov.copy()
        else:
            d = np.sqrt(np.repeat([a_t, a_r], 3))
            e = np.sqrt(1.0 - np.repeat([a_t, a_r], 3))
            p = d[:, None] * cov * d[None, :] + e[:, None] * self._cov * e[None, :]
            self._cov = 0.5 * (p + p.T)
        return self._cov.copy()


def _orthonormalise(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt
