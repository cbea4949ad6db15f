"""Contact sheet of random synthetic samples: ``head-pose-sheet --out sheet.png``.

Each tile shows the image (letterboxed to a square), the 68 landmarks (green = visible, red =
hidden) and the head axes projected with K, R, T (x red, y green, z blue, 8 cm long, drawn from
the head-frame origin). Secondary persons get their landmarks too (smaller dots).
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from ..geometry import project_points
from .sampler import PRESETS, SyntheticFaceGenerator, preset

AXIS_LEN = 0.08


def draw_labels(img: np.ndarray, K: np.ndarray, person: dict, scale: float = 1.0,  # noqa: N803
                primary: bool = True) -> None:
    """Draw landmarks (visible green / hidden red) and head axes on a BGR image in place."""
    lw = max(1, int(round(2 * scale)))
    R, T = person["R"], person["T"]  # noqa: N806
    pts = np.array([[0, 0, 0], [AXIS_LEN, 0, 0], [0, AXIS_LEN, 0], [0, 0, AXIS_LEN]], float)
    cam = pts @ R.T + T
    if np.all(cam[:, 2] > 0.01):
        uv = project_points(cam, K) * scale
        o = tuple(int(round(c)) for c in uv[0])
        for k, col in ((1, (0, 0, 255)), (2, (0, 255, 0)), (3, (255, 0, 0))):
            cv2.line(img, o, tuple(int(round(c)) for c in uv[k]), col, lw, cv2.LINE_AA)
    r = max(1, int(round((2.0 if primary else 1.2) * scale)))
    for (u, v), vis in zip(person["landmarks68"] * scale, person["landmarks68_visible"],
                           strict=True):
        cv2.circle(img, (int(round(u)), int(round(v))), r, (0, 255, 0) if vis else (0, 0, 255),
                   -1, cv2.LINE_AA)


def tile(sample: dict, size: int = 320, landmark_ids: np.ndarray | None = None) -> np.ndarray:
    """A square tile of one sample with labels drawn (crop mode needs ``landmark_ids``)."""
    img = sample["image"]
    h, w = img.shape[:2]
    persons = sample["persons"]
    K = sample["K"]  # noqa: N806
    if "K_crop" in sample:  # crop mode: re-project the labels with the crop intrinsics
        K = sample["K_crop"]  # noqa: N806
        persons = [
            dict(p, landmarks68=project_points(p["vertices"][landmark_ids] @ p["R"].T + p["T"], K))
            for p in persons
        ]
    s = size / max(h, w)
    out = np.zeros((size, size, 3), np.uint8)
    canvas = cv2.resize(img, (max(1, int(round(w * s))), max(1, int(round(h * s)))),
                        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    for i, p in enumerate(persons):
        draw_labels(canvas, K, p, scale=s, primary=i == 0)
    out[: canvas.shape[0], : canvas.shape[1]] = canvas
    return out


def make_sheet(gen: SyntheticFaceGenerator, count: int = 16, start: int = 0,
               tile_size: int = 320, cols: int | None = None) -> np.ndarray:
    """Render ``count`` samples and arrange them in a grid (BGR uint8)."""
    cols = cols or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    sheet = np.zeros((rows * tile_size, cols * tile_size, 3), np.uint8)
    for i in range(count):
        t = tile(gen.generate(start + i), tile_size, gen.head.landmark_ids)
        r, c = divmod(i, cols)
        sheet[r * tile_size:(r + 1) * tile_size, c * tile_size:(c + 1) * tile_size] = t
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="head-pose-sheet", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output PNG")
    ap.add_argument("--preset", default="wild", choices=sorted(PRESETS))
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tile", type=int, default=320, help="tile size in pixels")
    ap.add_argument("--crop-mode", action="store_true", help="show 192x192 training crops")
    ap.add_argument("--data-root", default=None, help="shared data root (HEAD_POSE_SHARED_DATA)")
    args = ap.parse_args(argv)
    cfg = preset(args.preset, seed=args.seed, crop_mode=args.crop_mode)
    gen = SyntheticFaceGenerator(cfg, data_root=args.data_root)
    sheet = make_sheet(gen, args.count, tile_size=args.tile)
    if not cv2.imwrite(args.out, sheet):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.count} samples, preset {args.preset}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
