"""launch/pose.launch.py and the plain-Python plan behind it (head_pose_ros.ros.launch_setup).

What is checked here, without the real ``launch`` / ``launch_ros`` (no PyPI wheels):
- :func:`plan_launch` directly: which parameters, remappings, namespace, extra nodes and
  environment each set of command-line arguments gives;
- the launch FILE, executed against a minimal stand-in of the launch API (``_FakeLaunch``
  below: DeclareLaunchArgument defaults, LaunchConfiguration.perform, OpaqueFunction,
  SetEnvironmentVariable, IfCondition, launch_ros' Node): the Node actions it would create for
  given arguments, and the parameters the node ends up with when the parameter list is applied
  the way rcl applies it (a YAML file's keys are node-name patterns: ``/**`` matches any node,
  a plain name only that node in the root namespace; a later dict overrides);
- that rcl itself applies ``config/head_pose.yaml`` to a node in a namespace is checked in
  test/test_node_params.py (``test_params_file_reaches_the_node_in_a_namespace``).

What cannot be checked here: the real launch_ros behaviour (its substitution and condition
classes, how it writes the parameter list into the node's ``--params-file`` / ``-p`` arguments,
``--show-args``, process start and output). Where launch and launch_ros are importable (a real
ROS 2 install), ``test_launch_description_with_real_launch`` also generates the description
with them.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from head_pose_ros.ros.launch_setup import LAUNCH_ARGUMENTS, plan_launch

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / "launch" / "pose.launch.py"
SHARE = "/opt/share/head_pose_ros"
YAML_DEFAULT = f"{SHARE}/config/head_pose.yaml"
ARGUMENTS = {
    "params_file", "image", "camera_info", "device", "backend", "namespace", "demo", "use_rviz",
    "weights", "video", "large_images", "image_transport", "frame_prefix",
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


# ------------------------------------------------------------------ the launch file itself
class _FakeLaunch:
    """Just enough of launch / launch_ros to execute pose.launch.py and record its Nodes."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.env: dict[str, str] = {}
        fake = self

        class LaunchDescription:
            def __init__(self, entities):
                self.entities = list(entities)

        class DeclareLaunchArgument:
            def __init__(self, name, default_value="", description="", **_kw):
                self.name, self.default_value, self.description = name, default_value, description

        class LaunchConfiguration:
            def __init__(self, name, default=None):
                self.name = name

            def perform(self, context):
                return context[self.name]

        class IfCondition:
            def __init__(self, expr):
                self.expr = expr

        class OpaqueFunction:
            def __init__(self, function, args=None, kwargs=None):
                self.function = function

        class SetEnvironmentVariable:
            def __init__(self, name, value, condition=None):
                self.name, self.value, self.condition = name, value, condition

        class Node:
            def __init__(self, **kw):
                self.kw = kw

        self.classes = dict(
            LaunchDescription=LaunchDescription, DeclareLaunchArgument=DeclareLaunchArgument,
            LaunchConfiguration=LaunchConfiguration, IfCondition=IfCondition,
            OpaqueFunction=OpaqueFunction, SetEnvironmentVariable=SetEnvironmentVariable,
            Node=Node)
        mods = {
            "launch": {"LaunchDescription": LaunchDescription},
            "launch.actions": {"DeclareLaunchArgument": DeclareLaunchArgument,
                               "OpaqueFunction": OpaqueFunction,
                               "SetEnvironmentVariable": SetEnvironmentVariable},
            "launch.conditions": {"IfCondition": IfCondition},
            "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
            "launch_ros": {}, "launch_ros.actions": {"Node": Node},
            "ament_index_python": {}, "ament_index_python.packages": {
                "get_package_share_directory": lambda pkg: SHARE if pkg == "head_pose_ros"
                else f"/opt/share/{pkg}"},
        }
        self.modules = {}
        for name, attrs in mods.items():
            m = types.ModuleType(name)
            for k, v in attrs.items():
                setattr(m, k, v)
            self.modules[name] = m
        self._fake = fake

    def _value(self, x: Any, ctx: dict[str, str]) -> Any:
        if isinstance(x, self.classes["LaunchConfiguration"]):
            return ctx[x.name]
        if isinstance(x, list | tuple):
            return type(x)(self._value(v, ctx) for v in x)
        if isinstance(x, dict):
            return {k: self._value(v, ctx) for k, v in x.items()}
        return x

    def _active(self, entity: Any, ctx: dict[str, str]) -> bool:
        cond = getattr(entity, "condition", None) or getattr(entity, "kw", {}).get("condition")
        return cond is None or str(self._value(cond.expr, ctx)).lower() == "true"

    def run(self, cli: dict[str, str], monkeypatch) -> None:
        for name, mod in self.modules.items():
            monkeypatch.setitem(sys.modules, name, mod)
        spec = importlib.util.spec_from_file_location("pose_launch_under_test", LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        desc = module.generate_launch_description()
        ctx: dict[str, str] = {}
        pending = list(desc.entities)
        while pending:
            e = pending.pop(0)
            if isinstance(e, self.classes["DeclareLaunchArgument"]):
                ctx.setdefault(e.name, cli.get(e.name, e.default_value))
            elif isinstance(e, self.classes["OpaqueFunction"]):
                pending[:0] = list(e.function(ctx) or [])
            elif isinstance(e, self.classes["SetEnvironmentVariable"]):
                if self._active(e, ctx):
                    self.env[self._value(e.name, ctx)] = self._value(e.value, ctx)
            elif isinstance(e, self.classes["Node"]) and self._active(e, ctx):
                kw = {k: self._value(v, ctx) for k, v in e.kw.items() if k != "condition"}
                self.nodes.append(kw)
        self.declared = {e.name for e in desc.entities
                         if isinstance(e, self.classes["DeclareLaunchArgument"])}

    def node(self, executable: str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["executable"] == executable)


def _fqn(node: dict[str, Any]) -> str:
    ns = str(node.get("namespace") or "").strip("/")
    return "/" + "/".join(p for p in (ns, node["name"]) if p)


def _key_matches(key: str, fqn: str) -> bool:
    """rcl's node-name matching of a parameter-file key (wildcards ``/**`` and ``/*``)."""
    import re

    k = key if key.startswith("/") else "/" + key
    pat = re.escape(k).replace(r"/\*\*", "(/[^/]+)*").replace(r"/\*", "/[^/]+")
    return re.fullmatch(pat, fqn) is not None


def _effective(node: dict[str, Any], files: dict[str, dict]) -> dict[str, Any]:
    """The parameters the node gets from its parameter list, applied in order."""
    out: dict[str, Any] = {}
    for entry in node["parameters"]:
        if isinstance(entry, dict):
            out.update(entry)
            continue
        for key, val in files[str(entry)].items():
            if _key_matches(key, _fqn(node)):
                out.update(val["ros__parameters"])
    return out


def _shipped_yaml_with(**changes) -> dict:
    data = yaml.safe_load((REPO_ROOT / "config" / "head_pose.yaml").read_text())
    for params in data.values():
        params["ros__parameters"].update(changes)
    return data


def test_launch_file_declares_the_table(monkeypatch):
    fake = _FakeLaunch()
    fake.run({}, monkeypatch)
    assert fake.declared == ARGUMENTS
    assert [n["executable"] for n in fake.nodes] == ["head_pose_node"]


def test_params_file_values_survive_when_not_given(monkeypatch):
    """Issue 13 item 3: the YAML's device/backend/weights reach the node unless given."""
    yaml_file = _shipped_yaml_with(device="cuda", backend="torch", weights="/yaml.safetensors")
    fake = _FakeLaunch()
    fake.run({}, monkeypatch)
    got = _effective(fake.node("head_pose_node"), {YAML_DEFAULT: yaml_file})
    assert (got["device"], got["backend"], got["weights"]) == \
        ("cuda", "torch", "/yaml.safetensors")
    fake = _FakeLaunch()
    fake.run({"device": "cpu"}, monkeypatch)  # given: overrides
    got = _effective(fake.node("head_pose_node"), {YAML_DEFAULT: yaml_file})
    assert (got["device"], got["backend"]) == ("cpu", "torch")


def test_params_file_applies_in_a_namespace(monkeypatch):
    """Issue 13 item 3: namespace:=robot1 must not drop the whole params file."""
    yaml_file = _shipped_yaml_with(max_faces=3)
    fake = _FakeLaunch()
    fake.run({"namespace": "robot1", "image": "/robot1/cam/image"}, monkeypatch)
    node = fake.node("head_pose_node")
    assert _fqn(node) == "/robot1/head_pose_node"
    assert _effective(node, {YAML_DEFAULT: yaml_file})["max_faces"] == 3
    assert ("image", "/robot1/cam/image") in [tuple(r) for r in node["remappings"]]


def test_demo_rviz_and_large_images(monkeypatch):
    fake = _FakeLaunch()
    fake.run({"demo": "true", "use_rviz": "true", "large_images": "true",
              "image": "/x/image"}, monkeypatch)
    assert [n["executable"] for n in fake.nodes] == ["head_pose_node", "head_pose_demo", "rviz2"]
    assert fake.node("head_pose_demo")["remappings"] == fake.node("head_pose_node")["remappings"]
    assert fake.node("rviz2")["arguments"] == ["-d", f"{SHARE}/config/head_pose.rviz"]
    assert fake.env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_large_images.xml")


def test_key_matching_is_rcl_like():
    assert _key_matches("/**", "/robot1/head_pose_node")
    assert _key_matches("head_pose_node", "/head_pose_node")
    assert not _key_matches("head_pose_node", "/robot1/head_pose_node")
    assert _key_matches("/**/head_pose_node", "/a/b/head_pose_node")


def test_launch_description_with_real_launch() -> None:
    for mod in ("launch", "launch_ros", "ament_index_python"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not installed (no PyPI wheel); checked with a stand-in above")
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("pose_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {
        e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)
    }
    assert declared == ARGUMENTS
