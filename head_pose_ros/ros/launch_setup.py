"""What ``launch/pose.launch.py`` starts, as plain Python (no ``launch`` / ``launch_ros`` import).

The launch file only turns :data:`LAUNCH_ARGUMENTS` into ``DeclareLaunchArgument`` actions and,
at launch time, hands the values of the arguments to :func:`plan_launch`, which decides
everything else: the node's parameter list and remappings, its namespace, whether the demo source
and RViz start, and the environment. So the decisions are tested directly
(``test/test_ros_launch.py``), without the real ``launch_ros`` (not installable from PyPI).

Rules:
- the parameters file (``params_file``, default: the installed ``config/head_pose.yaml``, keyed
  ``/**`` so it applies under any namespace and node name) comes first;
- ``device``, ``backend``, ``weights``, ``image_transport`` and ``frame_prefix`` override it
  ONLY when given on the command line (their launch defaults are empty = "not given"), so what
  the YAML says is what the node gets otherwise;
- ``autostart`` (the lifecycle: configure + activate at start, or wait for a lifecycle
  manager) likewise, as a boolean;
- ``image`` / ``camera_info`` remap the node's (and the demo source's) topics.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LaunchArgument", "LAUNCH_ARGUMENTS", "NODE_OVERRIDES", "LaunchPlan", "plan_launch",
           "parse_bool"]

PACKAGE = "head_pose_ros"


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


#: Node parameters that a launch argument overrides only when it is given (non-empty).
NODE_OVERRIDES = ("device", "backend", "weights", "image_transport", "frame_prefix")

LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("params_file", "",
                   "YAML file with the head_pose_node parameters (empty = the installed "
                   "share/head_pose_ros/config/head_pose.yaml)"),
    LaunchArgument("image", "image", "input image topic (remaps 'image'; the compressed "
                   "transport subscribes to '<image>/compressed')"),
    LaunchArgument("camera_info", "camera_info", "input CameraInfo topic (remaps 'camera_info')"),
    LaunchArgument("device", "", "inference device (cpu, cuda, cuda:0); empty = the params file"),
    LaunchArgument("backend", "", "inference backend (auto, torch, onnxruntime: CPU only); "
                   "empty = the params file"),
    LaunchArgument("weights", "", "model checkpoint (.safetensors) for the node and the demo "
                   "source; empty = the params file (whose default is the installed model)"),
    LaunchArgument("image_transport", "", "input transport: raw or compressed; empty = the "
                   "params file"),
    LaunchArgument("frame_prefix", "", "prefix of the TF frames (<prefix>face_<id>), one per "
                   "node that shares /tf; empty = the params file"),
    LaunchArgument("autostart", "", "true: the node configures and activates itself; false: "
                   "it waits unconfigured for the robot's lifecycle manager (ros2 lifecycle "
                   "set, nav2_lifecycle_manager); empty = the params file (default true)"),
    LaunchArgument("namespace", "", "namespace of the started nodes"),
    LaunchArgument("demo", "false", "also start head_pose_demo (built-in input on the node's "
                   "image topics, no camera needed)"),
    LaunchArgument("use_rviz", "false", "also start rviz2 with config/head_pose.rviz"),
    LaunchArgument("video", "", "demo only: video file to play instead of synthetic frames"),
    LaunchArgument("large_images", "false", "use the Fast DDS profile "
                   "config/fastdds_large_images.xml for the started processes (images over "
                   "~512 KB; the camera driver must use it too)"),
)

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def parse_bool(name: str, value: str) -> bool:
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"launch argument {name}:={value!r} must be true or false")


@dataclass
class LaunchPlan:
    """Everything the launch file starts, with plain values."""

    namespace: str
    node_parameters: list[Any]  # [params file path, {overrides given on the command line}]
    remappings: list[tuple[str, str]]
    demo: bool = False
    demo_parameters: list[dict[str, Any]] = field(default_factory=list)
    rviz: bool = False
    rviz_config: str = ""
    env: dict[str, str] = field(default_factory=dict)


def plan_launch(given: Mapping[str, str], share_dir: str) -> LaunchPlan:
    """The plan for the launch argument values ``given`` (name -> string, as ``ros2 launch``
    passes them; a missing name or the empty string means "not given").

    ``share_dir``: ``share/head_pose_ros`` of the installed package.
    Raises ValueError for an unknown argument or a boolean that is not true/false.
    """
    known = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"unknown launch argument(s) {sorted(unknown)}; known: {sorted(known)}")
    args = {k: str(given.get(k, d)).strip() for k, d in known.items()}
    params_file = args["params_file"] or os.path.join(share_dir, "config", "head_pose.yaml")
    overrides: dict[str, Any] = {k: args[k] for k in NODE_OVERRIDES if args[k]}
    if args["autostart"]:
        overrides["autostart"] = parse_bool("autostart", args["autostart"])
    parameters: list[Any] = [params_file]
    if overrides:
        parameters.append(overrides)
    remappings = [("image", args["image"] or "image"),
                  ("camera_info", args["camera_info"] or "camera_info")]
    demo = parse_bool("demo", args["demo"])
    demo_params = {"video": args["video"]}
    if args["weights"]:
        demo_params["weights"] = args["weights"]
    env = {}
    if parse_bool("large_images", args["large_images"]):
        # only this variable: setting FASTRTPS_DEFAULT_PROFILES_FILE too loads the profile twice
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = os.path.join(share_dir, "config",
                                                            "fastdds_large_images.xml")
    return LaunchPlan(
        namespace=args["namespace"],
        node_parameters=parameters,
        remappings=remappings,
        demo=demo,
        demo_parameters=[demo_params] if demo else [],
        rviz=parse_bool("use_rviz", args["use_rviz"]),
        rviz_config=os.path.join(share_dir, "config", "head_pose.rviz"),
        env=env,
    )
