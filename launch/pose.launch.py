"""Start the head pose node (and optionally the demo source and RViz).

    ros2 launch head_pose_ros pose.launch.py image:=/camera/image_rect \
        camera_info:=/camera/camera_info device:=cuda

Arguments:
  params_file  node parameters (default: share/head_pose_ros/config/head_pose.yaml)
  image        image topic the node subscribes to (remaps `image`)
  camera_info  CameraInfo topic (remaps `camera_info`)
  device       inference device: cpu, cuda, cuda:0, ... (overrides the params file)
  namespace    namespace of the started nodes
  demo         true: also start head_pose_demo, which publishes the built-in input on the
               node's image/camera_info topics (no camera needed)
  use_rviz     true: also start rviz2 with config/head_pose.rviz
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "head_pose_ros"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    params_file = LaunchConfiguration("params_file")
    image = LaunchConfiguration("image")
    camera_info = LaunchConfiguration("camera_info")
    device = LaunchConfiguration("device")
    namespace = LaunchConfiguration("namespace")
    demo = LaunchConfiguration("demo")
    use_rviz = LaunchConfiguration("use_rviz")

    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "head_pose.yaml"),
            description="YAML file with the head_pose_node parameters",
        ),
        DeclareLaunchArgument("image", default_value="image", description="input image topic"),
        DeclareLaunchArgument(
            "camera_info", default_value="camera_info", description="input CameraInfo topic"
        ),
        DeclareLaunchArgument(
            "device", default_value="cpu", description="inference device (cpu, cuda, cuda:0)"
        ),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument(
            "demo",
            default_value="false",
            description="also start head_pose_demo (built-in input on the image topics)",
        ),
        DeclareLaunchArgument(
            "use_rviz", default_value="false", description="also start rviz2 with the package view"
        ),
    ]

    remappings = [("image", image), ("camera_info", camera_info)]

    node = Node(
        package=PACKAGE,
        executable="head_pose_node",
        name="head_pose_node",
        namespace=namespace,
        parameters=[params_file, {"device": device}],
        remappings=remappings,
        output="screen",
        emulate_tty=True,
    )

    # The demo source publishes on its own `image` / `camera_info`; the same remappings make it
    # feed exactly the topics the node listens to.
    demo_node = Node(
        package=PACKAGE,
        executable="head_pose_demo",
        name="head_pose_demo",
        namespace=namespace,
        remappings=remappings,
        output="screen",
        condition=IfCondition(demo),
    )

    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        arguments=["-d", os.path.join(share, "config", "head_pose.rviz")],
        condition=IfCondition(use_rviz),
    )

    return LaunchDescription([*arguments, node, demo_node, rviz])
