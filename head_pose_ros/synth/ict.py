"""The ICT FaceKit "light" morphable head (``ict_head.npz``) as numpy arrays.

Frames:

* ICT frame (the file): y up, nose tip towards +z (the viewer), x to the subject's left, metres.
* "ICT flipped" frame (what :class:`ICTHead` holds): the ICT frame with y and z negated, i.e. the
  OpenCV-like head convention of docs/CONVENTIONS.md (x to the subject's left ear, y to the chin,
  z from the face to the back of the head) but with the ICT origin.
* Head frame (labels): the ICT flipped frame moved by the rigid part of the ARKit-template
  registration (:mod:`head_pose_ros.synth.registration`), so that its origin and axes are those
  of the ARKit 1220 template. :class:`ICTHead.to_head_frame` applies that move to the neutral
  mesh and to every blendshape basis once.

Shapes: V = 24591 vertices, F = 48836 triangles; identity basis (100, V, 3), expression basis
(53, V, 3, ARKit names, weights in [0, 1]). Everything is float32 metres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ICT_FILE = "face_model/ict_head.npz"
ARKIT_DIR = "face_model/arkit1220"
_FLIP = np.array([1.0, -1.0, -1.0], dtype=np.float32)


def default_data_root() -> Path:
    """Shared data root: env ``HEAD_POSE_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("HEAD_POSE_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def cache_dir() -> Path:
    """User cache dir for derived data (``$XDG_CACHE_HOME/head_pose_ros`` or ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "head_pose_ros"


@dataclass
class ICTHead:
    """ICT head in the flipped (OpenCV-like) frame, see module docstring."""

    neutral: np.ndarray  # (V, 3) float32
    identity: np.ndarray  # (100, V, 3) float32
    expression: np.ndarray  # (53, V, 3) float32
    expression_names: list[str]
    triangles: np.ndarray  # (F, 3) int32
    region: np.ndarray  # (V,) int8
    region_names: list[str]
    landmarks68: np.ndarray  # (68,) ICT vertex ids (Multi-PIE order)
    source: str = ""
    _incidence: sp.csr_matrix | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> ICTHead:
        """Load ``ict_head.npz`` (a file, or a data root containing ``face_model/ict_head.npz``)."""
        p = Path(path) if path is not None else default_data_root()
        if p.is_dir():
            p = p / ICT_FILE
        with np.load(p) as d:
            neutral = d["neutral_m"].astype(np.float32) * _FLIP
            identity = d["identity_m"].astype(np.float32) * _FLIP
            expression = d["expression_m"].astype(np.float32) * _FLIP
            return cls(
                neutral=neutral,
                identity=identity,
                expression=expression,
                expression_names=[str(s) for s in d["expression_names"]],
                triangles=d["triangles"].astype(np.int32),
                region=d["region"].astype(np.int8),
                region_names=[str(s) for s in d["region_names"]],
                landmarks68=d["landmarks68"].astype(np.int64),
                source=str(p),
            )

    # ------------------------------------------------------------------ frames
    def to_head_frame(self, rotation: np.ndarray, origin: np.ndarray) -> ICTHead:
        """Return a copy with ``X' = rotation.T @ (X - origin)`` applied (bases rotated only).

        ``rotation`` / ``origin`` are the rigid part of the template registration: the head-frame
        axes and origin expressed in the ICT flipped frame.
        """
        Rt = np.asarray(rotation, dtype=np.float32)  # noqa: N806
        o = np.asarray(origin, dtype=np.float32)
        return ICTHead(
            neutral=(self.neutral - o) @ Rt,
            identity=self.identity @ Rt,
            expression=self.expression @ Rt,
            expression_names=self.expression_names,
            triangles=self.triangles,
            region=self.region,
            region_names=self.region_names,
            landmarks68=self.landmarks68,
            source=self.source,
        )

    # ------------------------------------------------------------------ geometry
    @property
    def num_vertices(self) -> int:
        return int(self.neutral.shape[0])

    def region_mask(self, name: str) -> np.ndarray:
        """Boolean (V,) mask of one named region (``face``, ``eyeball_left``, ...)."""
        return self.region == self.region_names.index(name)

    def region_triangles(self, name: str) -> np.ndarray:
        """Triangle ids whose three vertices all lie in region ``name``."""
        m = self.region_mask(name)
        return np.nonzero(m[self.triangles].all(axis=1))[0]

    def shape(
        self,
        identity_coeffs: np.ndarray | None = None,
        expression_weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Neutral + identity (coefficients ~N(0,1) per mode) + expressions (weights [0,1]).

        Returns (V, 3) float32 metres in this object's frame. Coefficient vectors may be shorter
        than the bases (missing modes are zero).
        """
        v = self.neutral.copy()
        if identity_coeffs is not None and len(identity_coeffs):
            c = np.asarray(identity_coeffs, dtype=np.float32)
            v += np.tensordot(c, self.identity[: c.shape[0]], axes=1)
        if expression_weights is not None:
            w = np.asarray(expression_weights, dtype=np.float32)
            nz = np.nonzero(w)[0]
            if nz.size:
                v += np.tensordot(w[nz], self.expression[nz], axes=1)
        return v

    def incidence(self) -> sp.csr_matrix:
        """Sparse (V, F) vertex-triangle incidence used to average face normals."""
        if self._incidence is None:
            f = self.triangles
            rows = f.ravel()
            cols = np.repeat(np.arange(f.shape[0]), 3)
            data = np.ones(rows.shape[0], dtype=np.float32)
            self._incidence = sp.csr_matrix(
                (data, (rows, cols)), shape=(self.num_vertices, f.shape[0])
            )
        return self._incidence

    def vertex_normals(self, vertices: np.ndarray) -> np.ndarray:
        """Area-weighted unit vertex normals (V, 3) of ``vertices`` with this mesh's triangles.

        Orientation: the ICT triangles wind counter-clockwise seen from outside in the ICT frame;
        the flip (two negated axes) keeps the handedness, so normals point out of the head.
        """
        f = self.triangles
        a, b, c = vertices[f[:, 0]], vertices[f[:, 1]], vertices[f[:, 2]]
        fn = np.cross(b - a, c - a)
        n = self.incidence() @ fn
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        return n.astype(np.float32)

    def eyeball_centres(self, vertices: np.ndarray) -> np.ndarray:
        """(2, 3) rotation centres of the left / right eyeball (bounding-box centre of the ball).

        Left = the subject's left eye (``eyeball_left``, +x side).
        """
        out = []
        for name in ("eyeball_left", "eyeball_right"):
            v = vertices[self.region_mask(name)]
            out.append((v.min(axis=0) + v.max(axis=0)) / 2.0)
        return np.stack(out)
