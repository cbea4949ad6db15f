"""Head model for synthesis: ICT head in the label head frame + ARKit 1220 correspondence.

:class:`HeadModel` owns everything that is computed once (registration, head-frame bases, static
per-vertex shading fields) and turns per-person parameters (:class:`PersonShape`) into

* the renderable mesh (V, 3) in the head frame (identity, expression, global scale, eye gaze,
  hair volume), and
* the exact labels: the 1220 dense vertices = barycentric interpolation of the same mesh
  (before the hair offset) through the registration, and their 68 landmarks
  (``arkit1220/landmarks68.npy`` ids, iBUG order).

Head frame: docs/CONVENTIONS.md (x to the subject's left ear, y to the chin, z into the head),
origin and axes of the ARKit template after its similarity alignment (see :mod:`.registration`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .ict import ICTHead, default_data_root
from .registration import Registration, load_registration

REGIONS = (
    "face", "head_neck", "mouth_socket", "eye_socket_left", "eye_socket_right",
    "gums_tongue", "teeth", "eyeball_left", "eyeball_right",
)


@dataclass
class HairStyle:
    """Hair cap on the scalp (head-frame metres, y down, z into the head).

    A vertex is hair where ``y < y_line(x, z)`` with the line rising from ``front_y`` (hairline
    above the forehead, at the face) to ``back_y`` (nape) and receding at the temples by
    ``recess * (x / 0.05)^2``. ``bald`` > 0 removes a crown disc of that radius. ``thickness``
    offsets hair vertices along their normal (volume). ``hat`` turns the cap into a hat.
    """

    front_y: float = -0.095
    back_y: float = 0.04
    recess: float = 0.01
    bald: float = 0.0
    thickness: float = 0.008
    hat: bool = False


@dataclass
class PersonShape:
    """Geometric parameters of one person."""

    identity: np.ndarray  # (100,) ~N(0,1)
    expression: np.ndarray  # (53,) in [0, 1]
    scale: float = 1.0
    gaze: tuple[float, float] = (0.0, 0.0)  # (horizontal to +x, vertical to +y) radians
    hair: HairStyle = field(default_factory=HairStyle)


class HeadModel:
    """ICT head + registration + static fields (see module docstring)."""

    def __init__(self, data_root: str | os.PathLike | None = None, cache=None) -> None:
        root = Path(data_root) if data_root is not None else default_data_root()
        ict_flipped = ICTHead.load(root)
        self.registration: Registration = load_registration(ict_flipped, root, cache=cache)
        reg = self.registration
        self.ict = ict_flipped.to_head_frame(reg.rotation, reg.translation)
        ict = self.ict
        self.triangles = ict.triangles
        self.num_vertices = ict.num_vertices
        self.expression_names = ict.expression_names
        self.dense_weights: sp.csr_matrix = reg.weight_matrix(ict.num_vertices, ict.triangles)
        self.landmark_ids = reg.template_landmarks68
        self.dense_triangles = reg.template_triangles
        self.neutral = ict.neutral
        self.neutral_normals = ict.vertex_normals(ict.neutral)
        self.region = ict.region.astype(np.int32)
        self._eye_masks = [ict.region_mask("eyeball_left"), ict.region_mask("eyeball_right")]
        self._eye_idx = [np.nonzero(m)[0] for m in self._eye_masks]
        self._scalp = np.isin(self.region, [0, 1])
        self._expr_index = {n: i for i, n in enumerate(self.expression_names)}
        self.torso_unit, self.torso_triangles = _torso_template()
        self.hair_unit, self.hair_triangles = _long_hair_template()
        nv, nt = self.num_vertices, len(self.torso_unit)
        self.all_triangles = np.concatenate([
            self.triangles, self.torso_triangles + nv, self.hair_triangles + nv + nt,
        ]).astype(np.int32)
        self.num_all_vertices = nv + nt + len(self.hair_unit)
        f = self.all_triangles
        self._all_incidence = sp.csr_matrix(
            (np.ones(f.size, np.float32), (f.ravel(), np.repeat(np.arange(len(f)), 3))),
            shape=(self.num_all_vertices, len(f)),
        )
        self.neck_pivot = np.array([0.0, 0.13, 0.05])
        # the ICT bust flares out below the neck: narrowed to a neck cylinder inside the collar
        nv = self.neutral
        self._neck_idx = np.nonzero(np.isin(self.region, [0, 1]) & (nv[:, 1] > 0.095))[0]
        self._corner = None
        self.static_fields = self._static_fields()

    # ------------------------------------------------------------------ static shading fields
    def dense_neutral(self) -> np.ndarray:
        return np.asarray(self.dense_weights @ self.neutral.astype(np.float64))

    def _static_fields(self) -> np.ndarray:
        """(V_all, 10) float32: ref xyz, region, lip, brow, eye angle, beard, cavity, lash.

        * lip: signed distance (m) to the outer-lip polygon in the frontal (x, y) plane, > 0 inside.
        * brow: distance (m) to the eyebrow centre lines, widened towards the nose; big = none.
        * eye: angle (rad) between an eyeball vertex and the eyeball's forward axis (-z).
        * beard: signed coordinate (m), > 0 in the beard zone; -1 outside.
        * cavity: 0..1 ambient occlusion proxy (1 = open), from a multi-scale Laplacian.
        * lash: signed distance (m) to the eye-opening polygons, > 0 inside (lash line, liner).
        Torso (region 9) and long-hair (region 10) rows follow the head rows.
        """
        v = self.neutral.astype(np.float64)
        n = self.neutral_normals
        reg = self.region
        lm = self.dense_neutral()[self.landmark_ids]
        front = (reg == 0) & (n[:, 2] < -0.15)
        xy = v[:, :2]

        lip = np.full(len(v), -1.0)
        poly = lm[48:60, :2]
        sel = front | (reg == 2)
        lip[sel] = _signed_poly_distance(xy[sel], poly)

        brow = np.full(len(v), 1.0)
        for ids in (np.arange(21, 16, -1), np.arange(22, 27)):
            line = lm[ids, :2] + np.array([0.0, 0.004])
            d, t = _polyline_distance(xy[front], line)
            brow[front] = np.minimum(brow[front], d / (1.0 - 0.45 * t))

        eye = np.zeros(len(v))
        for idx in self._eye_idx:
            p = v[idx]
            c = (p.min(0) + p.max(0)) / 2
            d = p - c
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            eye[idx] = np.arccos(np.clip(-d[:, 2], -1, 1))

        beard = np.full(len(v), -1.0)
        y_sn = lm[33, 1]
        z_ear = lm[0, 2] + 0.015
        # beard zone: below the nose line rising towards the ears, in front of the ears, down
        # to 1.5 cm under the chin and not further back than the jaw angle under the chin
        z_chin = lm[8, 2]
        zone = (np.isin(reg, [0, 1]) & (v[:, 2] < z_ear)
                & (v[:, 1] < lm[8, 1] + 0.015 + 0.6 * np.maximum(v[:, 2] - z_chin, 0))
                & (v[:, 1] < lm[8, 1] + 0.03))
        bc = np.minimum(v[:, 1] - (y_sn + 0.003 + 0.3 * np.abs(v[:, 0])),
                        lm[8, 1] + 0.03 - v[:, 1])
        beard[zone] = bc[zone]
        beard[(lip > -0.0015) & front] = -1.0

        # cavity: how far a smoothed neighbourhood lies outside the vertex along its normal
        adj = self.ict.incidence() @ self.ict.incidence().T
        adj = sp.diags(1.0 / np.asarray(adj.sum(1)).ravel()) @ adj
        s = v.copy()
        cav = np.zeros(len(v))
        for it in range(12):
            s = adj @ s
            if it in (1, 4, 11):
                cav += np.maximum(((s - v) * n).sum(1), 0) / (0.6 + it * 0.4)
        cavity = np.clip(1.0 - cav / 0.004, 0.25, 1.0)
        # mouth interior gets darker with depth behind the lips
        mouth = np.isin(reg, [2, 5, 6])
        lip_z = lm[62, 2]
        cavity[mouth] *= np.clip(1.0 - (v[mouth, 2] - lip_z) / 0.03, 0.08, 1.0)
        cavity[np.isin(reg, [3, 4])] *= 0.5
        # lash line: signed distance (m) to the eye openings (landmarks 36-41, 42-47), > 0 inside
        lash = np.full(len(v), -1.0)
        for ids in (np.arange(36, 42), np.arange(42, 48)):
            d = _signed_poly_distance(xy[front], lm[ids, :2])
            lash[front] = np.maximum(lash[front], d)
        head = np.column_stack([v, reg, lip, brow, eye, beard, cavity, lash])
        nt = len(self.torso_unit)
        torso = np.column_stack([
            self.torso_unit, np.full(nt, 9.0), np.full(nt, -1.0), np.ones(nt), np.zeros(nt),
            np.full(nt, -1.0), np.ones(nt), np.full(nt, -1.0),
        ])
        nh = len(self.hair_unit)
        hair = np.column_stack([
            self.hair_unit, np.full(nh, 10.0), np.full(nh, -1.0), np.ones(nh), np.zeros(nh),
            np.full(nh, -1.0), np.ones(nh), np.full(nh, -1.0),
        ])
        return np.concatenate([head, torso, hair]).astype(np.float32)

    def long_hair(self, length: float, volume: float, scale: float) -> np.ndarray:
        """Long-hair curtain (Vh, 3) in the head frame, or all zeros (degenerate) if length 0.

        The template (a dome over the back of the skull continuing down behind the ears) is
        stretched to end ``length`` m below the ear line and widened by ``volume`` m.
        """
        u = self.hair_unit
        if length <= 0:
            return np.zeros_like(u)
        y = np.where(u[:, 1] > -0.03, -0.03 + (u[:, 1] + 0.03) * length / 0.3, u[:, 1])
        grow = 1.0 + volume / 0.1
        x = u[:, 0] * grow
        z = 0.025 + (u[:, 2] - 0.025) * grow
        return np.column_stack([x, y, z]) * scale
    def torso(self, neck_rotation: np.ndarray, scale: float, width: float = 0.2,
              depth: float = 0.11, drop: float = 0.0) -> np.ndarray:
        """Torso/shoulders (Vt, 3) in the head frame for a head turned by ``neck_rotation``.

        ``neck_rotation`` = head rotation relative to the torso (R = R_torso @ R_neck). The
        torso template (unit shoulders, collar around the neck) is scaled to ``width`` (half
        shoulder width, m) and ``depth`` (half chest depth, m) and attached at the neck pivot:
        ``X_head = R_neck.T @ (X_torso - p) + p``, so in the camera the torso turns by R_torso.
        """
        t = self.torso_unit * np.array([width / 0.2, 1.0, depth / 0.11])
        t = t + np.array([0.0, drop, 0.0])
        p = self.neck_pivot
        return ((t - p) @ np.asarray(neck_rotation) + p) * scale

    def vertex_normals_all(self, vertices: np.ndarray) -> np.ndarray:
        """Unit normals of head + torso vertices (V + Vt, 3)."""
        f = self.all_triangles
        a, b, c = vertices[f[:, 0]], vertices[f[:, 1]], vertices[f[:, 2]]
        n = self._all_incidence @ np.cross(b - a, c - a)
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        return n.astype(np.float32)

    # ------------------------------------------------------------------ per-person geometry
    def expression_index(self, name: str) -> int:
        return self._expr_index[name]

    def hair_field(self, hair: HairStyle) -> np.ndarray:
        """Signed hair coordinate (V,) in metres, > 0 on the hair cap (from neutral positions)."""
        v = self.neutral
        z01 = np.clip((v[:, 2] + 0.06) / 0.18, 0, 1)  # 0 at the forehead, 1 at the back
        y_line = hair.front_y + (hair.back_y - hair.front_y) * z01**1.5
        y_line = y_line + hair.recess * (v[:, 0] / 0.05) ** 2 * (1 - z01)
        f = y_line - v[:, 1]
        if hair.bald > 0:
            crown = np.hypot(v[:, 0], v[:, 2] - 0.03)
            top = v[:, 1] < -0.09
            f = np.where(top & (crown < hair.bald), np.minimum(f, crown - hair.bald), f)
        f = np.where(self._scalp, f, -1.0)
        return f.astype(np.float32)

    def _subset_basis(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(neutral (n, 3), basis (100 + 53, n * 3) contiguous) restricted to vertex ids."""
        basis = np.concatenate([self.ict.identity[:, ids], self.ict.expression[:, ids]])
        return self.neutral[ids].copy(), np.ascontiguousarray(basis.reshape(len(basis), -1))

    def _coefficients(self, person: PersonShape) -> np.ndarray:
        """(100 + 53,) float32 identity coefficients then expression weights."""
        c = np.zeros(len(self.ict.identity) + len(self.ict.expression), np.float32)
        ident = np.asarray(person.identity, np.float32)
        c[: len(ident)] = ident
        c[len(self.ict.identity):] = np.asarray(person.expression, np.float32)
        return c

    @staticmethod
    def _narrow_neck(p: np.ndarray) -> np.ndarray:
        """Pull bust vertices (y > 0.095) into a neck cylinder about (x, z) = (0, 0.05)."""
        t = np.clip((p[:, 1] - 0.095) / 0.03, 0, 1)
        d = np.stack([p[:, 0] / 0.056, (p[:, 2] - 0.05) / 0.064], 1)
        k = np.minimum(1.0, 1.0 / np.maximum(np.linalg.norm(d, axis=1), 1e-6))
        f = (1 - t) + t * k
        p = p.copy()
        p[:, 0] *= f
        p[:, 2] = 0.05 + (p[:, 2] - 0.05) * f
        return p

    @staticmethod
    def gaze_rotation(gaze: tuple[float, float]) -> np.ndarray:
        """Eyeball rotation taking the forward axis (0, 0, -1) to the gaze direction."""
        gh, gv = gaze
        d = np.array([np.sin(gh) * np.cos(gv), np.sin(gv), -np.cos(gh) * np.cos(gv)])
        return _rotation_between(np.array([0.0, 0.0, -1.0]), d).astype(np.float32)

    def build(self, person: PersonShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (render vertices (V, 3), hair field (V,), dense 1220 vertices (1220, 3) float64).

        Everything in the head frame, metres. Order: blendshapes, eye gaze (eyeballs rotated
        about their bounding-box centres), neck narrowing, global scale, then (render mesh
        only) hair volume along the neutral normals. Dense vertices are taken before the hair
        offset (the skin surface under the hair).
        """
        v = self.ict.shape(person.identity, person.expression)
        if person.gaze[0] != 0.0 or person.gaze[1] != 0.0:
            rot = self.gaze_rotation(person.gaze)
            for idx in self._eye_idx:
                p = v[idx]
                c = (p.min(0) + p.max(0)) / 2
                v[idx] = (p - c) @ rot.T + c
        v[self._neck_idx] = self._narrow_neck(v[self._neck_idx])
        v *= np.float32(person.scale)
        dense = np.asarray(self.dense_weights @ v.astype(np.float64))
        hair = self.hair_field(person.hair)
        if person.hair.thickness > 0:
            w = np.clip(hair / 0.012, 0, 1) ** 0.7 * person.hair.thickness * person.scale
            v = v + self.neutral_normals * w[:, None].astype(np.float32)
        return v, hair, dense

    def build_labels(self, person: PersonShape) -> tuple[np.ndarray, dict]:
        """Dense labels exactly as :meth:`build`, from the few vertices they need, plus the
        parameters a GPU geometry pass needs to produce the same render mesh (see
        ``render.Renderer`` with ``gpu_geometry``): coefficients, gaze rotation, eyeball centres.
        """
        if self._corner is None:
            tri = self.triangles[self.registration.triangle_ids]
            ids, inv = np.unique(tri.ravel(), return_inverse=True)
            n0, b = self._subset_basis(ids)
            self._corner = (ids, inv.reshape(-1, 3), n0, b, np.isin(ids, self._neck_idx))
            eye = np.concatenate(self._eye_idx)
            self._eye_sub = (self._subset_basis(eye), len(self._eye_idx[0]))
        ids, inv, n0, b, neck = self._corner
        c = self._coefficients(person)
        p = n0 + (c @ b).reshape(-1, 3)
        p[neck] = self._narrow_neck(p[neck])
        p = p.astype(np.float64) * person.scale
        dense = np.einsum("nk,nkd->nd", self.registration.barycentric, p[inv])
        (e0, eb), nl = self._eye_sub
        pe = e0 + (c @ eb).reshape(-1, 3)
        centres = [(q.min(0) + q.max(0)) / 2 for q in (pe[:nl], pe[nl:])]
        return dense, dict(coefficients=c, gaze_rotation=self.gaze_rotation(person.gaze),
                           eye_centres=np.array(centres, np.float32), scale=float(person.scale),
                           hair=person.hair)


# --------------------------------------------------------------------------- torso


def _torso_template(n_seg: int = 40, n_ring: int = 22) -> tuple[np.ndarray, np.ndarray]:
    """Collar + sloping shoulders + chest as a lathe of superellipses (head frame, m).

    Rings from y = 0.105 (collar top, around the narrowed ICT neck, axis at z = 0.05) down to
    y = 0.9; the half width grows from the collar (0.066) to the shoulders (0.2) between
    y = 0.15 and 0.22 (about 25 degrees of shoulder slope).
    """
    ys = np.concatenate([np.linspace(0.105, 0.22, 10), np.linspace(0.24, 0.9, n_ring - 10)])
    ang = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
    verts = []
    for y in ys:
        k = np.clip((y - 0.15) / 0.07, 0, 1)
        k = k * k * (3 - 2 * k)
        a = 0.066 + (0.2 - 0.066) * k
        b = 0.07 + (0.11 - 0.07) * k
        zc = 0.05 + 0.005 * k
        e = 2.0 / (2.0 + 2.0 * k)  # superellipse exponent: round collar -> boxy chest
        c, s = np.cos(ang), np.sin(ang)
        x = a * np.sign(c) * np.abs(c) ** e
        z = zc + b * np.sign(s) * np.abs(s) ** e
        verts.append(np.column_stack([x, np.full(n_seg, y), z]))
    v = np.concatenate(verts)
    tris = []
    for r in range(len(ys) - 1):
        for i in range(n_seg):
            a0, a1 = r * n_seg + i, r * n_seg + (i + 1) % n_seg
            b0, b1 = a0 + n_seg, a1 + n_seg
            tris += [[a0, b0, a1], [a1, b0, b1]]
    return v, np.array(tris, np.int32)


def _long_hair_template(n_seg: int = 28, n_ring: int = 18) -> tuple[np.ndarray, np.ndarray]:
    """Back half of an ellipsoidal dome over the skull + a curtain down to y = 0.27 (0.3 long).

    Angles from just behind the ears around the back (theta in [0.42 pi, 1.58 pi] with theta = 0
    at the face); semi-axes 0.1 (x) / 0.125 (z) about (x, z) = (0, 0.025), top at y = -0.15.
    The curtain flares out by 3 cm towards its end.
    """
    ys = np.concatenate([np.linspace(-0.145, -0.03, 8), np.linspace(-0.01, 0.27, n_ring - 8)])
    th = np.linspace(0.42 * np.pi, 1.58 * np.pi, n_seg)
    verts = []
    for y in ys:
        if y < -0.03:
            k = np.sqrt(max(0.0, 1 - ((y + 0.03) / 0.12) ** 2))
        else:
            k = 1.0 + 0.3 * (y + 0.03) / 0.3
        a, b = 0.1 * k, 0.125 * k
        verts.append(np.column_stack([a * np.sin(th), np.full(n_seg, y), 0.025 - b * np.cos(th)]))
    v = np.concatenate(verts)
    tris = []
    for r in range(len(ys) - 1):
        for i in range(n_seg - 1):
            a0, a1 = r * n_seg + i, r * n_seg + i + 1
            b0, b1 = a0 + n_seg, a1 + n_seg
            tris += [[a0, b0, a1], [a1, b0, b1]]
    return v, np.array(tris, np.int32)


# --------------------------------------------------------------------------- 2D helpers


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector a to unit vector b (Rodrigues)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of points (N, 2) to a polyline (M, 2) and the arc parameter t in [0, 1]."""
    best = np.full(len(p), np.inf)
    tpar = np.zeros(len(p))
    seg_len = np.linalg.norm(np.diff(line, axis=0), axis=1)
    cum = np.concatenate([[0], np.cumsum(seg_len)]) / max(seg_len.sum(), 1e-9)
    for i in range(len(line) - 1):
        a, b = line[i], line[i + 1]
        ab = b - a
        t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
        d = np.linalg.norm(p - (a + t[:, None] * ab), axis=1)
        m = d < best
        best[m] = d[m]
        tpar[m] = cum[i] + t[m] * (cum[i + 1] - cum[i])
    return best, tpar


def _signed_poly_distance(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance (N,) of points to a closed polygon (M, 2): > 0 inside."""
    closed = np.concatenate([poly, poly[:1]])
    d, _ = _polyline_distance(p, closed)
    inside = np.zeros(len(p), bool)
    x, y = p[:, 0], p[:, 1]
    for i in range(len(poly)):
        (x0, y0), (x1, y1) = closed[i], closed[i + 1]
        cond = (y0 > y) != (y1 > y)
        xc = x0 + (y - y0) * (x1 - x0) / ((y1 - y0) if y1 != y0 else 1e-12)
        inside ^= cond & (x < xc)
    return np.where(inside, d, -d)
