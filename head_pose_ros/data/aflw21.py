"""AFLW's 21 hand-labelled landmarks on the 1220-vertex ARKit topology.

AFLW point order (``real/aflw_crops`` README; "left" = image left for a frontal face, i.e. the
subject's right) and the topology vertex each one is mapped to. ``ibug`` is the iBUG-68 index
(0-based) when the AFLW point is one of the 68 (then the vertex is ``landmarks68[ibug]``);
the others are derived from the template (``template_face_m.npy``) as stated:

====  =====================  ======  ======  =================================================
 #    AFLW point             vertex  ibug    how
====  =====================  ======  ======  =================================================
  1   brow image-left outer    200     17    iBUG 17
  2   brow image-left centre   327     19    iBUG 19
  3   brow image-left inner    348     21    iBUG 21
  4   brow image-right inner   781     22    iBUG 22
  5   brow image-right centre  762     24    iBUG 24
  6   brow image-right outer   649     26    iBUG 26
  7   eye image-left outer    1101     36    iBUG 36
  8   eye image-left centre   1108     --    vertex nearest the mean of iBUG 37, 38, 40, 41
                                             (3.7 mm away: the template's eyes are open)
  9   eye image-left inner    1193     39    iBUG 39
 10   eye image-right inner   1168     42    iBUG 42
 11   eye image-right centre  1062     --    nearest the mean of iBUG 43, 44, 46, 47
 12   eye image-right outer   1069     45    iBUG 45
 13   ear lobe image-left      930     --    APPROXIMATE: the face mesh has no ear; the most
                                             lateral vertex within 6 mm of the height of iBUG 2
                                             (the face boundary in front of the ear)
 14   nose wing image-left     308     31    iBUG 31
 15   nose tip                   8     30    iBUG 30
 16   nose wing image-right    743     35    iBUG 35
 17   ear lobe image-right    1001     --    APPROXIMATE, as 13 at the height of iBUG 14
 18   mouth corner image-left  190     48    iBUG 48
 19   mouth centre              25     --    nearest the mean of iBUG 62, 66 (1.8 mm away)
 20   mouth corner image-right 639     54    iBUG 54
 21   chin                     975      8    iBUG 8
====  =====================  ======  ======  =================================================

``AFLW21_WEIGHT`` down-weights the two ear lobes (the mapped vertex is up to ~2 cm from the
real lobe). Checked on a rendered picture of the template: ``docs/results/aflw21_on_template.png``
(``python -m head_pose_ros.data.aflw21 --out ...``) and in ``test/test_teacher.py``.
"""

from __future__ import annotations

import argparse

import numpy as np

AFLW21_NAMES = (
    "brow_left_outer", "brow_left_centre", "brow_left_inner",
    "brow_right_inner", "brow_right_centre", "brow_right_outer",
    "eye_left_outer", "eye_left_centre", "eye_left_inner",
    "eye_right_inner", "eye_right_centre", "eye_right_outer",
    "ear_left", "nose_left", "nose_tip", "nose_right", "ear_right",
    "mouth_left", "mouth_centre", "mouth_right", "chin",
)
"""AFLW order; left/right = image side for a frontal face."""

AFLW21_VERTEX = np.array([200, 327, 348, 781, 762, 649, 1101, 1108, 1193, 1168, 1062, 1069,
                          930, 308, 8, 743, 1001, 190, 25, 639, 975], np.int64)
"""Topology vertex id of each AFLW point (table above)."""

AFLW21_IBUG = np.array([17, 19, 21, 22, 24, 26, 36, -1, 39, 42, -1, 45,
                        -1, 31, 30, 35, -1, 48, -1, 54, 8], np.int64)
"""iBUG-68 index of each AFLW point, -1 where it is not one of the 68."""

AFLW21_WEIGHT = np.array([1.0] * 12 + [0.3] + [1.0] * 3 + [0.3] + [1.0] * 4, np.float32)
"""Per-point weight of the 2D terms (ear lobes: approximate vertex)."""

AFLW21_MIRROR = np.array([5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 16, 15, 14, 13, 12,
                          19, 18, 17, 20], np.int64)
"""Index of each point's mirror partner (horizontal flip)."""


def aflw_to_ibug68(points21: np.ndarray, visible21: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scatter the AFLW points that are iBUG points into (68, 2) with a (68,) visibility mask."""
    out = np.zeros((68, 2), np.float64)
    mask = np.zeros(68, bool)
    sel = AFLW21_IBUG >= 0
    out[AFLW21_IBUG[sel]] = np.asarray(points21, np.float64)[sel]
    mask[AFLW21_IBUG[sel]] = np.asarray(visible21, bool)[sel]
    return out, mask


def render_check(out: str, size: int = 480) -> None:
    """Draw the template (frontal, orthographic) with the 21 mapped vertices numbered."""
    import cv2

    from head_pose_ros.topology import load_arkit1220

    topo = load_arkit1220()
    v = topo.vertices.astype(np.float64)
    scale = size * 0.8 / (v[:, 0].max() - v[:, 0].min())
    uv = (v[:, :2] - v[:, :2].mean(0)) * scale + size / 2.0
    img = np.full((size, size, 3), 255, np.uint8)
    light = np.array([0.3, -0.4, -0.85])
    light /= np.linalg.norm(light)
    tris = topo.triangles.astype(np.int64)
    depth = v[tris, 2].mean(1)
    for t in tris[np.argsort(-depth)]:
        n = np.cross(v[t[1]] - v[t[0]], v[t[2]] - v[t[0]])
        n /= np.linalg.norm(n) + 1e-12
        shade = int(60 + 170 * abs(float(n @ light)))
        cv2.fillConvexPoly(img, np.round(uv[t] * 16).astype(np.int32), (shade,) * 3,
                           cv2.LINE_AA, 4)
    for i, vid in enumerate(AFLW21_VERTEX):
        p = tuple(int(round(c)) for c in uv[vid])
        col = (0, 0, 255) if AFLW21_IBUG[i] >= 0 else (255, 0, 0)
        cv2.circle(img, p, 4, col, -1, cv2.LINE_AA)
        cv2.putText(img, str(i + 1), (p[0] + 5, p[1] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 120, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "AFLW-21 on the 1220 template (red: iBUG point, blue: derived)",
                (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(out, img)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="render the AFLW-21 mapping on the template")
    ap.add_argument("--out", required=True)
    render_check(ap.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
