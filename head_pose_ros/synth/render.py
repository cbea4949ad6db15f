"""Headless OpenGL renderer of ICT heads (moderngl, EGL: Mesa llvmpipe on CPU, NVIDIA on GPU).

Projection (OpenCV -> OpenGL), exact for a pinhole K (skew allowed), image W x H, near n, far f.
Camera coordinates are OpenCV optical (x right, y down, z forward) and are fed to GL unchanged;
the projection maps them to clip space with ``w = Z``::

    x_ndc = (2 fx X + 2 s Y) / (W Z) + 2 (cx + 0.5) / W - 1
    y_ndc = 2 fy Y / (H Z) + 2 (cy + 0.5) / H - 1
    z_ndc = (f + n) / (f - n) - 2 f n / ((f - n) Z)

so window coordinate ``x_win = u + 0.5`` and ``y_win = v + 0.5`` (GL pixel centres sit at +0.5,
OpenCV's at integers). Because GL window row 0 is the first row returned by ``glReadPixels``, the
read-back buffer is already the image in OpenCV row order (top row first): no flip anywhere.

Outputs per render: RGB (H, W, 3) uint8, linear depth (H, W) float32 = camera Z in metres of the
nearest head surface (``inf`` on background), and a coverage mask (H, W) float32 in [0, 1]
(MSAA-resolved). Colour is shaded per pixel: procedural albedo from static per-vertex fields and
3D value noise on the neutral head-frame position (seam-free, no UV needed), directional key light
with wrap diffuse + Blinn-Phong specular, hemispherical ambient with a cavity (AO) term, Fresnel
rim; lighting in linear space, output sRGB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .head import HeadModel
from .shaders import BLEND_CS, HEAD_FS, HEAD_VS, NORMALS_CS

NEAR = 0.01
FAR = 50.0

GL_PID: int | None = None
"""Process that initialised EGL/GL here. A child forked after that cannot create a working
context (Mesa's driver threads do not survive ``fork``: it hangs), see :func:`check_fork_safe`."""


def check_fork_safe() -> None:
    """Raise if this process was forked from one that had already initialised GL."""
    import os

    if GL_PID is not None and os.getpid() != GL_PID:
        raise RuntimeError(
            "this process was forked after its parent created an OpenGL context; create the "
            "synthetic generator's renderer only in the worker processes (do not call "
            "generate() in the parent before forking) or use the 'spawn' start method")


def projection_from_K(  # noqa: N802
    K: np.ndarray, width: int, height: int, near: float = NEAR, far: float = FAR  # noqa: N803
) -> np.ndarray:
    """OpenGL projection (4, 4) from OpenCV intrinsics; see module docstring for the mapping."""
    fx, s, cx = float(K[0, 0]), float(K[0, 1]), float(K[0, 2])
    fy, cy = float(K[1, 1]), float(K[1, 2])
    P = np.zeros((4, 4))  # noqa: N806
    P[0, 0] = 2 * fx / width
    P[0, 1] = 2 * s / width
    P[0, 2] = 2 * (cx + 0.5) / width - 1
    P[1, 1] = 2 * fy / height
    P[1, 2] = 2 * (cy + 0.5) / height - 1
    P[2, 2] = (far + near) / (far - near)
    P[2, 3] = -2 * far * near / (far - near)
    P[3, 2] = 1.0
    return P


@dataclass
class Appearance:
    """Albedo parameters of one person (sRGB colours in 0..1)."""

    skin: tuple = (0.85, 0.65, 0.55)
    lip: tuple = (0.7, 0.4, 0.4)
    hair: tuple = (0.15, 0.1, 0.07)
    brow: tuple = (0.12, 0.08, 0.06)
    iris: tuple = (0.35, 0.22, 0.12)
    hat: tuple = (0.2, 0.3, 0.5)
    cloth: tuple = (0.3, 0.3, 0.35)
    cloth_pattern: float = 0.0  # 0 plain, > 0 stripe frequency (1/m)
    brow_width: float = 0.0045  # m, half width of the eyebrow band at the nose side
    brow_density: float = 0.9
    beard: float = 0.0  # 0 none .. 1 full beard
    beard_offset: float = 0.0  # m, moves the beard boundary
    blush: float = 0.3
    freckles: float = 0.0
    skin_var: float = 1.0
    spec: float = 0.12
    shininess: float = 24.0
    hair_noise: float = 0.008
    hat_on: bool = False
    iris_angle: float = 0.38  # rad, seen from the eyeball centre
    pupil_angle: float = 0.15
    lash: float = 0.7  # darkness of the lash line (0..1; > 0.8 looks like eyeliner)
    seed: tuple = (0.0, 0.0, 0.0)


@dataclass
class Lighting:
    """Scene lighting in camera coordinates (directions point towards the light)."""

    direction: tuple = (0.3, -0.5, -0.8)
    color: tuple = (1.0, 0.97, 0.92)
    sky: tuple = (0.35, 0.37, 0.4)
    ground: tuple = (0.2, 0.17, 0.15)
    rim_direction: tuple = (-0.6, -0.2, 0.7)
    rim_color: tuple = (0.0, 0.0, 0.0)
    exposure: float = 1.0


@dataclass
class RenderPerson:
    """One head to draw: mesh in the head frame, pose, appearance."""

    vertices: np.ndarray | None  # (V, 3) head frame (None with the GPU geometry path)
    hair_field: np.ndarray | None  # (V,)
    R: np.ndarray  # noqa: N815
    T: np.ndarray  # noqa: N815
    appearance: Appearance = field(default_factory=Appearance)
    extras: np.ndarray | None = None  # (Vt + Vh, 3) head frame: HeadModel.torso + long_hair
    gpu: dict | None = None  # HeadModel.build_labels parameters for the GPU geometry path


class Renderer:
    """One GL context (create it in the process that uses it: after fork, lazily).

    ``gpu_geometry``: blendshapes, gaze, neck, scale, hair volume and vertex normals computed by
    two compute shaders (GL 4.3) instead of numpy; ``None`` = on for a hardware GPU when a
    self-check against the numpy path passes at start-up, off on llvmpipe (where it is slower).
    Persons then need ``RenderPerson.gpu`` (from :meth:`HeadModel.build_labels`).
    """

    def __init__(self, head: HeadModel, samples: int | None = None,
                 backend: str | None = "egl", gpu_geometry: bool | None = None) -> None:
        import os

        import moderngl

        global GL_PID
        check_fork_safe()
        self.head = head
        kwargs = {"backend": backend} if backend else {}
        self.ctx = moderngl.create_standalone_context(**kwargs)
        GL_PID = os.getpid()
        self.gl_renderer = self.ctx.info.get("GL_RENDERER", "?")
        self.software = "llvmpipe" in self.gl_renderer or "softpipe" in self.gl_renderer
        # MSAA is nearly free on a GPU but costs ~2x on llvmpipe: default 4 on GPU, 1 on CPU
        self.samples = int(samples) if samples is not None else (1 if self.software else 4)
        self.cull = True
        ctx = self.ctx
        self.prog = ctx.program(vertex_shader=HEAD_VS, fragment_shader=HEAD_FS)
        static = head.static_fields
        self.static_vbo = ctx.buffer(static.astype("f4").tobytes())
        self.dyn_vbo = ctx.buffer(reserve=head.num_all_vertices * 7 * 4, dynamic=True)
        self.ibo = ctx.buffer(head.all_triangles.astype("i4").tobytes())
        self.vao = ctx.vertex_array(
            self.prog,
            [
                (self.dyn_vbo, "3f 3f 1f", "in_pos", "in_nrm", "in_hair"),
                (self.static_vbo, "3f 1f 1f 1f 1f 1f 1f 1f", "in_ref", "in_region", "in_lip",
                 "in_brow", "in_eye", "in_beard", "in_cav", "in_lash"),
            ],
            index_buffer=self.ibo,
            index_element_size=4,
        )
        rng = np.random.default_rng(1234)
        self.noise_tex = ctx.texture3d((32, 32, 32), 1, rng.integers(0, 256, 32**3, np.uint8))
        self.noise_tex.repeat_x = self.noise_tex.repeat_y = self.noise_tex.repeat_z = True
        self.noise_tex.filter = (ctx.LINEAR, ctx.LINEAR)
        self._fbos: dict[tuple[int, int], tuple] = {}
        self.gpu_geometry = False
        self.gpu_check_error: float | None = None
        if gpu_geometry or (gpu_geometry is None and not self.software):
            try:
                self._init_gpu_geometry()
                self.gpu_check_error = self._check_gpu_geometry()
                self.gpu_geometry = self.gpu_check_error < 1e-5
            except Exception as exc:  # no compute shaders (GL < 4.3): numpy path
                self.gpu_check_error = float("nan")
                if gpu_geometry:
                    raise RuntimeError(f"GPU geometry unavailable: {exc}") from exc
            if gpu_geometry and not self.gpu_geometry:
                raise RuntimeError(f"GPU geometry self-check failed: {self.gpu_check_error}")

    # ------------------------------------------------------------------ GPU geometry
    def _init_gpu_geometry(self) -> None:
        ctx, head = self.ctx, self.head
        ict = head.ict
        self.cs_blend = ctx.compute_shader(BLEND_CS)
        self.cs_normals = ctx.compute_shader(NORMALS_CS)
        basis = np.concatenate([ict.identity, ict.expression]).astype("f4")
        self.gpu_k = len(basis)
        self.basis_buf = ctx.buffer(basis.tobytes())
        self.neutral_buf = ctx.buffer(head.neutral.astype("f4").tobytes())
        self.coef_buf = ctx.buffer(reserve=self.gpu_k * 4, dynamic=True)
        neck = np.zeros(head.num_vertices, np.float32)
        neck[head._neck_idx] = 1.0
        info = np.column_stack([head.region, neck, head.neutral_normals]).astype("f4")
        self.info_buf = ctx.buffer(info.tobytes())
        f = head.all_triangles
        order = np.argsort(f.ravel(), kind="stable")
        adj_tri = (order // 3).astype("i4")
        counts = np.bincount(f.ravel(), minlength=head.num_all_vertices)
        adj_ptr = np.concatenate([[0], np.cumsum(counts)]).astype("i4")
        self.adj_ptr_buf = ctx.buffer(adj_ptr.tobytes())
        self.adj_tri_buf = ctx.buffer(adj_tri.tobytes())
        self.tri_buf = ctx.buffer(f.astype("i4").tobytes())

    def _gpu_mesh(self, p: RenderPerson) -> None:
        """Fill ``dyn_vbo`` (positions, normals, hair field) on the GPU for one person."""
        import moderngl

        head, g = self.head, p.gpu
        nv, nall = head.num_vertices, head.num_all_vertices
        self.coef_buf.write(np.asarray(g["coefficients"], "f4").tobytes())
        if p.extras is not None:
            ext = np.zeros((nall - nv, 7), np.float32)
            ext[:, :3] = p.extras
            ext[:, 6] = -1.0
            self.dyn_vbo.write(ext.tobytes(), offset=nv * 7 * 4)
        for i, b in enumerate((self.basis_buf, self.neutral_buf, self.coef_buf, self.info_buf,
                               self.dyn_vbo, self.adj_ptr_buf, self.adj_tri_buf, self.tri_buf)):
            b.bind_to_storage_buffer(i)
        cs = self.cs_blend
        cs["u_nv"].value = nv
        cs["u_k"].value = self.gpu_k
        cs["u_eye_rot"].write(np.asarray(g["gaze_rotation"], "f4").T.tobytes())
        cs["u_eye_c0"].value = tuple(float(x) for x in g["eye_centres"][0])
        cs["u_eye_c1"].value = tuple(float(x) for x in g["eye_centres"][1])
        cs["u_scale"].value = float(g["scale"])
        h = g["hair"]
        cs["u_hair"].value = (h.front_y, h.back_y, h.recess, h.bald)
        cs["u_thick"].value = float(h.thickness)
        cs.run(group_x=(nv + 63) // 64)
        self.ctx.memory_barrier(moderngl.SHADER_STORAGE_BARRIER_BIT)
        self.cs_normals["u_nall"].value = nall
        self.cs_normals.run(group_x=(nall + 63) // 64)
        self.ctx.memory_barrier(moderngl.VERTEX_ATTRIB_ARRAY_BARRIER_BIT)

    def _check_gpu_geometry(self) -> float:
        """Max |GPU - numpy| (m) of positions + hair field for a random person."""
        from .head import HairStyle, PersonShape

        rng = np.random.default_rng(7)
        ps = PersonShape(rng.standard_normal(100), np.clip(rng.random(53) - 0.6, 0, 1),
                         scale=0.95, gaze=(0.2, -0.1),
                         hair=HairStyle(bald=0.05, thickness=0.01, recess=0.01))
        v, hair, _ = self.head.build(ps)
        _, g = self.head.build_labels(ps)
        self._gpu_mesh(RenderPerson(v, hair, np.eye(3), np.zeros(3), gpu=g))
        out = np.frombuffer(self.dyn_vbo.read(), np.float32).reshape(-1, 7)[: len(v)]
        return float(max(np.abs(out[:, :3] - v).max(), np.abs(out[:, 6] - hair).max()))

    def _cpu_mesh(self, p: RenderPerson) -> None:
        """Fill ``dyn_vbo`` from numpy vertices (normals computed here)."""
        nv = self.head.num_vertices
        dyn = np.zeros((self.head.num_all_vertices, 7), np.float32)
        dyn[:nv, :3] = p.vertices
        if p.extras is not None:
            dyn[nv:, :3] = p.extras
        dyn[:, 3:6] = self.head.vertex_normals_all(dyn[:, :3])
        dyn[:nv, 6] = p.hair_field
        dyn[nv:, 6] = -1.0
        self.dyn_vbo.write(dyn.tobytes())

    # ------------------------------------------------------------------ resources
    def _targets(self, width: int, height: int):
        """Render targets of at least width x height (sizes bucketed by 128 px, cached)."""
        key = (-(-width // 128) * 128, -(-height // 128) * 128)
        if key not in self._fbos:
            if len(self._fbos) > 8:  # bounded cache of render targets
                for fb in self._fbos.pop(next(iter(self._fbos))):
                    fb.release()
            ctx, size = self.ctx, key
            ns = self.samples if self.samples > 1 else 0  # samples=1 would still be a MS buffer
            ms = ctx.framebuffer(
                color_attachments=[
                    ctx.renderbuffer(size, 4, samples=ns),
                    ctx.renderbuffer(size, 1, samples=ns, dtype="f4"),
                ],
                depth_attachment=ctx.depth_renderbuffer(size, samples=ns),
            )
            if ns > 1:
                rs = ctx.framebuffer(
                    color_attachments=[
                        ctx.renderbuffer(size, 4),
                        ctx.renderbuffer(size, 1, dtype="f4"),
                    ]
                )
            else:
                rs = ms
            self._fbos[key] = (ms, rs)
        return self._fbos[key]

    # ------------------------------------------------------------------ drawing
    def render(
        self,
        K: np.ndarray,  # noqa: N803
        width: int,
        height: int,
        persons: list[RenderPerson],
        lighting: Lighting,
        background: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``persons`` over ``background`` (H, W, 3) uint8 RGB (or grey).

        Returns (rgb (H, W, 3) uint8, depth (H, W) float32 metres, inf where no head,
        coverage (H, W) float32 0..1). The colour target is cleared to 0 and heads write alpha 1
        and their depth, so after the MSAA resolve colour and depth are coverage-weighted
        (premultiplied): depth = resolved / coverage, image = colour + background (1 - coverage).
        """
        ctx = self.ctx
        ms, rs = self._targets(width, height)
        ms.use()
        ctx.viewport = (0, 0, width, height)
        vp = (0, 0, width, height)
        ms.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=vp)  # premultiplied, see docstring
        ctx.disable(ctx.CULL_FACE)
        ctx.enable(ctx.DEPTH_TEST)
        prog = self.prog
        self.noise_tex.use(1)
        prog["u_noise"].value = 1
        prog["u_P"].write(projection_from_K(K, width, height).T.astype("f4").tobytes())
        lt = lighting
        ldir = np.asarray(lt.direction, float)
        prog["u_ldir"].value = tuple(ldir / np.linalg.norm(ldir))
        prog["u_lcol"].value = tuple(lt.color)
        prog["u_sky"].value = tuple(lt.sky)
        prog["u_ground"].value = tuple(lt.ground)
        prog["u_rdir"].value = tuple(lt.rim_direction)
        prog["u_rcol"].value = tuple(lt.rim_color)
        prog["u_exposure"].value = float(lt.exposure)
        for p in persons:
            if self.gpu_geometry and p.gpu is not None:
                self._gpu_mesh(p)
            else:
                self._cpu_mesh(p)
            prog["u_R"].write(np.asarray(p.R, "f4").T.tobytes())
            prog["u_T"].value = tuple(float(x) for x in p.T)
            a = p.appearance
            for name, val in (
                ("u_skin", a.skin), ("u_lip", a.lip), ("u_hair", a.hair), ("u_brow", a.brow),
                ("u_iris", a.iris), ("u_hat", a.hat), ("u_seed", a.seed), ("u_cloth", a.cloth),
            ):
                prog[name].value = tuple(float(x) for x in val)
            for name, val in (
                ("u_brow_w", a.brow_width), ("u_brow_d", a.brow_density), ("u_beard", a.beard),
                ("u_beard_off", a.beard_offset), ("u_blush", a.blush),
                ("u_freckle", a.freckles), ("u_skin_var", a.skin_var), ("u_spec", a.spec),
                ("u_shine", a.shininess), ("u_hair_noise", a.hair_noise),
                ("u_hat_on", float(a.hat_on)), ("u_iris_ang", a.iris_angle),
                ("u_pupil_ang", a.pupil_angle), ("u_cloth_pat", a.cloth_pattern),
                ("u_lash", a.lash),
            ):
                prog[name].value = float(val)
            # closed head surfaces: cull back faces (cheaper on llvmpipe); torso and hair
            # curtain are open shells seen from both sides. The OpenCV->GL mapping keeps image
            # rows top-down, which mirrors window space: outward faces wind clockwise.
            nf = len(self.head.triangles)
            if self.cull:
                ctx.enable(ctx.CULL_FACE)
                ctx.front_face = "cw"
            self.vao.render(vertices=3 * nf)
            ctx.disable(ctx.CULL_FACE)
            self.vao.render(first=3 * nf, vertices=3 * (len(self.head.all_triangles) - nf))
        if rs is not ms:
            ctx.copy_framebuffer(rs, ms)
        rgba = np.frombuffer(rs.read(viewport=vp, components=4, attachment=0, alignment=1),
                             np.uint8)
        rgba = rgba.reshape(height, width, 4)
        zsum = np.frombuffer(
            rs.read(viewport=vp, components=1, attachment=1, dtype="f4", alignment=1), np.float32
        ).reshape(height, width)
        cov = rgba[..., 3].astype(np.float32) * (1.0 / 255.0)
        # resolved values are coverage-weighted averages (background = 0): divide by coverage
        hit = cov > 0.5 / 255.0
        depth = np.full((height, width), np.inf, np.float32)
        depth[hit] = zsum[hit] / cov[hit]
        if background is None:
            rgb = np.ascontiguousarray(rgba[..., :3])
        else:  # premultiplied colour over the background
            rgb = rgba[..., :3] + background * (1.0 - cov[..., None]) + 0.5
            rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        return rgb, depth, cov

    def release(self) -> None:
        self.ctx.release()
