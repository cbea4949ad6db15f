"""Issue 19 item 1, out of process: the installed ``head_pose_node`` with ``autostart:=false``
driven through its lifecycle services (``~/change_state``, ``~/get_state``: what
``ros2 lifecycle set`` and nav2's lifecycle_manager call) and its parameter service
(``~/set_parameters``: what ``ros2 param set`` calls)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from node_harness import Harness, NodeProcess

pytestmark = pytest.mark.ros

NAME = "/head_pose_node"


def _call(node, client, request, timeout: float = 30.0):
    import rclpy

    assert client.wait_for_service(timeout_sec=timeout), f"no service {client.srv_name}"
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), f"{client.srv_name}: no answer within {timeout} s"
    return future.result()


def test_a_lifecycle_manager_drives_the_node(random_weights, ros_env, ros_context):
    import rclpy
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    proc = NodeProcess(["-p", f"weights:={random_weights}", "-p", "detector:=cascade",
                        "-p", "autostart:=false", "-p", "tracker_min_hits:=1"], ros_env)
    client_node = rclpy.create_node("lifecycle_manager_stand_in")
    h = Harness()
    try:
        change = client_node.create_client(ChangeState, f"{NAME}/change_state")
        get = client_node.create_client(GetState, f"{NAME}/get_state")
        set_params = client_node.create_client(SetParameters, f"{NAME}/set_parameters")

        def state() -> int:
            return _call(client_node, get, GetState.Request()).current_state.id

        def transition(tid: int) -> bool:
            return _call(client_node, change,
                         ChangeState.Request(transition=Transition(id=tid))).success

        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        assert h.node.count_subscribers("image") == 0  # nothing before configure + activate
        assert transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        assert h.node.count_subscribers("image") == 0
        assert transition(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE
        proc.wait_ready()
        h.wait_connected()
        img = np.full((240, 320, 3), 90, np.uint8)
        h.clear()
        h.publish(img)
        assert h.wait_for(lambda: h.msgs("heads"), 20.0), proc.log

        def param(name: str, value: ParameterValue):
            req = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
            return _call(client_node, set_params, req).results[0]

        ok = param("primary_person", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                    string_value="closest"))
        assert ok.successful, ok.reason
        bad = param("filter", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                             string_value="kalman"))
        assert not bad.successful and "'filter' = 'kalman'" in bad.reason
        ro = param("device", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                            string_value="cuda"))
        assert not ro.successful and "read-only" in ro.reason.lower()

        assert transition(Transition.TRANSITION_DEACTIVATE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        t0 = time.monotonic()
        while h.node.count_subscribers("image") and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert h.node.count_subscribers("image") == 0
        h.clear()
        h.publish(img)
        assert not h.wait_for(lambda: h.msgs("heads"), 2.0)  # deactivated: no answer
        assert transition(Transition.TRANSITION_CLEANUP)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        h.close()
        client_node.destroy_node()
        rc = proc.stop()
    assert rc == 0, proc.log
