"""Running a ROS executable of this package: stop signals, ``rclpy.init`` and the spin loop
(shared by ``head_pose_node`` and ``head_pose_demo``)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from head_pose_ros.ros.runtime import StartupError

__all__ = ["install_stop_signals", "init_ros", "spin_until"]


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
