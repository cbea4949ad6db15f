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

Lifecycle (:mod:`head_pose_ros.ros.lifecycle`, the executable): configure refuses (a FAILURE
with one clear message; with autostart exit code 2) invalid parameters, missing or corrupt
weights, a missing YuNet model, and CUDA requested but absent unless ``allow_cpu_fallback``.
At run time bad input is logged once per kind of problem and skipped (counted in
/diagnostics).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from head_pose_ros.backends import describe_backend
from head_pose_ros.detection import resolve_detector
from head_pose_ros.hri_faces import FaceIds
from head_pose_ros.image_encoding import ImageEncodingError, bgr_to_image_fields, image_msg_to_bgr
from head_pose_ros.msg import FaceAttention, FaceAttentionArray, HeadPose, HeadPoseArray
from head_pose_ros.overlay import draw_people
from head_pose_ros.person import PublishedPerson, published_person
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig, TrackedHead
from head_pose_ros.ros.attention_out import AttentionOutput
from head_pose_ros.ros.camera import (
    CameraInfoError,
    CameraInfoPairer,
    CameraIntrinsics,
    intrinsics_from_camera_info,
    stamp_to_sec,
)
from head_pose_ros.ros.compressed import compressed_msg_to_bgr, compressed_topic
from head_pose_ros.ros.conversions import head_pose_msg, pose_with_covariance_msg, transform_msg
from head_pose_ros.ros.entities import destroy_entities, entity_difference, entity_snapshot
from head_pose_ros.ros.hri import FaceOutput, HriFacePublisher, load_hri_msgs
from head_pose_ros.ros.markers import delete_markers, person_markers
from head_pose_ros.ros.params import NodeConfig, ParameterError, load_config, retune
from head_pose_ros.ros.runtime import (
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

__all__ = ["HeadPoseNode", "StartupError", "FrameMailbox", "resolve_device", "load_estimator"]


class HeadPoseNode:
    """The node's work, composed over an rclpy (lifecycle) node: built in :meth:`create`.

    Construction (the lifecycle *configure*) creates the publishers and the pipeline;
    :meth:`activate` the subscriptions, the worker thread and the timers; :meth:`deactivate`
    destroys those again (a deactivated node has no thread, timer or subscription: it uses no
    CPU) and forgets every face; :meth:`close` (*cleanup*) destroys everything it created.
    ``active=True`` (the default) activates at once. Tuning parameters set while the node runs
    (:data:`head_pose_ros.ros.params.DYNAMIC`) are checked by the same validation and applied
    by the worker between two frames.
    """

    def __init__(self, node: Any, cfg: NodeConfig, estimator: Any, detector: Any,
                 active: bool = True) -> None:
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
        self._accepted = cfg  # the newest accepted configuration (executor thread)
        self._pending: NodeConfig | None = None  # applied by the worker before its next frame
        self._pending_lock = threading.Lock()
        self._active_entities: list[Any] = []
        self._worker: threading.Thread | None = None
        self._running = False
        created = entity_snapshot(node)

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
        self.tf_buffer: TFBuffer | None = None  # created on activate when a target needs TF
        self.attention = AttentionOutput(cfg, None, self.log.warning)
        self.pub_attention = (node.create_publisher(FaceAttentionArray, "attention", 10)
                              if cfg.publish_attention else None)
        self._diag_pub = None
        if cfg.diagnostics_period > 0:
            if DiagnosticArray is None:
                self.log.warning("diagnostic_msgs is not installed: no /diagnostics")
            else:
                self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # the image topic as remapped ('image' -> /camera/image_rect): the compressed transport
        # lives below it, and 'auto' rectification looks at its name
        self.image_topic = _resolve_topic(node, "image", Image)
        self.compressed = cfg.image_transport == "compressed"
        node.add_on_set_parameters_callback(self._on_set_parameters)
        self._entities: list[Any] | None = entity_difference(node, created)
        if active:
            self.activate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, node: Any, active: bool = True) -> HeadPoseNode:
        """Declare parameters, check them, load the detector and the model (raises
        :class:`ParameterError` or :class:`StartupError` with the reason)."""
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
        return cls(node, cfg, estimator, detector, active=active)

    # ------------------------------------------------------------------ lifecycle
    def activate(self) -> None:
        """Subscribe, start the worker and the timers (no-op when active)."""
        if self._running:
            return
        node, cfg = self.node, self.cfg
        before = entity_snapshot(node)
        need_tf = bool(cfg.attention_target_frame or (cfg.publish_engagement
                                                      and cfg.engagement_reference_frame))
        self.tf_buffer = self.attention.tf = TFBuffer(node) if need_tf else None
        if self._diag_pub is not None:
            node.create_timer(cfg.diagnostics_period, self._publish_diagnostics)
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
        self._active_entities = entity_difference(node, before)
        self._mailbox.reopen()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="head_pose_worker", daemon=True)
        self._worker.start()
        self.log.info(
            f"head_pose_node ready: image '{self.sub_image.topic_name}' "
            f"({'sensor_msgs/CompressedImage' if self.compressed else 'sensor_msgs/Image'}), "
            f"camera_info '{self.sub_info.topic_name}', detector "
            f"{type(self.detector).__name__}, device "
            f"{getattr(self.estimator, 'device', cfg.device)}"
            + (f", TF frames '{cfg.frame_prefix}face_<id>'" if self.tf is not None else "")
            + f", face ids '{self.face_ids.prefix}<n>'"
            + (f", ROS4HRI on '{self.hri.ns}'" if self.hri is not None else "")
        )

    def deactivate(self) -> None:
        """Stop the worker, destroy the subscriptions and timers, forget every face (their
        per-face topics and markers go; new ids after the next activate). No-op when inactive.
        Call it from the executor's thread (a lifecycle transition) or with the executor
        stopped."""
        if not self._running:
            return
        self._running = False
        self._mailbox.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=5.0)
        destroy_entities(self.node, self._active_entities)
        self._active_entities = []
        self.tf_buffer = self.attention.tf = None
        removed = self.pipeline.reset()
        if self.pub_markers is not None and removed:
            ma = MarkerArray()
            for pid in removed:
                ma.markers.extend(delete_markers(Header(), pid))
            self.pub_markers.publish(ma)
        if self.hri is not None:
            self.hri.close()

    def close(self) -> None:
        """Deactivate and destroy every publisher, subscription and timer this object made
        (the lifecycle *cleanup*: a new :meth:`create` may follow on the same node)."""
        self.deactivate()
        if self._entities is None:
            return  # closed already
        self.node.remove_on_set_parameters_callback(self._on_set_parameters)
        destroy_entities(self.node, self._entities)
        self._entities = None

    def _on_set_parameters(self, params: list[Any]) -> Any:
        """Executor thread: check run-time changes of tuning parameters (read-only ones are
        refused by rclpy before this); accepted ones reach the worker before its next frame."""
        from rcl_interfaces.msg import SetParametersResult

        changes = {p.name: p.value for p in params if hasattr(self._accepted, p.name)}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = retune(self._accepted, changes)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        with self._pending_lock:
            self._accepted = self._pending = new
        self.log.info("parameters changed: " + ", ".join(f"{k}={v!r}"
                                                         for k, v in changes.items()))
        return SetParametersResult(successful=True)

    def _apply_pending(self) -> None:
        """Worker thread, between two frames: take the newest accepted parameters."""
        with self._pending_lock:
            cfg, self._pending = self._pending, None
        if cfg is None:
            return
        self.cfg = cfg
        self.pipeline.configure(PipelineConfig.from_object(cfg))
        self.attention.retune(cfg)

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
    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.stats_window.record_received()
        self._mailbox.put((msg, time.monotonic()))

    def _on_info(self, msg: CameraInfo) -> None:
        self._infos.add(stamp_to_sec(msg.header.stamp), msg.header.frame_id, msg)

    def _pair_info(self, msg: Image | CompressedImage) -> tuple[CameraInfo | None, str]:
        return self._infos.pair(stamp_to_sec(msg.header.stamp), msg.header.frame_id,
                                self.cfg.camera_info_tolerance, self.cfg.camera_info_wait)

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while self._running:
            item = self._mailbox.take(timeout=0.2)
            if item is None:
                continue
            if self._pending is not None:
                self._apply_pending()
            msg, t_recv = item
            try:
                self._process(msg, t_recv)
            except Exception as exc:  # never let one frame kill the node
                text = f"{type(exc).__name__}: {exc}"
                self.stats_window.record_failure("errors", text)
                self._once_log(problem_key("exc", exc), "error",
                               f"frame skipped, unexpected {text}")

    def _decode(self, msg: Image | CompressedImage) -> np.ndarray | None:
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

    def _process(self, msg: Image | CompressedImage, t_recv: float) -> None:
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

        t_conv = time.monotonic()
        res = self.pipeline.process(image, intr.K, stamp_to_sec(msg.header.stamp),
                                    dist=intr.dist, intrinsics_guessed=not intr.calibrated)
        if res.n_estimates == 0:
            self._once_log("noface", "info", "no face in the image (said once)")
        t_pipe = time.monotonic()
        self._publish(msg.header, image, intr, res.people, res.removed)
        t1 = time.monotonic()
        stages = {"receive": t0 - t_recv, "convert": t_conv - t0, **res.timings,
                  "publish": t1 - t_pipe}
        self.stats_window.record_done(t1 - t_recv, t1 - t0, len(res.people), res.detector_ran,
                                      stages=stages)

    # ------------------------------------------------------------------ outputs
    def _primary(self, people: list[TrackedHead]) -> TrackedHead | None:
        return select_primary(people, self.cfg.primary_person, self.cfg.primary_id)

    def _publish(self, header: Header, image: np.ndarray, intr: CameraIntrinsics,
                 people: list[TrackedHead],
                 removed: list[int]) -> None:
        cfg = self.cfg
        topo = self.topology
        lm_ids = self._lm_ids
        tri = getattr(topo, "triangles", None)
        arr = HeadPoseArray()
        arr.header = header
        out: dict[int, PublishedPerson] = {id(p): published_person(p, topo) for p in people}
        fids = {id(p): self.face_ids(p.person_id) for p in people}
        lost = [self.face_ids(pid) for pid in removed]
        target, att = self.attention.compute(
            header.frame_id, stamp_to_sec(header.stamp), [(fids[id(p)], out[id(p)])
                                                          for p in people], lost)
        att_of = {id(p): a for p, a in zip(people, att, strict=True)}
        for p in people:
            pub = out[id(p)]
            a = att_of[id(p)]
            arr.heads.append(head_pose_msg(
                HeadPose, person_id=p.person_id, frames_seen=p.frames_seen,
                rot=pub.rot, trans=pub.trans, cov=pub.cov, box=p.est.box, score=p.est.score,
                landmarks68=p.est.landmarks68,
                vertices=pub.vertices_face() if cfg.publish_dense_landmarks else None,
                topology_name=getattr(topo, "name", ""), face_width=pub.face_width,
                face_area=pub.face_area, face_id=fids[id(p)],
                attention=a.probability if a else float("nan"),
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
                conf = vis = vcam = None
                if self.hri.wants_landmarks(fids[id(p)]):  # self-occlusion: ~0.5 ms a face
                    conf, vis = pub.landmark_confidence(topo)
                    vcam = pub.vertices_cam() if vis is not None else None
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
                ma.markers.extend(person_markers(header, p.person_id, pub.vertices_cam(), tri,
                                                 lm_ids, pub.rot, pub.trans,
                                                 cfg.marker_lifetime))
            if ma.markers:
                self.pub_markers.publish(ma)
        if self.pub_debug is not None and self.pub_debug.get_subscription_count() > 0:
            self._publish_debug(header, image, intr, people)

    def _publish_attention(self, header: Header, target: np.ndarray | None,
                           people: list[TrackedHead], fids: dict[int, str],
                           att_of: dict[int, Any]) -> None:
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

    def _publish_debug(self, header: Header, image: np.ndarray, intr: CameraIntrinsics,
                       people: list[TrackedHead]) -> None:
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
