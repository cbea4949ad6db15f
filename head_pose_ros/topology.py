"""Face topology: the dense-landmark template and its index sets (data, not code).

The default is the ARKit 1220-vertex topology shipped under
``<shared data>/face_model/arkit1220/`` (template in metres, head frame of docs/CONVENTIONS.md:
x to the subject's left ear, y to the chin, z from the face into the head).
A trained checkpoint carries the topology arrays, so inference needs no extra file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARKIT_SUBDIR = Path("face_model") / "arkit1220"


@dataclass(frozen=True, eq=False)
class FaceTopology:
    """Dense face topology.

    Attributes:
        vertices: (N, 3) float32 template in the head frame, metres.
        triangles: (F, 3) int64 vertex indices (counter-clockwise seen from the front is not
            required by anything here).
        landmarks68: (68,) int64 indices of the 68 sparse (iBUG/300W) landmarks into vertices.
        subsample: (S,) int64 indices of the subsampled landmarks (regressor input and sampling
            points of iterations 2 and 3; S = 305 for ARKit).
        name: short identifier stored in checkpoints.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    landmarks68: np.ndarray
    subsample: np.ndarray
    name: str = "arkit1220"

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.vertices, dtype=np.float32)
        t = np.ascontiguousarray(self.triangles, dtype=np.int64)
        lm = np.ascontiguousarray(self.landmarks68, dtype=np.int64).reshape(-1)
        sub = np.ascontiguousarray(self.subsample, dtype=np.int64).reshape(-1)
        if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 3:
            raise ValueError(f"topology vertices must be (N, 3), got {v.shape}")
        if t.ndim != 2 or t.shape[1] != 3:
            raise ValueError(f"topology triangles must be (F, 3), got {t.shape}")
        n = v.shape[0]
        for label, idx in (("triangles", t), ("landmarks68", lm), ("subsample", sub)):
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"topology {label} index out of range [0, {n})")
        if not np.all(np.isfinite(v)):
            raise ValueError("topology vertices contain non-finite values")
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "triangles", t)
        object.__setattr__(self, "landmarks68", lm)
        object.__setattr__(self, "subsample", sub)

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_subsample(self) -> int:
        return int(self.subsample.shape[0])

    @property
    def num_landmarks(self) -> int:
        return int(self.landmarks68.shape[0])

    def edges(self) -> np.ndarray:
        """Unique undirected edges (E, 2) of the triangle mesh, sorted, int64."""
        t = self.triangles
        e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]], axis=0)
        e = np.sort(e, axis=1)
        return np.unique(e, axis=0)

    def face_area(self, vertices: np.ndarray | None = None) -> float:
        """Sum of triangle areas (m^2) of ``vertices`` (default: the template)."""
        v = self.vertices if vertices is None else np.asarray(vertices, dtype=np.float64)
        a, b, c = v[self.triangles[:, 0]], v[self.triangles[:, 1]], v[self.triangles[:, 2]]
        return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint (keys ``topology.*``)."""
        return {
            "topology.vertices": self.vertices,
            "topology.triangles": self.triangles,
            "topology.landmarks68": self.landmarks68,
            "topology.subsample": self.subsample,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], name: str = "arkit1220") -> FaceTopology:
        """Inverse of :meth:`to_arrays` (accepts numpy arrays or torch tensors)."""
        def get(key: str) -> np.ndarray:
            if key not in arrays:
                raise KeyError(f"topology array {key!r} missing")
            x = arrays[key]
            return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)

        return cls(
            vertices=get("topology.vertices"),
            triangles=get("topology.triangles"),
            landmarks68=get("topology.landmarks68"),
            subsample=get("topology.subsample"),
            name=name,
        )

    def summary(self) -> dict[str, object]:
        lo, hi = self.vertices.min(axis=0), self.vertices.max(axis=0)
        return {
            "name": self.name,
            "num_vertices": self.num_vertices,
            "num_triangles": int(self.triangles.shape[0]),
            "num_edges": int(self.edges().shape[0]),
            "num_landmarks68": self.num_landmarks,
            "num_subsample": self.num_subsample,
            "extent_m": [float(x) for x in (hi - lo)],
            "face_area_cm2": self.face_area() * 1e4,
        }


def default_shared_data() -> Path:
    """``$HEAD_POSE_SHARED_DATA`` or ``<repo>/../shared/data`` (may not exist)."""
    env = os.environ.get("HEAD_POSE_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _resolve_arkit_dir(root: str | os.PathLike | None) -> Path:
    base = default_shared_data() if root is None else Path(root)
    for cand in (base, base / "arkit1220", base / ARKIT_SUBDIR):
        if (cand / "template_face_m.npy").is_file():
            return cand
    raise FileNotFoundError(
        f"ARKit 1220 topology not found under {base} (looked for template_face_m.npy in it, in "
        f"arkit1220/ and in {ARKIT_SUBDIR}/); pass the directory or set HEAD_POSE_SHARED_DATA"
    )


def load_arkit1220(root: str | os.PathLike | None = None) -> FaceTopology:
    """Load the ARKit 1220 topology.

    Args:
        root: the ``arkit1220`` directory itself, or a directory containing ``arkit1220/`` or
            ``face_model/arkit1220/`` (e.g. the shared data root).
            None: :func:`default_shared_data`.
    """
    d = _resolve_arkit_dir(root)
    return FaceTopology(
        vertices=np.load(d / "template_face_m.npy"),
        triangles=np.load(d / "triangles.npy").astype(np.int64),
        landmarks68=np.load(d / "landmarks68.npy"),
        subsample=np.load(d / "subsample305.npy"),
        name="arkit1220",
    )
