"""Node parameters: declared with descriptions/ranges, validated, YAML in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from head_pose_ros.ros.params import (
    PARAMS,
    NodeConfig,
    ParameterError,
    defaults_yaml,
    validate,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_valid():
    cfg = validate({})
    assert isinstance(cfg, NodeConfig)
    assert cfg.detector == "auto" and cfg.device == "cpu" and cfg.backend == "auto"


def test_yaml_file_is_the_generated_one_and_applies_under_any_namespace():
    """config/head_pose.yaml == `python -m head_pose_ros.ros.params` (text), keyed '/**' so
    that a namespace or a renamed node still gets it (issue 13, item 3)."""
    text = (REPO_ROOT / "config" / "head_pose.yaml").read_text()
    assert text == defaults_yaml(), "regenerate: python -m head_pose_ros.ros.params > " \
                                    "config/head_pose.yaml"
    data = yaml.safe_load(text)
    assert list(data) == ["/**"]
    assert data["/**"]["ros__parameters"] == {p.name: p.default for p in PARAMS}


@pytest.mark.ros
def test_params_file_reaches_the_node_in_a_namespace(tmp_path):
    """rcl itself (not a mock) applies the shipped file to a node in a namespace and to a
    renamed node: a value changed in a copy of the file arrives in both."""
    import rclpy

    from head_pose_ros.ros.params import load_config

    text = (REPO_ROOT / "config" / "head_pose.yaml").read_text()
    assert "    max_faces: 8\n" in text
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("    max_faces: 8\n", "    max_faces: 3\n"))
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=["--ros-args", "--params-file", str(path)])
    try:
        for name, ns in (("head_pose_node", "robot1"), ("left_cam", "/a/b")):
            node = rclpy.create_node(name, namespace=ns, context=ctx)
            try:
                assert load_config(node).max_faces == 3, (name, ns)
            finally:
                node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_frame_prefix_must_be_a_frame_name():
    assert validate({"frame_prefix": "left_cam/"}).frame_prefix == "left_cam/"
    for bad in ("/left", "a b", "cam/ x"):
        with pytest.raises(ParameterError, match="'frame_prefix'"):
            validate({"frame_prefix": bad})


def test_every_parameter_is_described():
    for p in PARAMS:
        assert len(p.description) > 15, p.name
        if isinstance(p.default, int | float) and not isinstance(p.default, bool):
            assert p.lo is not None and p.hi is not None, f"{p.name} has no range"
            assert p.lo <= p.default <= p.hi


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"device": "gpu"}, "'device' = 'gpu' must be 'cpu', 'cuda' or 'cuda:<index>'"),
        ({"detector": "hog"}, "'detector' = 'hog' is not one of"),
        ({"backend": "tensorrt"},
         "'backend' = 'tensorrt' is not one of ['auto', 'torch', 'onnxruntime', 'onnxruntime_int8']"),
        ({"detect_every_n": 0}, "'detect_every_n' = 0 is outside [1, 1000]"),
        ({"detection_score_threshold": 1.5}, "'detection_score_threshold' = 1.5 is outside"),
        ({"filter_beta_t": float("nan")}, "not a finite number"),
        ({"primary_person": "loudest"}, "'primary_person' = 'loudest' is not one of"),
        ({"max_faces": "3"}, "'max_faces' must be a int"),
        ({"publish_tf": "yes"}, "'publish_tf' must be a bool"),
    ],
)
def test_invalid_values_are_refused_clearly(values, needle):
    with pytest.raises(ParameterError) as ei:
        validate(values)
    assert needle in str(ei.value)


def test_all_problems_reported_together_and_lenient_spellings():
    with pytest.raises(ParameterError) as ei:
        validate({"detector": "hog", "max_faces": 0, "filter": "kalman"})
    msg = str(ei.value)
    assert "detector" in msg and "max_faces" in msg and "filter" in msg
    cfg = validate({"detection_score_threshold": 1, "image_is_rectified": True,
                    "primary_person": "CLOSEST", "device": "cuda:1", "backend": "Torch"})
    assert cfg.detection_score_threshold == 1.0 and cfg.image_is_rectified == "true"
    assert cfg.primary_person == "closest" and cfg.device == "cuda:1"
    assert cfg.backend == "torch"


@pytest.mark.ros
def test_declared_on_a_real_node_with_descriptors():
    import rclpy
    from rclpy.parameter import Parameter

    from head_pose_ros.ros.params import load_config

    rclpy.init()
    try:
        node = rclpy.create_node("params_probe", parameter_overrides=[
            Parameter("max_faces", value=3), Parameter("filter", value="none")])
        cfg = load_config(node)
        assert cfg.max_faces == 3 and cfg.filter == "none"
        d = node.describe_parameter("detect_every_n")
        # a tuning parameter: may change while running, says so
        assert not d.read_only and d.integer_range[0].from_value == 1 and "follow" in d.description
        assert "Can change while the node runs." in d.description
        d = node.describe_parameter("detector")
        assert "one of: auto, yunet, cascade" in d.additional_constraints
        d = node.describe_parameter("backend")
        assert d.read_only and "one of: auto, torch, onnxruntime" in d.additional_constraints
        assert "onnxruntime" in d.description
        node.destroy_node()
        bad = rclpy.create_node("params_probe2", parameter_overrides=[
            Parameter("detect_every_n", value=0), Parameter("device", value="tpu")])
        with pytest.raises(ParameterError) as ei:
            load_config(bad)
        assert "detect_every_n" in str(ei.value)
        bad.destroy_node()
    finally:
        rclpy.try_shutdown()


def test_rviz_config_shows_everything():
    rv = yaml.safe_load((REPO_ROOT / "config" / "head_pose.rviz").read_text())
    vm = rv["Visualization Manager"]
    assert vm["Global Options"]["Fixed Frame"] == "head_pose_demo_optical_frame"  # demo frame_id
    shown = {(d["Class"], d.get("Topic", {}).get("Value")) for d in vm["Displays"]}
    assert ("rviz_default_plugins/TF", None) in shown
    # relative names (issue 17): rviz2 runs in the node's namespace (launch namespace:=)
    assert ("rviz_default_plugins/MarkerArray", "markers") in shown
    assert ("rviz_default_plugins/PoseWithCovariance", "head_pose") in shown
    assert ("rviz_default_plugins/Image", "debug_image") in shown
    import inspect

    from head_pose_ros.ros import demo

    assert '"head_pose_demo_optical_frame"' in inspect.getsource(demo.main)
