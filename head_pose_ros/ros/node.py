"""``head_pose_node``: camera images in, every person's 6DoF head pose out.

Topics (all remappable; every output carries the input image's stamp and frame_id):
- in  ``image`` (sensor_msgs/Image), ``camera_info`` (sensor_msgs/CameraInfo), SensorDataQoS;
- out ``head_pose`` (geometry_msgs/PoseWithCovarianceStamped, the primary person),
  ``heads`` (head_pose_ros/HeadPoseArray, everyone; an empty array when nobody is seen),
  ``/tf`` (face_<id>, gaze_<id>, REP-155, children of the camera frame), ``markers``
  (visualization_msgs/MarkerArray), ``debug_image`` (optional), ``/diagnostics``.

Threads: the ROS executor only stores the newest image in a one-slot mailbox (an image that
arrives while another is pending replaces it and is counted as dropped) and keeps the last
CameraInfo messages. One worker thread takes the newest image, pairs it with its CameraInfo,
detects, estimates (all faces of a frame in one batch), tracks, filters and publishes. There is
never a backlog behind slow inference.

Start-up refuses (exit code 2, one clear message) invalid parameters, missing or corrupt weights,
a missing YuNet model, and CUDA requested but absent unless ``allow_cpu_fallback``. At run time
bad input is logged once per kind of problem and skipped (counted in /diagnostics).
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.detection import create_detector
from head_pose_ros.image_encoding import ImageEncodingError, bgr_to_image_fields, image_msg_to_bgr
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig, TrackedHead
from head_pose_ros.ros.camera import (
    CameraInfoBuffer,
    CameraInfoError,
    intrinsics_from_camera_info,
    stamp_to_sec,
)
from head_pose_ros.ros.params import NodeConfig, ParameterError

__all__ = ["HeadPoseNode", "StartupError", "FrameMailbox", "main", "resolve_device",
           "load_estimator"]

EXIT_STARTUP_ERROR = 2


class StartupError(RuntimeError):
    """The node cannot start; the message says why and what to do."""


class FrameMailbox:
    """A one-slot mailbox: :meth:`put` replaces a pending item (counted as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.dropped = 0
        self.received = 0

    def put(self, item: Any) -> None:
        with self._cond:
            self.received += 1
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float) -> Any:
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def resolve_device(device: str, allow_cpu_fallback: bool, warn) -> str:
    """Check that ``device`` exists; CPU fallback only when allowed."""
    if not device.startswith("cuda"):
        return "cpu"
    import torch

    idx = int(device.split(":")[1]) if ":" in device else 0
    if torch.cuda.is_available() and idx < torch.cuda.device_count():
        return device
    why = (f"device '{device}' was requested but CUDA is not available (torch "
           f"{torch.__version__}, CUDA build {torch.version.cuda}, "
           f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} GPU(s) visible)")
    if allow_cpu_fallback:
        warn(why + ": running on the CPU because allow_cpu_fallback is true (slow)")
        return "cpu"
    raise StartupError(why + ". Set device:=cpu, or allow_cpu_fallback:=true to fall back.")


def load_estimator(weights: str, device: str, backend: str = "auto", warn=None,
                   threads: int = 0):
    """Load the TRG estimator on ``backend`` (parameter 'backend': auto, torch, onnxruntime;
    :mod:`head_pose_ros.backends`), or raise :class:`StartupError` with a clear message.

    ``warn``: logger for the warnings of the load (e.g. a corrupt cached ONNX graph exported
    again, or 'auto' falling back to torch); default: Python warnings.
    ``threads``: CPU threads of the network (torch and ONNX Runtime); 0 = library default.
    """
    import warnings

    from head_pose_ros.ros.params import DEFAULT_WEIGHTS_NAME

    if not weights:
        raise StartupError(
            "no model weights: parameter 'weights' is empty and no default model is installed "
            f"(share/head_pose_ros/weights/{DEFAULT_WEIGHTS_NAME}). Train one with "
            "head-pose-train and pass weights:=/path/to/model.safetensors"
        )
    p = Path(weights)
    if not p.is_file():
        raise StartupError(f"model weights not found: '{weights}' (parameter 'weights')")
    try:
        from head_pose_ros.backends import BackendError, resolve_backend
        from head_pose_ros.estimator import HeadPoseEstimator
    except ImportError as exc:
        raise StartupError(f"the estimator cannot be imported: {exc}") from exc
    try:
        resolve_backend(backend, device)  # before the checkpoint is read: fail fast
    except (BackendError, ValueError) as exc:
        raise StartupError(f"parameter 'backend' = '{backend}': {exc}") from exc
    try:
        with warnings.catch_warnings(record=warn is not None) as caught:
            if warn is not None:
                warnings.simplefilter("always")
            if threads > 0:
                import torch

                torch.set_num_threads(threads)
            est = HeadPoseEstimator.from_checkpoint(str(p), device=device, backend=backend,
                                                    threads=threads or None)
    except BackendError as exc:  # the ONNX export / ONNX Runtime load failed
        raise StartupError(f"parameter 'backend' = '{backend}': {exc}") from exc
    except Exception as exc:  # corrupt file, wrong format, shape mismatch ...
        raise StartupError(
            f"cannot load model weights '{weights}': {type(exc).__name__}: {exc}"
        ) from exc
    for w in caught or ():
        warn(str(w.message))
    return est


def _problem_key(prefix: str, exc: Exception) -> str:
    """One log line per kind of problem: numbers are masked out of the message."""
    return prefix + ":" + re.sub(r"[0-9.]+", "#", str(exc))[:120]


class HeadPoseNode:
    """The node (composition over an rclpy Node, built in :meth:`create`)."""

    def __init__(self, node: Any, cfg: NodeConfig, estimator: Any, detector: Any) -> None:
        from geometry_msgs.msg import PoseWithCovarianceStamped
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from visualization_msgs.msg import MarkerArray

        from head_pose_ros.msg import HeadPose, HeadPoseArray
        from head_pose_ros.ros.tf import TFBroadcaster

        self.node = node
        self.cfg = cfg
        self.log = node.get_logger()
        self.estimator = estimator
        self.detector = detector
        self.topology = getattr(estimator, "topology", None)
        self._msg = {"HeadPose": HeadPose, "HeadPoseArray": HeadPoseArray,
                     "PoseCov": PoseWithCovarianceStamped, "MarkerArray": MarkerArray,
                     "Image": Image}
        self._once: set[str] = set()
        self._infos = CameraInfoBuffer(maxlen=16)
        self._info_cond = threading.Condition()
        self._mailbox = FrameMailbox()
        self.pipeline = HeadPosePipeline(estimator, detector,
                                         PipelineConfig.from_object(cfg))
        self._stats_lock = threading.Lock()
        self._stats = {"processed": 0, "skipped": 0, "faces": 0, "errors": 0,
                       "detector_runs": 0}
        self._latency = deque(maxlen=200)  # receive -> published, s
        self._compute = deque(maxlen=200)  # processing time, s
        self._done_times = deque(maxlen=200)
        self._last_problem = ""

        self.pub_pose = node.create_publisher(PoseWithCovarianceStamped, "head_pose", 10)
        self.pub_heads = node.create_publisher(HeadPoseArray, "heads", 10)
        self.pub_markers = (node.create_publisher(MarkerArray, "markers", 10)
                            if cfg.publish_markers else None)
        self.pub_debug = (node.create_publisher(Image, "debug_image", qos_profile_sensor_data)
                          if cfg.publish_debug_image else None)
        self.tf = TFBroadcaster(node) if cfg.publish_tf and cfg.tracking else None
        self._diag_pub = None
        if cfg.diagnostics_period > 0:
            try:
                from diagnostic_msgs.msg import DiagnosticArray

                self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
                node.create_timer(cfg.diagnostics_period, self._publish_diagnostics)
            except ImportError:
                self.log.warning("diagnostic_msgs is not installed: no /diagnostics")
        self.sub_image = node.create_subscription(Image, "image", self._on_image,
                                                  qos_profile_sensor_data)
        self.sub_info = node.create_subscription(CameraInfo, "camera_info", self._on_info,
                                                 qos_profile_sensor_data)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="head_pose_worker", daemon=True)
        self._worker.start()
        self.log.info(
            f"head_pose_node ready: image '{self.sub_image.topic_name}', camera_info "
            f"'{self.sub_info.topic_name}', detector {type(detector).__name__}, device "
            f"{getattr(estimator, 'device', cfg.device)}"
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, node: Any) -> HeadPoseNode:
        """Declare parameters, check them, load the detector and the model."""
        from head_pose_ros.ros.params import load_config

        cfg = load_config(node)
        log = node.get_logger()
        device = resolve_device(cfg.device, cfg.allow_cpu_fallback, log.warning)
        kind = cfg.detector
        if kind == "auto":
            kind = "yunet" if cfg.yunet_model else "cascade"
        try:
            det_kw = {"score_threshold": cfg.detection_score_threshold,
                      "max_side": cfg.detection_max_side}
            if kind == "yunet":
                det_kw.update(nms_threshold=cfg.detection_nms_threshold,
                              top_k=max(50, cfg.max_faces))
            detector = create_detector(kind, cfg.yunet_model, **det_kw)
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise StartupError(f"face detector '{kind}': {exc}") from exc
        if kind == "cascade" and cfg.detector == "auto":
            log.info("detector 'auto': yunet_model is empty, using the OpenCV Haar cascade "
                     "(frontal faces only); set yunet_model for YuNet")
        estimator = load_estimator(cfg.weights, device, cfg.backend, log.warning,
                                   cfg.inference_threads)
        from head_pose_ros.backends import describe_backend

        log.info(describe_backend(estimator))
        return cls(node, cfg, estimator, detector)

    def shutdown(self) -> None:
        self._running = False
        self._mailbox.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)

    # ------------------------------------------------------------------ logging helpers
    def _once_log(self, key: str, level: str, text: str) -> None:
        if key in self._once:
            return
        if len(self._once) > 1000:  # bounded: a stream of distinct problems cannot grow memory
            self._once.clear()
        self._once.add(key)
        # one call site per severity: rclpy refuses a call site whose severity changes
        if level == "error":
            self.log.error(text)
        elif level == "warning":
            self.log.warning(text)
        else:
            self.log.info(text)

    def _skip(self, key: str, level: str, text: str) -> None:
        with self._stats_lock:
            self._stats["skipped"] += 1
        self._last_problem = text
        self._once_log(key, level, text + " (logged once; further occurrences are counted in "
                                          "/diagnostics)")

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Any) -> None:
        self._mailbox.put((msg, time.monotonic()))

    def _on_info(self, msg: Any) -> None:
        with self._info_cond:
            self._infos.add(stamp_to_sec(msg.header.stamp), msg.header.frame_id, msg)
            self._info_cond.notify_all()

    def _pair_info(self, msg: Any) -> tuple[Any, str]:
        stamp = stamp_to_sec(msg.header.stamp)
        frame = msg.header.frame_id
        deadline = time.monotonic() + self.cfg.camera_info_wait
        with self._info_cond:
            while True:
                info, how = self._infos.match(stamp, frame, self.cfg.camera_info_tolerance)
                newest = self._infos.newest_stamp()
                late = newest is None or newest < stamp
                left = deadline - time.monotonic()
                if how in ("exact", "nearest") or not late or left <= 0:
                    return info, how
                self._info_cond.wait(left)

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while self._running:
            item = self._mailbox.take(timeout=0.2)
            if item is None:
                continue
            msg, t_recv = item
            try:
                self._process(msg, t_recv)
            except Exception as exc:  # never let one frame kill the node
                with self._stats_lock:
                    self._stats["errors"] += 1
                self._last_problem = f"{type(exc).__name__}: {exc}"
                self._once_log(_problem_key("exc", exc), "error",
                               f"frame skipped, unexpected {type(exc).__name__}: {exc}")

    def _process(self, msg: Any, t_recv: float) -> None:
        cfg = self.cfg
        t0 = time.monotonic()
        try:
            image = image_msg_to_bgr(msg, cfg.mono16_scaling)
        except ImageEncodingError as exc:
            self._skip(_problem_key("img", exc), "error",
                       f"image skipped (encoding '{msg.encoding}', {msg.width}x{msg.height}, "
                       f"step {msg.step}, {len(msg.data)} B): {exc}")
            return
        h, w = image.shape[:2]
        info, how = self._pair_info(msg)
        if info is None:
            self._once_log("noinfo", "warning",
                           f"no CameraInfo received on '{self.sub_info.topic_name}': using the "
                           f"uncalibrated guess f = W + H = {w + h} px (depth covariance "
                           "inflated)")
            from sensor_msgs.msg import CameraInfo

            info = CameraInfo()
        elif how == "latest":
            self._once_log("info_latest", "warning",
                           "no CameraInfo with a stamp within camera_info_tolerance "
                           f"({cfg.camera_info_tolerance} s) of the image: using the latest one")
        elif how == "nearest":
            self._once_log("info_nearest", "info",
                           "image and CameraInfo stamps differ slightly: pairing by nearest "
                           "stamp")
        try:
            intr = intrinsics_from_camera_info(info, w, h, cfg.image_is_rectified,
                                               self.sub_image.topic_name)
        except CameraInfoError as exc:
            self._skip(_problem_key("info", exc), "error", f"image skipped: {exc}")
            return
        for key, text in intr.warnings:
            self._once_log("intr:" + key, "warning", text)

        res = self.pipeline.process(image, intr.K, stamp_to_sec(msg.header.stamp),
                                    dist=intr.dist, intrinsics_guessed=not intr.calibrated)
        people, removed = res.people, res.removed
        if res.n_estimates == 0:
            self._once_log("noface", "info", "no face in the image (said once)")
        self._publish(msg.header, image, intr, people, removed)
        t1 = time.monotonic()
        with self._stats_lock:
            self._stats["processed"] += 1
            self._stats["detector_runs"] += int(res.detector_ran)
            self._stats["faces"] = len(people)
            self._latency.append(t1 - t_recv)
            self._compute.append(t1 - t0)
            self._done_times.append(t1)

    # ------------------------------------------------------------------ outputs
    def _primary(self, people: list[TrackedHead]) -> TrackedHead | None:
        if not people:
            return None
        mode = self.cfg.primary_person
        if mode == "tracked_id":
            return next((p for p in people if p.person_id == self.cfg.primary_id), None)
        if mode == "closest":
            return min(people, key=lambda p: float(np.linalg.norm(p.trans)))

        def area(p: TrackedHead) -> float:
            b = np.asarray(p.est.box, np.float64).reshape(4)
            return float((b[2] - b[0]) * (b[3] - b[1]))

        return max(people, key=area)

    def _publish(self, header: Any, image: np.ndarray, intr, people: list[TrackedHead],
                 removed: list[int]) -> None:
        from head_pose_ros.frames import person_frames
        from head_pose_ros.ros.conversions import (
            head_pose_msg,
            pose_with_covariance_msg,
            transform_msg,
        )

        cfg = self.cfg
        topo = self.topology
        lm_ids = getattr(topo, "landmarks68", None)
        tri = getattr(topo, "triangles", None)
        arr = self._msg["HeadPoseArray"]()
        arr.header = header
        frames: dict[int, dict] = {}
        for p in people:
            vh = np.asarray(p.est.vertices_head, np.float64)
            frames[p.person_id] = person_frames(p.rot, p.trans, vh, lm_ids)
            width = float(np.linalg.norm(vh[lm_ids[0]] - vh[lm_ids[16]])) if lm_ids is not None \
                else float("nan")
            area = topo.face_area(vh) if topo is not None else float("nan")
            arr.heads.append(head_pose_msg(
                self._msg["HeadPose"], person_id=p.person_id, frames_seen=p.frames_seen,
                rot=p.rot, trans=p.trans, cov=p.cov, box=p.est.box, score=p.est.score,
                landmarks68=p.est.landmarks68,
                vertices_head=vh if cfg.publish_dense_landmarks else None,
                topology_name=getattr(topo, "name", ""), face_width=width, face_area=area))
        self.pub_heads.publish(arr)
        primary = self._primary(people)
        if primary is not None:
            m = self._msg["PoseCov"]()
            m.header = header
            m.pose = pose_with_covariance_msg(primary.rot, primary.trans, primary.cov)
            self.pub_pose.publish(m)
        if self.tf is not None and self.tf.available:
            tfs = []
            for pid, fr in frames.items():
                for name in ("face", "gaze"):
                    rot, t = fr[name]
                    tfs.append(transform_msg(header, f"{name}_{pid}", rot, t))
            self.tf.send(tfs)
        # the markers (about 8 ms per person for the mesh) and the debug image are only built
        # while someone subscribes; the DELETEs of lost people are always sent
        if self.pub_markers is not None:
            from head_pose_ros.ros.markers import delete_markers, person_markers

            listening = self.pub_markers.get_subscription_count() > 0
            ma = self._msg["MarkerArray"]()
            for pid in removed:
                ma.markers.extend(delete_markers(header, pid))
            for p in people if listening else []:
                if p.person_id == 0:
                    continue  # untracked faces have no stable marker id
                vh = np.asarray(p.est.vertices_head, np.float64)
                vcam = vh @ p.rot.T + p.trans
                rot_f, origin = frames[p.person_id]["face"]
                ma.markers.extend(person_markers(header, p.person_id, vcam, tri, lm_ids, rot_f,
                                                 origin, cfg.marker_lifetime))
            if ma.markers:
                self.pub_markers.publish(ma)
        if self.pub_debug is not None and self.pub_debug.get_subscription_count() > 0:
            self._publish_debug(header, image, intr, people)

    def _publish_debug(self, header, image, intr, people) -> None:
        from head_pose_ros.overlay import draw_people

        img = draw_people(image, people, intr.K, intr.dist,
                          getattr(self.topology, "landmarks68", None))
        f = bgr_to_image_fields(img, "bgr8")
        m = self._msg["Image"]()
        m.header = header
        m.height, m.width, m.encoding = f["height"], f["width"], "bgr8"
        m.is_bigendian, m.step, m.data = 0, f["step"], f["data"]
        self.pub_debug.publish(m)

    # ------------------------------------------------------------------ diagnostics
    def stats(self) -> dict[str, float]:
        """Counters and rates (also on /diagnostics)."""
        now = time.monotonic()
        with self._stats_lock:
            s = dict(self._stats)
            lat = np.array(self._latency) if self._latency else np.zeros(0)
            comp = np.array(self._compute) if self._compute else np.zeros(0)
            done = [t for t in self._done_times if now - t < 5.0]
        s["received"] = self._mailbox.received
        s["dropped"] = self._mailbox.dropped
        s["output_rate_hz"] = len(done) / 5.0
        s["latency_mean_ms"] = float(lat.mean() * 1e3) if lat.size else float("nan")
        s["latency_max_ms"] = float(lat.max() * 1e3) if lat.size else float("nan")
        s["compute_mean_ms"] = float(comp.mean() * 1e3) if comp.size else float("nan")
        return s

    def _publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        s = self.stats()
        st = DiagnosticStatus()
        st.name = f"{self.node.get_name()}: head pose pipeline"
        st.hardware_id = (f"{getattr(self.estimator, 'device', self.cfg.device)} "
                          f"({getattr(self.estimator, 'backend', 'torch')})")
        if s["processed"] == 0:
            st.level, st.message = DiagnosticStatus.WARN, "no image processed yet"
        elif s["output_rate_hz"] == 0:
            st.level, st.message = DiagnosticStatus.WARN, "no image in the last 5 s"
        else:
            st.level, st.message = DiagnosticStatus.OK, f"{s['faces']} face(s)"
        if self._last_problem:
            st.message += f"; last problem: {self._last_problem[:200]}"
        st.values = [KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
                     for k, v in s.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        arr.status = [st]
        self._diag_pub.publish(arr)


def install_stop_signals() -> threading.Event:
    """SIGINT/SIGTERM set the returned event (instead of raising anywhere in the code)."""
    import signal

    stop = threading.Event()

    def _handler(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def init_ros(argv: list[str] | None) -> None:
    """``rclpy.init`` without rclpy's signal handlers (see :func:`install_stop_signals`);
    raises :class:`StartupError` for an unparsable command line."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    try:
        rclpy.init(args=argv if argv is not None else sys.argv,
                   signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # rcl could not parse the --ros-args
        raise StartupError(f"invalid command line ({exc})") from exc


def spin_until(node: Any, stop: threading.Event) -> None:
    """Spin ``node`` until ``stop`` is set or ROS shuts down (checks every 0.1 s)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``head_pose_node`` executable (exit code 2: cannot start)."""
    import rclpy

    stop = install_stop_signals()
    try:
        init_ros(argv)
    except StartupError as exc:
        print(f"head_pose_node: cannot start: {exc}", file=sys.stderr, flush=True)
        return EXIT_STARTUP_ERROR
    node = rclpy.create_node("head_pose_node")
    try:
        app = HeadPoseNode.create(node)
    except (ParameterError, StartupError) as exc:
        node.get_logger().fatal(f"cannot start: {exc}")
        print(f"head_pose_node: cannot start: {exc}", file=sys.stderr, flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
        return EXIT_STARTUP_ERROR
    try:
        spin_until(node, stop)
    finally:
        app.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
