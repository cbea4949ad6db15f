"""Parameters of ``head_pose_node``: one table, declared with descriptions and ranges.

:data:`PARAMS` is the one place that names the parameters: :class:`NodeConfig` (one field per
entry), the declarations, ``config/head_pose.yaml`` (:func:`defaults_yaml`, kept in sync by a
test) and the set of tuning parameters (:data:`DYNAMIC`) all come from it.

Each parameter is declared with a ``ParameterDescriptor`` that carries its description, its
choices and its range, so ``ros2 param describe`` documents it. The tuning parameters (made
with :func:`tunable`: detection rhythm, tracker, filter, primary person, attention cone and
target, a few output switches) may change while the node runs; the others are read-only
(``ros2 param set`` answers that the parameter is read-only) and take effect at configure.
:func:`load_config` declares them all (once: a reconfigure reads them again), reads them, checks
them and returns a :class:`NodeConfig`; :func:`retune` checks a run-time change the same way.
Every invalid value is reported together in one :class:`ParameterError` whose message names the
parameter, the value and what is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, make_dataclass
from pathlib import Path
from typing import Any

from head_pose_ros.pipeline import PipelineConfig

__all__ = ["PARAMS", "DYNAMIC", "ParamSpec", "NodeConfig", "ParameterError", "load_config",
           "declare_parameters", "retune", "default_weights_path", "defaults_yaml", "validate",
           "tunable"]

PACKAGE = "head_pose_ros"
DEFAULT_WEIGHTS_NAME = "head_pose_trg.safetensors"  # share/head_pose_ros/weights/<this>


class ParameterError(ValueError):
    """One or more parameters are invalid; the message lists each problem."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    choices: tuple[Any, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    #: True: may change while the node runs (``ros2 param set``), through :func:`validate`;
    #: False: read-only, applied at configure
    dynamic: bool = False


def tunable(name: str, default: Any, description: str, **kw: Any) -> ParamSpec:
    """A :class:`ParamSpec` that may change while the node runs."""
    return ParamSpec(name, default, description + " Can change while the node runs.",
                     dynamic=True, **kw)


PARAMS: tuple[ParamSpec, ...] = (
    # --- lifecycle
    ParamSpec("autostart", True,
              "Configure and activate the node by itself at start (ros2 run and pose.launch.py "
              "do by default). false: the node starts unconfigured and waits for a lifecycle "
              "manager (lifecycle services configure / activate / deactivate / cleanup)."),
    # --- model and device
    ParamSpec("device", "cpu", "Inference device: 'cpu', 'cuda' or 'cuda:<index>'."),
    ParamSpec("allow_cpu_fallback", False,
              "If CUDA is requested but not available: true = run on the CPU with a warning, "
              "false = refuse to start."),
    ParamSpec("backend", "auto",
              "Inference backend: 'torch', 'onnxruntime' (CPU only, needs the onnxruntime and "
              "onnx packages; the model's ONNX graph is exported once, at the first start, into "
              "${XDG_CACHE_HOME:-~/.cache}/head_pose_ros/onnx; faster than torch on a CPU), "
              "'onnxruntime_int8' (the same graph with the regressors' linear layers in int8, "
              "made once beside it; faster again, accuracy cost in docs/BENCHMARKS.md) or "
              "'auto' (onnxruntime_int8 on the CPU when onnxruntime is installed, else torch). "
              "The node logs the backend it runs at start.",
              choices=("auto", "torch", "onnxruntime", "onnxruntime_int8")),
    ParamSpec("inference_threads", 0,
              "CPU threads of the network (torch intra-op and ONNX Runtime intra-op); 0 = the "
              "library default (one per core). On small machines 1 can be faster end to end: "
              "the face detector and the image conversion then keep a core (docs/BENCHMARKS.md).",
              lo=0, hi=256),
    ParamSpec("weights", "",
              "Path of the trained TRG checkpoint (.safetensors). Empty = the package's "
              f"default model share/{PACKAGE}/weights/{DEFAULT_WEIGHTS_NAME} if installed. "
              "The node refuses to start without valid weights."),
    # --- detection
    ParamSpec("detector", "auto",
              "Face detector: 'yunet' (YuNet from yunet_model, else from the user cache filled "
              "by head-pose-fetch-models; cv2.FaceDetectorYN, or ONNX Runtime on OpenCV < 4.8), "
              "'cascade' (OpenCV's Haar cascade from cv2.data or /usr/share/opencv4/"
              "haarcascades, frontal faces only) or 'auto' (yunet when yunet_model is set or "
              "the cache has the model, else cascade).",
              choices=("auto", "yunet", "cascade")),
    ParamSpec("yunet_model", "",
              "Path of face_detection_yunet_2023mar.onnx (OpenCV zoo). Empty = the copy that "
              "head-pose-fetch-models put into ~/.cache/head_pose_ros/models, if any; the node "
              "refuses to start if a given file is missing."),
    ParamSpec("detection_score_threshold", 0.6, "Minimum detector score of a face.",
              lo=0.0, hi=1.0),
    ParamSpec("detection_nms_threshold", 0.3, "YuNet non-maximum suppression IoU threshold.",
              lo=0.0, hi=1.0),
    ParamSpec("detection_max_side", 640,
              "Images are downscaled to this longer side before detection (0 = never).",
              lo=0, hi=8192),
    tunable("detect_every_n", PipelineConfig.detect_every_n,
              "Run the detector every N frames and follow faces from the previous frame's "
              "landmarks in between (1 = detect on every frame). The detector also runs "
              "whenever no face is followed, and on the next frame when a followed face's "
              "landmarks stop fitting it (docs/BENCHMARKS.md, issue 18).", lo=1, hi=1000),
    tunable("max_faces", 8, "At most this many faces (the largest) per frame.", lo=1, hi=64),
    tunable("min_face_size", 24, "Smallest face (box side, pixels) that is processed.",
              lo=1, hi=4096),
    # --- people / tracking
    ParamSpec("tracking", True,
              "Track people over frames: stable ids, temporal filtering. false: every face of "
              "every frame is reported with id 0, no filter, no TF."),
    tunable("primary_person", "largest",
              "Who is published on head_pose: 'largest' face box, 'closest' to the camera, or "
              "'tracked_id' (the person with id primary_id; nothing is published while that "
              "id is not visible).", choices=("largest", "closest", "tracked_id")),
    tunable("primary_id", 1, "Person id published on head_pose when primary_person is "
              "'tracked_id'.", lo=1, hi=2**31 - 1),
    tunable("tracker_min_hits", 3,
              "Frames in a row a face must be seen before it gets an id and is reported.",
              lo=1, hi=100),
    tunable("tracker_max_misses", 5,
              "Missed frames after which a person is removed (markers deleted).", lo=0, hi=1000),
    tunable("tracker_max_center_distance", 1.0,
              "Association gate: largest centre distance between a face and a track, in face "
              "sizes.", lo=0.0, hi=100.0),
    # --- temporal pose filter
    tunable("filter", "one_euro", "Temporal pose filter: 'one_euro' (SE(3) One-Euro) or "
              "'none'.", choices=("one_euro", "none")),
    tunable("filter_min_cutoff_t", 0.5, "One-Euro minimum cutoff of the translation (Hz): "
              "lower = smoother at rest.", lo=1e-3, hi=100.0),
    tunable("filter_beta_t", 10.0, "One-Euro speed coefficient of the translation "
              "(1/(m/s)): higher = less lag when moving.", lo=0.0, hi=1e4),
    tunable("filter_min_cutoff_r", 0.5, "One-Euro minimum cutoff of the rotation (Hz).",
              lo=1e-3, hi=100.0),
    tunable("filter_beta_r", 0.5, "One-Euro speed coefficient of the rotation (1/(rad/s)).",
              lo=0.0, hi=1e4),
    tunable("filter_d_cutoff", 1.0, "One-Euro cutoff of the speed estimate (Hz).",
              lo=1e-3, hi=100.0),
    tunable("filter_reset_after", 0.5,
              "A gap longer than this (s) between observations restarts the filter.",
              lo=0.0, hi=60.0),
    # --- camera
    ParamSpec("image_transport", "raw",
              "Input transport: 'raw' (sensor_msgs/Image on 'image') or 'compressed' "
              "(sensor_msgs/CompressedImage, JPEG or PNG, on '<image>/compressed' as "
              "image_transport's compressed transport publishes it; <image> is the resolved, "
              "remapped 'image' topic).", choices=("raw", "compressed")),
    ParamSpec("image_is_rectified", "auto",
              "'true': the image is rectified, intrinsics = CameraInfo P[0:3,0:3]. 'false': raw "
              "image, intrinsics K and distortion D (plumb_bob, rational_polynomial). 'auto': "
              "rectified if D is all zero or the resolved image topic name contains 'rect'.",
              choices=("auto", "true", "false")),
    tunable("camera_info_tolerance", 0.02,
              "Largest stamp difference (s) for pairing an image with a CameraInfo when no "
              "stamp matches exactly; beyond it the latest CameraInfo is used (one warning).",
              lo=0.0, hi=10.0),
    tunable("camera_info_wait", 0.05,
              "How long (s) an image may wait for its CameraInfo to arrive. Only the first image "
              "waits while no CameraInfo has ever arrived, and images stop waiting while the "
              "CameraInfo comes slower than the images (the latest one is used then), so a "
              "missing or slow CameraInfo never costs this on every frame.", lo=0.0, hi=1.0),
    tunable("mono16_scaling", "minmax",
              "16-bit images to 8 bit: 'minmax' (stretch each frame) or 'shift' (>> 8).",
              choices=("minmax", "shift")),
    # --- outputs
    ParamSpec("publish_tf", True, "Broadcast face_<id> and gaze_<id> (REP-155) on /tf."),
    ParamSpec("frame_prefix", "",
              "Prefix of the TF frames of the people: '<frame_prefix>face_<id>' and "
              "'<frame_prefix>gaze_<id>', <id> = the REP-155 face id (unique per node, see "
              "hri_face_id_prefix). Keep it empty for ROS4HRI consumers: they look up "
              "gaze_<id> without a prefix."),
    ParamSpec("publish_markers", True, "Publish the MarkerArray on 'markers'."),
    ParamSpec("publish_debug_image", False,
              "Publish 'debug_image' (boxes, landmarks, axes drawn on the input)."),
    tunable("publish_dense_landmarks", False,
              "Fill HeadPose.vertices with the 1220 dense landmarks (about 15 KB per person)."),
    tunable("marker_lifetime", 0.5, "Lifetime of the markers (s); lost people are also "
              "deleted explicitly.", lo=0.0, hi=60.0),
    ParamSpec("diagnostics_period", 1.0, "Period of /diagnostics (s); 0 = off.",
              lo=0.0, hi=60.0),
    # --- ROS4HRI (REP-155) and attention
    ParamSpec("publish_hri", True,
              "Publish the ROS4HRI face topics (<hri_namespace>/tracked, <hri_namespace>/<id>/"
              "roi, cropped, aligned, frontalized, landmarks) when hri_msgs is installed (else "
              "one log line). Needs tracking."),
    ParamSpec("hri_namespace", "/humans/faces",
              "Namespace of the ROS4HRI face topics (REP-155: /humans/faces)."),
    ParamSpec("hri_face_id_prefix", "",
              "Prefix of the REP-155 face ids '<prefix><track number>' (also the TF frames "
              "face_<id> / gaze_<id> and HeadPose.face_id). Empty = 5 random letters drawn at "
              "start, so two nodes never share an id; else letters, digits, '_', starting with "
              "a letter."),
    ParamSpec("hri_image_width", 128, "Width of the cropped / aligned face images (px).",
              lo=16, hi=1024),
    ParamSpec("hri_image_height", 128, "Height of the cropped / aligned face images (px).",
              lo=16, hi=1024),
    ParamSpec("publish_attention", True,
              "Publish 'attention' (head_pose_ros/FaceAttentionArray): per face, the "
              "probability that the head is directed at the target, and the angle to it "
              "(also in HeadPose.attention / attention_angle)."),
    ParamSpec("attention_target_frame", "",
              "TF frame of the attention target (e.g. the robot's face); empty = the camera's "
              "optical frame. Looked up on /tf and /tf_static (latest transforms)."),
    tunable("attention_target_x", 0.0, "Target point x (m) in attention_target_frame.",
              lo=-1e3, hi=1e3),
    tunable("attention_target_y", 0.0, "Target point y (m) in attention_target_frame.",
              lo=-1e3, hi=1e3),
    tunable("attention_target_z", 0.0, "Target point z (m) in attention_target_frame.",
              lo=-1e3, hi=1e3),
    tunable("attention_cone_deg", 15.0,
              "Half-angle (deg) of the cone around the head direction within which the target "
              "counts as looked at.", lo=0.5, hi=90.0),
    tunable("attention_cov_scale", 0.0,
              "Scale of the pose standard deviations in the attention integral; 0 = the "
              "calibrated default of head_pose_ros.attention (docs/HRI.md).", lo=0.0, hi=100.0),
    ParamSpec("publish_engagement", False,
              "Compute the ROS4HRI visual social engagement (mutual gaze x distance, as "
              "hri_engagement) per face with its hysteresis states: FaceAttention.engagement / "
              "engagement_level and <hri_namespace>/<id>/engagement_status."),
    ParamSpec("engagement_reference_frame", "",
              "Robot reference frame of the engagement, x forward (e.g. sellion_link); empty = "
              "the camera, with x along its optical axis."),
    ParamSpec("engagement_fov_deg", 60.0, "Engagement field of view (deg, used as tan(fov)).",
              lo=1.0, hi=89.0),
    ParamSpec("engagement_max_distance", 4.0, "Engagement max distance (m).", lo=0.1, hi=100.0),
    tunable("engagement_threshold", 0.5, "Score above which a sample counts as engaged.",
              lo=0.0, hi=1.0),
    ParamSpec("engagement_window", 10.0, "Engagement history window (s).", lo=0.1, hi=600.0),
    ParamSpec("engagement_rate", 10.0, "Engagement history sampling rate (Hz).",
              lo=0.1, hi=100.0),
)


def _defaults(cls: type) -> Any:
    return cls(**{p.name: p.default for p in PARAMS})


#: All parameter values, one field per :data:`PARAMS` entry (same name, the default's type);
#: ``NodeConfig.defaults()`` holds every default.
NodeConfig = make_dataclass(
    "NodeConfig", [(p.name, type(p.default)) for p in PARAMS],
    namespace={"defaults": classmethod(_defaults),
               "__doc__": "All parameter values (names and types as in :data:`PARAMS`)."})

#: the names of the parameters that may change while the node runs
DYNAMIC: frozenset[str] = frozenset(p.name for p in PARAMS if p.dynamic)


def default_weights_path() -> str:
    """The installed default model, or '' when the package installs none."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory(PACKAGE))
    except Exception:  # not installed through ament (pip install, source tree)
        return ""
    p = share / "weights" / DEFAULT_WEIGHTS_NAME
    return str(p) if p.is_file() else ""


def _normalise(spec: ParamSpec, value: Any) -> Any:
    """Accept YAML/CLI spellings: ints for floats, 'true'/'false' strings for the tristate."""
    if isinstance(spec.default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec.name == "image_is_rectified" and isinstance(value, bool):
        return "true" if value else "false"
    return value


def validate(values: dict[str, Any]) -> NodeConfig:
    """Check every value against its spec; raise :class:`ParameterError` listing all problems."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for spec in PARAMS:
        v = _normalise(spec, values.get(spec.name, spec.default))
        want = type(spec.default)
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if type(v) is not want:
            problems.append(f"'{spec.name}' must be a {want.__name__}, got {v!r}")
            continue
        if isinstance(v, str):
            v = v.strip()
            if spec.choices is not None and v.lower() in {str(c) for c in spec.choices}:
                v = v.lower()
        if spec.choices is not None and v not in spec.choices:
            problems.append(f"'{spec.name}' = {v!r} is not one of {list(spec.choices)}")
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            if v != v or v in (float("inf"), float("-inf")):
                problems.append(f"'{spec.name}' = {v!r} is not a finite number")
                continue
            if (spec.lo is not None and v < spec.lo) or (spec.hi is not None and v > spec.hi):
                problems.append(f"'{spec.name}' = {v!r} is outside [{spec.lo}, {spec.hi}]")
                continue
        out[spec.name] = v
    if not problems:
        dev = out["device"]
        if not (dev == "cpu" or dev == "cuda" or (dev.startswith("cuda:") and dev[5:].isdigit())):
            problems.append(f"'device' = {dev!r} must be 'cpu', 'cuda' or 'cuda:<index>'")
        fp = out["frame_prefix"]
        if fp and not re.fullmatch(r"[^/\s]\S*", fp):
            problems.append(f"'frame_prefix' = {fp!r} must be empty or a TF frame name prefix "
                            "(no spaces, no leading '/': tf2 refuses those)")
        pre = out["hri_face_id_prefix"]
        if pre and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", pre):
            problems.append(f"'hri_face_id_prefix' = {pre!r} must be empty or start with a letter "
                            "and contain only letters, digits and '_' (REP-155 ids)")
        ns = out["hri_namespace"]
        if not re.fullmatch(r"/?[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*", ns):
            problems.append(f"'hri_namespace' = {ns!r} is not a topic namespace")
    if problems:
        raise ParameterError("invalid parameters:\n  - " + "\n  - ".join(problems))
    cfg = NodeConfig(**out)
    if not cfg.weights:
        cfg.weights = default_weights_path()
    cfg.weights = os.path.expanduser(cfg.weights)
    cfg.yunet_model = os.path.expanduser(cfg.yunet_model)
    return cfg


def _descriptor(spec: ParamSpec):
    from rcl_interfaces.msg import (
        FloatingPointRange,
        IntegerRange,
        ParameterDescriptor,
        ParameterType,
    )

    kind = {
        bool: ParameterType.PARAMETER_BOOL,
        int: ParameterType.PARAMETER_INTEGER,
        float: ParameterType.PARAMETER_DOUBLE,
        str: ParameterType.PARAMETER_STRING,
    }[type(spec.default)]
    desc = ParameterDescriptor(
        name=spec.name, type=kind, description=spec.description, read_only=not spec.dynamic,
        # accept 1 for 1.0 or true for 'true' here; validate() checks the type and says so
        dynamic_typing=True,
    )
    if spec.choices is not None:
        desc.additional_constraints = "one of: " + ", ".join(str(c) for c in spec.choices)
    # Ranges are documented in the descriptor text; they are enforced by validate() so that
    # every bad value is reported together with a clear message (rclpy would raise on the first).
    if spec.lo is not None and spec.hi is not None:
        rng = f"range [{spec.lo}, {spec.hi}]"
        desc.additional_constraints = (desc.additional_constraints + "; " + rng).lstrip("; ")
        if isinstance(spec.default, float):
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(spec.lo), to_value=float(spec.hi), step=0.0)
            ]
        else:
            desc.integer_range = [IntegerRange(from_value=int(spec.lo), to_value=int(spec.hi),
                                               step=0)]
    return desc


def declare_parameters(node: Any) -> None:
    """Declare every parameter of :data:`PARAMS` on ``node`` (rclpy Node) that is not declared.

    rclpy refuses an out-of-range override at declaration; such a parameter is declared again
    without the range so that :func:`validate` reports it together with every other problem.
    """
    from rclpy.exceptions import InvalidParameterValueException

    for spec in PARAMS:
        if node.has_parameter(spec.name):
            continue
        try:
            node.declare_parameter(spec.name, spec.default, _descriptor(spec))
        except InvalidParameterValueException:
            d = _descriptor(spec)
            d.floating_point_range = []
            d.integer_range = []
            node.declare_parameter(spec.name, spec.default, d)


def load_config(node: Any) -> NodeConfig:
    """Declare (:func:`declare_parameters`), read and validate every parameter of ``node``."""
    declare_parameters(node)
    return validate({spec.name: node.get_parameter(spec.name).value for spec in PARAMS})


def retune(cfg: NodeConfig, changes: dict[str, Any]) -> NodeConfig:
    """``cfg`` with ``changes`` (name -> new value) applied, checked by :func:`validate`.

    Raises :class:`ParameterError` for an unknown or read-only name (with what to do instead)
    and for every invalid value; ``cfg`` itself is never modified.
    """
    fixed = sorted(n for n in changes if n not in DYNAMIC)
    if fixed:
        raise ParameterError(f"{fixed} cannot change while the node runs (read-only): set them "
                             "in the parameter file or on the command line and reconfigure "
                             "(lifecycle cleanup + configure) or restart the node")
    return validate({**asdict(cfg), **changes})


def defaults_yaml(node_name: str = "/**") -> str:
    """The YAML parameter file with every default and its description as a comment.

    ``node_name`` ``/**`` (the default, what ``config/head_pose.yaml`` uses) applies the file to
    the node under any name and namespace (``namespace:=robot1``, ``__node:=left_cam``)."""
    lines = [
        "# head_pose_node parameters (defaults). Generated from head_pose_ros/ros/params.py:",
        "#   python -m head_pose_ros.ros.params > config/head_pose.yaml",
        "# (test/test_node_params.py keeps both in sync). '/**' applies the file to the node",
        "# under any name and namespace.",
        f"{node_name}:", "  ros__parameters:"]
    for spec in PARAMS:
        words = spec.description.split()
        line = "    #"
        for w in words:
            if len(line) + 1 + len(w) > 98:
                lines.append(line)
                line = "    #"
            line += " " + w
        lines.append(line)
        v = spec.default
        if isinstance(v, bool):
            txt = "true" if v else "false"
        elif isinstance(v, str):
            txt = f'"{v}"'
        else:
            txt = repr(v)
        lines.append(f"    {spec.name}: {txt}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(defaults_yaml(), end="")
