"""Loaders for the public datasets, in their on-disk formats as distributed.

All return :class:`~head_pose_ros.data.base.RawSample` from ``load(i)`` and the common sample dict
from ``__getitem__`` (through :mod:`head_pose_ros.data.crop`). Labels are converted to this
package's conventions (OpenCV camera, head frame x to the subject's left ear, y to the chin, z
into the head; metres).

ARKitFace (as used by the TRG authors): ``ROOT/ARKitFace_image_{split}/image/<subject>/<action>/
<img_id>_ar.jpg`` and ``ROOT/ARKitFace_info_{split}/info/<subject>/<action>/<img_id>_info.npz``
(keys ``verts`` (1220,3) metres in the ARKit face frame, ``R_t`` (4,4) row-vector pose:
``[X_cam, 1] = [X, 1] @ R_t``), listed by a CSV with columns ``subject_id, facial_action,
img_id`` (the authors' ``train_list.csv``/``test_list.csv``). ARKit/OpenGL -> OpenCV:
``R' = D R D``, ``t' = D t``, ``verts' = verts D`` with ``D = diag(1,-1,-1)``; 800x800 images,
``fx = fy = 629.7748``, ``cx = cy = 400``.

300W-LP: ``ROOT/<subset>/<name>.jpg`` (+ ``<name>.mat`` 3DMM fits, unused) with subsets AFW,
HELEN, IBUG, LFPW and their ``*_Flip`` mirrors; the 68 2D landmarks in
``ROOT/landmarks/<subset without _Flip>/<name>_pts.mat`` key ``pts_3d`` (68,2) pixels (the
authors use ``pts_3d``; images of ``*_Flip`` subsets take the landmarks of the unflipped image,
mirrored ``x -> W - 1 - x`` and re-indexed with the iBUG partners). The sample list is
``ROOT/files.txt`` (lines ``<subset>/<name>`` without extension) when present, else all jpgs.
2D only (``has_3d=False``); intrinsics as the authors: f = 5000 px, principal point at the
image centre ((W-1)/2, (H-1)/2 in our pixel convention).

BIWI Kinect Head Pose (evaluation): ``ROOT/<NN>/frame_<XXXXX>_rgb.png``,
``frame_<XXXXX>_pose.txt`` (3 lines of the 3x3 rotation, a blank line, 1 line of the head centre
in mm; pose of the head model in the **depth** camera), ``ROOT/<NN>/rgb.cal`` (3 lines of the RGB
intrinsics, blank, 1 line of 4 distortion coefficients, blank, 3 lines of the depth->RGB
rotation, blank, 1 line of the translation in mm, blank, 1 line ``W H``) and optionally the
subject's neutral mesh ``ROOT/<NN>.obj`` (mm). RGB pose: ``R = R_ext R_pose``,
``T = (R_ext T_pose + T_ext) / 1000``. BIWI's model frame at R = I faces the camera with x to
the image right and y down, i.e. our head frame; its origin is the model's centre (not the ARKit
origin), as in every BIWI 6DoF protocol.

AFLW2000-3D (evaluation, rotation and 2D landmarks only): ``<name>.jpg`` + ``<name>.mat`` either
side by side or under ``JPEG/`` and ``MAT/``; ``Pose_Para[0,:3] = (pitch, yaw, roll)`` radians
-> R with :func:`head_pose_ros.geometry.aflw_label_to_rotation`; ``pt3d_68[:2].T`` the 68
landmarks (pixels). The protocol drops samples with any |angle| > 99 deg
(:attr:`AFLW2000Dataset.dropped` lists them). Translation is not metric: the intrinsics are the
in-the-wild guess ``f = W + H`` (:func:`head_pose_ros.geometry.default_intrinsics`).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros import geometry as geo
from head_pose_ros.data.base import FaceDataset, RawSample, read_rgb
from head_pose_ros.data.crop import AugmentConfig, FaceLabels
from head_pose_ros.data.flip import IBUG_MIRROR_68
from head_pose_ros.topology import FaceTopology

D_GL = np.diag([1.0, -1.0, -1.0])
ARKIT_FX = 629.7748
ARKIT_C = 400.0
W300LP_FOCAL = 5000.0
AFLW_MAX_DEG = 99.0


def arkit_intrinsics() -> np.ndarray:
    return np.array([[ARKIT_FX, 0.0, ARKIT_C], [0.0, ARKIT_FX, ARKIT_C], [0.0, 0.0, 1.0]])


def arkit_to_opencv(verts: np.ndarray, R_t: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """ARKitFace ``verts`` (V,3) and row-vector ``R_t`` (4,4) -> (R, T, vertices) in our frames."""
    R_gl = np.asarray(R_t, np.float64)[:3, :3].T
    t_gl = np.asarray(R_t, np.float64)[3, :3]
    return D_GL @ R_gl @ D_GL, D_GL @ t_gl, np.asarray(verts, np.float64) @ D_GL


class ARKitFaceDataset(FaceDataset):
    """ARKitFace as distributed (see module doc)."""

    def __init__(self, root: str | Path, topology: FaceTopology, *, split: str = "train",
                 csv_path: str | Path | None = None, augment: AugmentConfig | None = None,
                 **kw: Any) -> None:
        super().__init__(topology, augment, **kw)
        self.root = Path(root)
        self.split = split
        if csv_path is None:
            cands = [self.root / f"{split}_list.csv", self.root / "cache" / f"{split}_list.csv",
                     self.root / f"{split}.csv"]
            csv_path = next((c for c in cands if c.is_file()), None)
            if csv_path is None:
                raise FileNotFoundError(f"no {split} list CSV under {self.root} (looked for "
                                        f"{[str(c) for c in cands]}); pass csv_path")
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
        for col in ("subject_id", "facial_action", "img_id"):
            if rows and col not in rows[0]:
                raise KeyError(f"{csv_path} lacks column {col!r}")
        self.rows = [(r["subject_id"], r["facial_action"], r["img_id"]) for r in rows]

    def __len__(self) -> int:
        return len(self.rows)

    def paths(self, index: int) -> tuple[Path, Path]:
        s, a, i = self.rows[index]
        img = self.root / f"ARKitFace_image_{self.split}" / "image" / s / a / f"{i}_ar.jpg"
        info = self.root / f"ARKitFace_info_{self.split}" / "info" / s / a / f"{i}_info.npz"
        return img, info

    def load(self, index: int) -> RawSample:
        img_path, info_path = self.paths(index)
        with np.load(info_path) as z:
            R, T, V = arkit_to_opencv(z["verts"], z["R_t"])
        labels = FaceLabels(K=arkit_intrinsics(), R=R, T=T, vertices=V)
        return RawSample(read_rgb(str(img_path)), labels, name="/".join(self.rows[index]))


def _loadmat(path: Path) -> dict:
    import scipy.io as sio

    return sio.loadmat(str(path))


class W300LPDataset(FaceDataset):
    """300W-LP with its 68 2D landmarks only (see module doc)."""

    has_3d = False

    def __init__(self, root: str | Path, topology: FaceTopology, *,
                 augment: AugmentConfig | None = None, **kw: Any) -> None:
        super().__init__(topology, augment, **kw)
        self.root = Path(root)
        lst = self.root / "files.txt"
        if lst.is_file():
            names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
        else:
            names = sorted(str(p.relative_to(self.root).with_suffix(""))
                           for p in self.root.glob("*/*.jpg") if p.parent.name != "landmarks")
        self.names = [n[:-4] if n.endswith(".jpg") else n for n in names]
        if not self.names:
            raise FileNotFoundError(f"no 300W-LP images under {self.root}")

    def __len__(self) -> int:
        return len(self.names)

    def landmarks(self, index: int, width: int) -> np.ndarray:
        subset, name = self.names[index].split("/")[-2:]
        flipped = subset.endswith("_Flip")
        path = self.root / "landmarks" / subset.replace("_Flip", "") / f"{name}_pts.mat"
        lm = np.asarray(_loadmat(path)["pts_3d"], np.float64).reshape(68, 2)
        if flipped:
            lm = lm[IBUG_MIRROR_68].copy()
            lm[:, 0] = width - 1 - lm[:, 0]
        return lm

    def load(self, index: int) -> RawSample:
        img = read_rgb(str(self.root / f"{self.names[index]}.jpg"))
        h, w = img.shape[:2]
        K = np.array([[W300LP_FOCAL, 0.0, (w - 1) / 2.0], [0.0, W300LP_FOCAL, (h - 1) / 2.0],
                      [0.0, 0.0, 1.0]])
        labels = FaceLabels(K=K, landmarks68=self.landmarks(index, w))
        return RawSample(img, labels, name=self.names[index])


def _read_blocks(path: Path) -> list[list[list[float]]]:
    """Numeric text file -> blocks of rows separated by blank or non-numeric lines."""
    blocks: list[list[list[float]]] = [[]]
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        try:
            row = [float(x) for x in parts]
        except ValueError:
            row = []
        if row:
            blocks[-1].append(row)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def read_biwi_calibration(path: str | Path) -> dict[str, np.ndarray]:
    """BIWI ``rgb.cal`` -> ``K`` (3,3), ``dist`` (4,), ``R`` (3,3), ``T`` (3,) mm, ``size``."""
    b = _read_blocks(Path(path))
    if len(b) < 5:
        raise ValueError(f"{path}: expected 5 blocks (K, dist, R, T, size), got {len(b)}")
    return {"K": np.array(b[0], np.float64).reshape(3, 3),
            "dist": np.array(b[1], np.float64).reshape(-1),
            "R": np.array(b[2], np.float64).reshape(3, 3),
            "T": np.array(b[3], np.float64).reshape(3),
            "size": np.array(b[4], np.int64).reshape(-1)[:2]}


def read_biwi_pose(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """BIWI ``frame_XXXXX_pose.txt`` -> (R (3,3), T (3,) mm) in the depth camera."""
    rows = [r for blk in _read_blocks(Path(path)) for r in blk]
    if len(rows) < 4:
        raise ValueError(f"{path}: expected 3 rotation rows and 1 translation row")
    return np.array(rows[:3], np.float64).reshape(3, 3), np.array(rows[3], np.float64).reshape(3)


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """Vertices ``v x y z`` of a Wavefront OBJ file, (N,3)."""
    pts = [[float(x) for x in ln.split()[1:4]] for ln in Path(path).read_text().splitlines()
           if ln.startswith("v ")]
    return np.array(pts, np.float64).reshape(-1, 3)


class BIWIDataset(FaceDataset):
    """BIWI Kinect Head Pose for evaluation (see module doc).

    ``load(i).labels.vertices`` is the subject's neutral mesh in metres when ``<NN>.obj`` exists
    (used for ADD; a different topology than the model's), else None. There is no box label:
    the evaluator finds faces with the estimator's detector.
    """

    def __init__(self, root: str | Path, topology: FaceTopology, *,
                 subjects: list[str] | None = None, **kw: Any) -> None:
        super().__init__(topology, None, **kw)
        self.root = Path(root)
        dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and (p / "rgb.cal").is_file())
        if subjects:
            dirs = [d for d in dirs if d.name in set(subjects)]
        self.frames: list[Path] = []
        for d in dirs:
            self.frames += sorted(d.glob("frame_*_pose.txt"))
        if not self.frames:
            raise FileNotFoundError(f"no BIWI frames (NN/frame_XXXXX_pose.txt) under {self.root}")
        self._calib: dict[Path, dict] = {}
        self._mesh: dict[Path, np.ndarray | None] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def load(self, index: int) -> RawSample:
        pose_path = self.frames[index]
        d = pose_path.parent
        if d not in self._calib:
            self._calib[d] = read_biwi_calibration(d / "rgb.cal")
            obj = self.root / f"{d.name}.obj"
            self._mesh[d] = read_obj_vertices(obj) / 1000.0 if obj.is_file() else None
        cal = self._calib[d]
        R_p, T_p = read_biwi_pose(pose_path)
        R = cal["R"] @ R_p
        T = (cal["R"] @ T_p + cal["T"]) / 1000.0
        img_path = pose_path.with_name(pose_path.name.replace("_pose.txt", "_rgb.png"))
        labels = FaceLabels(K=cal["K"], R=R, T=T, vertices=self._mesh[d])
        return RawSample(read_rgb(str(img_path)), labels, name=f"{d.name}/{img_path.name}")

    def __getitem__(self, index: int) -> dict:
        raise TypeError("BIWIDataset is for evaluation through the detector: use load(i)")


class AFLW2000Dataset(FaceDataset):
    """AFLW2000-3D (see module doc). Crop box: the 68 labelled 2D landmarks x 1.5 (protocol)."""

    has_3d = False

    def __init__(self, root: str | Path, topology: FaceTopology, *,
                 max_abs_deg: float | None = AFLW_MAX_DEG, **kw: Any) -> None:
        super().__init__(topology, None, **kw)
        self.root = Path(root)
        mats = sorted(self.root.rglob("*.mat"))
        if not mats:
            raise FileNotFoundError(f"no AFLW2000 .mat files under {self.root}")
        self.items: list[tuple[Path, Path, np.ndarray, np.ndarray]] = []
        self.dropped: list[str] = []
        for m in mats:
            img = m.with_suffix(".jpg")
            if not img.is_file():
                img = m.parent.parent / "JPEG" / f"{m.stem}.jpg"
            if not img.is_file():
                raise FileNotFoundError(f"no image for {m}")
            z = _loadmat(m)
            pose = np.asarray(z["Pose_Para"], np.float64).reshape(-1)[:3]
            lm = np.asarray(z["pt3d_68"], np.float64)[:2].T.copy()
            if max_abs_deg is not None and np.any(np.abs(np.degrees(pose)) > max_abs_deg):
                self.dropped.append(m.stem)
                continue
            self.items.append((img, m, pose, lm))

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> RawSample:
        img_path, _, pose, lm = self.items[index]
        img = read_rgb(str(img_path))
        h, w = img.shape[:2]
        pitch, yaw, roll = (float(x) for x in pose)
        R = geo.aflw_label_to_rotation(pitch, yaw, roll)
        labels = FaceLabels(K=geo.default_intrinsics(w, h), R=R, landmarks68=lm)
        return RawSample(img, labels, name=img_path.stem,
                         box=geo.crop_box_from_landmarks(lm, scale=self.box_scale))

    def pose_deg(self, index: int) -> tuple[float, float, float]:
        """The label (pitch, yaw, roll) in degrees."""
        return tuple(math.degrees(float(x)) for x in self.items[index][2])  # type: ignore
