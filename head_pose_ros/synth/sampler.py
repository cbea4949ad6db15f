"""Random scene sampling and the on-the-fly generator of labelled synthetic face images.

Public API (what the training / evaluation code calls):

* :class:`SynthConfig` (+ :func:`preset`): ranges of everything that is randomised.
* :class:`SyntheticFaceGenerator`: ``generate(index) -> dict`` for one frame, deterministic for
  ``(config.seed, index)``; the GL context is created lazily in the calling process (safe to
  construct before ``fork`` and use in data-loader workers).
* :class:`SyntheticFaceStream`: an iterable over ``generate(i)`` that shards indices over
  data-loader workers (torch is only consulted if it is already imported).

Labels of a frame (primary person; ``persons`` holds every labelled person, primary first, same
keys; extra persons with < ``MIN_VISIBLE_SECONDARY`` visible landmarks are rendered, unlabelled):
``K`` (3, 3) full-image intrinsics, ``image_size`` (W, H), ``R`` (3, 3) and ``T`` (3,) metres with
``X_cam = R @ X_head + T``, ``vertices`` (1220, 3) head frame metres (ARKit 1220 topology),
``landmarks68`` (68, 2) full-image pixels (projection of the 1220-topology landmark vertices
``arkit1220/landmarks68.npy``, iBUG order), ``landmarks68_visible`` (68,) bool (not self-occluded,
not behind another head, not under a 2D occluder, inside the image), ``bbox`` (4,) x0, y0, x1, y1
= extent of the 1220 projected dense vertices (full-image pixels, not clipped to the image).
``image`` is (H, W, 3) uint8 **BGR**. In crop mode ``image`` is the ``crop_size`` square crop and
``K_crop``, ``box`` (cx, cy, side), ``landmarks68_crop`` are added (all labels above stay in
full-image terms).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np

from ..geometry import (
    box_from_landmarks,
    crop_box_from_landmarks,
    crop_intrinsics,
    euler_ypr_to_rotation,
    image_centre,
    rotation_to_euler_ypr,
)
from . import textures
from .head import HairStyle, HeadModel, PersonShape
from .render import Appearance, Lighting, Renderer, RenderPerson

FACE_RADIUS_M = 0.11  # rough radius of the face (landmark extent) for framing
MIN_VISIBLE_SECONDARY = 10  # extra persons with fewer visible landmarks get no label row


@dataclass
class SynthConfig:
    """Ranges of the randomisation (angles in degrees, distances in metres, sizes in pixels)."""

    preset: str = "wild"
    image_sizes: list[tuple[int, int]] = field(default_factory=lambda: [(640, 480)])  # (W, H)
    hfov: tuple[float, float] = (55.0, 80.0)  # horizontal field of view range (deg)
    focal: tuple[float, float] | None = None  # fx range in pixels; overrides hfov when set
    pp_offset: float = 0.03  # principal point offset, uniform +- fraction of W and H
    distance: tuple[float, float] = (0.25, 4.0)  # face-centre depth, log-uniform
    yaw: tuple[float, float] = (-90.0, 90.0)
    pitch: tuple[float, float] = (-60.0, 60.0)
    roll: tuple[float, float] = (-45.0, 45.0)
    uniform_pose: float = 0.5  # probability of a uniform pose draw (else a centred normal)
    expression: float = 0.8  # max expression weight
    identity_std: float = 1.0  # std of identity coefficients
    head_scale: tuple[float, float] = (0.85, 1.12)
    gaze: float = 25.0  # max gaze angle (deg)
    occlusion: float = 0.25  # probability of a 2D occluder (hand, glasses, mask, object)
    multi_person: float = 0.15  # probability of more than one person
    max_persons: int = 3
    effects: float = 1.0  # strength of blur / noise (0 = clean)
    samples: int | None = None  # MSAA samples (None: 4 on a GPU, 1 on llvmpipe)
    gpu_geometry: bool | None = None  # mesh + normals in compute shaders (None: GPU only)
    crop_mode: bool = False  # render straight into the training crop
    crop_size: int = 192
    crop_scale: tuple[float, float] = (1.5, 1.5)  # crop side / landmark extent
    crop_shift: float = 0.0  # crop centre jitter, fraction of the side
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    # ARKitFace-like: phone front camera, portrait frames, arm's length
    "selfie": dict(
        image_sizes=[(720, 1280), (1080, 1920), (960, 1280), (1280, 720)],
        hfov=(48.0, 62.0), pp_offset=0.02, distance=(0.3, 0.9),
        yaw=(-70.0, 70.0), pitch=(-45.0, 45.0), roll=(-35.0, 35.0), multi_person=0.05,
    ),
    # BIWI-like robot / RGB-D views: 60-70 deg horizontal FOV, 0.7-2.5 m
    "robot": dict(
        image_sizes=[(640, 480), (1280, 720), (848, 480), (1920, 1080)],
        hfov=(60.0, 70.0), pp_offset=0.03, distance=(0.7, 2.5),
        yaw=(-90.0, 90.0), pitch=(-50.0, 50.0), roll=(-35.0, 35.0), multi_person=0.2,
    ),
    # broad training mix: webcams, phones, robot cameras, tele
    "wild": dict(
        image_sizes=[(320, 240), (640, 480), (800, 600), (1280, 720), (1920, 1080),
                     (1280, 960), (720, 1280), (480, 640), (1024, 1024)],
        hfov=(40.0, 100.0), pp_offset=0.08, distance=(0.25, 4.0),
        yaw=(-90.0, 90.0), pitch=(-60.0, 60.0), roll=(-45.0, 45.0), multi_person=0.15,
    ),
}


def preset(name: str, **overrides) -> SynthConfig:
    """A :class:`SynthConfig` for preset ``selfie`` / ``robot`` / ``wild`` with overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    cfg = replace(SynthConfig(), preset=name, **PRESETS[name])
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------- appearance

_SKIN = np.array([  # sRGB 0..1, light -> dark
    [0.96, 0.84, 0.76], [0.92, 0.76, 0.66], [0.86, 0.68, 0.56], [0.78, 0.58, 0.45],
    [0.68, 0.48, 0.34], [0.55, 0.37, 0.25], [0.42, 0.27, 0.18], [0.30, 0.19, 0.13],
])
_HAIR = np.array([
    [0.04, 0.035, 0.03], [0.1, 0.07, 0.05], [0.22, 0.14, 0.08], [0.38, 0.26, 0.15],
    [0.72, 0.6, 0.4], [0.55, 0.25, 0.12], [0.5, 0.5, 0.5], [0.82, 0.8, 0.78],
])
_IRIS = np.array([
    [0.25, 0.14, 0.06], [0.38, 0.24, 0.1], [0.3, 0.45, 0.62], [0.35, 0.45, 0.3],
    [0.45, 0.48, 0.5], [0.45, 0.35, 0.15],
])


def sample_appearance(rng: np.random.Generator) -> tuple[Appearance, HairStyle]:
    """Skin tone, lips, hair/brow/iris colours, beard, freckles, hat and hair style."""
    t = rng.uniform(0, len(_SKIN) - 1)
    i = int(t)
    skin = _SKIN[i] * (1 - (t - i)) + _SKIN[min(i + 1, len(_SKIN) - 1)] * (t - i)
    skin = np.clip(skin * rng.uniform(0.93, 1.07, 3), 0, 1)
    dark = t / (len(_SKIN) - 1)
    hp = np.array([4, 4, 3, 2, 1.5, 0.8, 1.0, 0.5]) * np.array(
        [1 + 3 * dark, 1 + dark, 1, 1 - 0.5 * dark, 1 - dark, 1 - dark, 1, 1])
    hair = _HAIR[rng.choice(len(_HAIR), p=hp / hp.sum())] * rng.uniform(0.85, 1.15, 3)
    lip = skin * np.array([0.86, 0.6, 0.62]) * rng.uniform(0.8, 1.05)
    if rng.random() < 0.12:  # lipstick
        lip = np.array([rng.uniform(0.4, 0.85), rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.35)])
    male = rng.random() < 0.5
    beard = float(rng.uniform(0.2, 1.0)) if (male and rng.random() < 0.45) else 0.0
    brow = np.clip(hair * rng.uniform(0.6, 1.0), 0, 1)
    if hair.mean() > 0.45:  # grey / blond hair: brows a bit darker
        brow = brow * 0.6
    ipw = np.array([5, 3, 1.5 * (1 - dark), 1 * (1 - dark), 0.8 * (1 - dark), 1.2])
    iris = _IRIS[rng.choice(len(_IRIS), p=ipw / ipw.sum())] * rng.uniform(0.8, 1.2)
    hat = rng.random() < 0.08
    app = Appearance(
        skin=tuple(skin), lip=tuple(np.clip(lip, 0, 1)), hair=tuple(np.clip(hair, 0, 1)),
        brow=tuple(brow), iris=tuple(np.clip(iris, 0, 1)),
        hat=tuple(textures._rand_color(rng, sat=0.8, lo=0.05, hi=0.9)),
        brow_width=float(rng.uniform(0.0035, 0.0065) * (1.15 if male else 1.0)),
        brow_density=float(rng.uniform(0.5, 1.0)),
        beard=beard, beard_offset=float(rng.uniform(-0.01, 0.012)),
        blush=float(rng.uniform(0.0, 0.6)),
        freckles=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.12 * (1 - dark) else 0.0,
        skin_var=float(rng.uniform(0.5, 1.8)),
        spec=float(rng.uniform(0.03, 0.3)), shininess=float(rng.uniform(12, 40)),
        hair_noise=float(rng.uniform(0.002, 0.006)), hat_on=hat,
        iris_angle=float(rng.uniform(0.35, 0.42)), pupil_angle=float(rng.uniform(0.11, 0.19)),
        lash=float(rng.uniform(0.4, 0.8) if male else rng.uniform(0.55, 0.95)),
        seed=tuple(rng.uniform(0, 1000, 3)),
        cloth=tuple(textures._rand_color(rng, sat=0.7, lo=0.05, hi=0.85)),
        cloth_pattern=float(rng.uniform(15, 60)) if rng.random() < 0.2 else 0.0,
    )
    long_back = rng.random() < 0.5
    style = HairStyle(
        front_y=float(rng.uniform(-0.112, -0.085) if not male else rng.uniform(-0.11, -0.08)),
        back_y=float(rng.uniform(0.04, 0.09) if long_back else rng.uniform(-0.01, 0.05)),
        recess=float(rng.uniform(0.0, 0.025) if male else rng.uniform(0.0, 0.01)),
        bald=float(rng.uniform(0.03, 0.08)) if (male and rng.random() < 0.15) else 0.0,
        thickness=float(rng.uniform(0.003, 0.025)),
        hat=hat,
    )
    if hat:
        style.front_y = float(rng.uniform(-0.12, -0.09))
        style.thickness = float(rng.uniform(0.008, 0.02))
    elif rng.random() < 0.05:  # shaved head
        style.thickness = 0.0
        app.hair = tuple(np.clip(np.asarray(app.skin) * 0.75, 0, 1))
    return app, style


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """Key light from the camera's hemisphere, coloured ambient, optional rim light."""
    az = rng.uniform(-math.pi * 0.6, math.pi * 0.6)
    el = rng.uniform(-0.3, 1.2)
    d = (math.sin(az) * math.cos(el), -math.sin(el), -math.cos(az) * math.cos(el))
    warm = rng.uniform(0, 1)
    col = np.array([1.0, 0.88, 0.72]) * warm + np.array([0.82, 0.9, 1.0]) * (1 - warm)
    key = rng.uniform(0.3, 1.6)
    amb = rng.uniform(0.12, 0.65)
    sky = amb * np.clip(col * rng.uniform(0.85, 1.15, 3), 0, 2)
    ground = sky * rng.uniform(0.3, 0.9) * rng.uniform(0.85, 1.15, 3)
    rim = np.zeros(3)
    rim_dir = (rng.uniform(-1, 1), rng.uniform(-1, 0.3), rng.uniform(0.3, 1.0))
    if rng.random() < 0.3:
        rim = rng.uniform(0.2, 0.8) * np.clip(rng.uniform(0.7, 1.1, 3), 0, 1)
    return Lighting(
        direction=d, color=tuple(col * key), sky=tuple(sky), ground=tuple(ground),
        rim_direction=rim_dir, rim_color=tuple(rim), exposure=float(rng.uniform(0.8, 1.35)),
    )


def sample_shape(rng: np.random.Generator, cfg: SynthConfig, head: HeadModel) -> PersonShape:
    """Identity, expression (sparse, with symmetric pairs, blinks, jaw), scale and gaze."""
    ident = np.clip(rng.standard_normal(100) * cfg.identity_std, -3, 3)
    names = head.expression_names
    w = np.zeros(len(names))
    emax = max(0.0, float(cfg.expression))
    if emax > 0:
        for i in rng.choice(len(names), size=min(len(names), rng.poisson(3)), replace=False):
            w[i] = rng.uniform(0, emax) ** 1.3
            other = names[i][:-1] + ("R" if names[i].endswith("L") else "L")
            if names[i][-2:] in ("_L", "_R") and rng.random() < 0.7:
                w[names.index(other)] = np.clip(w[i] + rng.normal(0, 0.1), 0, 1)
        if rng.random() < 0.3:
            w[names.index("jawOpen")] = rng.uniform(0, emax)
        if rng.random() < 0.08:
            b = rng.uniform(0.6, 1.0)
            w[names.index("eyeBlink_L")] = b
            w[names.index("eyeBlink_R")] = b
    # children .. large adults: 25 % small heads
    if rng.random() < 0.25:
        scale = rng.uniform(cfg.head_scale[0], 0.95)
    else:
        scale = np.clip(rng.normal(1.0, 0.04), 0.9, cfg.head_scale[1])
    scale = float(np.clip(scale, *cfg.head_scale))
    g = math.radians(cfg.gaze)
    gh, gv = rng.uniform(-g, g), rng.uniform(-0.7 * g, 0.7 * g)
    if g > 0 and emax > 0:  # eyelids follow the gaze (the lid blendshapes do not move eyeballs)
        down, up = max(gv, 0) / g, max(-gv, 0) / g
        for side in ("L", "R"):
            w[names.index(f"eyeLookDown_{side}")] = max(w[names.index(f"eyeLookDown_{side}")],
                                                        0.8 * down)
            w[names.index(f"eyeLookUp_{side}")] = max(w[names.index(f"eyeLookUp_{side}")],
                                                      0.6 * up)
    return PersonShape(identity=ident, expression=np.clip(w, 0, 1), scale=scale, gaze=(gh, gv))


def sample_pose(rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    """R (3, 3) from yaw/pitch/roll (``geometry.euler_ypr_to_rotation``, TRG convention)."""
    ang = []
    for lo, hi in (cfg.yaw, cfg.pitch, cfg.roll):
        if rng.random() < cfg.uniform_pose:
            a = rng.uniform(lo, hi)
        else:
            c, s = (lo + hi) / 2, (hi - lo) / 5
            a = float(np.clip(rng.normal(c, s), lo, hi))
        ang.append(math.radians(a))
    return euler_ypr_to_rotation(*ang)


def sample_camera(rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, int, int]:
    """K (3, 3), W, H: image size from the list, focal from hfov or focal range, offset pp."""
    w, h = cfg.image_sizes[rng.integers(len(cfg.image_sizes))]
    if cfg.focal is not None:
        fx = rng.uniform(*cfg.focal)
    else:
        fov = math.radians(rng.uniform(*cfg.hfov))
        fx = (w / 2) / math.tan(fov / 2)
    fy = fx * (1 + rng.normal(0, 0.003))
    cx, cy = image_centre(w, h)
    cx += rng.uniform(-cfg.pp_offset, cfg.pp_offset) * w
    cy += rng.uniform(-cfg.pp_offset, cfg.pp_offset) * h
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])  # noqa: N806
    return K, int(w), int(h)


def place_face(
    rng: np.random.Generator, K: np.ndarray, w: int, h: int, R: np.ndarray,  # noqa: N803
    z: float, centre_head: np.ndarray, scale: float, avoid: list[tuple[float, float, float]],
) -> np.ndarray:
    """T so that the face centre lands at a random in-frame pixel at depth ``z``.

    The face centre (head frame ``centre_head``) is placed at pixel (u, v) sampled so that a
    disc of the face's projected radius stays (mostly) inside the image, then back-projected:
    ``T = z K^-1 [u, v, 1] - R c``. ``avoid`` holds (u, v, r) discs of other faces.
    """
    f = math.sqrt(K[0, 0] * K[1, 1])
    r = f * FACE_RADIUS_M * scale / z
    u = v = 0.0
    for _ in range(20):
        mx, my = min(0.8 * r, w / 2), min(0.8 * r, h / 2)
        u, v = rng.uniform(mx, w - mx), rng.uniform(my, h - my)
        if all(math.hypot(u - a, v - b) > 0.9 * (r + ra) for a, b, ra in avoid):
            break
    ray = np.linalg.solve(K, np.array([u, v, 1.0]))
    return z * ray - R @ centre_head


# --------------------------------------------------------------------------- labels


def landmark_visibility(
    uv: np.ndarray, z: np.ndarray, depth: np.ndarray, focal: float,
    occluder: np.ndarray | None = None, tol: float = 0.005,
) -> np.ndarray:
    """Visibility (N,) of surface points at pixels ``uv`` (N, 2) with camera depths ``z`` (N,).

    With ``t = max(tol, 2.5 z / focal)`` (a surface may tilt within a pixel), a point is visible
    when it is inside the image, the rendered depth at its nearest pixel is not in front of it by
    more than ``t``, and either that pixel is background (a point on the silhouette) or some
    pixel of its 3x3 neighbourhood shows a surface within ``2 t`` of it (its own surface: this
    rejects points on back-facing, culled surfaces that only show what lies behind them, and
    keeps points on the rim of an opening, e.g. an eyelid margin in front of the eyeball). A 2D
    occluder mask >= 0.5 at the pixel hides it too.
    """
    h, w = depth.shape
    ix = np.round(uv[:, 0]).astype(int)
    iy = np.round(uv[:, 1]).astype(int)
    inside = (ix >= 0) & (iy >= 0) & (ix < w) & (iy < h)
    ixc, iyc = np.clip(ix, 0, w - 1), np.clip(iy, 0, h - 1)
    t = np.maximum(tol, 2.5 * z / focal)
    d = depth[iyc, ixc]
    near = np.zeros(len(z), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            dn = depth[np.clip(iyc + dy, 0, h - 1), np.clip(ixc + dx, 0, w - 1)]
            near |= np.abs(dn - z) <= 2 * t
    vis = inside & (d >= z - t) & (near | np.isinf(d))
    if occluder is not None:
        vis &= occluder[iyc, ixc] < 0.5
    return vis


# --------------------------------------------------------------------------- generator


class SyntheticFaceGenerator:
    """``generate(index)`` -> one labelled frame (see module docstring)."""

    def __init__(self, config: SynthConfig | None = None, data_root=None, head=None) -> None:
        self.config = config or SynthConfig()
        self.data_root = data_root
        self._head: HeadModel | None = head
        self._renderer: Renderer | None = None
        self._pid = None
        self.last_timings: dict[str, float] = {}

    @property
    def head(self) -> HeadModel:
        if self._head is None:
            self._head = HeadModel(self.data_root)
        return self._head

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None or self._pid != os.getpid():
            self._renderer = Renderer(self.head, samples=self.config.samples,
                                      gpu_geometry=self.config.gpu_geometry)
            self._pid = os.getpid()
        return self._renderer

    def rng(self, index: int) -> np.random.Generator:
        """Per-sample generator: SeedSequence of (seed, index), independent of worker layout."""
        return np.random.default_rng([int(self.config.seed) & 0xFFFFFFFF, int(index)])

    def generate(self, index: int, return_depth: bool = False) -> dict:
        """One frame (see module docstring). ``last_timings`` gets the seconds per stage."""
        t0, c0 = time.perf_counter(), time.thread_time()
        cfg = self.config
        rng = self.rng(index)
        head = self.head
        renderer = self.renderer  # created lazily in this process (first call: in "scene")
        gpu = renderer.gpu_geometry
        K, w, h = sample_camera(rng, cfg)  # noqa: N806
        centre = head.dense_neutral().mean(axis=0)
        n_persons = 1
        if cfg.max_persons > 1 and rng.random() < cfg.multi_person:
            n_persons = int(rng.integers(2, cfg.max_persons + 1))
        persons, discs = [], []
        lo, hi = math.log(cfg.distance[0]), math.log(cfg.distance[1])
        for _ in range(n_persons):
            shape = sample_shape(rng, cfg, head)
            app, hair = sample_appearance(rng)
            shape.hair = hair
            R = sample_pose(rng, cfg)  # noqa: N806
            z = math.exp(rng.uniform(lo, hi))
            T = place_face(rng, K, w, h, R, z, centre * shape.scale, shape.scale, discs)  # noqa: N806
            if gpu:  # labels from a few vertices; the render mesh is built on the GPU
                dense, gparams = head.build_labels(shape)
                verts = hair_f = None
            else:
                verts, hair_f, dense = head.build(shape)
                gparams = None
            # torso turns with a fraction of the head rotation; the neck takes the rest
            ypr = rotation_to_euler_ypr(R)
            R_torso = euler_ypr_to_rotation(*(ypr * rng.uniform(0.2, 0.7, 3)))  # noqa: N806
            torso = head.torso(R_torso.T @ R, shape.scale, width=rng.uniform(0.17, 0.23),
                               depth=rng.uniform(0.09, 0.13), drop=rng.uniform(-0.01, 0.02))
            long_hair = rng.random() < 0.35 and not hair.hat and hair.thickness > 0
            length = rng.uniform(0.08, 0.35) if long_hair else 0.0
            extras = np.concatenate(
                [torso, head.long_hair(length, rng.uniform(0.0, 0.03), shape.scale)])
            cam = dense @ R.T + T
            uv = cam[:, :2] / cam[:, 2:3] @ K[:2, :2].T + K[:2, 2]
            discs.append((float(uv[:, 0].mean()), float(uv[:, 1].mean()),
                          math.sqrt(K[0, 0] * K[1, 1]) * FACE_RADIUS_M * shape.scale / z))
            persons.append(dict(shape=shape, app=app, R=R, T=T, verts=verts, hair=hair_f,
                                extras=extras, gpu=gparams, dense=dense, cam=cam, uv=uv))
        lighting = sample_lighting(rng)
        primary = persons[0]
        lm_full = primary["uv"][head.landmark_ids]

        # ---- camera of the rendered image: full frame or the training crop
        if cfg.crop_mode:
            box = crop_box_from_landmarks(lm_full, float(rng.uniform(*cfg.crop_scale)))
            box[:2] += rng.uniform(-cfg.crop_shift, cfg.crop_shift, 2) * box[2]
            # true resolution of the face in the camera: a small face is rendered at 2x its
            # pixel size (anti-aliasing), reduced to it, then enlarged like a real crop
            side = int(np.clip(round(box[2]), 16, cfg.crop_size))
            rw = rh = min(cfg.crop_size, 2 * side)
            K_r = crop_intrinsics(K, box, rw)  # noqa: N806
        else:
            box = None
            K_r, rw, rh = K, w, h  # noqa: N806
        bg = textures.background(rng, rw, rh)
        rps = [RenderPerson(p["verts"], p["hair"], p["R"], p["T"], p["app"], p["extras"],
                            gpu=p["gpu"]) for p in persons]
        t1, c1 = time.perf_counter(), time.thread_time()
        rgb, depth, cov = renderer.render(K_r, rw, rh, rps, lighting, bg)
        t2, c2 = time.perf_counter(), time.thread_time()

        # ---- visibility from the depth buffer (self-occlusion and other heads)
        f_r = math.sqrt(K_r[0, 0] * K_r[1, 1])
        occl = np.zeros((rh, rw), np.float32)
        for p in persons:
            cam_lm = p["cam"][head.landmark_ids]
            uv_r = cam_lm[:, :2] / cam_lm[:, 2:3] @ K_r[:2, :2].T + K_r[:2, 2]
            p["uv_r"] = uv_r
        # 2D occluders on the primary face (drawn in the rendered image)
        if rng.random() < cfg.occlusion:
            uv_r = primary["uv_r"]
            fb = box_from_landmarks(uv_r)
            kind = rng.choice(4, p=[0.35, 0.3, 0.2, 0.15])
            if kind == 0:
                occl = textures.draw_hand(rng, rgb, fb, np.asarray(primary["app"].skin))
            elif kind == 1:
                occl = textures.draw_glasses(rng, rgb, uv_r)
            elif kind == 2:
                occl = textures.draw_mask(rng, rgb, uv_r)
            else:
                occl = textures.draw_object(rng, rgb, fb)
        for p in persons:
            p["visible"] = landmark_visibility(
                p["uv_r"], p["cam"][head.landmark_ids, 2], depth, f_r, occl)
            if cfg.crop_mode:  # a landmark outside the crop may still be inside the frame
                u, v = p["uv"][head.landmark_ids].T
                p["visible"] &= (u >= -0.5) & (v >= -0.5) & (u <= w - 0.5) & (v <= h - 0.5)

        if cfg.crop_mode:  # outside the full frame a real crop has no content: zero it
            a = rw / box[2]
            x0 = int(np.clip(np.ceil(a * (-0.5 - box[0]) + rw / 2 - 0.5), 0, rw))
            x1 = int(np.clip(np.floor(a * (w - 0.5 - box[0]) + rw / 2 - 0.5) + 1, 0, rw))
            y0 = int(np.clip(np.ceil(a * (-0.5 - box[1]) + rh / 2 - 0.5), 0, rh))
            y1 = int(np.clip(np.floor(a * (h - 0.5 - box[1]) + rh / 2 - 0.5) + 1, 0, rh))
            if (x0, y0, x1, y1) != (0, 0, rw, rh):
                keep = np.zeros((rh, rw), bool)
                keep[y0:y1, x0:x1] = True
                rgb[~keep] = 0

        # ---- camera effects, resize of small crops to the training size
        strength = cfg.effects
        if cfg.crop_mode and side < rw:
            rgb = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
        elif rng.random() < 0.8:  # no supersampling: soften aliased edges like a real lens
            rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.3, 0.7))
        if cfg.crop_mode and rgb.shape[0] != cfg.crop_size:
            rgb = cv2.resize(rgb, (cfg.crop_size, cfg.crop_size), interpolation=cv2.INTER_LINEAR)
        if strength > 0:
            rgb = textures.camera_effects(rng, rgb, strength)
        image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

        labels = []
        for j, p in enumerate(persons):
            if j > 0 and p["visible"].sum() < MIN_VISIBLE_SECONDARY:
                continue  # a hidden / out-of-frame extra person is rendered but not labelled
            uv = p["uv"]
            labels.append(dict(
                R=p["R"].copy(), T=p["T"].copy(), vertices=p["dense"].copy(),
                landmarks68=uv[head.landmark_ids].copy(),
                landmarks68_visible=p["visible"].copy(),
                bbox=box_from_landmarks(uv),
            ))
        out = dict(
            image=image, K=K, image_size=np.array([w, h]), index=int(index), persons=labels,
            **labels[0],
        )
        if cfg.crop_mode:
            K_c = crop_intrinsics(K, box, cfg.crop_size)  # noqa: N806
            lm_c = primary["cam"][head.landmark_ids]
            out.update(K_crop=K_c, box=box,
                       landmarks68_crop=lm_c[:, :2] / lm_c[:, 2:3] @ K_c[:2, :2].T + K_c[:2, 2])
        if return_depth:
            out.update(depth=depth, coverage=cov, render_K=K_r)
        # wall seconds per stage, and CPU seconds of this thread for the CPU-only stages
        self.last_timings = dict(scene=t1 - t0, render=t2 - t1, post=time.perf_counter() - t2,
                                 scene_cpu=c1 - c0, post_cpu=time.thread_time() - c2)
        return out


class SyntheticFaceStream:
    """Iterable of ``generate(i)`` for ``i in [start, start + count)`` (infinite if count None).

    Indices are split over data-loader workers (``torch.utils.data.get_worker_info`` when torch
    is already imported, or an explicit ``worker=(id, num)``); each worker creates its own GL
    context lazily after fork. Every sample depends only on ``(config.seed, i)``.
    """

    def __init__(self, config: SynthConfig, start: int = 0, count: int | None = None,
                 data_root=None, worker: tuple[int, int] | None = None) -> None:
        self.generator = SyntheticFaceGenerator(config, data_root)
        self.start, self.count, self.worker = start, count, worker

    def _worker(self) -> tuple[int, int]:
        if self.worker is not None:
            return self.worker
        torch = sys.modules.get("torch")
        if torch is not None:
            info = torch.utils.data.get_worker_info()
            if info is not None:
                return info.id, info.num_workers
        return 0, 1

    def __iter__(self):
        wid, nw = self._worker()
        i = self.start + wid
        end = None if self.count is None else self.start + self.count
        while end is None or i < end:
            yield self.generator.generate(i)
            i += nw

    def __len__(self) -> int:
        if self.count is None:
            raise TypeError("infinite stream")
        return self.count
