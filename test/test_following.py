"""Rendered moving-head sequences (exact labels) and the following-accuracy helpers."""

from __future__ import annotations

import numpy as np
import pytest

from head_pose_ros.bench import following, sequences
from head_pose_ros.geometry import euler_ypr_to_rotation


def test_trajectories_move_as_described():
    yaw = [np.degrees(p[0][0][0]) for p in sequences.trajectory("yaw_sweep", 41)]
    assert max(yaw) == pytest.approx(70.0, abs=0.5) and min(yaw) == pytest.approx(-70.0, abs=0.5)
    z = [p[0][1][2] for p in sequences.trajectory("walk_towards", 10)]
    assert z[0] == pytest.approx(3.0) and z[-1] == pytest.approx(0.7) and np.all(np.diff(z) < 0)
    cross = sequences.trajectory("crossing", 11)
    assert cross[0][0][1][0] < cross[0][1][1][0] and cross[-1][0][1][0] > cross[-1][1][1][0]
    with pytest.raises(ValueError):
        sequences.trajectory("moonwalk", 3)


def test_rendered_labels_match_the_image(shared_data):
    pytest.importorskip("moderngl")
    try:
        frames = list(sequences.render_sequence("crossing", 3))
    except Exception as exc:  # no headless GL here
        pytest.skip(f"no headless OpenGL context: {exc}")
    K = sequences.camera()
    for fr in frames:
        assert fr.image.shape == (480, 640, 3) and len(fr.persons) == 2
        for p in fr.persons:
            # the label's face centre projects inside its landmark extent, where the head is
            c = p["T"] + p["R"] @ np.array([0.0, 0.0, 0.0])
            uv = K @ c / c[2]
            x0, y0, x1, y1 = p["extent"]
            assert x0 - 40 < uv[0] < x1 + 40 and y0 - 60 < uv[1] < y1 + 60
            assert 0 <= p["visible"] <= 68
    # the face is drawn: the extent differs from the plain background
    e = frames[0].persons[0]["extent"].astype(int)
    assert frames[0].image[e[1]:e[3], e[0]:e[2]].std() > 5


def test_match_and_summary_of_a_perfect_run():
    a = np.array([0.0, 0, 100, 100])
    b = np.array([300.0, 0, 400, 100])
    assert following.match([a, b], [b + 2, a - 3]) == {0: 1, 1: 0}
    assert following.match([a], [b]) == {}
    R = euler_ypr_to_rotation(0.3, 0.1, 0.0)
    T = np.array([0.0, 0.0, 1.0])
    rows = [dict(frame=i, person=0, R=R, T=T, R_gt=R, T_gt=T, R_raw=R, T_raw=T)
            for i in range(5)]
    s = following.summarise_rows(dict(rows=rows, switches=0, want=5, got=5, false=0, ran=1,
                                      fits=[], frame_ms=[1.0]))
    assert s["mae_r"] == pytest.approx(0.0, abs=1e-6) and s["mae_t_mm"] == 0.0
    assert s["jitter_r_deg"] == pytest.approx(0.0, abs=1e-5) and s["recall"] == 1.0
    rows[2]["T"] = T + [0.01, 0, 0]
    s = following.summarise_rows(dict(rows=rows, switches=1, want=5, got=5, false=0, ran=1,
                                      fits=[], frame_ms=[1.0]))
    assert s["mae_t_mm"] == pytest.approx(10.0 / 15) and s["jitter_t_mm"] == pytest.approx(5.0)
