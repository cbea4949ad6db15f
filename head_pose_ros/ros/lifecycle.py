"""``head_pose_node`` as a managed (lifecycle) node, and its executable.

The ROS 2 lifecycle (``rclpy.lifecycle``, the node's ``~/change_state`` services, what
``ros2 lifecycle set`` and nav2's lifecycle_manager call):

- constructed (*unconfigured*): every parameter is declared (``ros2 param`` lists them);
- ``configure``: the parameters are validated and the detector and the model loaded; a bad
  value, missing weights or a missing detector model is a FAILURE that logs the reason, and the
  node stays unconfigured (fix the parameter, configure again);
- ``activate``: the subscriptions, the worker thread and the timers start;
- ``deactivate``: they stop (no thread, timer or subscription is left: a deactivated node uses
  no CPU), and every face is forgotten;
- ``cleanup``: the publishers and the model go (back to unconfigured); ``shutdown`` likewise.

With ``autostart`` (the default, what ``ros2 run`` and ``pose.launch.py`` use) the node
configures and activates itself, and a failed configure ends the process with exit code 2 and
the reason. ``autostart:=false`` leaves the transitions to the robot's lifecycle manager.
The work itself is :class:`head_pose_ros.ros.node.HeadPoseNode`.
"""

from __future__ import annotations

import sys
from typing import Any

import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from head_pose_ros.ros.node import HeadPoseNode
from head_pose_ros.ros.params import ParameterError, declare_parameters
from head_pose_ros.ros.process import init_ros, install_stop_signals, spin_until
from head_pose_ros.ros.runtime import EXIT_STARTUP_ERROR, StartupError

__all__ = ["HeadPoseLifecycleNode", "main"]

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class HeadPoseLifecycleNode(LifecycleNode):
    """The lifecycle node (see the module doc); ``app`` is the work while configured.

    ``make_app(node, active)`` builds the work (default :meth:`HeadPoseNode.create`; tests
    pass one with a scripted model)."""

    def __init__(self, node_name: str = "head_pose_node", make_app: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.app: HeadPoseNode | None = None
        self.failure = ""  # why the last configure failed ('' when it did not)
        self._make_app = make_app or HeadPoseNode.create

    @property
    def autostart(self) -> bool:
        return bool(self.get_parameter("autostart").value)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.app = self._make_app(self, active=False)
        except (ParameterError, StartupError) as exc:
            self.failure = str(exc)
        except Exception as exc:  # a model or library that fails to load: still a FAILURE
            self.failure = f"unexpected {type(exc).__name__}: {exc}"
        if self.app is None:
            self.get_logger().error(f"cannot configure: {self.failure}")
            return FAILURE
        self.failure = ""
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.app.activate()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.app.deactivate()
        self.get_logger().info("head_pose_node deactivated: no subscription, no worker")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return SUCCESS

    def release(self) -> None:
        """Stop and destroy the work (idempotent)."""
        if self.app is not None:
            self.app.close()
            self.app = None


def bring_up(node: HeadPoseLifecycleNode) -> str:
    """configure + activate; returns '' or why it failed."""
    if node.trigger_configure() != SUCCESS:
        return node.failure or "configure failed (see the log)"
    if node.trigger_activate() != SUCCESS:
        return "activate failed (see the log)"
    return ""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``head_pose_node`` executable (exit code 2: cannot start)."""
    stop = install_stop_signals()
    try:
        init_ros(argv)
    except StartupError as exc:
        print(f"head_pose_node: cannot start: {exc}", file=sys.stderr, flush=True)
        return EXIT_STARTUP_ERROR
    node = HeadPoseLifecycleNode()
    try:
        if node.autostart:
            why = bring_up(node)
            if why:
                node.get_logger().fatal(f"cannot start: {why}")
                print(f"head_pose_node: cannot start: {why}", file=sys.stderr, flush=True)
                return EXIT_STARTUP_ERROR
        else:
            node.get_logger().info("head_pose_node unconfigured (autostart false): waiting for "
                                   "the lifecycle transitions configure and activate")
        spin_until(node, stop)
    finally:
        node.release()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
