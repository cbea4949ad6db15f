"""Pure numpy geometry for 6DoF head pose (no ROS, no torch).

Conventions used by every function in this module (and by the torch twins in
``head_pose_ros.model.geometry_torch``):

* Column vectors. A head pose ``(R, T)`` maps head coordinates to camera coordinates:
  ``X_cam = R @ X_head + T``.
* Camera frame = OpenCV optical frame: x right, y down, z forward. Units: metres, radians.
* Head frame (ARKit 1220 topology, docs/CONVENTIONS.md): x towards the subject's left ear, y towards
  the chin, z from the face into the head. ``R = I`` means the person looks into the camera.
* Intrinsics ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (skew must be 0 for the crop helpers).
* Pixel convention (OpenCV): the centre of pixel ``(i, j)`` (column i, row j) is at continuous
  coordinate ``(u, v) = (i, j)``; an image of width W spans ``u in [-0.5, W - 0.5]``.
* Crop box ``box = (cx_box, cy_box, side)``: a square of ``side`` pixels centred at
  ``(cx_box, cy_box)`` in full-image continuous coordinates, i.e. covering
  ``[cx_box - side/2, cx_box + side/2]``. It is resampled to an ``out_size`` x ``out_size``
  crop with the same pixel convention, so with ``a = out_size / side``

      ``u_crop = a * (u - cx_box) + out_size / 2 - 0.5``   (same for v)

  The box centre maps to the crop centre ``(out_size - 1) / 2``. :func:`crop_intrinsics`,
  :func:`crop_warp_matrix` (cv2.warpAffine) and the model's ``grid_sample`` calls
  (``align_corners=False``, normalised ``x_n = (u_crop + 0.5) / out_size * 2 - 1``) all use
  exactly this map.
* Focal length used by the box information and paper Eq. 2: ``f = sqrt(fx * fy)``
  (:func:`mean_focal`).
"""

from __future__ import annotations

import math

import numpy as np

FACE_BOX_SIZE_M = 0.2
"""Physical size of the face box B in paper Eq. 2 (metres)."""

DETECTION_CROP_SCALE = 1.26
"""Crop side / larger side of a YuNet face box (:func:`crop_box_from_detection`).

Fitted on TRAINING data only, the train split of ``real/aflw_crops`` (never its held-out val
crops, never the AFLW2000 images that docs/RESULTS.md evaluates on): ``python -m
head_pose_ros.teacher.detector_geometry --labels <pseudo-label file> --limit 3000`` over the
first 3000 teacher-fitted training crops with |AFLW yaw| <= 45 deg, each padded to 3x its side
(black) so the face is a third of the image. Protocol box: ``crop_box_from_landmarks(lm68,
1.5)`` of the fit's 68 landmarks, which AFLW's hand landmarks constrain. YuNet
(``cv2.FaceDetectorYN``, ``face_detection_yunet_2023mar.onnx``) found 2977 of them (on the
label file of the robust teacher fit): crop side = 1.257 x the YuNet box's larger side (median;
IQR 1.203-1.317) and the crop centre lies 0.084 x that side BELOW the box centre (IQR
0.069-0.100; horizontal not corrected). These
are the medians of ``docs/results/detector_geometry.json`` (``test/test_detector_geometry.py``
compares the constants with that file). (The former 1.18 / 0.14 had been measured on the
AFLW2000 subset itself.)
"""

DETECTION_CROP_OFFSET_Y = 0.084
"""Downward shift of the crop centre, as a fraction of the detector box's larger side (YuNet;
see :data:`DETECTION_CROP_SCALE`)."""

LANDMARK_CROP_SCALE = 1.5
"""Crop side / larger side of the 68-landmark extent (paper / authors' code)."""

_D = np.diag([1.0, -1.0, -1.0])


# --------------------------------------------------------------------------- rotations
def rot6d_to_matrix(x6: np.ndarray) -> np.ndarray:
    """6D rotation (Zhou et al.) -> rotation matrix.

    ``x6[..., 0:3]`` and ``x6[..., 3:6]`` are the (unnormalised) first and second COLUMNS of R.
    Gram-Schmidt: ``b1 = a1/|a1|``, ``b2 = normalise(a2 - (b1.a2) b1)``, ``b3 = b1 x b2``.

    Args:
        x6: (..., 6) array.
    Returns:
        (..., 3, 3) rotation matrices (columns b1, b2, b3).
    """
    x6 = np.asarray(x6, dtype=np.float64)
    a1, a2 = x6[..., 0:3], x6[..., 3:6]
    b1 = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    a2p = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2p / np.linalg.norm(a2p, axis=-1, keepdims=True)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def matrix_to_rot6d(R: np.ndarray) -> np.ndarray:  # noqa: N803
    """Rotation matrix (..., 3, 3) -> 6D (..., 6) = first column then second column of R."""
    R = np.asarray(R, dtype=np.float64)  # noqa: N806
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:  # noqa: N803
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) in ROS order (x, y, z, w), w >= 0.

    Shepperd's method (numerically stable for all rotations).
    """
    R = np.asarray(R, dtype=np.float64)  # noqa: N806
    if R.shape == (3, 3):  # one matrix (the node: 4-5 a face and frame): plain floats, ~10x faster
        return _matrix_to_quaternion_one(R)
    shape = R.shape[:-2]
    m = R.reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    tr = m00 + m11 + m22
    # four candidate formulas; use the one with the largest (well-conditioned) pivot
    cand = np.stack(
        [
            np.stack([1 + m00 - m11 - m22, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0],
                      m[:, 2, 1] - m[:, 1, 2]], -1),
            np.stack([m[:, 0, 1] + m[:, 1, 0], 1 - m00 + m11 - m22, m[:, 1, 2] + m[:, 2, 1],
                      m[:, 0, 2] - m[:, 2, 0]], -1),
            np.stack([m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m00 - m11 + m22,
                      m[:, 1, 0] - m[:, 0, 1]], -1),
            np.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1],
                      1 + tr], -1),
        ],
        axis=1,
    )  # (n, 4 candidates, 4 components), candidate k = 4 q_k * q
    choice = np.argmax(np.stack([m00, m11, m22, tr], -1), axis=-1)
    q = cand[np.arange(m.shape[0]), choice]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q[q[:, 3] < 0] *= -1.0
    return q.reshape(*shape, 4)


def _matrix_to_quaternion_one(R: np.ndarray) -> np.ndarray:  # noqa: N803
    """:func:`matrix_to_quaternion` of one (3, 3) matrix, the same formulas on Python floats."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = R.tolist()
    tr = m00 + m11 + m22
    pivot = max(m00, m11, m22, tr)  # ties: the first, as np.argmax above
    if pivot == m00:
        q = (1.0 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12)
    elif pivot == m11:
        q = (m01 + m10, 1.0 - m00 + m11 - m22, m12 + m21, m02 - m20)
    elif pivot == m22:
        q = (m02 + m20, m12 + m21, 1.0 - m00 - m11 + m22, m10 - m01)
    else:
        q = (m21 - m12, m02 - m20, m10 - m01, 1.0 + tr)
    n = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    if q[3] < 0:
        n = -n
    return np.array([q[0] / n, q[1] / n, q[2] / n, q[3] / n])


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4) in ROS order (x, y, z, w) -> rotation matrix (..., 3, 3).

    The quaternion is normalised first.
    """
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.stack(  # noqa: N806
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return R.reshape(*q.shape[:-1], 3, 3)


def rot_x(a: float) -> np.ndarray:
    """Right-handed elementary rotation about x by ``a`` radians."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """Right-handed elementary rotation about y by ``a`` radians."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def rot_z(a: float) -> np.ndarray:
    """Right-handed elementary rotation about z by ``a`` radians."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def angle_wrap(a: np.ndarray | float) -> np.ndarray | float:
    """Wrap angles (radians) to ``[-pi, pi)``. Use on differences: ``abs(angle_wrap(a - b))``."""
    w = np.mod(np.asarray(a, dtype=np.float64) + np.pi, 2.0 * np.pi) - np.pi
    return float(w) if np.ndim(w) == 0 else w


def rotation_to_euler_ypr(R: np.ndarray, convention: str = "trg") -> np.ndarray:  # noqa: N803
    """Head rotation (our convention, see module doc) -> (yaw, pitch, roll) in radians.

    ``convention="trg"`` (default; the ARKitFace / BIWI numbers of the paper). Verified against
    the authors' code (asw91666/TRG-Release): their datasets put the vertices in our head frame
    (ARKit vertices rotated by Rx(pi)) and the pose in the OpenCV camera frame (ty, tz negated,
    R conjugated by diag(1,-1,-1)); they store row-vector 4x4 matrices but ``test.py``
    transposes them back (``gt_extrinsic.transpose(1, 2)[:, :3, :3]``) before
    ``util/metric.calc_rotation_mae``: ``Rotation.from_matrix(R).as_euler('yxz')``. So the
    matrix they decompose is exactly our column-vector ``R``, with scipy's lower-case
    (extrinsic) 'yxz'::

        R = Rz(roll) @ Rx(pitch) @ Ry(yaw)

    ``yaw = atan2(-R20, R22)``, ``pitch = asin(R21)`` (in [-pi/2, pi/2]),
    ``roll = atan2(-R01, R11)``. Signs (optical camera frame, x right, y down, z forward):
    a person turning to THEIR left (nose towards their left ear = +x head = image right when
    facing the camera) has NEGATIVE yaw (the AFLW2000 labels agree: on the shared subset the
    nose-offset / yaw-label correlation is -0.97); looking down (nose towards +y) has POSITIVE
    pitch; tilting the head so that its top moves to the image right (towards the subject's
    left shoulder; clockwise in the image) has POSITIVE roll.

    ``convention="aflw"`` (AFLW2000-3D / HopeNet protocol, docs/CONVENTIONS.md): with
    ``D = diag(1, -1, -1)`` the label matrix is ``M = D @ R.T @ D = Rz(roll) @ Ry(yaw) @ Rx(pitch)``
    and ``pitch = atan2(M21, M22)``, ``yaw = atan2(-M20, hypot(M00, M10))``,
    ``roll = atan2(M10, M00)``. At small angles it agrees with "trg" on yaw and roll and has
    the OPPOSITE pitch sign (AFLW: positive pitch = looking up).

    Errors must be computed with :func:`angle_wrap` on the differences.

    Args:
        R: (..., 3, 3).
    Returns:
        (..., 3) array ``(yaw, pitch, roll)``.
    """
    R = np.asarray(R, dtype=np.float64)  # noqa: N806
    if convention == "trg":
        yaw = np.arctan2(-R[..., 2, 0], R[..., 2, 2])
        pitch = np.arctan2(R[..., 2, 1], np.hypot(R[..., 2, 0], R[..., 2, 2]))
        roll = np.arctan2(-R[..., 0, 1], R[..., 1, 1])
        return np.stack([yaw, pitch, roll], axis=-1)
    if convention == "aflw":
        M = _D @ np.swapaxes(R, -1, -2) @ _D  # noqa: N806
        pitch = np.arctan2(M[..., 2, 1], M[..., 2, 2])
        yaw = np.arctan2(-M[..., 2, 0], np.hypot(M[..., 0, 0], M[..., 1, 0]))
        roll = np.arctan2(M[..., 1, 0], M[..., 0, 0])
        return np.stack([yaw, pitch, roll], axis=-1)
    raise ValueError(f"unknown Euler convention {convention!r} (use 'trg' or 'aflw')")


def euler_ypr_to_rotation(
    yaw: float, pitch: float, roll: float, convention: str = "trg"
) -> np.ndarray:
    """Inverse of :func:`rotation_to_euler_ypr` (scalars, radians) -> (3, 3) head rotation.

    ``"trg"``: ``Rz(roll) @ Rx(pitch) @ Ry(yaw)``;
    ``"aflw"``: ``D (Rz(roll) Ry(yaw) Rx(pitch)).T D``.
    """
    if convention == "trg":
        return rot_z(roll) @ rot_x(pitch) @ rot_y(yaw)
    if convention == "aflw":
        M = rot_z(roll) @ rot_y(yaw) @ rot_x(pitch)  # noqa: N806
        return (_D @ M @ _D).T
    raise ValueError(f"unknown Euler convention {convention!r} (use 'trg' or 'aflw')")


def aflw_label_to_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """AFLW2000-3D ``Pose_Para[0, :3] = (pitch, yaw, roll)`` -> our head rotation R (3, 3)."""
    return euler_ypr_to_rotation(yaw, pitch, roll, convention="aflw")


def geodesic_distance(R1: np.ndarray, R2: np.ndarray) -> np.ndarray:  # noqa: N803
    """Angle (radians) of ``R1 @ R2.T`` for (..., 3, 3) inputs."""
    rel = np.asarray(R1) @ np.swapaxes(np.asarray(R2), -1, -2)
    c = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(c, -1.0, 1.0))


# --------------------------------------------------------------------------- camera
def mean_focal(K: np.ndarray) -> float:  # noqa: N803
    """Focal length ``f = sqrt(fx * fy)`` used by :func:`bbox_info` and paper Eq. 2."""
    return float(math.sqrt(float(K[0, 0]) * float(K[1, 1])))


def project_points(X_cam: np.ndarray, K: np.ndarray) -> np.ndarray:  # noqa: N803
    """Pinhole projection of camera-frame points (..., 3) with K (3, 3) -> pixels (..., 2).

    ``u = fx X/Z + s Y/Z + cx``, ``v = fy Y/Z + cy`` (no distortion).
    """
    X = np.asarray(X_cam, dtype=np.float64)  # noqa: N806
    p = X @ np.asarray(K, dtype=np.float64).T
    return p[..., :2] / p[..., 2:3]


def transform_points(X_head: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:  # noqa: N803
    """Head -> camera: ``X_cam = R @ X_head + T`` for points (..., N, 3)."""
    return np.asarray(X_head) @ np.swapaxes(np.asarray(R), -1, -2) + np.asarray(T)[..., None, :]


# --------------------------------------------------------------------------- crops
def box_from_landmarks(lm2d: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Image landmarks (N, 2) -> axis-aligned box ``(x0, y0, x1, y1)`` of their extent
    (min / max), scaled about its centre by ``scale`` (1: the extent itself).

    The one landmark-extent helper of the package: the training crop
    (:func:`crop_box_from_landmarks`), the detector's landmark follower and the data pipeline
    build on it.
    """
    lm = np.asarray(lm2d, dtype=np.float64).reshape(-1, 2)
    lo, hi = lm.min(axis=0), lm.max(axis=0)
    if scale == 1.0:  # exactly the extent
        return np.concatenate([lo, hi])
    c, half = (lo + hi) / 2.0, (hi - lo) / 2.0 * scale
    return np.concatenate([c - half, c + half])


def crop_box_from_landmarks(lm2d: np.ndarray, scale: float = LANDMARK_CROP_SCALE) -> np.ndarray:
    """68 image landmarks (68, 2) -> crop box ``(cx, cy, side)``.

    Square box centred on the centre of the landmark extent (:func:`box_from_landmarks`),
    side = ``scale`` x the larger side of the extent (paper: 1.5).
    """
    x0, y0, x1, y1 = box_from_landmarks(lm2d)
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0, max(x1 - x0, y1 - y0) * scale])


def crop_box_from_detection(
    box: np.ndarray,
    scale: float = DETECTION_CROP_SCALE,
    offset_y: float = DETECTION_CROP_OFFSET_Y,
) -> np.ndarray:
    """Face-detector box ``(x0, y0, x1, y1)`` -> crop box ``(cx, cy, side)``.

    ``side = scale * max(w, h)``, centre = box centre shifted DOWN by ``offset_y * max(w, h)``.
    The defaults are calibrated for YuNet (``face_detection_yunet_2023mar``) so that the crop
    reproduces the training crop (:func:`crop_box_from_landmarks` with 1.5) -- see
    :data:`DETECTION_CROP_SCALE`. For boxes that already are centred on the 68-landmark extent
    pass ``offset_y=0`` (or build them with :func:`detection_box_for_crop`).
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64)[:4])
    big = max(x1 - x0, y1 - y0)
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0 + offset_y * big, big * scale])


def detection_box_for_crop(
    crop_box: np.ndarray,
    scale: float = DETECTION_CROP_SCALE,
    offset_y: float = DETECTION_CROP_OFFSET_Y,
) -> np.ndarray:
    """Inverse of :func:`crop_box_from_detection`: the square ``(x0, y0, x1, y1)`` box that
    :func:`crop_box_from_detection` (same ``scale`` / ``offset_y``) turns into ``crop_box``.

    Lets a caller that knows the crop it wants (e.g. 1.5 x an estimated landmark extent) hand
    the estimator a box in the detector convention.
    """
    cx, cy, side = (float(v) for v in np.asarray(crop_box, dtype=np.float64)[:3])
    big = side / scale
    cy0 = cy - offset_y * big
    return np.array([cx - big / 2.0, cy0 - big / 2.0, cx + big / 2.0, cy0 + big / 2.0])


def crop_affine(box: np.ndarray, out_size: int = 192) -> np.ndarray:
    """3x3 affine A mapping full-image pixels to crop pixels (module pixel convention).

    ``A = [[a, 0, out/2 - 0.5 - a cx_box], [0, a, out/2 - 0.5 - a cy_box], [0, 0, 1]]``,
    ``a = out_size / side``.
    """
    cxb, cyb, side = (float(v) for v in box)
    a = out_size / side
    off = out_size / 2.0 - 0.5
    return np.array([[a, 0.0, off - a * cxb], [0.0, a, off - a * cyb], [0.0, 0.0, 1.0]])


def crop_intrinsics(K: np.ndarray, box: np.ndarray, out_size: int = 192) -> np.ndarray:  # noqa: N803
    """Intrinsics of the crop: ``K_crop = crop_affine(box, out_size) @ K``.

    Projecting with ``K_crop`` gives crop pixels in the module's pixel convention (pixel centres
    at integers, box centre at ``(out_size - 1) / 2``).
    """
    return crop_affine(box, out_size) @ np.asarray(K, dtype=np.float64)


def crop_warp_matrix(box: np.ndarray, out_size: int = 192) -> np.ndarray:
    """(2, 3) forward matrix for ``cv2.warpAffine(img, M, (out_size, out_size))``.

    OpenCV's warpAffine uses the same pixel-centre convention, so a point projected with
    :func:`crop_intrinsics` lands on the same content as in the warped crop.
    """
    return crop_affine(box, out_size)[:2].copy()


def image_to_crop(points: np.ndarray, box: np.ndarray, out_size: int = 192) -> np.ndarray:
    """Full-image pixels (..., 2) -> crop pixels (..., 2)."""
    cxb, cyb, side = (float(v) for v in box)
    a = out_size / side
    p = np.asarray(points, dtype=np.float64)
    return a * (p - np.array([cxb, cyb])) + (out_size / 2.0 - 0.5)


def crop_to_image(points: np.ndarray, box: np.ndarray, out_size: int = 192) -> np.ndarray:
    """Crop pixels (..., 2) -> full-image pixels (..., 2); inverse of :func:`image_to_crop`."""
    cxb, cyb, side = (float(v) for v in box)
    a = out_size / side
    p = np.asarray(points, dtype=np.float64)
    return (p - (out_size / 2.0 - 0.5)) / a + np.array([cxb, cyb])


def crop_to_grid_sample(points: np.ndarray, out_size: int = 192) -> np.ndarray:
    """Crop pixels -> normalised coordinates for ``grid_sample(..., align_corners=False)``."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / out_size * 2.0 - 1.0


# --------------------------------------------------------------------------- paper Eq. 2
def bbox_info(K: np.ndarray, box: np.ndarray, scale: float = 1.0) -> np.ndarray:  # noqa: N803
    """Box information fed to the regressor: ``((cx_box - cx)/fx * scale, (cy_box - cy)/fy *
    scale, side / f)`` with ``f = sqrt(fx fy)`` (:func:`mean_focal`) and (cx, cy) the principal
    point. ``scale=1`` is the paper; the authors' code uses ``scale=4`` (ModelConfig option
    ``bbox_info_scale``).
    """
    K = np.asarray(K, dtype=np.float64)  # noqa: N806
    cxb, cyb, side = (float(v) for v in box)
    return np.array(
        [(cxb - K[0, 2]) / K[0, 0] * scale, (cyb - K[1, 2]) / K[1, 1] * scale, side / mean_focal(K)]
    )


def translation_from_correction(c: np.ndarray, K: np.ndarray, box: np.ndarray) -> np.ndarray:  # noqa: N803
    """Paper Eq. 2 with the principal point and fx/fy: correction ``c = (s, tx, ty)`` -> T (3,).

    ``Tz = 0.2 s f / b`` (f = sqrt(fx fy), b = box side in pixels),
    ``Tx = Tz (cx_box - cx) / fx + 0.2 s tx``, ``Ty = Tz (cy_box - cy) / fy + 0.2 s ty``.
    With fx = fy = f and the principal point at the image centre this is exactly the paper's
    ``Tx = 0.2 s / b * tau_x + 0.2 s tx``.
    """
    K = np.asarray(K, dtype=np.float64)  # noqa: N806
    s, tx, ty = (float(v) for v in c)
    cxb, cyb, side = (float(v) for v in box)
    tz = FACE_BOX_SIZE_M * s * mean_focal(K) / side
    return np.array(
        [
            tz * (cxb - K[0, 2]) / K[0, 0] + FACE_BOX_SIZE_M * s * tx,
            tz * (cyb - K[1, 2]) / K[1, 1] + FACE_BOX_SIZE_M * s * ty,
            tz,
        ]
    )


def correction_from_translation(T: np.ndarray, K: np.ndarray, box: np.ndarray) -> np.ndarray:  # noqa: N803
    """Exact inverse of :func:`translation_from_correction`: T (3,) -> ``c = (s, tx, ty)``.

    ``s = Tz b / (0.2 f)``, ``tx = (Tx - Tz (cx_box - cx)/fx) / (0.2 s)``, same for ty.
    Requires Tz > 0.
    """
    K = np.asarray(K, dtype=np.float64)  # noqa: N806
    tx_, ty_, tz = (float(v) for v in T)
    cxb, cyb, side = (float(v) for v in box)
    s = tz * side / (FACE_BOX_SIZE_M * mean_focal(K))
    return np.array(
        [
            s,
            (tx_ - tz * (cxb - K[0, 2]) / K[0, 0]) / (FACE_BOX_SIZE_M * s),
            (ty_ - tz * (cyb - K[1, 2]) / K[1, 1]) / (FACE_BOX_SIZE_M * s),
        ]
    )


def image_centre(width: int, height: int) -> tuple[float, float]:
    """Centre ``(u, v)`` of a ``width`` x ``height`` image in this module's pixel convention
    (pixel centres at integers, the image spans ``[-0.5, W - 0.5]``): ``((W-1)/2, (H-1)/2)``.
    The principal point of every camera the package guesses or samples without calibration."""
    return (width - 1) / 2.0, (height - 1) / 2.0


def default_intrinsics(width: int, height: int) -> np.ndarray:
    """Focal-length guess for an uncalibrated camera (paper's in-the-wild choice):
    ``f = width + height``, principal point at :func:`image_centre` ``((W-1)/2, (H-1)/2)``."""
    f = float(width + height)
    cx, cy = image_centre(width, height)
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
