"""Face detection for the node (no ROS import), one module per job.

Detectors return :class:`FaceDetections`: boxes ``(M, 4)`` as ``x0, y0, x1, y1`` in pixels of
the input image (pixel-centre convention of OpenCV: the top-left pixel covers [0, 1)), scores
``(M,)`` and, for YuNet, 5 keypoints ``(M, 5, 2)`` (right eye, left eye, nose tip, right and
left mouth corner, in the image's left-to-right order of OpenCV's YuNet sample). Every detector
has ``detect(image)`` and ``kind`` (:class:`FaceDetector`).

- :class:`YuNetDetector`: the ONNX model given by path (``face_detection_yunet_2023mar.onnx``,
  fetched into the user cache by ``head-pose-fetch-models``, :mod:`head_pose_ros.model_files`),
  run by ``cv2.FaceDetectorYN`` where that works (OpenCV >= 4.8) and otherwise by ONNX Runtime
  with our own decode (:mod:`head_pose_ros.yunet_ort`; OpenCV 4.5 / 4.6 from Debian / Ubuntu
  apt load the model but fail on the first frame). The image is downscaled so that its longer
  side is at most ``max_side`` (speed) and boxes are mapped back. The 2023mar file is a "fixed
  640x640" export: OpenCV >= 4.8 re-shapes its input to the image, ONNX Runtime gets the image
  zero-padded (right and bottom) to 640x640, which changes nothing inside the image.
- :class:`HaarCascadeDetector`: OpenCV's frontal-face Haar cascade, found in
  ``cv2.data.haarcascades`` (pip's ``opencv-python(-headless) < 5``) or in the system cascade
  folders (:data:`HAAR_DIRS`, Debian / Ubuntu ``opencv-data``): weaker (frontal only), boxes are
  squares that are somewhat larger than YuNet's.
- :func:`resolve_detector`: the node's choice (``detector`` = auto / yunet / cascade): YuNet from
  ``yunet_model``, else from the user cache, else the Haar cascade; when nothing is there the
  error is one line that names the fetch command.
- :class:`LandmarkFollower`: boxes for the next frame from the previous frame's predicted 68
  landmarks (the node uses the model's 3D landmarks projected into the image), so the detector
  only runs every N frames (:class:`DetectionScheduler`).

Modules: :mod:`.base` (FaceDetections, FaceDetector), :mod:`.boxes` (detector box ->
estimator box, box_iou), :mod:`.yunet`, :mod:`.haar`, :mod:`.choice` (resolve_detector),
:mod:`.follow` (LandmarkFollower), :mod:`.schedule` (DetectionScheduler). Every public
name is re-exported here.
"""

from __future__ import annotations

from head_pose_ros.detection.base import FaceDetections, FaceDetector
from head_pose_ros.detection.boxes import (
    DETECTOR_BOX_GEOMETRY,
    box_iou,
    estimator_box_for_extent,
    estimator_boxes,
    landmark_extent_from_detection,
)
from head_pose_ros.detection.choice import DetectorChoice, create_detector, resolve_detector
from head_pose_ros.detection.follow import LandmarkFollower
from head_pose_ros.detection.haar import (
    HAAR_DIRS,
    HAAR_FILE,
    HaarCascadeDetector,
    find_haar_cascade,
    haar_search_dirs,
)
from head_pose_ros.detection.schedule import DetectionScheduler
from head_pose_ros.detection.yunet import YUNET_URL, YuNetDetector
from head_pose_ros.geometry import box_from_landmarks

__all__ = [
    "FaceDetections",
    "FaceDetector",
    "YuNetDetector",
    "HaarCascadeDetector",
    "DetectorChoice",
    "HAAR_DIRS",
    "find_haar_cascade",
    "resolve_detector",
    "LandmarkFollower",
    "DetectionScheduler",
    "box_from_landmarks",
    "box_iou",
    "create_detector",
    "landmark_extent_from_detection",
    "estimator_boxes",
    "estimator_box_for_extent",
    "DETECTOR_BOX_GEOMETRY",
    "HAAR_FILE",
    "haar_search_dirs",
    "YUNET_URL",
]
