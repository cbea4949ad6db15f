"""Per-frame pipeline of the node, without ROS: detect (or follow) -> estimate -> track -> filter.

The ROS node (:mod:`head_pose_ros.ros.node`) and the offline video tool
(:mod:`head_pose_ros.video`) run this same class, so what the video evaluation measures is what
the node publishes.

One frame::

    boxes   = detector(image)                 every ``detect_every_n`` frames (and when the
                                              follower has no face or just lost one); a
                                              detection that overlaps a followed face takes
                                              the followed box (the crop the model's own
                                              landmarks give, see below)
              or follower.detections()        else: the boxes of the faces followed from the
                                              previous frame, moved by their motion
    faces   = estimator.predict(image, K, boxes, dist)      (one batched forward pass)
    faces   = one per face                    estimates whose landmark extents overlap
                                              (IoU > 0.5, e.g. two nested Haar boxes of one
                                              face) are one face: the best scored is kept
    ids     = tracker.update(extents)         Hungarian matching on the faces' landmark extents
                                              (where the model found the face, not the
                                              detector's box); tentative tracks are hidden
    R, T, C = PoseFilter per track            One-Euro on SE(3) (``filter = 'none'``: raw),
                                              covariance C propagated through the filter
    follow  = follower.update(landmarks, fit, track)   next frame's boxes: the 68 3D
                                              landmarks projected with K, their extent moved
                                              by the track's motion; a face whose landmark fit
                                              (heatmap vs. 3D landmarks,
                                              ``detection.follow.landmark_fit``) is poor is
                                              dropped and the detector runs on the next frame;
                                              with ``HeadPosePipeline.learn_crop`` (off by
                                              default) each face learns on a detector frame a crop
                                              correction: how the detector's box differs from
                                              the box of its own landmarks (size ratio, centre
                                              shift); its followed boxes get it until the next
                                              detector frame or until its track ends

Poses follow :mod:`head_pose_ros.geometry`: ``X_cam = R @ X_head + T`` in the optical frame of
the image, metres. Stamps are seconds (any monotonic clock; the filter uses differences).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

import cv2
import numpy as np

from head_pose_ros.covariance import sanitize_covariance
from head_pose_ros.detection import (
    DetectionScheduler,
    FaceDetections,
    LandmarkFollower,
    box_iou,
    estimator_boxes,
)
from head_pose_ros.detection.boxes import estimator_box_for_extent
from head_pose_ros.detection.follow import crop_correction, landmark_fit
from head_pose_ros.geometry import box_from_landmarks
from head_pose_ros.tracking import FaceTracker, PoseFilter


@dataclass
class PipelineConfig:
    """Tracking / filtering settings (the node's parameters of the same names)."""

    #: 10 (default): the detector every 10th frame, faces followed from their landmarks in
    #: between (docs/BENCHMARKS.md, issue 18: 1.89x the frames/s at 640x480, pooled cost
    #: -0.00 deg / +1.3 mm on rendered sequences); 1 = the detector on every frame
    detect_every_n: int = 10
    min_face_size: float = 24.0
    max_faces: int = 8
    tracking: bool = True
    tracker_min_hits: int = 3
    tracker_max_misses: int = 5
    tracker_max_center_distance: float = 1.0
    filter: str = "one_euro"
    filter_min_cutoff_t: float = 0.5
    filter_beta_t: float = 10.0
    filter_min_cutoff_r: float = 0.5
    filter_beta_r: float = 0.5
    filter_d_cutoff: float = 1.0
    filter_reset_after: float = 0.5

    @classmethod
    def from_object(cls, obj: Any) -> PipelineConfig:
        """The fields of ``obj`` (e.g. the node's ``NodeConfig``) with these names."""
        return cls(**{f.name: getattr(obj, f.name) for f in fields(cls)})


@dataclass
class TrackedHead:
    """One person in one frame.

    Attributes:
        person_id: track id (never reused); 0 for every face when tracking is off.
        frames_seen: frames in which this track's face was found, including this one and
            the tentative frames before the track was confirmed.
        rot, trans: filtered pose (raw when tracking or filtering is off).
        cov: (6, 6) symmetric positive-definite covariance (x, y, z, rotX, rotY, rotZ) of
            ``rot, trans``: the raw estimate's, propagated through the pose filter
            (:meth:`head_pose_ros.tracking.PoseFilter.step`).
        est: the unfiltered :class:`head_pose_ros.estimator.FaceEstimate`.
    """

    person_id: int
    frames_seen: int
    rot: np.ndarray
    trans: np.ndarray
    cov: np.ndarray
    est: Any


#: the stages of :attr:`FrameResult.timings`, in frame order
STAGES: tuple[str, ...] = ("detect", "crop", "infer", "post")


@dataclass
class FrameResult:
    """What :meth:`HeadPosePipeline.process` found in one frame.

    ``timings``: seconds this frame spent per stage (:data:`STAGES`): ``"detect"`` (the
    detector and its box conversion; 0.0 on a frame where the faces were followed), ``"crop"``,
    ``"infer"`` and ``"post"`` as the estimator's :attr:`~head_pose_ros.estimator.
    HeadPoseEstimator.last_timings` (an estimator without them: the whole ``predict`` is
    ``"infer"``), ``"post"`` also holding the pipeline's own work (landmarks to follow,
    one-per-face, tracking, filtering). All 0.0 for a stage that did not run.
    """

    people: list[TrackedHead]
    removed: list[int] = field(default_factory=list)  # track ids that ended in this frame
    n_estimates: int = 0  # faces estimated, tentative tracks included
    detector_ran: bool = False
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


class HeadPosePipeline:
    """Stateful per-camera pipeline (one instance per image stream; not thread-safe).

    Args:
        estimator: a :class:`head_pose_ros.estimator.HeadPoseEstimator` (or duck type with
            ``predict(image, K, boxes, dist_coeffs=, intrinsics_guessed=)`` and ``topology``).
        detector: a detector of :mod:`head_pose_ros.detection` (``detect(image)``, ``kind``).
        cfg: :class:`PipelineConfig`.
    """

    #: following on (``detect_every_n > 1``) and :attr:`learn_crop` off, on a detector frame a
    #: detection that overlaps a followed face by this IoU (estimator boxes) is estimated from
    #: the followed box (None: always from the detector's box). ``detect_every_n = 1`` and
    #: :attr:`learn_crop` always use the detector's box.
    refine_iou: float | None = 0.3
    #: following on, each face learns on a detector frame (estimated from the detector's box)
    #: how the detector's box of it differs from the box of its landmarks
    #: (:func:`head_pose_ros.detection.follow.crop_correction`) and its followed boxes get that
    #: correction until the next detector frame, so that a followed crop is the crop the
    #: detector would give. Off by default: on the rendered sequences it makes following copy
    #: the detector's errors (seed 0, ``python -m head_pose_ros.bench.following --learn-crop``:
    #: walk_towards MAE_t 23.9 -> 9.8 mm, but the yaw sweep MAE_r 2.79 -> 3.05 deg, jitter_r
    #: of the yaw sweep 1.09 -> 1.31 and of the crossing 0.33 -> 0.66 deg, the real video's
    #: profile jitter 0.89 -> 1.19 deg; seeds 1-5: MAE_r changes of -0.3 to +0.5 deg per
    #: sequence, scripts/follow_crop_scale.py)
    learn_crop: bool = False

    def __init__(self, estimator: Any, detector: Any, cfg: PipelineConfig | None = None) -> None:
        self.estimator = estimator
        self.detector = detector
        self.cfg = cfg or PipelineConfig()
        self.topology = getattr(estimator, "topology", None)
        self.follower = LandmarkFollower()
        self.scheduler = DetectionScheduler(self.cfg.detect_every_n)
        self.tracker = FaceTracker(min_hits=self.cfg.tracker_min_hits,
                                   max_misses=self.cfg.tracker_max_misses,
                                   max_center_distance=self.cfg.tracker_max_center_distance)

    def configure(self, cfg: PipelineConfig) -> None:
        """New settings between two frames (the node's parameters changed at run time).

        The tracks and the followed faces stay; the detection rhythm and the tracker use the new
        values from the next frame; with new filter settings each face's filter restarts (a new
        filter from that face's next estimate). ``tracking`` cannot change here (it decides what
        the ids mean): :class:`ValueError`.
        """
        if cfg.tracking != self.cfg.tracking:
            raise ValueError("tracking cannot change on a running pipeline (build a new one)")
        old, self.cfg = self.cfg, cfg
        self.scheduler.n = int(cfg.detect_every_n)
        tr = self.tracker
        tr.min_hits, tr.max_misses = int(cfg.tracker_min_hits), int(cfg.tracker_max_misses)
        tr.max_center_distance = float(cfg.tracker_max_center_distance)
        if any(getattr(old, f.name) != getattr(cfg, f.name) for f in fields(cfg)
               if f.name.startswith("filter")):
            for t in tr.tracks:
                t.data.pop("filter", None)

    def reset(self) -> list[int]:
        """Forget every face (e.g. after a camera switch); returns the ids that ended."""
        self.follower.reset()
        self.scheduler = DetectionScheduler(self.cfg.detect_every_n)
        return self.tracker.reset()

    def process(self, image: np.ndarray, K: np.ndarray, stamp: float,  # noqa: N803
                dist: np.ndarray | None = None, intrinsics_guessed: bool = False
                ) -> FrameResult:
        """Run one frame. ``image`` (H, W, 3) uint8 BGR, ``K`` (3, 3) its intrinsics, ``dist``
        OpenCV distortion coefficients of a raw image (None: rectified), ``stamp`` in s."""
        h, w = image.shape[:2]
        timings = dict.fromkeys(STAGES, 0.0)
        t0 = time.perf_counter()
        dets, ran, refs = self._detect(image)
        t1 = time.perf_counter()
        if ran:
            timings["detect"] = t1 - t0
        estimates = [] if len(dets) == 0 else list(self.estimator.predict(
            image, K, dets.as_array(), dist_coeffs=dist, intrinsics_guessed=intrinsics_guessed))
        t2 = time.perf_counter()
        if estimates:
            stages = getattr(self.estimator, "last_timings", None)
            if isinstance(stages, dict) and all(k in stages for k in STAGES[1:]):
                timings.update({k: float(stages[k]) for k in STAGES[1:]})
            else:
                timings["infer"] = t2 - t1
        points = [self._follow_points(e, K, dist) for e in estimates]
        extents = np.array([box_from_landmarks(p) if np.all(np.isfinite(p))
                            else np.asarray(e.box, np.float64).reshape(4)
                            for e, p in zip(estimates, points, strict=True)]).reshape(-1, 4)
        keep = one_per_face(extents, [float(e.score) for e in estimates])
        corrections = None
        if refs is not None and len(refs) == len(estimates):
            corrections = [crop_correction(refs[i], estimator_box_for_extent(extents[i]))
                           for i in keep]
        estimates = [estimates[i] for i in keep]
        points = [points[i] for i in keep]
        extents = extents[keep]
        people, removed, keys = self._track(estimates, extents, stamp)
        fits = [landmark_fit(e.landmarks68, p) for e, p in zip(estimates, points, strict=True)]
        self.follower.update(points, np.array([float(e.score) for e in estimates]), (w, h),
                             fits=fits, keys=keys, corrections=corrections)
        timings["post"] += time.perf_counter() - t2
        return FrameResult(people, removed, len(estimates), ran, timings)

    # ------------------------------------------------------------------ steps
    def _detect(self, image: np.ndarray) -> tuple[FaceDetections, bool, np.ndarray | None]:
        """Boxes for the estimator (YuNet-like: see detection.estimator_boxes), whether the
        detector ran, and on a detector frame with :attr:`learn_crop` (following on) the
        detector path's box of each of them (the box the crop correction is learnt from: the
        detector's own, also where the estimator gets the followed box); else None."""
        ran = self.scheduler.should_detect(self.follower)
        if not ran:
            return self.follower.detections().limit(self.cfg.max_faces), False, None
        dets = self.detector.detect(image)
        if len(dets):
            side = np.minimum(dets.boxes[:, 2] - dets.boxes[:, 0],
                              dets.boxes[:, 3] - dets.boxes[:, 1])
            dets = dets.select(np.flatnonzero(side >= self.cfg.min_face_size))
        refs = estimator_boxes(dets.boxes, self.detector.kind)
        boxes = refs
        following = self.cfg.detect_every_n > 1
        learn = self.learn_crop and following
        if (self.refine_iou is not None and following and not learn and len(self.follower)
                and len(boxes)):
            boxes = prefer_followed(boxes, self.follower.detections().boxes, self.refine_iou)
        dets = FaceDetections(boxes, dets.scores, dets.keypoints)
        if 0 < self.cfg.max_faces < len(dets):  # FaceDetections.limit: the largest faces
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            idx = np.argsort(-area, kind="stable")[:self.cfg.max_faces]
            dets, refs = dets.select(idx), refs[idx]
        return dets, True, refs if learn else None

    def _follow_points(self, est: Any, K: np.ndarray, dist: np.ndarray | None  # noqa: N803
                       ) -> np.ndarray:
        """68 landmarks in image pixels to follow a face with: the model's 3D landmarks
        (dense vertices at the 68 ids, camera frame) projected with K (and D for a raw image),
        or the 2D heatmap landmarks when the topology is unknown."""
        lm_ids = getattr(self.topology, "landmarks68", None)
        if lm_ids is None:
            return np.asarray(est.landmarks68, np.float64)
        pts = np.asarray(est.vertices_cam, np.float64)[lm_ids]
        if np.any(pts[:, 2] <= 1e-3):
            return np.full((68, 2), np.nan)
        uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), np.asarray(K, np.float64),
                                  np.zeros(5) if dist is None else dist)
        return uv.reshape(-1, 2)

    def _track(self, estimates: list[Any], extents: np.ndarray, stamp: float
               ) -> tuple[list[TrackedHead], list[int], list[int | None]]:
        """People to report, track ids that ended, and per estimate the key of its track
        (:attr:`head_pose_ros.tracking.Track.uid`; None without tracking)."""
        cfg = self.cfg
        removed: list[int] = []
        if cfg.tracking:
            upd = self.tracker.update(np.asarray(extents, np.float64).reshape(-1, 4))
            removed, ids = upd.removed, upd.ids
            keys: list[int | None] = list(upd.uids)
        else:
            ids = [0] * len(estimates)
            keys = [None] * len(estimates)
        out: list[TrackedHead] = []
        for e, pid in zip(estimates, ids, strict=True):
            if pid is None:
                continue  # tentative track: not reported yet
            rot = np.asarray(e.R, np.float64)
            trans = np.asarray(e.T, np.float64).reshape(3)
            # the estimator inflates the depth variance itself for guessed intrinsics
            cov = sanitize_covariance(np.asarray(e.covariance, np.float64).reshape(6, 6))
            frames_seen = 1
            if cfg.tracking:
                track = upd.tracks[pid]
                pf = track.data.get("filter")
                if pf is None:
                    pf = track.data["filter"] = PoseFilter(
                        cfg.filter, cfg.filter_min_cutoff_t, cfg.filter_beta_t,
                        cfg.filter_min_cutoff_r, cfg.filter_beta_r, cfg.filter_d_cutoff,
                        cfg.filter_reset_after)
                rot, trans, cov = pf.step(stamp, rot, trans, cov)
                track.data["seen"] = track.data.get("seen", cfg.tracker_min_hits - 1) + 1
                frames_seen = track.data["seen"]
            out.append(TrackedHead(int(pid), frames_seen, rot, trans, cov, e))
        return out, removed, keys


def prefer_followed(detected: np.ndarray, followed: np.ndarray, iou: float = 0.3
                    ) -> np.ndarray:
    """Estimator boxes of a detector frame: each detected box (M, 4) that overlaps a followed
    box by more than ``iou`` is replaced by the best-overlapping followed box (each followed
    box used once, greedily by IoU); the rest stay. A detection with no followed face is a new
    face; a followed face with no detection is not kept (the detector says what is there)."""
    det = np.asarray(detected, np.float64).reshape(-1, 4).copy()
    fol = np.asarray(followed, np.float64).reshape(-1, 4)
    if len(det) == 0 or len(fol) == 0:
        return det
    ov = box_iou(det, fol)
    used_d: set[int] = set()
    used_f: set[int] = set()
    for flat in np.argsort(-ov, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(fol))
        if ov[i, j] <= iou:
            break
        if i in used_d or j in used_f:
            continue
        det[i] = fol[j]
        used_d.add(i)
        used_f.add(j)
    return det


def one_per_face(extents: np.ndarray, scores: list[float], iou: float = 0.5) -> list[int]:
    """Indices of the estimates to keep, one per face: greedy by score, an estimate whose
    landmark extent overlaps a kept one by more than ``iou`` is the same face (detectors such as
    the Haar cascade return nested boxes of one face; both crops find the same face). Kept
    indices are in their original order."""
    b = np.asarray(extents, np.float64).reshape(-1, 4)
    if len(b) <= 1:
        return list(range(len(b)))
    overlap = box_iou(b, b)
    kept: list[int] = []
    for i in sorted(range(len(b)), key=lambda i: -scores[i]):
        if all(overlap[i, j] <= iou for j in kept):
            kept.append(i)
    return sorted(kept)
