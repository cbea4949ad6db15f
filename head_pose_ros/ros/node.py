"""``head_pose_node``: camera images in, every person's 6DoF head pose out.

Topics (all remappable; every output carries the input image's stamp and frame_id):
- in  ``image`` (sensor_msgs/Image; with ``image_transport: compressed`` the
  sensor_msgs/CompressedImage on ``<image>/compressed`` instead), ``camera_info``
  (sensor_msgs/CameraInfo), SensorDataQoS;
- out ``head_pose`` (geometry_msgs/PoseWithCovarianceStamped, the primary person),
  ``heads`` (head_pose_ros/HeadPoseArray, everyone; an empty array when nobody is seen),
  ``/tf`` (``<frame_prefix>face_<id>``, ``<frame_prefix>gaze_<id>``, REP-155, children of the
  camera frame), ``markers`` (visualization_msgs/MarkerArray), ``debug_image`` (optional),
  ``/diagnostics``;
- ROS4HRI (REP-155, :mod:`head_pose_ros.ros.hri`, where hri_msgs imports): ``/humans/faces/tracked``
  and per face ``/humans/faces/<id>/{roi,cropped,aligned,frontalized,landmarks}``, RELIABLE;
- ``attention`` (head_pose_ros/FaceAttentionArray): per face, P(head directed at the target)
  over the pose covariance, the angle to it, and optionally the ROS4HRI engagement.

One id per face everywhere: ``<hri_face_id_prefix><track number>`` (:class:`FaceIds`) names the
``/humans/faces/<id>`` topics, ``/tracked``, the TF frames and ``HeadPose.face_id``.

One orientation convention for every published pose: ``head_pose``, ``HeadPose.pose`` and the TF
frame ``face_<id>`` are the same pose, the REP-155 face frame (x out of the face, y to the
person's left, z up, origin between the eyes; REP-103 axes and units) in the camera optical
frame, with the covariance of that pose. The pipeline's internal head frame (ARKit: x to the
left ear, y to the chin, z into the head) is converted here, at the ROS boundary
(:func:`published_person`).

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

import copy
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from head_pose_ros.backends import describe_backend
from head_pose_ros.detection import resolve_detector
from head_pose_ros.frames import face_covariance, face_origin, head_to_face_points, rep155_frames
from head_pose_ros.geometry import transform_points
from head_pose_ros.hri_faces import FaceIds, landmark_visibility, vertex_visibility
from head_pose_ros.image_encoding import ImageEncodingError, bgr_to_image_fields, image_msg_to_bgr
from head_pose_ros.msg import FaceAttention, FaceAttentionArray, HeadPose, HeadPoseArray
from head_pose_ros.overlay import draw_people
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig, TrackedHead
from head_pose_ros.ros.attention_out import AttentionOutput
from head_pose_ros.ros.camera import (
    CameraInfoError,
    CameraInfoPairer,
    intrinsics_from_camera_info,
    stamp_to_sec,
)
from head_pose_ros.ros.compressed import compressed_msg_to_bgr, compressed_topic
from head_pose_ros.ros.conversions import head_pose_msg, pose_with_covariance_msg, transform_msg
from head_pose_ros.ros.hri import FaceOutput, HriFacePublisher, load_hri_msgs
from head_pose_ros.ros.markers import delete_markers, person_markers
from head_pose_ros.ros.params import NodeConfig, ParameterError, load_config
from head_pose_ros.ros.runtime import (
    EXIT_STARTUP_ERROR,
    FrameMailbox,
    NodeStats,
    StartupError,
    load_estimator,
    problem_key,
    resolve_device,
    select_primary,
)
from head_pose_ros.ros.tf import TFBroadcaster
from head_pose_ros.ros.tf_buffer import TFBuffer

try:  # optional: the node runs without /diagnostics when diagnostic_msgs is missing
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
except ImportError:  # pragma: no cover - diagnostic_msgs is an exec_depend
    DiagnosticArray = DiagnosticStatus = KeyValue = None

__all__ = ["HeadPoseNode", "StartupError", "FrameMailbox", "main", "resolve_device",
           "load_estimator", "PublishedPerson", "published_person"]

@dataclass
class PublishedPerson:
    """What the node publishes for one person, all in the REP-155 ``face`` frame (x out of the
    face, y to the person's left, z up, origin between the eyes) in the camera optical frame:
    ``rot``/``trans`` (HeadPose.pose, head_pose and TF ``<frame_prefix>face_<id>``: one pose),
    ``cov`` (6x6 over x, y, z, rotX, rotY, rotZ about the camera axes, of that pose), ``gaze``
    (the ``<frame_prefix>gaze_<id>`` transform) and ``vertices_face`` (dense mesh, face frame)."""

    person: TrackedHead
    rot: np.ndarray
    trans: np.ndarray
    cov: np.ndarray
    gaze: tuple[np.ndarray, np.ndarray]
    vertices_face: np.ndarray


def published_person(p: TrackedHead, landmarks68: np.ndarray | None) -> PublishedPerson:
    """The head-frame pose of the pipeline -> the face-frame pose the node publishes."""
    vh = np.asarray(p.est.vertices_head, np.float64)
    origin = face_origin(vh, landmarks68)
    fr = rep155_frames(p.rot, p.trans, origin)
    rot_f, t_f = fr["face"]
    return PublishedPerson(p, rot_f, t_f, face_covariance(p.cov, p.rot, origin), fr["gaze"],
                           head_to_face_points(vh, origin))


class HeadPoseNode:
    """The node (composition over an rclpy Node, built in :meth:`create`)."""

    def __init__(self, node: Any, cfg: NodeConfig, estimator: Any, detector: Any) -> None:
        self.node = node
        self.cfg = cfg
        self.log = node.get_logger()
        self.estimator = estimator
        self.detector = detector
        self.topology = getattr(estimator, "topology", None)
        self._lm_ids = getattr(self.topology, "landmarks68", None)
        self._once: set[str] = set()
        self._infos = CameraInfoPairer(maxlen=16)
        self._mailbox = FrameMailbox()
        self.pipeline = HeadPosePipeline(estimator, detector,
                                         PipelineConfig.from_object(cfg))
        self.stats_window = NodeStats(window=5.0)

        self.pub_pose = node.create_publisher(PoseWithCovarianceStamped, "head_pose", 10)
        self.pub_heads = node.create_publisher(HeadPoseArray, "heads", 10)
        self.pub_markers = (node.create_publisher(MarkerArray, "markers", 10)
                            if cfg.publish_markers else None)
        self.pub_debug = (node.create_publisher(Image, "debug_image", qos_profile_sensor_data)
                          if cfg.publish_debug_image else None)
        self.tf = TFBroadcaster(node) if cfg.publish_tf and cfg.tracking else None
        self.face_ids = FaceIds(cfg.hri_face_id_prefix)
        self.hri = None
        if cfg.publish_hri:
            hri, why = load_hri_msgs()
            if hri is None:
                self.log.warning(why)
            elif not cfg.tracking:
                self.log.warning("publish_hri needs tracking (REP-155 ids are track ids): the "
                                 "ROS4HRI topics are off because tracking is false")
            else:
                self.hri = HriFacePublisher(
                    node, hri, cfg.hri_namespace, (cfg.hri_image_width, cfg.hri_image_height),
                    engagement=cfg.publish_engagement, topology=self.topology)
        need_tf = bool(cfg.attention_target_frame or (cfg.publish_engagement
                                                      and cfg.engagement_reference_frame))
        self.tf_buffer = TFBuffer(node) if need_tf else None
        self.attention = AttentionOutput(cfg, self.tf_buffer, self.log.warning)
        self.pub_attention = (node.create_publisher(FaceAttentionArray, "attention", 10)
                              if cfg.publish_attention else None)
        self._diag_pub = None
        if cfg.diagnostics_period > 0:
            if DiagnosticArray is None:
                self.log.warning("diagnostic_msgs is not installed: no /diagnostics")
            else:
                self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
                node.create_timer(cfg.diagnostics_period, self._publish_diagnostics)
        # the image topic as remapped ('image' -> /camera/image_rect): the compressed transport
        # lives below it, and 'auto' rectification looks at its name
        self.image_topic = _resolve_topic(node, "image", Image)
        self.compressed = cfg.image_transport == "compressed"
        # SensorDataQoS (best effort) by default, which also receives a RELIABLE camera; the
        # standard parameters qos_overrides.<topic>.subscription.{reliability,depth,history,
        # durability} override it (e.g. reliable, to get every frame from a reliable driver)
        # (rclpy writes the overrides INTO the profile it is given: each gets its own copy, never
        # the shared qos_profile_sensor_data)
        qos_opts = QoSOverridingOptions.with_default_policies()
        if self.compressed:
            self.sub_image = node.create_subscription(
                CompressedImage, compressed_topic(self.image_topic), self._on_image,
                copy.copy(qos_profile_sensor_data), qos_overriding_options=qos_opts)
        else:
            self.sub_image = node.create_subscription(Image, "image", self._on_image,
                                                      copy.copy(qos_profile_sensor_data),
                                                      qos_overriding_options=qos_opts)
        self.sub_info = node.create_subscription(CameraInfo, "camera_info", self._on_info,
                                                 copy.copy(qos_profile_sensor_data),
                                                 qos_overriding_options=qos_opts)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="head_pose_worker", daemon=True)
        self._worker.start()
        self.log.info(
            f"head_pose_node ready: image '{self.sub_image.topic_name}' "
            f"({'sensor_msgs/CompressedImage' if self.compressed else 'sensor_msgs/Image'}), "
            f"camera_info '{self.sub_info.topic_name}', detector {type(detector).__name__}, "
            f"device {getattr(estimator, 'device', cfg.device)}"
            + (f", TF frames '{cfg.frame_prefix}face_<id>'" if self.tf is not None else "")
            + f", face ids '{self.face_ids.prefix}<n>'"
            + (f", ROS4HRI on '{self.hri.ns}'" if self.hri is not None else "")
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, node: Any) -> HeadPoseNode:
        """Declare parameters, check them, load the detector and the model."""
        cfg = load_config(node)
        log = node.get_logger()
        device = resolve_device(cfg.device, cfg.allow_cpu_fallback, log.warning)
        try:  # auto: yunet_model, else YuNet in the user cache, else the Haar cascade
            choice = resolve_detector(
                cfg.detector, cfg.yunet_model, score_threshold=cfg.detection_score_threshold,
                max_side=cfg.detection_max_side, nms_threshold=cfg.detection_nms_threshold,
                top_k=max(50, cfg.max_faces))
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise StartupError(f"face detector '{cfg.detector}': {exc}") from exc
        if choice.warning:
            log.warning(choice.warning)
        log.info(choice.reason)
        detector = choice.detector
        estimator = load_estimator(cfg.weights, device, cfg.backend, log.warning,
                                   cfg.inference_threads)
        log.info(describe_backend(estimator))
        return cls(node, cfg, estimator, detector)

    def shutdown(self) -> None:
        self._running = False
        self._mailbox.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        if self.hri is not None:
            self.hri.close()

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
        self.stats_window.record_failure("skipped", text)
        self._once_log(key, level, text + " (logged once; further occurrences are counted in "
                                          "/diagnostics)")

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Any) -> None:
        self.stats_window.record_received()
        self._mailbox.put((msg, time.monotonic()))

    def _on_info(self, msg: Any) -> None:
        self._infos.add(stamp_to_sec(msg.header.stamp), msg.header.frame_id, msg)

    def _pair_info(self, msg: Any) -> tuple[Any, str]:
        return self._infos.pair(stamp_to_sec(msg.header.stamp), msg.header.frame_id,
                                self.cfg.camera_info_tolerance, self.cfg.camera_info_wait)

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
                text = f"{type(exc).__name__}: {exc}"
                self.stats_window.record_failure("errors", text)
                self._once_log(problem_key("exc", exc), "error",
                               f"frame skipped, unexpected {text}")

    def _decode(self, msg: Any) -> np.ndarray | None:
        """The message as a BGR image, or None (skipped, logged once per kind)."""
        cfg = self.cfg
        try:
            if self.compressed:
                return compressed_msg_to_bgr(msg, cfg.mono16_scaling)
            return image_msg_to_bgr(msg, cfg.mono16_scaling)
        except ImageEncodingError as exc:
            if self.compressed:
                what = f"compressed image skipped (format '{msg.format}', {len(msg.data)} B)"
                self._skip(problem_key("cimg", exc), "error", f"{what}: {exc}")
            else:
                self._skip(problem_key("img", exc), "error",
                           f"image skipped (encoding '{msg.encoding}', {msg.width}x{msg.height}, "
                           f"step {msg.step}, {len(msg.data)} B): {exc}")
            return None

    def _process(self, msg: Any, t_recv: float) -> None:
        cfg = self.cfg
        t0 = time.monotonic()
        image = self._decode(msg)
        if image is None:
            return
        h, w = image.shape[:2]
        info, how = self._pair_info(msg)
        if info is None:
            self._once_log("noinfo", "warning",
                           f"no CameraInfo received on '{self.sub_info.topic_name}': using the "
                           f"uncalibrated guess f = W + H = {w + h} px (depth covariance "
                           "inflated)")
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
                                               self.image_topic)
        except CameraInfoError as exc:
            self._skip(problem_key("info", exc), "error", f"image skipped: {exc}")
            return
        for key, text in intr.warnings:
            self._once_log("intr:" + key, "warning", text)

        res = self.pipeline.process(image, intr.K, stamp_to_sec(msg.header.stamp),
                                    dist=intr.dist, intrinsics_guessed=not intr.calibrated)
        if res.n_estimates == 0:
            self._once_log("noface", "info", "no face in the image (said once)")
        self._publish(msg.header, image, intr, res.people, res.removed)
        t1 = time.monotonic()
        self.stats_window.record_done(t1 - t_recv, t1 - t0, len(res.people), res.detector_ran)

    # ------------------------------------------------------------------ outputs
    def _primary(self, people: list[TrackedHead]) -> TrackedHead | None:
        return select_primary(people, self.cfg.primary_person, self.cfg.primary_id)

    def _publish(self, header: Any, image: np.ndarray, intr, people: list[TrackedHead],
                 removed: list[int]) -> None:
        cfg = self.cfg
        topo = self.topology
        lm_ids = self._lm_ids
        tri = getattr(topo, "triangles", None)
        arr = HeadPoseArray()
        arr.header = header
        out = {id(p): published_person(p, lm_ids) for p in people}
        fids = {id(p): self.face_ids(p.person_id) for p in people}
        vcam_of: dict[int, np.ndarray] = {}

        def vertices_cam(p: TrackedHead) -> np.ndarray:
            """The dense face in the camera frame at the published (filtered) pose, once per
            person and frame (HRI outputs and markers both need it)."""
            if id(p) not in vcam_of:
                vcam_of[id(p)] = transform_points(np.asarray(p.est.vertices_head, np.float64),
                                                  p.rot, p.trans)
            return vcam_of[id(p)]

        lost = [self.face_ids(pid) for pid in removed]
        target, att = self.attention.compute(
            header.frame_id, stamp_to_sec(header.stamp), [(fids[id(p)], out[id(p)])
                                                          for p in people], lost)
        att_of = {id(p): a for p, a in zip(people, att, strict=True)}
        for p in people:
            pub = out[id(p)]
            a = att_of[id(p)]
            vh = np.asarray(p.est.vertices_head, np.float64)
            width = float(np.linalg.norm(vh[lm_ids[0]] - vh[lm_ids[16]])) if lm_ids is not None \
                else float("nan")
            area = topo.face_area(vh) if topo is not None else float("nan")
            arr.heads.append(head_pose_msg(
                HeadPose, person_id=p.person_id, frames_seen=p.frames_seen,
                rot=pub.rot, trans=pub.trans, cov=pub.cov, box=p.est.box, score=p.est.score,
                landmarks68=p.est.landmarks68,
                vertices=pub.vertices_face if cfg.publish_dense_landmarks else None,
                topology_name=getattr(topo, "name", ""), face_width=width, face_area=area,
                face_id=fids[id(p)], attention=a.probability if a else float("nan"),
                attention_angle=a.angle if a else float("nan")))
        self.pub_heads.publish(arr)
        primary = self._primary(people)
        if primary is not None:
            pub = out[id(primary)]
            m = PoseWithCovarianceStamped()
            m.header = header
            m.pose = pose_with_covariance_msg(pub.rot, pub.trans, pub.cov)
            self.pub_pose.publish(m)
        if self.tf is not None and self.tf.available:
            tfs = []
            for p in people:
                pub = out[id(p)]
                fid = fids[id(p)]
                tfs.append(transform_msg(header, f"{cfg.frame_prefix}face_{fid}", pub.rot,
                                         pub.trans))
                tfs.append(transform_msg(header, f"{cfg.frame_prefix}gaze_{fid}", *pub.gaze))
            self.tf.send(tfs)
        if self.pub_attention is not None:
            self._publish_attention(header, target, people, fids, att_of)
        if self.hri is not None:
            faces = []
            for p in people:
                if p.person_id == 0:
                    continue
                pub = out[id(p)]
                vcam = vis = None
                if tri is not None and lm_ids is not None:  # the dense face: per-point
                    vcam = vertices_cam(p)
                    vis = vertex_visibility(vcam, tri, pub.rot[:, 0])
                    conf = vis[lm_ids]
                else:
                    conf = landmark_visibility(None, None, None, pub.rot[:, 0], pub.trans)
                a = att_of[id(p)]
                faces.append(FaceOutput(fids[id(p)], np.asarray(p.est.box), float(p.est.score),
                                        p.est.landmarks68, conf,
                                        a.engagement_level if a and cfg.publish_engagement
                                        else None, vcam, pub.rot[:, 0], vis))
            self.hri.publish(header, image, faces, lost, intr.K, intr.dist)
        # the markers (about 8 ms per person for the mesh) and the debug image are only built
        # while someone subscribes; the DELETEs of lost people are always sent
        if self.pub_markers is not None:
            listening = self.pub_markers.get_subscription_count() > 0
            ma = MarkerArray()
            for pid in removed:
                ma.markers.extend(delete_markers(header, pid))
            for p in people if listening else []:
                if p.person_id == 0:
                    continue  # untracked faces have no stable marker id
                pub = out[id(p)]
                ma.markers.extend(person_markers(header, p.person_id, vertices_cam(p), tri,
                                                 lm_ids, pub.rot, pub.trans,
                                                 cfg.marker_lifetime))
            if ma.markers:
                self.pub_markers.publish(ma)
        if self.pub_debug is not None and self.pub_debug.get_subscription_count() > 0:
            self._publish_debug(header, image, intr, people)

    def _publish_attention(self, header, target, people, fids, att_of) -> None:
        m = FaceAttentionArray()
        m.header = header
        m.target_frame = self.cfg.attention_target_frame
        m.cone = float(self.attention.cone)
        if target is not None:
            m.target.x, m.target.y, m.target.z = (float(v) for v in target)
        for p in people:
            a = att_of[id(p)]
            if a is None or p.person_id == 0:
                continue
            m.faces.append(FaceAttention(
                face_id=fids[id(p)], id=int(p.person_id), probability=a.probability,
                angle=a.angle, angle_std=a.angle_std, distance=a.distance,
                engagement=a.engagement, engagement_level=int(a.engagement_level)))
        self.pub_attention.publish(m)

    def _publish_debug(self, header, image, intr, people) -> None:
        img = draw_people(image, people, intr.K, intr.dist, self._lm_ids)
        f = bgr_to_image_fields(img, "bgr8")
        m = Image()
        m.header = header
        m.height, m.width, m.encoding = f["height"], f["width"], "bgr8"
        m.is_bigendian, m.step, m.data = 0, f["step"], f["data"]
        self.pub_debug.publish(m)

    # ------------------------------------------------------------------ diagnostics
    def stats(self) -> dict[str, float]:
        """Counters, time-windowed rates and latencies (also on /diagnostics)."""
        s = self.stats_window.snapshot(self._mailbox.received, self._mailbox.dropped)
        s["camera_info_waits"] = self._infos.waits
        return s

    def _publish_diagnostics(self) -> None:
        s = self.stats()
        st = DiagnosticStatus()
        # the fully qualified name: two nodes (two cameras) never share a diagnostics name
        st.name = f"{self.node.get_fully_qualified_name()}: head pose pipeline"
        st.hardware_id = (f"{getattr(self.estimator, 'device', self.cfg.device)} "
                          f"({getattr(self.estimator, 'backend', 'torch')})")
        level, st.message = self.stats_window.level(s)
        st.level = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR)[level]
        st.values = [KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
                     for k, v in s.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        arr.status = [st]
        self._diag_pub.publish(arr)


def _resolve_topic(node: Any, name: str, msg_type: type) -> str:
    """The fully resolved (namespaced, remapped) name of topic ``name``."""
    resolve = getattr(node, "resolve_topic_name", None)
    if resolve is not None:
        return resolve(name)
    sub = node.create_subscription(msg_type, name, lambda _m: None, 1)  # older rclpy
    try:
        return sub.topic_name
    finally:
        node.destroy_subscription(sub)


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
    try:
        rclpy.init(args=argv if argv is not None else sys.argv,
                   signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # rcl could not parse the --ros-args
        raise StartupError(f"invalid command line ({exc})") from exc


def spin_until(node: Any, stop: threading.Event) -> None:
    """Spin ``node`` until ``stop`` is set or ROS shuts down (checks every 0.1 s)."""
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
