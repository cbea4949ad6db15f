"""launch/pose.launch.py and the plain-Python plan behind it (head_pose_ros.ros.launch_setup).

- :func:`plan_launch` directly: which parameters, remappings, namespace, extra nodes and
  environment each set of command-line arguments gives;
- the launch FILE with the real ``launch`` / ``launch_ros`` (vendored, installed by
  scripts/setup_env.sh): the arguments it declares and the Node actions (executables,
  namespaces, remappings) it creates for given arguments;
- that rcl applies ``config/head_pose.yaml`` to a node in a namespace: test/test_node_params.py
  (``test_params_file_reaches_the_node_in_a_namespace``);
- the whole bring-up (``pose.launch.py demo:=true`` until a HeadPoseArray and the TF frames
  arrive) under ``launch_testing``: test/test_launch_testing.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from conftest import in_ci

from head_pose_ros.ros.launch_setup import LAUNCH_ARGUMENTS, plan_launch

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / "launch" / "pose.launch.py"
SHARE = "/opt/share/head_pose_ros"
YAML_DEFAULT = f"{SHARE}/config/head_pose.yaml"
ARGUMENTS = {
    "params_file", "image", "camera_info", "device", "backend", "namespace", "demo", "use_rviz",
    "weights", "video", "large_images", "image_transport", "frame_prefix", "autostart",
}


# ------------------------------------------------------------------ plan_launch, directly
def test_arguments_table():
    assert {a.name for a in LAUNCH_ARGUMENTS} == ARGUMENTS
    for a in LAUNCH_ARGUMENTS:
        assert len(a.description) > 10, a.name
        if a.name in ("device", "backend", "weights", "image_transport", "frame_prefix"):
            assert a.default == "", f"{a.name}: a default would silently override the YAML"


def test_nothing_given_the_params_file_decides():
    plan = plan_launch({}, SHARE)
    assert plan.node_parameters == [YAML_DEFAULT]  # no override dict at all
    assert plan.remappings == [("image", "image"), ("camera_info", "camera_info")]
    assert plan.namespace == "" and not plan.demo and not plan.rviz and plan.env == {}


def test_only_given_arguments_override():
    plan = plan_launch({"device": "cuda", "params_file": "/my.yaml", "backend": ""}, SHARE)
    assert plan.node_parameters == ["/my.yaml", {"device": "cuda"}]
    plan = plan_launch({"weights": "/w.safetensors", "image_transport": "compressed",
                        "frame_prefix": "left/"}, SHARE)
    assert plan.node_parameters == [YAML_DEFAULT, {"weights": "/w.safetensors",
                                                   "image_transport": "compressed",
                                                   "frame_prefix": "left/"}]


def test_remappings_namespace_demo_rviz_env():
    plan = plan_launch({"image": "/cam/image_rect", "camera_info": "/cam/camera_info",
                        "namespace": "robot1", "demo": "True", "use_rviz": "true",
                        "weights": "/w.safetensors", "large_images": "true"}, SHARE)
    assert plan.remappings == [("image", "/cam/image_rect"), ("camera_info", "/cam/camera_info")]
    assert plan.namespace == "robot1" and plan.demo and plan.rviz
    assert plan.demo_parameters == [{"video": "", "weights": "/w.safetensors"}]
    assert plan.rviz_config == f"{SHARE}/config/head_pose.rviz"
    assert plan.env == {"FASTDDS_DEFAULT_PROFILES_FILE":
                        f"{SHARE}/config/fastdds_large_images.xml"}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="demo:='maybe' must be true or false"):
        plan_launch({"demo": "maybe"}, SHARE)
    with pytest.raises(ValueError, match="unknown launch argument"):
        plan_launch({"devcie": "cuda"}, SHARE)


# ------------------------------------------------------------------ the launch file, real launch
def _real_launch():
    for mod in ("launch", "launch_ros", "ament_index_python"):
        if importlib.util.find_spec(mod) is None:
            why = (f"{mod} not installed: scripts/setup_env.sh installs the vendored launch "
                   "packages (apt: ros-$ROS_DISTRO-launch-ros)")
            if in_ci():
                pytest.fail(why, pytrace=False)
            pytest.skip(why)
    spec = importlib.util.spec_from_file_location("pose_launch_under_test", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nodes(cli: dict[str, str], monkeypatch) -> list[Any]:
    """The launch_ros Node actions pose.launch.py creates for ``cli`` (real launch: the
    arguments are declared, the OpaqueFunction runs; the processes are not started)."""
    from launch import LaunchContext
    from launch_ros.actions import Node

    monkeypatch.setattr("ament_index_python.packages.get_package_share_directory",
                        lambda pkg: SHARE)
    ctx = LaunchContext()
    ctx.launch_configurations.update(cli)
    nodes, pending = [], list(_real_launch().generate_launch_description().entities)
    while pending:
        e = pending.pop(0)
        if isinstance(e, Node):
            e._perform_substitutions(ctx)  # what launch_ros does before it starts the process
            nodes.append(e)
        else:
            pending[:0] = list(e.visit(ctx) or [])
    return nodes


def test_launch_file_declares_the_table() -> None:
    from launch.actions import DeclareLaunchArgument

    description = _real_launch().generate_launch_description()
    declared = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert declared == ARGUMENTS


def test_launch_file_starts_what_the_plan_says(monkeypatch) -> None:
    nodes = _nodes({}, monkeypatch)
    assert [n.node_executable for n in nodes] == ["head_pose_node"]
    assert nodes[0].node_name == "/head_pose_node"
    nodes = _nodes({"demo": "true", "use_rviz": "true", "namespace": "robot1",
                    "image": "/robot1/cam/image"}, monkeypatch)
    assert [n.node_executable for n in nodes] == ["head_pose_node", "head_pose_demo", "rviz2"]
    assert [n.expanded_node_namespace for n in nodes] == ["/robot1"] * 3
    node, demo = nodes[0], nodes[1]
    assert ("image", "/robot1/cam/image") in node.expanded_remapping_rules
    assert demo.expanded_remapping_rules == node.expanded_remapping_rules


def test_autostart_is_a_boolean_override_only_when_given():
    assert plan_launch({}, SHARE).node_parameters == [YAML_DEFAULT]
    assert plan_launch({"autostart": "false"}, SHARE).node_parameters == \
        [YAML_DEFAULT, {"autostart": False}]
    with pytest.raises(ValueError, match="autostart:='later' must be true or false"):
        plan_launch({"autostart": "later"}, SHARE)
