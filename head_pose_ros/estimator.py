"""Head pose estimator: image + intrinsics (+ face boxes) -> metric 6DoF poses (no ROS).

Pipeline per frame: face boxes (given, or from a ``detector``: one of the package's detectors,
:class:`head_pose_ros.detection.FaceDetector`, or a callable) -> square crop boxes
(:func:`head_pose_ros.geometry.crop_box_from_detection`) -> 192x192 crops (``cv2.warpAffine``,
or ``cv2.remap`` through an undistorting map when distortion coefficients are given, so every
crop is an ideal pinhole view with ``K_crop``) -> one batched forward pass on the caller's
device (eval mode, ``torch.inference_mode``) -> :class:`FaceEstimate` per face, last iteration
of TRG, with a 6x6 covariance (:mod:`head_pose_ros.covariance`).

Input images are ``(H, W, 3) uint8 BGR`` (OpenCV order; ``(H, W)`` grey is accepted).
Geometry conventions: :mod:`head_pose_ros.geometry`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from head_pose_ros import geometry as g
from head_pose_ros.covariance import CovarianceParams, pose_covariance
from head_pose_ros.detection import DETECTOR_BOX_GEOMETRY, FaceDetector, estimator_boxes
from head_pose_ros.model.config import IMAGENET_MEAN, IMAGENET_STD
from head_pose_ros.model.trg import TRG
from head_pose_ros.topology import FaceTopology

DetectorFn = Callable[[np.ndarray], np.ndarray]
"""image (H, W, 3) uint8 BGR -> (M, 5) float boxes ``x0, y0, x1, y1, score`` (or (M, 4))."""

Detector = FaceDetector | DetectorFn
"""What ``detector=`` accepts: a :class:`~head_pose_ros.detection.FaceDetector`
(``YuNetDetector``, ``HaarCascadeDetector``, anything with ``detect(image) -> FaceDetections``
and ``kind``: its boxes are turned into the boxes the crop is calibrated for,
:func:`~head_pose_ros.detection.estimator_boxes`), or a callable returning YuNet-like boxes."""


_MEAN_255 = (np.array(IMAGENET_MEAN, np.float32) * 255.0).reshape(1, 3, 1, 1)
_INV_STD_255 = (1.0 / (np.array(IMAGENET_STD, np.float32) * 255.0)).reshape(1, 3, 1, 1)


def _check_detector(detector: object) -> Detector | None:
    if detector is None or callable(detector) or isinstance(detector, FaceDetector):
        return detector  # type: ignore[return-value]
    raise TypeError(
        f"detector must be a FaceDetector (e.g. YuNetDetector, HaarCascadeDetector: detect() "
        f"and kind) or a callable image -> (M, 5) boxes, got {type(detector).__name__}"
    )


def _run_detector(detector: Detector, image: np.ndarray) -> np.ndarray:
    """(M, 4) or (M, 5) boxes for the estimator from either kind of detector."""
    if isinstance(detector, FaceDetector):
        dets = detector.detect(image)
        kind = getattr(detector, "kind", "yunet")
        boxes = np.asarray(dets.boxes, np.float64).reshape(-1, 4)
        if kind in DETECTOR_BOX_GEOMETRY:
            boxes = estimator_boxes(boxes, kind)
        return np.hstack([boxes, np.asarray(dets.scores, np.float64).reshape(-1, 1)])
    out = detector(image)
    return out.as_array() if hasattr(out, "as_array") else out  # FaceDetections


@dataclass
class FaceEstimate:
    """One face. Camera frame = optical frame of the input image; metres; float64.

    Attributes:
        R: (3, 3) head rotation, ``X_cam = R @ X_head + T``.
        T: (3,) head translation (m).
        quaternion: (4,) R as (x, y, z, w).
        vertices_head: (V, 3) dense landmarks in the head frame.
        vertices_cam: (V, 3) dense landmarks in the camera frame.
        landmarks68: (68, 2) sparse landmarks (heatmap output) in input-image pixels (for a
            distorted input: in the distorted image).
        correction: (3,) correction parameters (s, tx, ty) of paper Eq. 2.
        covariance: (6, 6) row-major (x, y, z, rotX, rotY, rotZ), camera frame.
        box: (4,) input face box x0, y0, x1, y1 (input-image pixels).
        score: detector score (1.0 for given boxes without score).
        crop_box: (3,) crop box (cx, cy, side) in ideal (undistorted) pixel coordinates.
    """

    R: np.ndarray
    T: np.ndarray
    quaternion: np.ndarray
    vertices_head: np.ndarray
    vertices_cam: np.ndarray
    landmarks68: np.ndarray
    correction: np.ndarray
    covariance: np.ndarray
    box: np.ndarray
    score: float
    crop_box: np.ndarray


class HeadPoseEstimator:
    """Batched TRG inference.

    Args:
        model: a :class:`TRG` (weights loaded). Moved to ``device`` and put in eval mode.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a torch.device (chosen by the caller).
        detector: used when ``predict`` gets ``boxes=None``: one of the package's detectors
            (:class:`~head_pose_ros.detection.FaceDetector`; e.g. ``YuNetDetector(path)``) or
            a callable image -> (M, 5) YuNet-like boxes (:data:`Detector`). Anything else
            raises ``TypeError`` here.
        crop_scale: detector box -> crop box scale (:data:`geometry.DETECTION_CROP_SCALE`,
            calibrated for YuNet boxes).
        crop_offset_y: downward crop-centre shift as a fraction of the box's larger side
            (:data:`geometry.DETECTION_CROP_OFFSET_Y`, YuNet); 0 for boxes already centred on
            the 68-landmark extent.
        covariance: covariance constants (default: from checkpoint metadata, else uncalibrated).
        metadata: checkpoint info (kept for reference, e.g. by the node's log).

    Attributes:
        backend: ``"torch"`` here; :meth:`from_checkpoint` can run the model in ONNX Runtime
            instead (``"onnxruntime"`` or ``"onnxruntime_int8"``, :mod:`head_pose_ros.backends`).
    """

    def __init__(
        self,
        model: TRG,
        device: str | torch.device = "cpu",
        detector: Detector | None = None,
        crop_scale: float = g.DETECTION_CROP_SCALE,
        crop_offset_y: float = g.DETECTION_CROP_OFFSET_Y,
        covariance: CovarianceParams | None = None,
        metadata: dict | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.backend = "torch"
        self.detector = _check_detector(detector)
        self.crop_scale = float(crop_scale)
        self.crop_offset_y = float(crop_offset_y)
        self.metadata = metadata or {}
        if covariance is None:
            covariance = CovarianceParams.from_dict(self.metadata.get("meta", {}).get("covariance"))
        self.covariance = covariance
        self.topology: FaceTopology = model.topology()
        self.input_size = model.config.input_size
        #: seconds per stage of the last :meth:`predict` call with faces (see there)
        self.last_timings: dict[str, float] = {"crop": 0.0, "infer": 0.0, "post": 0.0}

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        detector: Detector | None = None,
        backend: str = "auto",
        threads: int | None = None,
        onnx_cache_dir: str | os.PathLike | None = None,
        **kwargs,
    ) -> HeadPoseEstimator:
        """Load a safetensors checkpoint (:func:`head_pose_ros.checkpoint.load_checkpoint`;
        raises ``CheckpointError`` for a missing / corrupt / mismatched file).

        Args:
            backend: ``"torch"``, ``"onnxruntime"`` (CPU only: the checkpoint's ONNX graph,
                exported once and cached, :mod:`head_pose_ros.backends`),
                ``"onnxruntime_int8"`` (the same with the regressors' linear layers in int8)
                or ``"auto"`` (``backends.AUTO_CPU`` on the CPU when onnxruntime is installed,
                else torch; an export that fails falls back to torch with a
                ``RuntimeWarning``). The choice is ``self.backend``.
            threads: ONNX Runtime intra-op threads (default ``torch.get_num_threads()``).
            onnx_cache_dir: ONNX graph cache (default :func:`backends.default_cache_dir`).
        Raises:
            ValueError: unknown ``backend``.
            BackendError: an ONNX Runtime backend on a GPU device, without onnxruntime /
                onnx, or its export failed (checked before the checkpoint is read where possible).
        """
        from head_pose_ros.backends import (
            ORT_BACKENDS,
            BackendError,
            load_onnxruntime_model,
            resolve_backend,
        )
        from head_pose_ros.checkpoint import load_checkpoint

        chosen = resolve_backend(backend, device)
        model, info = load_checkpoint(path, device="cpu")
        est = cls(model, device=device, detector=detector, metadata=info, **kwargs)
        if chosen in ORT_BACKENDS:
            try:
                est.model = load_onnxruntime_model(model, path, threads, onnx_cache_dir,
                                                   int8=chosen == "onnxruntime_int8")
                est.backend = chosen
            except BackendError as exc:
                if str(backend).strip().lower() != "auto":
                    raise
                warnings.warn(f"backend 'auto': {exc}; running the model in torch instead",
                              RuntimeWarning, stacklevel=2)
        return est

    # ------------------------------------------------------------------ preprocessing
    def _crop(
        self, image: np.ndarray, box: np.ndarray, K: np.ndarray, dist: np.ndarray | None  # noqa: N803
    ) -> np.ndarray:
        s = self.input_size
        if dist is None:
            return cv2.warpAffine(image, g.crop_warp_matrix(box, s), (s, s),
                                  flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        # ideal pinhole crop: crop pixel -> ray (K_crop^-1) -> distorted source pixel
        K_crop = g.crop_intrinsics(K, box, s)  # noqa: N806
        v, u = np.mgrid[0:s, 0:s].astype(np.float64)
        pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=0)
        rays = (np.linalg.inv(K_crop) @ pix).T
        src, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, dist)
        src = src.reshape(s, s, 2).astype(np.float32)
        return cv2.remap(image, src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)

    @staticmethod
    def _undistort_box(box: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:  # noqa: N803
        x0, y0, x1, y1 = box[:4]
        pts = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1], [(x0 + x1) / 2, y0],
                        [(x0 + x1) / 2, y1], [x0, (y0 + y1) / 2], [x1, (y0 + y1) / 2]])
        und = cv2.undistortPoints(pts.reshape(-1, 1, 2), K, dist, P=K).reshape(-1, 2)
        lo, hi = und.min(axis=0), und.max(axis=0)
        return np.array([lo[0], lo[1], hi[0], hi[1]])

    @staticmethod
    def _distort_points(pts: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:  # noqa: N803
        rays = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.linalg.inv(K).T
        out, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, dist)
        return out.reshape(-1, 2)

    # ------------------------------------------------------------------ inference
    def network_inputs(self, crops: list[np.ndarray], K_crops: np.ndarray,  # noqa: N803
                       infos: np.ndarray, crop_boxes: np.ndarray, K: np.ndarray  # noqa: N803
                       ) -> tuple[np.ndarray, ...]:
        """The network's five inputs (float32, C-contiguous): the (M, s, s, 3) uint8 BGR
        ``crops`` as (M, 3, s, s) RGB normalised with the ImageNet mean / std, then ``K_crops``
        (M, 3, 3), ``infos`` (M, 3), ``crop_boxes`` (M, 3) and ``K`` repeated (M, 3, 3)."""
        x = np.ascontiguousarray(np.stack(crops)[..., ::-1].transpose(0, 3, 1, 2),
                                 dtype=np.float32)
        x -= _MEAN_255
        x *= _INV_STD_255
        f32 = np.float32
        return (x, np.ascontiguousarray(K_crops, f32), np.ascontiguousarray(infos, f32),
                np.ascontiguousarray(crop_boxes, f32),
                np.ascontiguousarray(np.broadcast_to(K, (len(crops), 3, 3)), f32))

    def _run_network(self, crops: list[np.ndarray], K_crops: np.ndarray,  # noqa: N803
                     infos: np.ndarray, crop_boxes: np.ndarray, K: np.ndarray  # noqa: N803
                     ) -> dict[str, np.ndarray]:
        """The last iteration's outputs as float64 numpy arrays: ``rot6d``, ``correction``,
        ``vertices``, ``T``, ``landmarks68`` and, with the uncertainty head, ``rot_logvar``.

        A model with a ``run_numpy`` method (the ONNX Runtime adapter) takes the numpy inputs
        as they are; any other (a TRG, or a wrapper of one) gets torch tensors on
        :attr:`device` and returns TRG's output dict."""
        inputs = self.network_inputs(crops, K_crops, infos, crop_boxes, K)
        run_numpy = getattr(self.model, "run_numpy", None)
        if run_numpy is not None:
            return run_numpy(*inputs)
        with torch.inference_mode():
            out = self.model(*(torch.from_numpy(a).to(self.device) for a in inputs))
            res = {k: out[k][-1] for k in ("rot6d", "correction", "vertices", "T")}
            res["landmarks68"] = out["landmarks68"]
            if out.get("rot_logvar") is not None:
                res["rot_logvar"] = out["rot_logvar"]
            return {k: v.double().cpu().numpy() for k, v in res.items()}

    def predict(
        self,
        image: np.ndarray,
        K: np.ndarray,  # noqa: N803
        boxes: np.ndarray | None = None,
        dist_coeffs: np.ndarray | None = None,
        intrinsics_guessed: bool = False,
    ) -> list[FaceEstimate]:
        """Estimate every face of one frame.

        Args:
            image: (H, W, 3) uint8 BGR (or (H, W) grey).
            K: (3, 3) intrinsics of ``image`` (fx, fy > 0).
            boxes: (M, 4) ``x0, y0, x1, y1`` or (M, 5) with a score column; None: run the
                detector given at construction.
            dist_coeffs: OpenCV distortion coefficients (4, 5, 8, 12 or 14 values) of a raw
                image, or None for a rectified / undistorted image.
            intrinsics_guessed: K is a guess (uncalibrated camera): inflates the covariance.
        Returns:
            One :class:`FaceEstimate` per box, in box order (empty list for no box).

        After a call with at least one box, :attr:`last_timings` holds the seconds this call
        spent per stage: ``"crop"`` (crop boxes, warps, crop intrinsics), ``"infer"`` (tensor
        conversion, the forward pass, outputs back to numpy; CUDA work included, as the outputs
        are copied back) and ``"post"`` (poses, translation, landmarks, covariance).
        """
        image = np.asarray(image)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 BGR, got {image.shape} {image.dtype}")
        image = np.ascontiguousarray(image)
        K = np.asarray(K, dtype=np.float64)  # noqa: N806
        if K.shape != (3, 3) or not (K[0, 0] > 0 and K[1, 1] > 0) or not np.isfinite(K).all():
            raise ValueError(f"invalid intrinsics K (need fx, fy > 0): {K.tolist()}")
        dist = None
        if dist_coeffs is not None:
            d = np.asarray(dist_coeffs, dtype=np.float64).ravel()
            if d.size not in (4, 5, 8, 12, 14):
                raise ValueError(f"unsupported number of distortion coefficients: {d.size}")
            dist = d if np.any(d != 0) else None
        if boxes is None:
            if self.detector is None:
                raise RuntimeError(
                    "HeadPoseEstimator.predict: no boxes given and no detector configured "
                    "(pass boxes or construct the estimator with detector=...)"
                )
            boxes = _run_detector(self.detector, image)
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            return []
        if boxes.ndim == 1:
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
            raise ValueError(f"boxes must be (M, 4) or (M, 5), got {boxes.shape}")
        scores = boxes[:, 4] if boxes.shape[1] == 5 else np.ones(len(boxes))

        t_crop = time.perf_counter()
        s = self.input_size
        crop_boxes, crops = [], []
        for b in boxes:
            ideal = b[:4] if dist is None else self._undistort_box(b, K, dist)
            cb = g.crop_box_from_detection(ideal, self.crop_scale, self.crop_offset_y)
            crop_boxes.append(cb)
            crops.append(self._crop(image, cb, K, dist))
        crop_boxes_a = np.stack(crop_boxes)
        K_crops = np.stack([g.crop_intrinsics(K, cb, s) for cb in crop_boxes_a])  # noqa: N806
        infos = np.stack([g.bbox_info(K, cb) for cb in crop_boxes_a])

        t_infer = time.perf_counter()
        out = self._run_network(crops, K_crops, infos, crop_boxes_a, K)
        rot6d, corr, verts = out["rot6d"], out["correction"], out["vertices"]
        lm_crop, T_direct, logvar = out["landmarks68"], out["T"], out.get("rot_logvar")  # noqa: N806

        t_post = time.perf_counter()
        results = []
        R_all = g.rot6d_to_matrix(rot6d)  # noqa: N806
        q_all = g.matrix_to_quaternion(R_all)
        for i in range(len(boxes)):
            R = R_all[i]  # noqa: N806
            if self.model.config.translation_mode == "correction":
                T = g.translation_from_correction(corr[i], K, crop_boxes_a[i])  # noqa: N806
            else:
                T = T_direct[i]  # noqa: N806
            lm = g.crop_to_image(lm_crop[i], crop_boxes_a[i], s)
            if dist is not None:
                lm = self._distort_points(lm, K, dist)
            results.append(
                FaceEstimate(
                    R=R,
                    T=T,
                    quaternion=q_all[i],
                    vertices_head=verts[i],
                    vertices_cam=g.transform_points(verts[i], R, T),
                    landmarks68=lm,
                    correction=corr[i],
                    covariance=pose_covariance(
                        T, K, crop_boxes_a[i][2], self.covariance, intrinsics_guessed, R=R,
                        rot_logvar=None if logvar is None else logvar[i]),
                    box=boxes[i, :4].copy(),
                    score=float(scores[i]),
                    crop_box=crop_boxes_a[i],
                )
            )
        self.last_timings = {"crop": t_infer - t_crop, "infer": t_post - t_infer,
                             "post": time.perf_counter() - t_post}
        return results
