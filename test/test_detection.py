"""Face detectors on real images (shared data) and the landmark follower (ROS-free)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from head_pose_ros.detection import (
    DetectionScheduler,
    FaceDetections,
    HaarCascadeDetector,
    LandmarkFollower,
    YuNetDetector,
    box_from_landmarks,
    box_iou,
    create_detector,
    estimator_boxes,
    landmark_extent_from_detection,
)


def _yunet_path(shared_data):
    p = shared_data / "detector" / "face_detection_yunet_2023mar.onnx"
    if not p.is_file():
        pytest.skip(f"YuNet model missing at {p}")
    return p


def _lfpw(shared_data):
    d = shared_data / "real" / "lfpw_image_0010"
    img = cv2.imread(str(d / "image_0010.png"))
    if img is None:
        pytest.skip(f"{d} missing")
    lines = (d / "image_0010.pts").read_text().split("{")[1].split("}")[0].split()
    pts = np.asarray(lines, np.float64).reshape(68, 2)
    return img, pts


def _video_frames(shared_data, idx):
    p = shared_data / "real" / "two_faces_1080p.mp4"
    if not p.is_file():
        pytest.skip(f"{p} missing")
    cap = cv2.VideoCapture(str(p))
    frames, i = [], 0
    while len(frames) < len(idx):
        ok, f = cap.read()
        if not ok:
            break
        if i in idx:
            frames.append(f)
        i += 1
    cap.release()
    if len(frames) < len(idx):
        pytest.skip("OpenCV cannot decode the mp4 here")
    return frames


def test_missing_yunet_model_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="YuNet model not found.*yunet_model"):
        YuNetDetector(tmp_path / "nope.onnx")
    with pytest.raises(FileNotFoundError):
        create_detector("yunet", "")
    with pytest.raises(ValueError, match="unknown detector"):
        create_detector("hog")


def test_yunet_finds_the_lfpw_face(shared_data):
    img, pts = _lfpw(shared_data)
    det = YuNetDetector(_yunet_path(shared_data))
    out = det.detect(img)
    assert len(out) == 1 and out.scores[0] > 0.8
    lm_box = box_from_landmarks(pts)
    assert box_iou(out.boxes, lm_box[None])[0, 0] > 0.5
    # keypoints: eyes above the nose, inside the box
    kp = out.keypoints[0]
    b = out.boxes[0]
    assert np.all((kp[:, 0] > b[0]) & (kp[:, 0] < b[2]) & (kp[:, 1] > b[1]) & (kp[:, 1] < b[3]))
    assert kp[0, 1] < kp[2, 1] and kp[1, 1] < kp[2, 1]
    assert out.as_array().shape == (1, 5)


@pytest.mark.parametrize("max_side", [0, 320, 640])
def test_yunet_boxes_map_back_at_any_scale(shared_data, max_side):
    img, pts = _lfpw(shared_data)
    out = YuNetDetector(_yunet_path(shared_data), max_side=max_side).detect(img)
    assert len(out) == 1
    assert box_iou(out.boxes, box_from_landmarks(pts)[None])[0, 0] > 0.5


def test_yunet_letterbox_mode_matches(shared_data):
    img, pts = _lfpw(shared_data)
    det = YuNetDetector(_yunet_path(shared_data))
    det.letterbox = True  # what happens with an OpenCV that cannot reshape the fixed export
    out = det.detect(img)
    assert len(out) == 1
    assert box_iou(out.boxes, box_from_landmarks(pts)[None])[0, 0] > 0.5


def test_yunet_two_faces_in_video(shared_data):
    det = YuNetDetector(_yunet_path(shared_data))
    for f in _video_frames(shared_data, {0, 75, 149}):
        out = det.detect(f)
        assert len(out) == 2, out.as_array()
        cx = np.sort((out.boxes[:, 0] + out.boxes[:, 2]) / 2)
        assert cx[0] < 960 < cx[1]  # one person on each side
        sides = out.boxes[:, 2:] - out.boxes[:, :2]
        assert np.all((sides > 80) & (sides < 260))  # faces are about 125x155 px


def test_yunet_no_face_in_blank_image(shared_data):
    det = YuNetDetector(_yunet_path(shared_data))
    out = det.detect(np.full((240, 320, 3), 128, np.uint8))
    assert len(out) == 0 and out.as_array().shape == (0, 5)


def test_haar_cascade_finds_faces(shared_data):
    det = HaarCascadeDetector()
    img, pts = _lfpw(shared_data)
    out = det.detect(img)
    assert len(out) >= 1
    assert box_iou(out.boxes, box_from_landmarks(pts)[None]).max() > 0.4
    (f,) = _video_frames(shared_data, {0})
    out = det.detect(f)
    cx = (out.boxes[:, 0] + out.boxes[:, 2]) / 2
    assert np.any(cx < 960) and np.any(cx > 960)


def test_limit_keeps_largest():
    d = FaceDetections(np.array([[0, 0, 10, 10], [0, 0, 50, 50], [0, 0, 30, 30.0]]),
                       np.array([0.9, 0.8, 0.7]), None)
    kept = d.limit(2)
    np.testing.assert_allclose(kept.scores, [0.8, 0.7])
    assert d.limit(0) is d


def test_landmark_follower_and_scheduler():
    rng = np.random.default_rng(1)
    lm = rng.uniform([100, 80], [180, 190], size=(68, 2))
    fol = LandmarkFollower(min_size=10)
    fol.update([lm], np.array([0.9]), (640, 480))
    d = fol.detections()
    # the estimator's crop of the followed box is the training crop of these landmarks
    from head_pose_ros.geometry import crop_box_from_detection, crop_box_from_landmarks

    np.testing.assert_allclose(crop_box_from_detection(d.boxes[0]), crop_box_from_landmarks(lm))
    # a face that left the image or shrank is not followed
    fol.update([lm + 1000, lm * 0.01], np.array([0.9, 0.9]), (640, 480))
    assert len(fol) == 0
    fol.update([np.full((68, 2), np.nan)], None, (640, 480))
    assert len(fol) == 0

    sched = DetectionScheduler(3)
    fol.update([lm], None, (640, 480))
    pattern = [sched.should_detect(fol) for _ in range(7)]
    assert pattern == [True, False, False, True, False, False, True]
    fol.reset()
    assert sched.should_detect(fol) and sched.should_detect(fol)  # nothing to follow
    with pytest.raises(ValueError):
        DetectionScheduler(0)


@pytest.mark.parametrize("kind", ["yunet", "cascade"])
def test_detector_box_to_landmark_extent(shared_data, kind):
    """The measured box geometry turns detector boxes into the 68-landmark extent."""
    img, pts = _lfpw(shared_data)
    det = YuNetDetector(_yunet_path(shared_data)) if kind == "yunet" else HaarCascadeDetector()
    out = det.detect(img)
    truth = box_from_landmarks(pts)
    side = max(truth[2] - truth[0], truth[3] - truth[1])
    sq = np.r_[(truth[:2] + truth[2:]) / 2 - side / 2, (truth[:2] + truth[2:]) / 2 + side / 2]
    raw_iou = box_iou(out.boxes, sq[None]).max()
    ext = landmark_extent_from_detection(out.boxes, det.kind)
    best = np.argmax(box_iou(ext, sq[None])[:, 0])
    # the cascade box is offset sideways on this face; the constants come from aflw_crops,
    # whose fitted 68-landmark box is wider than this face's hand-labelled one (IoU 0.67 raw ->
    # 0.75 after the geometry)
    floor = 0.7 if kind == "yunet" else 0.6
    assert box_iou(ext, sq[None])[best, 0] > max(floor, raw_iou + 0.05), (raw_iou, ext[best], sq)
    # the estimator's crop of the boxes it gets is 1.5 x the landmark extent (the training crop)
    from head_pose_ros.geometry import crop_box_from_detection, crop_box_from_landmarks

    crop = crop_box_from_detection(estimator_boxes(out.boxes, det.kind)[best])
    want = crop_box_from_landmarks(pts)
    assert abs(crop[2] / want[2] - 1) < 0.15, (crop, want)
    tol = 0.1 if kind == "yunet" else 0.15  # the cascade box is offset sideways on this face
    assert np.linalg.norm(crop[:2] - want[:2]) < tol * want[2], (crop, want)


def test_landmark_fit_and_predicted_extent():
    from head_pose_ros.detection.follow import landmark_fit, predict_extent

    rng = np.random.default_rng(2)
    lm = rng.uniform([100, 100], [200, 200], size=(68, 2))
    assert landmark_fit(lm, lm) == 0.0
    side = float(np.max(lm.max(0) - lm.min(0)))
    assert landmark_fit(lm + [side * 0.05, 0], lm) == pytest.approx(0.05)
    assert landmark_fit(np.full((68, 2), np.nan), lm) == float("inf")
    prev, cur = np.array([100.0, 100, 200, 200]), np.array([110.0, 100, 210, 200])
    np.testing.assert_allclose(predict_extent(cur, prev), [120, 100, 220, 200])
    np.testing.assert_allclose(predict_extent(cur, None), cur)
    np.testing.assert_allclose(predict_extent(cur, prev, gain=0.5), [115, 100, 215, 200])
    grown = predict_extent(np.array([0.0, 0, 110, 110]), np.array([0.0, 0, 100, 100]))
    assert grown[2] - grown[0] == pytest.approx(121.0)


def test_follower_drops_a_poor_fit_and_the_scheduler_detects_next():
    rng = np.random.default_rng(3)
    lm = rng.uniform([100, 80], [180, 190], size=(68, 2))
    fol = LandmarkFollower(min_size=10, max_fit=0.1)
    sched = DetectionScheduler(10)
    fol.update([lm, lm + 300], None, (640, 480), fits=[0.02, 0.03], keys=[1, 2])
    assert len(fol) == 2 and fol.lost == 0
    assert sched.should_detect(fol)  # frame 0
    assert not sched.should_detect(fol)
    fol.update([lm, lm + 300], None, (640, 480), fits=[0.02, 0.5], keys=[1, 2])
    assert len(fol) == 1 and fol.lost == 1
    assert sched.should_detect(fol)  # lost a face: detect on the next frame
    # the kept face moved by 5 px since its key was last seen: its next box moves on by 5 px
    fol.update([lm + [5, 0]], None, (640, 480), fits=[0.02], keys=[1])
    fol2 = LandmarkFollower(min_size=10)
    fol2.update([lm + [10, 0]], None, (640, 480))
    np.testing.assert_allclose(fol.detections().boxes, fol2.detections().boxes)


def test_crop_correction_gives_the_detector_crop_and_is_bounded():
    from head_pose_ros.detection.follow import apply_crop_correction, crop_correction
    from head_pose_ros.geometry import crop_box_from_detection

    det = np.array([100.0, 90, 210, 220])  # not square: the crop uses the larger side
    fol = np.array([110.0, 80, 220, 190])
    corr = crop_correction(det, fol)
    np.testing.assert_allclose(corr, [130 / 110, -10 / 110, 20 / 110])
    for scale, off in ((1.26, 0.084), (1.5, 0.0), (1.1, -0.2)):
        np.testing.assert_allclose(
            crop_box_from_detection(apply_crop_correction(fol, corr), scale, off),
            crop_box_from_detection(det, scale, off))
    np.testing.assert_allclose(apply_crop_correction(fol, None), fol)
    far = crop_correction(np.array([0.0, 0, 300, 300]), np.array([400.0, 400, 500, 500]))
    np.testing.assert_allclose(far, [1.25, -0.25, -0.25])  # one bad estimate: bounded
    np.testing.assert_allclose(crop_correction(det, np.zeros(4)), [1, 0, 0])


def test_follower_keeps_a_face_crop_correction_until_its_key_goes():
    from head_pose_ros.detection.follow import apply_crop_correction

    rng = np.random.default_rng(4)
    lm = rng.uniform([100, 80], [180, 190], size=(68, 2))
    plain = LandmarkFollower(min_size=10)
    plain.update([lm], None, (640, 480))
    box = plain.detections().boxes[0]
    corr = np.array([1.1, 0.02, -0.03])
    fol = LandmarkFollower(min_size=10, motion_gain=0.0)
    fol.update([lm, lm + 300], None, (640, 480), keys=[1, 2], corrections=[corr, None])
    want = apply_crop_correction(box, corr)
    np.testing.assert_allclose(fol.detections().boxes[0], want)
    np.testing.assert_allclose(fol.detections().boxes[1], plain.detections().boxes[0] + 300)
    fol.update([lm], None, (640, 480), keys=[1])  # a followed frame: the correction stays
    np.testing.assert_allclose(fol.detections().boxes[0], want)
    np.testing.assert_allclose(fol.correction(1), corr)
    fol.update([lm + 300], None, (640, 480), keys=[2])  # face 1 not followed: forgotten
    assert fol.correction(1) is None
    fol.update([lm], None, (640, 480), keys=[1])
    np.testing.assert_allclose(fol.detections().boxes[0], box)
    fol.update([lm], None, (640, 480), keys=[None], corrections=[corr])  # no key: uncorrected
    np.testing.assert_allclose(fol.detections().boxes[0], box)
    fol.update([lm], None, (640, 480), keys=[1], corrections=[corr])
    fol.reset()
    assert fol.correction(1) is None
