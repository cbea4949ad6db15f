"""The REAL ``head_pose_node`` process under bad or awkward input: a fuzzed stream of bad
messages, input faster than inference (no backlog), compressed input and bad compressed data, a
missing or slow CameraInfo, the /diagnostics rate and error level, and bounded memory.
Shared harness: test/node_harness.py; outputs: test/test_node_process.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from node_harness import K_TEST, Harness, diag_kv, diag_level, face_image, sec, start_node

pytestmark = pytest.mark.ros


def test_survives_fuzzed_bad_input(random_weights, renderer, ros_env, ros_context):
    """Bad messages are skipped, each kind logged once; good frames still work afterwards."""
    node = start_node(random_weights, ros_env, "tracker_min_hits:=1")
    h = Harness()
    rng = np.random.default_rng(0)
    face = face_image(renderer)
    try:
        h.wait_connected()
        from head_pose_ros.image_encoding import bgr_to_image_fields

        good = bgr_to_image_fields(face, "bgr8")
        nan_k = K_TEST.reshape(-1).tolist()
        nan_k[0] = float("nan")
        inf_d = [float("inf"), 0.0, 0.0, 0.0, 0.0]
        bad = [
            {"fields": {**good, "encoding": "bayer_rggb8"}},
            {"fields": {**good, "encoding": "32FC1"}},
            {"fields": {**good, "data": good["data"][: len(good["data"]) // 2]}},
            {"fields": {**good, "data": b""}},
            {"fields": {**good, "step": 10}},
            {"fields": {**good, "height": 0, "width": 0, "step": 0, "data": b""}},
            {"fields": {**good, "step": good["step"] + 7}},  # padding claimed, data too short
            {"fields": {**good}, "info": {"k": nan_k}},
            {"fields": {**good}, "info": {"d": inf_d}},
            {"fields": {**good}, "info": {"width": 640, "height": 360}},  # not a resize
            {"image": face, "encoding": "mono16"},  # valid: big data path
            {"image": face, "encoding": "rgba8"},  # valid
            {"fields": {**good}, "info": {"k": [0.0] * 9, "p": [0.0] * 12}},  # uncalibrated
            {"fields": {**good}, "info": {"width": 640, "height": 480}},  # pure resize: ok
            {"fields": {**good}, "send_info": False},  # no info with this stamp
            {"fields": {**good}, "info": {"d": [-0.1, 0.01, 0.0, 0.0, 0.0]}},  # raw: K + D
            {"fields": {**bgr_to_image_fields(face, "mono16", bigendian=True)}},
            {"fields": {**good, "data": rng.integers(0, 256, len(good["data"]),
                                                      dtype=np.uint8).tobytes()}},  # noise
        ]
        for _ in range(2):  # every kind twice: logged once
            for b in bad:
                h.publish(b.get("image"), encoding=b.get("encoding", "bgr8"),
                          fields=b.get("fields"), info=b.get("info"),
                          send_info=b.get("send_info", True))
                # slower than one inference, so that the 1-slot mailbox drops none of them
                time.sleep(0.2)
        time.sleep(1.0)
        assert node.proc.poll() is None, f"node died:\n{node.log}"
        h.clear()
        stamps = [sec(h.publish(face)) for _ in range(3)]
        assert h.wait_for(lambda: any(sec(m.header.stamp) in stamps and len(m.heads) == 1
                                      for m in h.msgs("heads")), 20.0), node.log
        log = node.log
        for needle in ("unsupported image encoding 'bayer_rggb8'",
                       "unsupported image encoding '32FC1'", "CameraInfo K contains NaN or inf",
                       "CameraInfo D contains NaN or inf",
                       "aspect ratio differs", "step 10 is smaller than one row",
                       "K is all zero (uncalibrated camera)"):
            assert node.count(needle) == 1, (needle, log)
        assert node.count("truncated") <= 2 and node.count("empty") == 1, log
        assert "Traceback" not in log, log
    finally:
        h.close()
        rc = node.stop()
    assert rc == 0, node.log


def test_no_backlog_when_input_is_faster_than_inference(random_weights, renderer, ros_env,
                                                        ros_context):
    node = start_node(random_weights, ros_env, "tracker_min_hits:=1", "diagnostics_period:=0.5")
    h = Harness()
    face = face_image(renderer)
    try:
        h.wait_connected()
        for _ in range(3):  # warm-up (first inference is slow)
            h.publish(face)
            time.sleep(0.3)
        h.wait_for(lambda: len(h.msgs("heads")) >= 3, 10.0)
        h.clear()
        n, rate = 80, 100.0
        stamps = []
        t_start = time.monotonic()
        for i in range(n):
            stamps.append(sec(h.publish(face)))
            time.sleep(max(0.0, t_start + (i + 1) / rate - time.monotonic()))
        t_last = time.monotonic()
        assert h.wait_for(lambda: any(sec(m.header.stamp) == stamps[-1]
                                      for m in h.msgs("heads")), 5.0), "newest frame never done"
        with h._lock:
            done = [(t, sec(m.header.stamp)) for t, m in h.got["heads"]]
        t_newest = next(t for t, s in done if s == stamps[-1])
        processed = len(done)
        # with a 1-slot mailbox the newest frame is done within ~2 inference times after it was
        # sent (the one in progress + itself), never after a queue of stale frames
        per_frame = (t_newest - t_start) / max(processed, 1)
        assert processed < n, "input was not faster than inference: test is meaningless"
        assert t_newest - t_last < max(1.0, 3 * per_frame), (t_newest - t_last, per_frame)
        # outputs come in stamp order, and skip frames instead of queueing them
        out_stamps = [s for _, s in done]
        assert out_stamps == sorted(out_stamps)
        time.sleep(1.2)
        kv = {v.key: v.value for v in h.msgs("diag")[-1].status[0].values}
        assert int(kv["dropped"]) > 0, kv
        print(f"\nbacklog test: {n} frames at {rate:.0f} Hz -> {processed} processed, "
              f"{kv['dropped']} dropped, newest done {1e3 * (t_newest - t_last):.0f} ms after "
              f"the last send, compute {kv['compute_mean_ms']} ms/frame")
    finally:
        h.close()
        node.stop()


def test_compressed_input_and_bad_compressed_data(random_weights, renderer, ros_env,
                                                  ros_context):
    """Issue 13 item 5: image_transport:=compressed subscribes to '<image>/compressed' (JPEG or
    PNG, format strings as image_transport writes them); bad data is one log line, no crash."""
    from head_pose_ros.ros.compressed import bgr_to_compressed

    node = start_node(random_weights, ros_env, "image_transport:=compressed", "tracker_min_hits:=1",
                  "diagnostics_period:=0.3")
    h = Harness()
    face = face_image(renderer)
    try:
        h.wait_connected_to("image/compressed")
        assert "'/image/compressed' (sensor_msgs/CompressedImage)" in node.log, node.log
        stamps = []
        for codec in ("jpeg", "png", "jpeg"):
            fmt, data = bgr_to_compressed(face, codec, original_encoding="rgb8")
            stamps.append(sec(h.publish_compressed(fmt, data)))
            n = len(stamps)
            assert h.wait_for(lambda n=n: len(h.msgs("heads")) >= n, 20.0), node.log
        heads = h.msgs("heads")
        assert [sec(m.header.stamp) for m in heads] == stamps
        assert all(len(m.heads) == 1 and m.heads[0].pose.pose.position.z > 0 for m in heads)
        jpeg = bgr_to_compressed(face, "jpeg")[1]
        bad = [("jpeg", b""), ("jpeg", b"definitely not an image"), ("jpeg", jpeg[:64]),
               ("16UC1; compressedDepth png", jpeg)]
        for _ in range(2):  # every kind twice: logged once
            for fmt, data in bad:
                h.publish_compressed(fmt, data)
                time.sleep(0.2)
        time.sleep(0.5)
        assert node.proc.poll() is None, node.log
        assert node.count("compressed image skipped") == len(bad), node.log
        assert "Traceback" not in node.log
        h.clear()
        st = sec(h.publish_compressed(*bgr_to_compressed(face, "jpeg")))
        assert h.wait_for(lambda: any(sec(m.header.stamp) == st and len(m.heads) == 1
                                      for m in h.msgs("heads")), 20.0), node.log
        assert h.wait_for(lambda: int(diag_kv(h).get("skipped", 0)) == 2 * len(bad), 5.0)
    finally:
        h.close()
        rc = node.stop()
    assert rc == 0, node.log


@pytest.mark.parametrize("info_mode", ["none", "slow"])
def test_missing_or_slow_camera_info_costs_no_wait_per_frame(random_weights, renderer, ros_env,
                                                             ros_context, info_mode):
    """Issue 13 item 5: without CameraInfo (or with one far slower than the images) each frame
    used to wait camera_info_wait (here 0.4 s): compute per frame >= 400 ms, < 2.5 fps."""
    node = start_node(random_weights, ros_env, "camera_info_wait:=0.4", "tracker_min_hits:=1",
                  "diagnostics_period:=0.5")
    h = Harness()
    face = face_image(renderer)
    try:
        h.wait_connected()
        h.publish(face, send_info=info_mode == "slow")  # warm-up (first inference is slow)
        assert h.wait_for(lambda: len(h.msgs("heads")) >= 1, 20.0), node.log
        h.clear()
        t0 = time.monotonic()
        n = 30
        for i in range(n):
            # slow: a CameraInfo once a second, with a stamp of its own
            if info_mode == "slow" and i % 15 == 7:
                h.publish(face, send_info=True, fields=None)
            else:
                h.publish(face, send_info=False)
            time.sleep(1 / 15)
        assert h.wait_for(lambda: len(h.msgs("heads")) >= 0.5 * n, 10.0), len(h.msgs("heads"))
        took = time.monotonic() - t0
        done = len(h.msgs("heads"))
        time.sleep(0.6)
        kv = diag_kv(h)
        print(f"\ncamera_info {info_mode}: {done} of {n} frames in {took:.1f} s, compute "
              f"{kv.get('compute_mean_ms')} ms/frame, waits {kv.get('camera_info_waits')}")
        assert float(kv["compute_mean_ms"]) < 250.0, kv  # far below the 400 ms wait
        assert done >= 0.6 * n
    finally:
        h.close()
        node.stop()


def test_diagnostics_rate_and_error_level(random_weights, ros_env, ros_context):
    """Issue 13 item 7: the output rate was capped at 40 Hz (200 entries / 5 s) and the level
    never became ERROR, even when every frame failed."""
    node = start_node(random_weights, ros_env, "diagnostics_period:=0.3", "publish_markers:=false")
    h = Harness()
    small = np.full((60, 80, 3), 100, np.uint8)  # no face: the detector only, ~1 ms a frame
    info = {"k": [100.0, 0, 39.5, 0, 100.0, 29.5, 0, 0, 1.0]}
    try:
        h.wait_connected()
        from head_pose_ros.image_encoding import bgr_to_image_fields

        bad = {**bgr_to_image_fields(small, "bgr8"), "encoding": "bayer_rggb8"}
        for _ in range(20):  # every frame fails
            h.publish(fields=bad, info=info)
            time.sleep(0.02)
        assert h.wait_for(lambda: diag_level(h) == 2, 5.0), (diag_level(h), diag_kv(h))
        msg = h.msgs("diag")[-1].status[0].message
        assert "frames failed" in msg and "bayer_rggb8" in msg, msg
        for _ in range(30):  # good again: the failures are no longer the majority
            h.publish(small, info=info)
            time.sleep(0.02)
        assert h.wait_for(lambda: diag_level(h) == 1, 5.0), (diag_level(h), diag_kv(h))
        t_end = time.monotonic() + 6.0  # longer than the 5 s window
        t_next = time.monotonic()
        while time.monotonic() < t_end:
            h.publish(small, info=info)
            t_next += 1 / 150
            time.sleep(max(0.0, t_next - time.monotonic()))
        time.sleep(0.4)
        kv = diag_kv(h)
        print(f"\ndiagnostics at 150 Hz in: output_rate_hz {kv['output_rate_hz']}, "
              f"received {kv['received']}, processed {kv['processed']}, level {diag_level(h)}")
        assert float(kv["output_rate_hz"]) > 60.0, kv
        assert diag_level(h) == 0, kv  # the failures left the window
    finally:
        h.close()
        node.stop()


@pytest.mark.slow
def test_memory_does_not_grow(random_weights, renderer, ros_env, ros_context):
    """A few thousand small frames (every 5th with a face): RSS stays flat after warm-up."""
    import psutil

    from head_pose_ros.geometry import rot_y

    node = start_node(random_weights, ros_env, "tracker_min_hits:=1", "publish_debug_image:=true",
                  "diagnostics_period:=0.5")
    h = Harness()
    k_small = K_TEST * np.array([[0.5], [0.5], [1.0]])
    k_small[0, 2], k_small[1, 2] = 79.5, 59.5
    faces = [renderer.render([(rot_y(a), np.array([0.0, 0.0, 0.45]))], k_small, (160, 120))
             for a in np.linspace(-0.3, 0.3, 7)]
    blank = np.full((120, 160, 3), 100, np.uint8)
    proc = psutil.Process(node.proc.pid)
    info = {"k": k_small.reshape(-1).tolist()}
    try:
        h.wait_connected()

        def burst(n: int, offset: int) -> None:
            for i in range(n):
                img = faces[(i // 5) % len(faces)] if i % 5 == 0 else blank
                h.publish(img, info=info)
                if i % 20 == 0:
                    time.sleep(0.01)
                # keep the inference busy but never let the reader starve
                time.sleep(0.002)

        burst(800, 0)
        time.sleep(1.0)
        rss0 = proc.memory_info().rss
        burst(2400, 800)
        time.sleep(1.5)
        rss1 = proc.memory_info().rss
        kv = {v.key: v.value for v in h.msgs("diag")[-1].status[0].values}
        grow_mb = (rss1 - rss0) / 2**20
        print(f"\nmemory test: RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MB over "
              f"{kv['received']} frames received ({kv['processed']} processed, "
              f"{kv['dropped']} dropped)")
        # best effort at ~400 Hz: DDS drops part of the 3200 frames before the node's
        # callback on a busy 2-core machine (1946 received in one CI-like run); a thousand
        # frames through the callback and hundreds through inference still exercise every path
        # (200: 263 and 300 were processed in two loaded runs on this 2-core machine)
        assert int(kv["received"]) > 1000 and int(kv["processed"]) > 200, kv
        assert grow_mb < 15.0, f"RSS grew by {grow_mb:.1f} MB"
        assert node.proc.poll() is None
    finally:
        h.close()
        node.stop()
