# ruff: noqa: N803, N806  (R, T, K, V: the notation of geometry.py)
"""Out-of-plane rotation synthesis from the real faces (300W-LP style, issue 21 item 1).

``python -m head_pose_ros.data.rotate_real --crops ../shared/data/real/aflw_crops
--labels outputs/train_data/aflw_pseudo.npz --out outputs/train_data/aflw_rotated
--per-face 1 [--limit N] [--workers 2] [--sheet docs/results/rotated_real_sheet.jpg]``
(``--sheet-only`` redraws the contact sheet of an existing ``--out``). About 135-215 faces/s
with 2 workers on llvmpipe (the 9,285 training faces of the current label file in 43 s), so
there is no resume: rerun it.

Sources: the teacher fits (``status`` 1) of :mod:`head_pose_ros.teacher.pseudolabel` with a
quality weight >= ``--min-weight``, of the TRAINING split only: a crop with
:func:`head_pose_ros.data.aflw_crops.is_held_out` is never read. Each is re-rendered
``--per-face`` times (:func:`rotate_face`, scene of :mod:`.rotate_mesh`) at

    R' = Rz(roll) Rx(pitch + dp) Ry(yaw + dy)     (trg Euler angles of the fit's R, radians)

with the sign of ``dy`` away from frontal with probability ``P_OUTWARD`` (faces within
``FRONTAL_DEG``: either way), ``|dy|`` uniform in ``YAW_DELTA_DEG`` cut to keep
``|yaw'| <= MAX_YAW_DEG`` (the other sign where that leaves no room), and ``dp`` uniform in
``+-PITCH_DELTA_DEG`` (clipped to ``|pitch'| <= MAX_PITCH_DEG``). In the camera that is
``R' = R_d R`` with ``R_d = R' R^T``: the head turns about its own origin, T stays. Labels
are exact relative to the fit: the image is the fitted mesh (vertices, K, T of the label file)
drawn at ``R'``.
Camera frame, metres, ``X_cam = R X_head + T`` (docs/CONVENTIONS.md).

What the photo never saw: face vertices the photo saw badly (self-occluded or at a grazing
angle) take the texture of their mirror vertex on the other half of the face, blended per pixel
by visibility; hair, ears and background come from a band mesh around the face whose depth
recedes from the face contour to behind the head, rotating with the head near the face and
blending into the unmoved photo further out (stretching instead of holes).

Output (``--out``; a ``synth_npz`` directory for :class:`..data.synthetic.SynthNpzDataset`):
``images/<stem>_r<k>.jpg`` (the crop size, same virtual K) + ``labels.npz`` with the keys of
:mod:`head_pose_ros.data.cache` (``files, image_size, K, R, T, vertices, landmarks68,
landmarks68_visible, bbox``) and ``loss_mask`` (N, 6) in ``data.crop.LOSS_TERMS`` order =
``aflw_crops.TEACHER_LOSS_MASK`` x the fit's weight (``cam`` 0: the camera is virtual, metric
translation is no label), ``source`` (crop name), ``yaw_delta_deg``, ``pitch_delta_deg``,
``R_source`` (the fit's R), ``landmarks68_source`` (the fit's landmarks in the crop) and
``weight``. The set stays out of the repository.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from head_pose_ros import geometry as geo
from head_pose_ros.synth.rotate_mesh import (
    FaceMeshParts,
    Layer,
    TexturedRenderer,
    background_mesh,
    face_mesh_parts,
    mirror_mix,
    rotate_about,
    visibility,
)
from head_pose_ros.topology import FaceTopology

YAW_DELTA_DEG = (15.0, 75.0)
P_OUTWARD = 0.7
"""Share of turns away from frontal (as 300W-LP, which only turns outwards); the others turn
towards and past frontal, where the mirror fill shows. Faces within ``FRONTAL_DEG`` of frontal
turn either way with equal odds."""
FRONTAL_DEG = 10.0
PITCH_DELTA_DEG = 15.0
MAX_YAW_DEG = 90.0
MAX_PITCH_DEG = 50.0
MIN_WEIGHT = 0.6
"""Quality weight of a fit (pseudolabel.quality_weight) below which it is not re-rendered: 0.61 =
hand-landmark residual of one QUALITY_SIGMA (0.05 x face size)."""
SUPERSAMPLE = 2
"""Render at this multiple of the crop's resolution, then area-average down (anti-aliasing)."""
LANDMARK_FACING = (-0.02, 0.02)
"""``landmarks68_visible``: facing the camera (cos > 0), not behind the face, inside the image
(as the synthetic engine's labels)."""


def select_sources(lab: dict[str, np.ndarray], min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """Indices of the label file's training-split teacher fits with weight >= ``min_weight``."""
    from head_pose_ros.data.aflw_crops import is_held_out

    names = [str(s) for s in lab["names"]]
    ok = (np.asarray(lab["status"]) == 1) & (np.asarray(lab["weight"]) >= min_weight)
    ok &= np.all(np.isfinite(lab["R"].reshape(len(names), -1)), axis=1)
    ok &= np.array([not is_held_out(n) for n in names])
    return np.nonzero(ok)[0]


def sample_target(rng: np.random.Generator, R: np.ndarray) -> tuple[np.ndarray, float, float]:
    """New rotation ``R'`` for a fit ``R`` (see module doc) -> (R', yaw delta, pitch delta),
    deltas in degrees."""
    yaw, pitch, roll = geo.rotation_to_euler_ypr(R, "trg")
    y = float(np.degrees(yaw))
    lo, hi = YAW_DELTA_DEG
    if abs(y) >= FRONTAL_DEG:
        sign = float(np.sign(y)) * (1.0 if rng.random() < P_OUTWARD else -1.0)
    else:
        sign = 1.0 if rng.random() < 0.5 else -1.0
    if MAX_YAW_DEG - sign * y < lo:  # no room on that side
        sign = -sign
    dy = sign * float(rng.uniform(lo, max(lo, min(hi, MAX_YAW_DEG - sign * y))))
    p = np.clip(np.degrees(pitch) + rng.uniform(-PITCH_DELTA_DEG, PITCH_DELTA_DEG),
                -MAX_PITCH_DEG, MAX_PITCH_DEG)
    dp = float(p - np.degrees(pitch))
    R_new = geo.euler_ypr_to_rotation(float(yaw) + np.radians(dy), float(np.radians(p)),
                                      float(roll), "trg")
    return R_new, float(dy), dp


def rotate_face(renderer: TexturedRenderer, parts: FaceMeshParts, landmark_ids: np.ndarray,
                photo_rgb: np.ndarray, K: np.ndarray, R: np.ndarray, T: np.ndarray,
                V: np.ndarray, R_new: np.ndarray, ss: int = SUPERSAMPLE) -> dict[str, Any]:
    """Re-render the face ``V`` (head frame, m) fitted at ``(R, T)`` in ``photo_rgb`` (seen by
    ``K``) at ``(R_new, T)``, same K and size.

    Returns ``image`` (H, W, 3) uint8 RGB, ``face_mask`` (H, W) float coverage of the face mesh,
    ``landmarks68`` (68, 2) pixels projected from ``R_new, T, V, K`` (the labels),
    ``landmarks68_visible`` (68,) (facing the camera and not hidden by the face itself),
    ``mirror_mix`` (per closed-mesh vertex: share of the mirror texture).
    """
    H, W = photo_rgb.shape[:2]
    K = np.asarray(K, np.float64)
    T = np.asarray(T, np.float64)
    Vx = parts.with_hole_centres(V)
    X0 = geo.transform_points(Vx, R, T)
    uv0 = geo.project_points(X0, K)
    _, m0, z0 = renderer.render(photo_rgb, K, ss, Layer(X0, uv0, parts.triangles))
    mix = mirror_mix(visibility(X0, parts, z0, K, ss), parts.mirror)
    size = float(np.max(np.ptp(uv0[landmark_ids], axis=0)))
    bg = background_mesh(m0, z0, ss, K, T, size, W, H)
    X1 = geo.transform_points(Vx, R_new, T)
    B1 = rotate_about(bg.X, T, np.asarray(R_new) @ np.asarray(R).T, bg.weight)
    face = Layer(X1, uv0, parts.triangles, uv0[parts.mirror], mix)
    rgb, m1, z1 = renderer.render(photo_rgb, K, ss, face, Layer(B1, bg.uv, bg.triangles))
    area = cv2.INTER_AREA
    lm = geo.project_points(X1[landmark_ids], K)
    seen = visibility(X1, parts, z1, K, ss, LANDMARK_FACING)[landmark_ids] > 0.5
    seen &= np.all((lm >= -0.5) & (lm <= np.array([W, H]) - 0.5), axis=1)
    return {"image": cv2.resize(rgb, (W, H), interpolation=area),
            "face_mask": cv2.resize(m1, (W, H), interpolation=area),
            "landmarks68": lm, "landmarks68_visible": seen, "mirror_mix": mix}


# ----------------------------------------------------------------------------- the command
_CTX: dict[str, Any] = {}
"""Per-process state: set in the parent before forking (no GL there), the renderer lazily."""


def _setup(crops: Path, labels: dict[str, np.ndarray], topology: FaceTopology, out: Path,
           seed: int, quality: int) -> None:
    from head_pose_ros.data.aflw_crops import TEACHER_LOSS_MASK
    from head_pose_ros.data.base import topology_mirror_permutation

    _CTX.update(crops=crops, lab=labels, out=out, seed=seed, quality=quality,
                lm_ids=topology.landmarks68, mask=np.asarray(TEACHER_LOSS_MASK, np.float64),
                parts=face_mesh_parts(topology, topology_mirror_permutation(topology)))


def _renderer() -> TexturedRenderer:
    if "renderer" not in _CTX:
        _CTX["renderer"] = TexturedRenderer()
    return _CTX["renderer"]


def _job(job: tuple[int, int]) -> dict[str, Any] | None:
    i, k = job
    c, lab = _CTX, _CTX["lab"]
    name = str(lab["names"][i])
    bgr = cv2.imread(str(c["crops"] / "images" / name), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    rng = np.random.default_rng((zlib.crc32(name.encode()), k, c["seed"]))
    R, T = np.asarray(lab["R"][i], np.float64), np.asarray(lab["T"][i], np.float64)
    K = np.asarray(lab["K"], np.float64)
    V = lab["basis_mean"] + np.tensordot(lab["coeffs"][i], lab["basis_modes"], axes=1)
    R_new, dy, dp = sample_target(rng, R)
    try:
        r = rotate_face(_renderer(), c["parts"], c["lm_ids"], bgr[..., ::-1].copy(), K, R, T,
                        V, R_new)
    except ValueError:  # face outside the crop
        return None
    fname = f"{Path(name).stem}_r{k}.jpg"
    cv2.imwrite(str(c["out"] / "images" / fname), r["image"][..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, c["quality"]])
    lm = r["landmarks68"]
    lm0 = geo.project_points(geo.transform_points(V[c["lm_ids"]], R, T), K)
    h, w = bgr.shape[:2]
    q = float(lab["weight"][i])
    return {"files": fname, "image_size": np.array([w, h]), "K": K, "R": R_new, "T": T,
            "vertices": V.astype(np.float32), "landmarks68": lm.astype(np.float32),
            "landmarks68_visible": r["landmarks68_visible"],
            "bbox": np.r_[lm.min(0), lm.max(0)].astype(np.float32),
            "loss_mask": (c["mask"] * q).astype(np.float32), "source": name,
            "yaw_delta_deg": np.float32(dy), "pitch_delta_deg": np.float32(dp),
            "R_source": R, "landmarks68_source": lm0.astype(np.float32),
            "weight": np.float32(q)}


def load_labels(path: str | Path) -> dict[str, np.ndarray]:
    keys = ("names", "status", "weight", "R", "T", "K", "coeffs", "basis_mean", "basis_modes")
    with np.load(path) as z:
        return {k: z[k] for k in keys}


def build(crops: str | Path, labels: str | Path, out: str | Path, *, per_face: int = 1,
          limit: int = 0, workers: int = 1, seed: int = 0, min_weight: float = MIN_WEIGHT,
          quality: int = 95, topology: FaceTopology | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Render the set (see module doc); returns a summary. ``topology``: default ARKit 1220."""
    from tqdm import tqdm

    from head_pose_ros.data.aflw_crops import is_held_out

    if topology is None:
        from head_pose_ros.topology import load_arkit1220

        topology = load_arkit1220()
    crops, out = Path(crops), Path(out)
    lab = load_labels(labels)
    if lab["basis_mean"].shape[0] != topology.num_vertices:
        raise ValueError("the label file was fitted on another topology")
    idx = select_sources(lab, min_weight)
    if limit:
        idx = idx[:limit]
    (out / "images").mkdir(parents=True, exist_ok=True)
    _setup(crops, lab, topology, out, seed, quality)
    jobs = [(int(i), k) for i in idx for k in range(per_face)]
    t0 = time.perf_counter()
    bar = dict(total=len(jobs), disable=not progress, desc="rotate", mininterval=2.0)
    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            rows = list(tqdm(pool.imap(_job, jobs, chunksize=16), **bar))
    else:
        rows = [_job(j) for j in tqdm(jobs, **bar)]
        if "renderer" in _CTX:
            _CTX.pop("renderer").release()
    kept = [r for r in rows if r is not None]
    if not kept:
        raise RuntimeError("no face could be re-rendered")
    arrays = {k: np.stack([np.asarray(r[k]) for r in kept]) for k in kept[0]}
    tmp = out / "labels.tmp.npz"
    np.savez(tmp, **arrays)
    tmp.replace(out / "labels.npz")
    return {"sources": len(idx), "rendered": len(kept), "failed": len(rows) - len(kept),
            "seconds": time.perf_counter() - t0, "workers": workers,
            "held_out_skipped": int(sum(is_held_out(str(n)) for n in lab["names"]))}


def draw_landmarks(img_bgr: np.ndarray, lm: np.ndarray, visible: np.ndarray | None,
                   scale: float) -> None:
    """Landmarks on a BGR tile in place: green = visible, red = hidden."""
    vis = np.ones(len(lm), bool) if visible is None else np.asarray(visible, bool)
    for (u, v), ok in zip((lm + 0.5) * scale - 0.5, vis, strict=True):
        cv2.circle(img_bgr, (int(round(u)), int(round(v))), 2, (0, 230, 0) if ok else
                   (0, 0, 255), -1, cv2.LINE_AA)


def make_sheet(out: str | Path, crops: str | Path, path: str | Path, count: int = 12,
               tile: int = 144, columns: int = 4, seed: int = 0, quality: int = 85,
               rows: np.ndarray | None = None) -> Path:
    """Contact sheet of ``count`` examples of a rendered set (spread over the yaw deltas, or the
    given ``rows``): each the original crop with the fit's landmarks beside its re-render with
    the labelled landmarks (green visible, red hidden) and the yaw delta."""
    out, crops = Path(out), Path(crops)
    with np.load(out / "labels.npz") as z:
        L = {k: z[k] for k in ("files", "source", "landmarks68", "landmarks68_visible",
                               "landmarks68_source", "yaw_delta_deg")}
    order = np.argsort(L["yaw_delta_deg"])
    pick = order[np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)]
    pick = np.random.default_rng(seed).permutation(pick) if rows is None else np.asarray(rows)
    tiles = []
    for i in pick:
        pair = []
        for img_path, lm, vis in (
                (crops / "images" / str(L["source"][i]), L["landmarks68_source"][i], None),
                (out / "images" / str(L["files"][i]), L["landmarks68"][i],
                 L["landmarks68_visible"][i])):
            img = cv2.imread(str(img_path))
            s = tile / max(img.shape[:2])
            img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_CUBIC)
            draw_landmarks(img, lm, vis, s)
            pair.append(img)
        for col, th in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined: readable anywhere
            cv2.putText(pair[1], f"yaw {L['yaw_delta_deg'][i]:+.0f} deg", (4, tile - 6),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, col, th, cv2.LINE_AA)
        tiles.append(np.concatenate([pair[0], pair[1], np.zeros((tile, 4, 3), np.uint8)], 1))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    lines = [np.concatenate(tiles[r:r + columns], 1) for r in range(0, len(tiles), columns)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(lines, 0), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.topology import default_shared_data

    sd = default_shared_data()
    ap = argparse.ArgumentParser(prog="python -m head_pose_ros.data.rotate_real",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--crops", default=str(sd / "real" / "aflw_crops"))
    ap.add_argument("--labels", required=True, help="pseudo-label file (teacher.pseudolabel)")
    ap.add_argument("--out", required=True, help="output directory, outside the repo")
    ap.add_argument("--per-face", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N usable faces only")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-weight", type=float, default=MIN_WEIGHT)
    ap.add_argument("--quality", type=int, default=95, help="JPEG quality")
    ap.add_argument("--sheet", default="", help="also write a contact sheet (JPEG) here")
    ap.add_argument("--sheet-only", action="store_true", help="only (re)draw --sheet")
    a = ap.parse_args(argv)
    if not a.sheet_only:
        s = build(a.crops, a.labels, a.out, per_face=a.per_face, limit=a.limit,
                  workers=a.workers, seed=a.seed, min_weight=a.min_weight, quality=a.quality)
        print(f"[rotate_real] {s['rendered']} re-renders of {s['sources']} training faces "
              f"({s['failed']} failed, {s['held_out_skipped']} held-out crops not used) in "
              f"{s['seconds']:.0f} s with {s['workers']} worker(s) -> {a.out}")
    if a.sheet:
        print(f"[rotate_real] sheet {make_sheet(a.out, a.crops, a.sheet)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
