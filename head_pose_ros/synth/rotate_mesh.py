# ruff: noqa: N803, N806  (R, T, K, X: the notation of geometry.py)
"""Geometry and GL for :mod:`.rotate_real`: a textured face + background mesh of one photo.

Conventions (docs/CONVENTIONS.md): camera = OpenCV optical frame (x right, y down, z forward),
metres; a pose maps head points into it, ``X_cam = R @ X_head + T``; pixel ``(u, v)`` = column,
row with integer pixel centres, ``(u, v) = geometry.project_points(X_cam, K)``. A photo of
``W x H`` pixels is a texture sampled at ``((u + 0.5) / W, (v + 0.5) / H)`` (row 0 = top).

The scene of one photo (all of it textured by the photo itself, in its ORIGINAL view):

* **face**: the fitted 1220-vertex mesh, its eye and mouth holes closed by fans around the
  hole's centroid (:func:`face_mesh_parts`); texture coordinates = the projection of each vertex
  with the fitted pose. Vertices the photo did not see well (self-occluded or seen at a grazing
  angle, :func:`visibility`) take their colour from the mirror vertex on the other half
  (``mirror``: the topology's left/right permutation), blended per pixel (:func:`mirror_mix`).
* **band + background** (:func:`background_mesh`): a 2D Delaunay mesh of the photo outside the
  face silhouette, stitched to a contour just inside it. Every node is put at a depth: the face
  surface at the contour, receding to ``T_z + BACK_M`` (behind the head centre) over
  ``DEPTH_RAMP`` face sizes: hair, ears and background form a skull-like surface that rotates
  with the head (weight 1 up to ``BAND`` face sizes from the silhouette) and blends into the
  pristine, unmoved photo (weight 0 beyond ``BLEND_END`` face sizes): the 300W-LP idea
  (Zhu et al.), with a heuristic depth instead of a monocular depth network.

:class:`TexturedRenderer` draws both with moderngl (headless EGL, the context rules of
:mod:`.render`); the face is drawn on a depth layer in front of the background, so the band
can never hide the face: every face pixel, and so every projected landmark, shows the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from head_pose_ros import geometry as geo
from head_pose_ros.topology import FaceTopology

BACK_M = 0.10
"""Depth of the far background behind the head-frame origin (m)."""
TUCK_M = 0.002
"""The background's inner contour lies this far behind the face surface (m), 1 px inside."""
DEPTH_RAMP = 0.6
"""Face sizes over which the background recedes from the face surface to ``T_z + BACK_M``."""
BAND = 0.35
"""Face sizes around the silhouette that rotate rigidly with the head (hair, ears)."""
BLEND_END = 1.0
"""Face sizes from the silhouette beyond which the photo stays where it is."""
GRAZING_COS = (0.1, 0.35)
"""A vertex seen at cos(view angle) below the first value is unseen, above the second seen."""
DEPTH_TOL_M = 0.004
"""A vertex more than this behind the depth buffer of its pixel is occluded (m)."""


@dataclass(frozen=True)
class FaceMeshParts:
    """The 1220 topology with closed eye / mouth holes (vertices ``V`` + one per hole).

    ``triangles`` index ``with_hole_centres(V)``; ``mirror`` is the left/right permutation of
    those vertices (a hole centre maps to the centre of its mirror hole).
    """

    triangles: np.ndarray  # (F', 3)
    holes: tuple[np.ndarray, ...]  # vertex loops of the closed holes
    outer: np.ndarray  # vertex loop of the outer border
    mirror: np.ndarray  # (V + n_holes,)
    normal_sign: float  # +1 / -1: makes vertex normals point out of the face

    @property
    def num_vertices(self) -> int:
        return int(len(self.mirror))

    def with_hole_centres(self, V: np.ndarray) -> np.ndarray:
        """(V, 3) mesh -> (V + n_holes, 3): appends each hole's centroid."""
        V = np.asarray(V, np.float64)
        return np.concatenate([V, np.stack([V[h].mean(0) for h in self.holes])])


def _boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Closed loops of directed border edges (each in its triangle's winding)."""
    t = np.asarray(triangles, np.int64)
    directed = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    present = {(int(a), int(b)) for a, b in directed}
    nxt: dict[int, list[int]] = {}
    for a, b in directed:
        if (int(b), int(a)) not in present:
            nxt.setdefault(int(a), []).append(int(b))
    loops = []
    while nxt:
        start = next(iter(nxt))
        loop, cur = [start], start
        while True:
            b = nxt[cur].pop()
            if not nxt[cur]:
                del nxt[cur]
            if b == start:
                break
            loop.append(b)
            cur = b
            if cur not in nxt:  # open chain (not a manifold border): stop it here
                break
        loops.append(np.asarray(loop, np.int64))
    return loops


def vertex_normals(X: np.ndarray, triangles: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """Area-weighted unit vertex normals (N, 3) of a mesh in any frame."""
    a, b, c = (X[triangles[:, k]] for k in range(3))
    fn = np.cross(b - a, c - a) * sign
    n = np.zeros_like(X)
    for k in range(3):
        np.add.at(n, triangles[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def face_mesh_parts(topology: FaceTopology, mirror: np.ndarray) -> FaceMeshParts:
    """Close the holes of ``topology`` (every border loop but the longest) with fans."""
    loops = sorted(_boundary_loops(topology.triangles), key=len, reverse=True)
    outer, holes = loops[0], tuple(loops[1:])
    nv = topology.num_vertices
    fans = [topology.triangles]
    for k, h in enumerate(holes):  # border edge a->b: fan triangle (b, a, centre) keeps winding
        fans.append(np.stack([np.roll(h, -1), h, np.full(len(h), nv + k)], axis=1))
    tri = np.concatenate(fans).astype(np.int64)
    centres = np.stack([topology.vertices[h].mean(0) for h in holes])
    mirrored = centres * np.array([-1.0, 1.0, 1.0])
    hole_mirror = np.array([int(np.argmin(np.linalg.norm(centres - m, axis=1)))
                            for m in mirrored])
    perm = np.concatenate([np.asarray(mirror, np.int64), nv + hole_mirror])
    # outward normals: the nose tip (most negative z of the template) looks along -z (head frame)
    V = np.concatenate([topology.vertices.astype(np.float64), centres])
    nose = int(np.argmin(topology.vertices[:, 2]))
    sign = 1.0 if vertex_normals(V, tri)[nose, 2] < 0 else -1.0
    return FaceMeshParts(tri, holes, outer, perm, sign)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def visibility(X: np.ndarray, parts: FaceMeshParts, depth: np.ndarray, K: np.ndarray,
               ss: int, grazing: tuple[float, float] = GRAZING_COS) -> np.ndarray:
    """Per-vertex visibility in [0, 1] of camera points ``X`` (N, 3) of the closed face mesh.

    Facing: cos of the angle between the outward normal and the ray to the camera, ramped from
    0 to 1 over ``grazing``; occlusion: the vertex lies more than ``max(DEPTH_TOL_M, 2.5 Z / f)``
    (a surface may tilt within a pixel) behind the face's own depth buffer ``depth`` (rendered
    with :meth:`TexturedRenderer.render` at ``ss`` x the pixel grid of ``K``; 0 = no face) at
    its pixel.
    """
    n = vertex_normals(X, parts.triangles, parts.normal_sign)
    cos = -np.sum(n * X, axis=1) / np.linalg.norm(X, axis=1)
    lo, hi = grazing
    facing = smoothstep((cos - lo) / (hi - lo))
    uv = geo.project_points(X, K)
    h, w = depth.shape
    col = np.clip(np.round(ss * (uv[:, 0] + 0.5) - 0.5).astype(int), 0, w - 1)
    row = np.clip(np.round(ss * (uv[:, 1] + 0.5) - 0.5).astype(int), 0, h - 1)
    zb = depth[row, col]
    tol = np.maximum(DEPTH_TOL_M, 2.5 * X[:, 2] / geo.mean_focal(K))
    occluded = (zb > 0) & (X[:, 2] > zb + tol)
    return facing * ~occluded


def mirror_mix(vis: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Weight of the mirror vertex's texture per vertex: ``(1-a) b / ((1-a) b + a)`` with
    ``a`` = own visibility, ``b`` = the mirror vertex's (0 where neither was seen)."""
    a, b = vis, vis[mirror]
    m = (1.0 - a) * b
    return m / np.maximum(m + a, 1e-6)


@dataclass
class Background:
    """The band + background mesh in the ORIGINAL view (native pixels, camera metres)."""

    uv: np.ndarray  # (N, 2) pixel positions = texture coordinates
    X: np.ndarray  # (N, 3) camera points
    weight: np.ndarray  # (N,) share of the head rotation, 1 at the face .. 0 far away
    triangles: np.ndarray  # (M, 3)


def background_mesh(face_mask: np.ndarray, face_depth: np.ndarray, ss: int, K: np.ndarray,
                    T: np.ndarray, face_size: float, width: int, height: int,
                    contour_points: int = 72) -> Background:
    """Band + background of one photo (see module doc).

    ``face_mask`` / ``face_depth``: the face's coverage and camera depth at ``ss`` x the photo's
    resolution (:meth:`TexturedRenderer.render`); ``face_size``: larger side of the fitted 68
    landmarks' extent (px). Nodes: ``contour_points`` points on the face contour (1 px inside the
    silhouette, at the face depth + ``TUCK_M``) and a grid of spacing ~face_size / 7 covering the
    photo plus one spacing, outside the silhouette.
    """
    from scipy.spatial import Delaunay

    inner = cv2.erode((face_mask > 0.5).astype(np.uint8), np.ones((2 * ss + 1,) * 2, np.uint8))
    cs, _ = cv2.findContours(inner, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        raise ValueError("the face covers no pixel of the photo")
    c = max(cs, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    seg = np.linalg.norm(np.diff(np.r_[c, c[:1]], axis=0), axis=1)
    s = np.r_[0.0, np.cumsum(seg)]
    pick = np.searchsorted(s, np.linspace(0, s[-1], contour_points, endpoint=False), "right") - 1
    c_ss = c[np.clip(pick, 0, len(c) - 1)].astype(int)
    z_c = face_depth[c_ss[:, 1], c_ss[:, 0]] + TUCK_M
    c_uv = (c_ss + 0.5) / ss - 0.5
    poly = c_uv.astype(np.float32).reshape(-1, 1, 2)

    g = max(4.0, face_size / 7.0)
    xs = np.arange(-0.5 - g, width - 0.5 + 1.5 * g, g)
    ys = np.arange(-0.5 - g, height - 0.5 + 1.5 * g, g)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    # a fixed frame far enough out that it never moves: the stretched triangles between it
    # and the moving band cover whatever the turned head uncovers
    m = (BLEND_END + DEPTH_RAMP) * face_size + 2 * g
    fx = np.linspace(-0.5 - m, width - 0.5 + m, 9)
    fy = np.linspace(-0.5 - m, height - 0.5 + m, 9)
    frame = np.r_[np.c_[fx, np.full(9, fy[0])], np.c_[fx, np.full(9, fy[-1])],
                  np.c_[np.full(7, fx[0]), fy[1:-1]], np.c_[np.full(7, fx[-1]), fy[1:-1]]]
    grid = np.r_[grid, frame]
    sd = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), True) for x, y in grid])
    grid, d_grid = grid[sd < -0.5 * g], -sd[sd < -0.5 * g]
    uv = np.concatenate([c_uv, grid])
    d = np.r_[np.zeros(len(c_uv)), d_grid]
    tri = Delaunay(uv).simplices.astype(np.int64)
    cen = uv[tri].mean(axis=1)
    inside = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0
                       for x, y in cen])
    tri = tri[~inside]
    nearest = np.argmin(np.linalg.norm(uv[:, None, :] - c_uv[None], axis=2), axis=1)
    z_s = z_c[nearest]
    z_far = np.maximum(float(T[2]) + BACK_M, z_s)
    z = z_s + (z_far - z_s) * smoothstep(d / (DEPTH_RAMP * face_size))
    rays = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(np.asarray(K, np.float64)).T
    w = 1.0 - smoothstep((d - BAND * face_size) / ((BLEND_END - BAND) * face_size))
    return Background(uv, rays * z[:, None], w, tri)


def partial_rotations(R_delta: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(N, 3, 3): ``weight`` (N,) x the rotation angle of ``R_delta`` about its own axis."""
    q = geo.matrix_to_quaternion(R_delta)  # (x, y, z, w), w >= 0
    half = np.arctan2(np.linalg.norm(q[:3]), q[3])
    axis = q[:3] / max(float(np.linalg.norm(q[:3])), 1e-12)
    a = np.asarray(weight, np.float64)[:, None] * half
    return geo.quaternion_to_matrix(np.c_[axis[None] * np.sin(a), np.cos(a)])


def rotate_about(X: np.ndarray, T: np.ndarray, R_delta: np.ndarray,
                 weight: np.ndarray | None = None) -> np.ndarray:
    """Camera points turned about the head origin ``T``: ``R_d (X - T) + T``, where ``R_d`` is
    ``R_delta`` (``weight`` None) or its share ``weight`` per point (:func:`partial_rotations`).
    With ``X = R V + T`` this is ``(R_delta R) V + T``: the re-posed head."""
    if weight is None:
        return (X - T) @ np.asarray(R_delta).T + T
    Rw = partial_rotations(R_delta, weight)
    return np.einsum("nij,nj->ni", Rw, X - T) + T


_VS = """
#version 330
uniform mat4 u_P;
uniform float u_layer;
in vec3 in_pos; in vec2 in_uv; in vec2 in_uvm; in float in_mix;
out vec2 v_uv; out vec2 v_uvm; out float v_mix; out float v_z;
void main() {
    v_uv = in_uv; v_uvm = in_uvm; v_mix = in_mix; v_z = in_pos.z;
    vec4 p = u_P * vec4(in_pos, 1.0);
    p.z = 0.5 * (p.z + u_layer * p.w);  // face in [-1, 0], background in [0, 1] (NDC depth)
    gl_Position = p;
}
"""
_FS = """
#version 330
uniform sampler2D u_tex;
uniform float u_face;
in vec2 v_uv; in vec2 v_uvm; in float v_mix; in float v_z;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;
void main() {
    vec3 a = texture(u_tex, v_uv).rgb;
    vec3 b = texture(u_tex, v_uvm).rgb;
    f_color = vec4(mix(a, b, clamp(v_mix, 0.0, 1.0)), u_face);
    f_depth = v_z;
}
"""


@dataclass
class Layer:
    """One mesh to draw: camera points, texture pixel coordinates (own + mirror), mix weight."""

    X: np.ndarray  # (N, 3) camera frame, metres
    uv: np.ndarray  # (N, 2) photo pixels
    triangles: np.ndarray  # (M, 3)
    uv_mirror: np.ndarray | None = None
    mix: np.ndarray | None = None


class TexturedRenderer:
    """A GL context drawing photo-textured meshes (create it in the process that uses it)."""

    def __init__(self, backend: str | None = "egl") -> None:
        import os

        import moderngl

        from . import render

        render.check_fork_safe()
        self.ctx = moderngl.create_standalone_context(**({"backend": backend} if backend else {}))
        render.GL_PID = os.getpid()
        self.prog = self.ctx.program(vertex_shader=_VS, fragment_shader=_FS)
        self._fbos: dict[tuple[int, int], object] = {}

    def _fbo(self, w: int, h: int):
        if (w, h) not in self._fbos:
            if len(self._fbos) > 4:
                self._fbos.pop(next(iter(self._fbos))).release()
            ctx = self.ctx
            self._fbos[(w, h)] = ctx.framebuffer(
                color_attachments=[ctx.renderbuffer((w, h), 4),
                                   ctx.renderbuffer((w, h), 1, dtype="f4")],
                depth_attachment=ctx.depth_renderbuffer((w, h)))
        return self._fbos[(w, h)]

    def _draw(self, layer: Layer, photo_size: tuple[int, int], face: bool) -> None:
        W, H = photo_size
        n = len(layer.X)
        uv = (np.asarray(layer.uv, np.float64) + 0.5) / (W, H)
        uvm = uv if layer.uv_mirror is None else (np.asarray(layer.uv_mirror) + 0.5) / (W, H)
        mix = np.zeros(n) if layer.mix is None else np.asarray(layer.mix, np.float64)
        data = np.c_[layer.X, uv, uvm, mix].astype("f4")
        vbo = self.ctx.buffer(data.tobytes())
        ibo = self.ctx.buffer(np.asarray(layer.triangles, "i4").tobytes())
        vao = self.ctx.vertex_array(self.prog, [(vbo, "3f 2f 2f 1f", "in_pos", "in_uv",
                                                 "in_uvm", "in_mix")],
                                    index_buffer=ibo, index_element_size=4)
        self.prog["u_layer"].value = -1.0 if face else 1.0
        self.prog["u_face"].value = 1.0 if face else 0.0
        vao.render()
        for o in (vao, vbo, ibo):
            o.release()

    def render(self, photo_rgb: np.ndarray, K: np.ndarray, ss: int, face: Layer,
               background: Layer | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``background`` then ``face`` (always in front of it) at ``ss`` x the photo's
        resolution, seen by ``K`` (photo pixels).

        Returns, at ``ss`` x resolution: rgb (uint8), face mask (float 0/1), face camera depth
        (float32 metres, 0 off the face). Pixel (i, j) of the ``ss`` grid is photo pixel
        ``((j + 0.5) / ss - 0.5, (i + 0.5) / ss - 0.5)``: ``cv2.resize(..., INTER_AREA)`` by
        ``1 / ss`` gives the photo's pixel grid back.
        """
        from .render import projection_from_K

        H, W = photo_rgb.shape[:2]
        w, h = W * ss, H * ss
        Ks = np.diag([ss, ss, 1.0]) @ np.asarray(K, np.float64)
        Ks[:2, 2] += (ss - 1) / 2.0  # ss (c + 0.5) - 0.5
        ctx = self.ctx
        tex = ctx.texture((W, H), 3, np.ascontiguousarray(photo_rgb, np.uint8).tobytes(),
                          alignment=1)
        tex.repeat_x = tex.repeat_y = False
        tex.filter = (ctx.LINEAR, ctx.LINEAR)
        tex.use(0)
        self.prog["u_tex"].value = 0
        self.prog["u_P"].write(projection_from_K(Ks, w, h).T.astype("f4").tobytes())
        fbo = self._fbo(w, h)
        fbo.use()
        ctx.viewport = (0, 0, w, h)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.enable(ctx.DEPTH_TEST)
        ctx.disable(ctx.CULL_FACE)
        if background is not None:
            self._draw(background, (W, H), face=False)
        self._draw(face, (W, H), face=True)
        rgba = np.frombuffer(fbo.read(components=4, attachment=0, alignment=1),
                             np.uint8).reshape(h, w, 4)
        z = np.frombuffer(fbo.read(components=1, attachment=1, dtype="f4", alignment=1),
                          np.float32).reshape(h, w)
        tex.release()
        mask = (rgba[..., 3] > 127).astype(np.float32)
        return np.ascontiguousarray(rgba[..., :3]), mask, np.where(mask > 0, z, 0.0)

    def release(self) -> None:
        for f in self._fbos.values():
            f.release()
        self.ctx.release()
