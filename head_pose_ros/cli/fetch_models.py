"""``head-pose-fetch-models``: download the face detector model into the user cache.

Usage: ``head-pose-fetch-models [--url URL] [--dir DIR] [--force] [--check]``
(also ``python3 -m head_pose_ros.cli.fetch_models``: in a colcon workspace, where setup.py's
console scripts are not installed). Downloads ``face_detection_yunet_2023mar.onnx`` from the
OpenCV zoo into ``~/.cache/head_pose_ros/models`` (:func:`head_pose_ros.model_files.model_dir`),
checks its sha256 and says what it did; the node then uses YuNet without any parameter.
``--url`` downloads from elsewhere (``file:///path/to/copy.onnx`` for an offline machine); the
file must still have the pinned sha256. ``--check`` downloads nothing: exit status 0 when the
cache holds a good copy, 1 otherwise. Exit status 1 on any failure, with one line on stderr.
"""

from __future__ import annotations

import argparse
import sys

from head_pose_ros.model_files import MODEL_FILES, FetchError, cached_model, fetch, model_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="head-pose-fetch-models", description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="download from this address instead of the official one "
                    "(http(s):// or file://); the sha256 must still match")
    ap.add_argument("--dir", help=f"cache folder (default {model_dir()})")
    ap.add_argument("--force", action="store_true", help="download even when a good copy exists")
    ap.add_argument("--check", action="store_true", help="only say whether the cache is complete")
    ap.add_argument("--timeout", type=float, default=60.0, help="network timeout (s)")
    args = ap.parse_args(argv)
    rc = 0
    for key, m in MODEL_FILES.items():
        if args.check:
            path = cached_model(key, args.dir)
            if path is None:
                where = (model_dir() if args.dir is None else args.dir)
                print(f"{key}: missing or damaged in {where} (run head-pose-fetch-models)",
                      file=sys.stderr)
                rc = 1
            else:
                print(f"{key}: ok {path}")
            continue
        try:
            res = fetch(key, url=args.url, directory=args.dir, force=args.force,
                        timeout=args.timeout)
        except FetchError as exc:
            print(f"head-pose-fetch-models: {exc}", file=sys.stderr)
            rc = 1
            continue
        print(res.message())
        print(f"  {m.filename}: {m.licence}; the node finds it there (detector 'auto')")
    return rc


if __name__ == "__main__":
    sys.exit(main())
