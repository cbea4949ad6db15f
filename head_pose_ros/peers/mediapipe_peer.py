# ruff: noqa: N803, N806  (R, T, K: the notation of geometry.py)
"""MediaPipe Face Landmarker peers for the AFLW2000 rotation table (issue 7, docs/RESULTS.md).

Peers, all on whole images with MediaPipe's own face detector:

* ``mediapipe_solvepnp``: the Face Landmarker's first 468 landmarks (pixels) + ``cv2.solvePnP``
  on MediaPipe's canonical face mesh (468 vertices in cm, in landmark order) with the intrinsics
  the estimator is evaluated with, :func:`head_pose_ros.geometry.default_intrinsics` (the paper's
  in-the-wild ``f = W + H``, principal point at the image centre ``((W-1)/2, (H-1)/2)``, pixel
  centres at integers as everywhere in the package; docs/CONVENTIONS.md).
* ``mediapipe_transform``: the Face Landmarker's own 4x4 facial transformation matrix (canonical
  mesh -> its OpenGL-style metric camera with a fixed virtual camera, not our intrinsics).
* ``mediapipe_facemesh_solvepnp`` (only with mediapipe < 0.10.30, which still ships the legacy
  ``mediapipe.solutions.face_mesh``; ``refine_landmarks=False``, static image mode): the same
  solvePnP on the legacy FaceMesh landmarks. This is the reference peer of docs/CONVENTIONS.md
  (AFLW2000-3D labels and protocol).

Frames (derived from the mesh by :func:`canonical_to_head_matrix`, checked in the tests):
the canonical mesh has x to the subject's left, y up (chin at -y), the nose at +z (out of the
face), so ``X_head = C @ X_canonical`` with ``C = diag(1, -1, -1)`` maps it to our head frame
(x left ear, y chin, z into the head). MediaPipe's camera space is OpenGL-like (x right, y up,
the camera looks along -z), i.e. ``X_cv = G @ X_gl`` with ``G = diag(1, -1, -1)``. Hence

    solvePnP:  R = R_pnp @ C.T,               T = t_pnp / 100   (cm -> m)
    transform: R = G @ M[:3, :3] @ C.T,       T = G @ M[:3, 3] / 100

(``C`` and ``G`` are diagonal: their own inverses and transposes). ``T`` is the position of the
canonical mesh origin (not of our template's origin); only rotations are evaluated on AFLW2000.

Run: ``python -m head_pose_ros.peers.mediapipe_peer --data <aflw2000_subset64> [--synthetic
<crop cache>] --json OUT`` (``--synthetic``: the same peers on a synthetic set of ours, with
each image's exact intrinsics).
Needs ``mediapipe`` (extra ``[peers]``; it pulls ``opencv-contrib-python``, which clashes with the
``opencv-python-headless`` pin, so the repo uses a separate venv ``.venv-peers`` for it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.geometry import default_intrinsics
from head_pose_ros.peers.aflw2000 import (
    evaluate_rotations,
    label_round_trip_error,
    load_aflw2000,
    score_rotations,
)
from head_pose_ros.topology import default_shared_data

GL_TO_CV = np.diag([1.0, -1.0, -1.0])
"""OpenGL-style camera (x right, y up, looking along -z) -> OpenCV optical frame."""

# MediaPipe face mesh landmark ids used to derive the canonical frame (subject's anatomy).
LM_NOSE_TIP = 1
LM_CHIN = 152
LM_FOREHEAD = 10
LM_RIGHT_EYE_OUTER = 33  # subject's right eye, outer corner
LM_LEFT_EYE_OUTER = 263  # subject's left eye, outer corner


def load_canonical_mesh(path: str | Path) -> np.ndarray:
    """MediaPipe canonical face mesh vertices (468, 3) in cm, canonical frame, landmark order."""
    with np.load(str(path)) as d:
        xyz = np.asarray(d["xyz"], dtype=np.float64)
    if xyz.shape != (468, 3):
        raise ValueError(f"expected (468, 3) canonical vertices, got {xyz.shape}")
    return xyz


def canonical_to_head_matrix(xyz: np.ndarray) -> np.ndarray:
    """Derive ``C`` with ``X_head = C @ X_canonical`` from the mesh itself.

    Our head frame: x towards the subject's left ear, y towards the chin, z into the head (the
    nose has negative z). The sign of each canonical axis is read off anatomy: the subject's left
    eye corner (263) vs the right one (33) for x, chin (152) vs forehead (10) for y, nose tip (1)
    vs the mean of the mesh for z. Raises if the result is not a proper rotation.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    left = xyz[LM_LEFT_EYE_OUTER] - xyz[LM_RIGHT_EYE_OUTER]  # points to the subject's left
    down = xyz[LM_CHIN] - xyz[LM_FOREHEAD]  # points to the chin
    back = xyz.mean(axis=0) - xyz[LM_NOSE_TIP]  # points from the nose into the head
    axes = []
    for v in (left, down, back):
        i = int(np.argmax(np.abs(v)))
        e = np.zeros(3)
        e[i] = np.sign(v[i])
        axes.append(e)
    C = np.stack(axes)  # rows: our x, y, z expressed in canonical coordinates
    if not np.allclose(C @ C.T, np.eye(3)) or np.linalg.det(C) < 0.5:
        raise ValueError(f"canonical mesh axes are not a proper rotation of ours: {C}")
    return C


def pose_from_pnp(
    landmarks_px: np.ndarray, K: np.ndarray, canonical_cm: np.ndarray, C: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """solvePnP (iterative, no distortion) of the canonical mesh on 468 landmark pixels.

    Returns our ``(R, T)``: ``R = R_pnp @ C.T`` (head -> OpenCV camera), ``T`` metres.
    """
    import cv2

    ok, rvec, tvec = cv2.solvePnP(
        canonical_cm.astype(np.float64), landmarks_px[:468].astype(np.float64),
        K.astype(np.float64), None, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        raise RuntimeError("solvePnP failed")
    R_pnp, _ = cv2.Rodrigues(rvec)
    return R_pnp @ C.T, tvec.reshape(3) / 100.0


def pose_from_transform(M: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Face Landmarker facial transformation matrix (4, 4) -> our ``(R, T, scale)``.

    The 3x3 block is projected onto SO(3) (SVD); ``scale`` is its mean singular value (1 for a
    rigid transform).
    """
    M = np.asarray(M, dtype=np.float64)
    U, S, Vt = np.linalg.svd(M[:3, :3])
    Q = U @ np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))]) @ Vt
    R = GL_TO_CV @ Q @ C.T
    T = GL_TO_CV @ M[:3, 3] / 100.0
    return R, T, float(S.mean())


@dataclass
class PeerResult:
    """Per-image output of both peers (``None`` where no face was found)."""

    landmarks_px: np.ndarray | None
    R_pnp: np.ndarray | None
    T_pnp: np.ndarray | None
    R_transform: np.ndarray | None
    T_transform: np.ndarray | None
    R_facemesh_pnp: np.ndarray | None = None


def has_legacy_facemesh() -> bool:
    """Whether this mediapipe still has ``mediapipe.solutions.face_mesh`` (< 0.10.30)."""
    try:
        from mediapipe import solutions  # noqa: F401
    except ImportError:
        return False
    return hasattr(solutions, "face_mesh")


class MediaPipePeer:
    """MediaPipe Face Landmarker (IMAGE mode, one face) + its pose read-outs.

    With ``legacy_facemesh=True`` (and a mediapipe that has it) the legacy FaceMesh solution runs
    too and ``R_facemesh_pnp`` is filled.
    """

    def __init__(self, task_path: str | Path, canonical_path: str | Path,
                 legacy_facemesh: bool = False) -> None:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions

        self.canonical_cm = load_canonical_mesh(canonical_path)
        self.C = canonical_to_head_matrix(self.canonical_cm)
        opts = FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(task_path)),
            num_faces=1,
            output_facial_transformation_matrixes=True,
        )
        self._landmarker = FaceLandmarker.create_from_options(opts)
        self._facemesh = None
        if legacy_facemesh and has_legacy_facemesh():
            from mediapipe import solutions

            self._facemesh = solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False)

    def close(self) -> None:
        self._landmarker.close()
        if self._facemesh is not None:
            self._facemesh.close()

    def __enter__(self) -> MediaPipePeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, image_bgr: np.ndarray, K: np.ndarray | None = None) -> PeerResult:
        """Landmarks and both poses for the (first) face in a BGR uint8 image; solvePnP uses
        ``K`` (3, 3), default :func:`~head_pose_ros.geometry.default_intrinsics` (the transform
        never uses it)."""
        import mediapipe as mp

        h, w = image_bgr.shape[:2]
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        K = default_intrinsics(w, h) if K is None else np.asarray(K, np.float64)
        R_fm = None
        if self._facemesh is not None:
            fm = self._facemesh.process(rgb)
            if fm.multi_face_landmarks:
                lm_fm = np.array([[p.x * w, p.y * h] for p in fm.multi_face_landmarks[0].landmark])
                R_fm = pose_from_pnp(lm_fm, K, self.canonical_cm, self.C)[0]
        res = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        if not res.face_landmarks:
            return PeerResult(None, None, None, None, None, R_fm)
        lm = np.array([[p.x * w, p.y * h] for p in res.face_landmarks[0]], dtype=np.float64)
        R_p, T_p = pose_from_pnp(lm, K, self.canonical_cm, self.C)
        R_t = T_t = None
        if res.facial_transformation_matrixes:
            R_t, T_t, _ = pose_from_transform(
                np.asarray(res.facial_transformation_matrixes[0]), self.C)
        return PeerResult(lm, R_p, T_p, R_t, T_t, R_fm)


def evaluate_aflw2000(
    data: str | Path, task_path: str | Path, canonical_path: str | Path
) -> dict[str, Any]:
    """Run both peers on an AFLW2000 folder with the protocol of docs/CONVENTIONS.md ->
    JSON-able dict."""
    import cv2

    samples = load_aflw2000(data)
    pnp: list[np.ndarray | None] = []
    tf: list[np.ndarray | None] = []
    fm: list[np.ndarray | None] = []
    legacy = has_legacy_facemesh()
    t0 = time.perf_counter()
    with MediaPipePeer(task_path, canonical_path, legacy_facemesh=legacy) as peer:
        for s in samples:
            img = cv2.imread(str(s.image_path), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(s.image_path)
            r = peer.run(img)
            pnp.append(r.R_pnp)
            tf.append(r.R_transform)
            fm.append(r.R_facemesh_pnp)
    import mediapipe as mp

    peers = {
        "mediapipe_solvepnp": evaluate_rotations(samples, pnp),
        "mediapipe_transform": evaluate_rotations(samples, tf),
    }
    if legacy:
        peers["mediapipe_facemesh_solvepnp"] = evaluate_rotations(samples, fm)
    return {
        "data": str(data),
        "n_kept": len(samples),
        "label_round_trip_max_rad": label_round_trip_error(samples),
        "mediapipe_version": mp.__version__,
        "opencv_version": cv2.__version__,
        "seconds": time.perf_counter() - t0,
        "legacy_facemesh": legacy,
        "peers": peers,
    }


def evaluate_synthetic(
    data: str | Path, task_path: str | Path, canonical_path: str | Path
) -> dict[str, Any]:
    """Both peers on a synthetic set of ours (``labels.npz`` + ``images/``, one labelled face
    per image, e.g. the crop caches of :mod:`head_pose_ros.data.cache`), solvePnP with each
    image's exact ``K``; rotations scored against the exact labels with the paper's (TRG)
    Euler angles, like our synthetic table. The biases measure how MediaPipe's canonical
    frame sits in our (ARKit template) head frame, next to the same peers' bias on AFLW2000's
    3DMM frame."""
    import cv2

    d = Path(data)
    lab = np.load(d / "labels.npz")
    files = [str(f) for f in lab["files"]]
    if len(set(files)) != len(files):
        raise ValueError(f"{d}: several labelled faces per image; the peers take one face per "
                         "image (use a crop cache: python -m head_pose_ros.data.cache)")
    pnp: list[np.ndarray | None] = []
    tf: list[np.ndarray | None] = []
    t0 = time.perf_counter()
    with MediaPipePeer(task_path, canonical_path) as peer:
        for f, K in zip(files, lab["K"], strict=True):
            img = cv2.imread(str(d / "images" / f), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(d / "images" / f)
            r = peer.run(img, K)
            pnp.append(r.R_pnp)
            tf.append(r.R_transform)
    return {
        "data": str(d), "n": len(files), "convention": "trg",
        "seconds": time.perf_counter() - t0,
        "peers": {"mediapipe_solvepnp": score_rotations(lab["R"], pnp, files, "trg"),
                  "mediapipe_transform": score_rotations(lab["R"], tf, files, "trg")},
    }


def format_table(result: dict[str, Any], title: str = "") -> str:
    """Plain-text table of both peers (degrees; bias = mean signed error of pitch)."""
    title = title or f"AFLW2000 subset ({result['n_kept']} kept images), degrees"
    lines = [title,
             f"{'peer':<28}{'faces':>9}{'yaw':>7}{'pitch':>7}{'roll':>7}{'MAE_r':>7}{'GE':>7}"
             f"{'bias_p':>8}{'MAE_r*':>8}{'GE*':>7}"]
    for name, r in result["peers"].items():
        d, z = r["detected"], r["misses_as_zero"]
        if not d["n"]:
            lines.append(f"{name:<28}{r['n_detected']:>5}/{r['n']:<3} no face found")
            continue
        lines.append(
            f"{name:<28}{r['n_detected']:>5}/{r['n']:<3}{d['mae_yaw']:>7.2f}"
            f"{d['mae_pitch']:>7.2f}{d['mae_roll']:>7.2f}{d['mae_r']:>7.2f}{d['ge']:>7.2f}"
            f"{d['bias_pitch']:>+8.2f}{z['mae_r']:>8.2f}{z['ge']:>7.2f}")
    lines.append("* = misses counted as a (0,0,0) prediction over all images")
    if "mediapipe_version" in result and not result.get("legacy_facemesh"):
        lines.append("mediapipe_facemesh_solvepnp skipped: this mediapipe "
                     f"({result['mediapipe_version']}) has no legacy solutions.face_mesh")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sd = default_shared_data()
    ap = argparse.ArgumentParser(
        prog="python -m head_pose_ros.peers.mediapipe_peer",
        description="MediaPipe peers (solvePnP on the canonical mesh; Face Landmarker transform) "
                    "on AFLW2000 with the protocol of docs/CONVENTIONS.md.")
    ap.add_argument("--data", default=str(sd / "real" / "aflw2000_subset64"))
    ap.add_argument("--task", default=str(sd / "baselines" / "face_landmarker.task"),
                    help="MediaPipe face_landmarker.task bundle")
    ap.add_argument("--canonical", default=str(sd / "baselines" / "mediapipe_canonical_face.npz"))
    ap.add_argument("--synthetic", action="append", default=[], metavar="DIR",
                    help="also run the peers on this synthetic set of ours (a crop cache with "
                         "labels.npz; repeatable): results under 'synthetic' in the JSON")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print("mediapipe is not installed (extra [peers]; see the module doc)", file=sys.stderr)
        return 2
    res = evaluate_aflw2000(args.data, args.task, args.canonical)
    print(format_table(res))
    if args.synthetic:
        res["synthetic"] = {}
        for d in args.synthetic:
            name = Path(d).name
            res["synthetic"][name] = evaluate_synthetic(d, args.task, args.canonical)
            print(format_table(res["synthetic"][name], title=f"synthetic {name} "
                               "(exact K and labels, TRG Euler angles), degrees"))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
