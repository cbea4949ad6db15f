"""The node's detector choice (``detector`` = auto / yunet / cascade) with the reason for it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2

from head_pose_ros import model_files
from head_pose_ros.detection.haar import HaarCascadeDetector, find_haar_cascade, haar_search_dirs
from head_pose_ros.detection.yunet import YuNetDetector

_YUNET_ONLY = ("nms_threshold", "top_k", "backend", "threads")
_CASCADE_ONLY = ("cascade_path", "min_size", "scale_factor", "min_neighbors")


def create_detector(kind: str, yunet_model: str = "", **kw) -> YuNetDetector | HaarCascadeDetector:
    """Build the detector named ``kind`` ('yunet', 'cascade' or 'auto': see
    :func:`resolve_detector`, which also says why it chose what it chose)."""
    return resolve_detector(kind, yunet_model, **kw).detector


@dataclass
class DetectorChoice:
    """What :func:`resolve_detector` chose: the detector, a line saying why, and a warning
    (or "") when it fell back."""

    detector: YuNetDetector | HaarCascadeDetector
    reason: str
    warning: str = ""


def resolve_detector(kind: str = "auto", yunet_model: str | os.PathLike = "",
                     model_dir: str | os.PathLike | None = None, **kw) -> DetectorChoice:
    """The node's detector choice.

    - ``'yunet'``: ``yunet_model`` when given, else the user cache
      (:func:`head_pose_ros.model_files.cached_model`); missing = error.
    - ``'cascade'``: the Haar cascade (:func:`find_haar_cascade`); missing = error.
    - ``'auto'``: YuNet as above when ``yunet_model`` is given (a missing file is an error: it
      was asked for) or the cache holds it; else the Haar cascade. When YuNet from the cache
      cannot run (e.g. no onnxruntime on an old OpenCV) the Haar cascade is used with a warning.

    ``kw`` go to the detector (YuNet-only / cascade-only ones are dropped for the other).
    Raises:
        FileNotFoundError, RuntimeError: one line naming what is missing and the fetch command.
        ValueError: unknown ``kind``.
    """
    kind = str(kind).strip().lower()
    if kind not in ("auto", "yunet", "cascade"):
        raise ValueError(f"unknown detector {kind!r}: use 'auto', 'yunet' or 'cascade'")
    ykw = {k: v for k, v in kw.items() if k not in _CASCADE_ONLY}
    ckw = {k: v for k, v in kw.items() if k not in _YUNET_ONLY}
    given = str(yunet_model or "")
    if kind == "cascade":
        return DetectorChoice(HaarCascadeDetector(**ckw), "detector 'cascade': Haar cascade")
    if given:
        det = YuNetDetector(given, **ykw)
        return DetectorChoice(det, f"detector '{kind}': {det.describe()} (yunet_model)")
    cached = model_files.cached_model("yunet", model_dir)
    where = Path(model_dir or model_files.model_dir()) / model_files.YUNET.filename
    if kind == "yunet":
        if cached is None:
            raise FileNotFoundError(
                f"YuNet model not found: 'yunet_model' is empty and {where} is missing or "
                f"damaged; run {model_files.FETCH_COMMAND}, or set 'yunet_model'")
        det = YuNetDetector(cached, **ykw)
        return DetectorChoice(det, f"detector 'yunet': {det.describe()} (user cache)")
    warning = ""
    if cached is not None:
        try:
            det = YuNetDetector(cached, **ykw)
            return DetectorChoice(det, f"detector 'auto': {det.describe()} (user cache)")
        except RuntimeError as exc:
            warning = f"detector 'auto': cannot use YuNet from the cache ({exc}); using Haar"
    cascade = find_haar_cascade()
    if cascade is None or not hasattr(cv2, "CascadeClassifier"):
        raise FileNotFoundError(
            f"no face detector: no YuNet model ({where} missing; 'yunet_model' empty) and no "
            f"Haar cascade (OpenCV {cv2.__version__}: none in "
            f"{', '.join(haar_search_dirs())}); run {model_files.FETCH_COMMAND}")
    det = HaarCascadeDetector(cascade, **ckw)
    why = ("" if warning else
           f"; no YuNet model in {where}: run {model_files.FETCH_COMMAND} for YuNet")
    return DetectorChoice(det, f"detector 'auto': {det.describe()}{why}", warning)
