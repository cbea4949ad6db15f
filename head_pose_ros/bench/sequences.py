# ruff: noqa: N803, N806  (K, R, T: the notation of geometry.py)
"""Rendered moving-head sequences with exact labels (synthetic engine, headless GL).

Three short 640x480 sequences at 30 frames/s, each a scripted motion of one or two ICT heads
(random identity, appearance and lighting from the synthetic engine's samplers, fixed per
sequence and seed), drawn by :class:`head_pose_ros.synth.render.Renderer` over a random
background:

- ``yaw_sweep``: one head at 0.9 m turning from 0 to +-70 degrees of yaw and back (peak speed
  ~150 deg/s), a little pitch;
- ``walk_towards``: one head walking from 3.0 m to 0.7 m towards the camera, drifting sideways,
  turning 15 -> -10 degrees;
- ``crossing``: two heads at 1.1 m and 1.6 m walking past each other across the image (the
  nearer one hides the farther one for a few frames), each turned towards where it walks.

Labels per frame and person: ``R`` (3, 3), ``T`` (3,) metres with ``X_cam = R @ X_head + T``
(the training labels' convention, :mod:`head_pose_ros.synth.sampler`), ``extent`` (4,) the
68-landmark extent in pixels (x0, y0, x1, y1) and ``visible`` = number of its 68 landmarks
that are inside the image and in front of every other head (the depth buffer). ``K`` is the
exact camera. The sequences use the synthetic engine's TRAINING distribution of faces
(never a real evaluation image), so nothing fitted on them leaks evaluation data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from head_pose_ros.geometry import box_from_landmarks, euler_ypr_to_rotation

SEQUENCES: tuple[str, ...] = ("yaw_sweep", "walk_towards", "crossing")
SIZE = (640, 480)
FPS = 30.0


@dataclass
class SequenceFrame:
    """One rendered frame: ``image`` (H, W, 3) uint8 BGR and one label dict per person
    (``R``, ``T``, ``extent``, ``visible``; person order fixed over the sequence)."""

    image: np.ndarray
    persons: list[dict[str, np.ndarray | int]] = field(default_factory=list)


def camera() -> np.ndarray:
    """K of every sequence: 640x480, 62 degrees horizontal field of view, centred."""
    w, h = SIZE
    f = (w / 2) / math.tan(math.radians(62.0) / 2)
    return np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])


def trajectory(name: str, n_frames: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per frame, per person: (yaw, pitch, roll) radians and the face centre (x, y, z) in the
    camera frame (metres). Pure function of ``name`` and ``n_frames``."""
    t = np.linspace(0.0, 1.0, n_frames)
    out: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for s in t:
        if name == "yaw_sweep":
            yaw = math.radians(70.0) * math.sin(2 * math.pi * s)
            pitch = math.radians(6.0) * math.sin(4 * math.pi * s)
            out.append([(np.array([yaw, pitch, 0.0]), np.array([0.02, 0.0, 0.9]))])
        elif name == "walk_towards":
            z = 3.0 + (0.7 - 3.0) * s
            x = -0.25 + 0.35 * s
            y = 0.03 * math.sin(6 * math.pi * s)  # gait bob
            yaw = math.radians(15.0 - 25.0 * s)
            out.append([(np.array([yaw, math.radians(-5.0), 0.0]), np.array([x, y, z]))])
        elif name == "crossing":
            xa = -0.55 + 1.1 * s
            xb = 0.75 - 1.5 * s
            out.append([(np.array([math.radians(-30.0), 0.0, 0.0]), np.array([xa, 0.0, 1.1])),
                        (np.array([math.radians(35.0), math.radians(5.0), 0.0]),
                         np.array([xb, -0.03, 1.6]))])
        else:
            raise ValueError(f"unknown sequence {name!r}: one of {SEQUENCES}")
    return out


def render_sequence(name: str, n_frames: int = 90, seed: int = 0, data_root: str | None = None
                    ) -> Iterator[SequenceFrame]:
    """The frames of sequence ``name`` (rendered one by one: a generator)."""
    from head_pose_ros.synth import textures
    from head_pose_ros.synth.head import HeadModel
    from head_pose_ros.synth.render import Renderer, RenderPerson
    from head_pose_ros.synth.sampler import (
        SynthConfig,
        sample_appearance,
        sample_lighting,
        sample_shape,
    )

    rng = np.random.default_rng([int(seed), SEQUENCES.index(name) if name in SEQUENCES else 99])
    traj = trajectory(name, n_frames)
    head = HeadModel(data_root)
    renderer = Renderer(head, gpu_geometry=False)
    cfg = SynthConfig()
    K = camera()
    w, h = SIZE
    people = []
    for _ in range(len(traj[0])):
        shape = sample_shape(rng, cfg, head)
        shape.expression = shape.expression * 0.5
        app, hair = sample_appearance(rng)
        hair.hat = False
        app.hat_on = False
        shape.hair = hair
        verts, hair_f, dense = head.build(shape)
        people.append(dict(shape=shape, app=app, verts=verts, hair=hair_f, dense=dense,
                           centre=dense.mean(axis=0)))
    lighting = sample_lighting(rng)
    bg = textures.background(rng, w, h)
    lm_ids = head.landmark_ids
    try:
        for frame in traj:
            rps, labels = [], []
            for p, (ypr, c) in zip(people, frame, strict=True):
                R = euler_ypr_to_rotation(*ypr)
                T = c - R @ p["centre"]
                R_torso = euler_ypr_to_rotation(*(ypr * 0.4))
                extras = np.concatenate([head.torso(R_torso.T @ R, p["shape"].scale),
                                         head.long_hair(0.0, 0.0, p["shape"].scale)])
                rps.append(RenderPerson(p["verts"], p["hair"], R, T, p["app"], extras))
                cam = p["dense"][lm_ids] @ R.T + T
                uv = cam[:, :2] / cam[:, 2:3] @ K[:2, :2].T + K[:2, 2]
                labels.append(dict(R=R, T=T, uv=uv, z=cam[:, 2]))
            rgb, depth, _ = renderer.render(K, w, h, rps, lighting, bg)
            rgb = cv2.GaussianBlur(rgb, (0, 0), 0.5)
            persons = []
            for lab in labels:
                uv, z = lab["uv"], lab["z"]
                u = np.round(uv[:, 0]).astype(int)
                v = np.round(uv[:, 1]).astype(int)
                inside = (u >= 0) & (v >= 0) & (u < w) & (v < h)
                front = np.zeros(len(uv), bool)
                front[inside] = depth[v[inside], u[inside]] > z[inside] - 0.03
                persons.append(dict(R=lab["R"], T=lab["T"], extent=box_from_landmarks(uv),
                                    visible=int(front.sum())))
            yield SequenceFrame(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), persons)
    finally:
        renderer.release()
