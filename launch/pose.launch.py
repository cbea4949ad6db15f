"""Start the head pose node (and optionally the demo source and RViz).

    ros2 launch head_pose_ros pose.launch.py image:=/camera/image_rect \
        camera_info:=/camera/camera_info device:=cuda

Arguments (``ros2 launch head_pose_ros pose.launch.py --show-args``): see
``head_pose_ros.ros.launch_setup.LAUNCH_ARGUMENTS``. ``device``, ``backend``, ``weights``,
``image_transport`` and ``frame_prefix`` override the params file only when given; the params
file applies under any ``namespace``. What the node gets is decided in plain Python by
``head_pose_ros.ros.launch_setup.plan_launch`` (tested without launch_ros); this file only
turns that plan into launch actions.
"""

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from head_pose_ros.ros.launch_setup import LAUNCH_ARGUMENTS, PACKAGE, plan_launch


def _actions(context, *args, **kwargs):
    given = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    plan = plan_launch(given, get_package_share_directory(PACKAGE))
    actions = [SetEnvironmentVariable(name, value) for name, value in plan.env.items()]
    actions.append(Node(
        package=PACKAGE,
        executable="head_pose_node",
        name="head_pose_node",
        namespace=plan.namespace,
        parameters=plan.node_parameters,
        remappings=plan.remappings,
        output="screen",
        emulate_tty=True,
    ))
    if plan.demo:
        # the demo source publishes on its own image / camera_info: the same remappings make it
        # feed exactly the topics the node listens to
        actions.append(Node(
            package=PACKAGE,
            executable="head_pose_demo",
            name="head_pose_demo",
            namespace=plan.namespace,
            parameters=plan.demo_parameters,
            remappings=plan.remappings,
            output="screen",
        ))
    if plan.rviz:
        actions.append(Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            namespace=plan.namespace,
            arguments=["-d", plan.rviz_config],
        ))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *(DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
          for a in LAUNCH_ARGUMENTS),
        OpaqueFunction(function=_actions),
    ])
