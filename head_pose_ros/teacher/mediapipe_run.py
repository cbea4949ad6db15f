"""Run MediaPipe Face Landmarker once over a folder of face crops (offline teacher).

Runs in the peers venv (``.venv-peers``: mediapipe pulls its own OpenCV). For each image it
records the 478 landmarks (``x, y`` in the ORIGINAL crop's pixels, ``z`` in the same pixel
scale, MediaPipe's relative depth) and the 4x4 facial transformation matrix (MediaPipe's own
fixed virtual camera, OpenGL-like axes, cm). ``found`` is False where no face was detected.

The crop is padded by ``pad`` x its side on every side (edge-replicated) before detection:
MediaPipe's face detector misses faces that fill the whole frame. Landmarks are mapped back
to the unpadded crop. (The transform is left as MediaPipe reports it on the padded image;
only its rotation is used, which the padding does not change.)

``python -m head_pose_ros.teacher.mediapipe_run --images DIR --names-from labels.npz
--task face_landmarker.task --out teacher.npz [--limit N] [--names-key files]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def run_teacher(images: list[Path], task: str | Path, pad: float = 0.25,
                progress: bool = True) -> dict[str, np.ndarray]:
    """MediaPipe over ``images`` -> arrays ``found`` (N,), ``lm478`` (N,478,3),
    ``transform`` (N,4,4) (NaN where not found)."""
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions

    opts = FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task)),
                                 num_faces=1, output_facial_transformation_matrixes=True,
                                 min_face_detection_confidence=0.3)
    n = len(images)
    found = np.zeros(n, bool)
    lm = np.full((n, 478, 3), np.nan, np.float32)
    tf = np.full((n, 4, 4), np.nan, np.float32)
    t0 = time.time()
    with FaceLandmarker.create_from_options(opts) as det:
        for i, path in enumerate(images):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                print(f"[teacher] cannot read {path}; marked not found", file=sys.stderr)
            else:
                h, w = img.shape[:2]
                p = int(round(pad * max(h, w)))
                padded = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_REPLICATE)
                ph, pw = padded.shape[:2]
                rgb = np.ascontiguousarray(padded[:, :, ::-1])
                res = det.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
                if res.face_landmarks:
                    pts = np.array([[q.x * pw - p, q.y * ph - p, q.z * pw]
                                    for q in res.face_landmarks[0]], np.float32)
                    lm[i, : len(pts)] = pts[:478]
                    found[i] = True
                    if res.facial_transformation_matrixes:
                        tf[i] = np.asarray(res.facial_transformation_matrixes[0], np.float32)
            if progress and (i + 1) % 200 == 0 or i + 1 == n:
                el = time.time() - t0
                print(f"[teacher] {i + 1}/{n} images, {found[: i + 1].mean() * 100:.1f} % found, "
                      f"{(i + 1) / el:.1f} img/s, eta {(n - i - 1) * el / (i + 1):.0f} s",
                      file=sys.stderr, flush=True)
    return {"found": found, "lm478": lm, "transform": tf}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True, help="folder of the crops")
    ap.add_argument("--names-from", required=True, help="npz with the image names (order)")
    ap.add_argument("--names-key", default="names",
                    help="array of file names in --names-from ('files' for a synthetic cache)")
    ap.add_argument("--task", required=True, help="face_landmarker.task")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pad", type=float, default=0.25)
    ap.add_argument("--limit", type=int, default=0, help="only the first N names")
    a = ap.parse_args(argv)
    with np.load(a.names_from) as z:
        names = [str(s) for s in z[a.names_key]]
    if a.limit:
        names = names[: a.limit]
    res = run_teacher([Path(a.images) / s for s in names], a.task, pad=a.pad)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, names=np.array(names), pad=a.pad, **res)
    print(f"[teacher] wrote {out}: {int(res['found'].sum())}/{len(names)} faces found",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
