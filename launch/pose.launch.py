"""Start the head pose node (and optionally the demo source and RViz).

    ros2 launch head_pose_ros pose.launch.py image:=/camera/image_rect \
        camera_info:=/camera/camera_info device:=cuda

Arguments:
  params_file  node parameters (default: share/head_pose_ros/config/head_pose.yaml)
  image        image topic the node subscribes to (remaps `image`)
  camera_info  CameraInfo topic (remaps `camera_info`)
  device       inference device: cpu, cuda, cuda:0, ... (overrides the params file)
  backend      inference backend: auto, torch, onnxruntime (CPU only) (overrides the params
               file)
  namespace    namespace of the started nodes
  demo         true: also start head_pose_demo, which publishes the built-in input on the
               node's image/camera_info topics (no camera needed)
  use_rviz     true: also start rviz2 with config/head_pose.rviz
  weights      model checkpoint (.safetensors) for the node and the demo source; empty = the
               package's installed default model
  video        demo only: video file to play instead of synthetic frames
  large_images true: use the Fast DDS profile config/fastdds_large_images.xml for the started
               processes (needed for images over ~512 KB between processes; the camera driver
               must use it too)
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
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
    backend = LaunchConfiguration("backend")
    namespace = LaunchConfiguration("namespace")
    demo = LaunchConfiguration("demo")
    use_rviz = LaunchConfiguration("use_rviz")
    weights = LaunchConfiguration("weights")
    video = LaunchConfiguration("video")
    large_images = LaunchConfiguration("large_images")

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
        DeclareLaunchArgument(
            "backend",
            default_value="auto",
            description="inference backend (auto, torch, onnxruntime: CPU only)",
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
        DeclareLaunchArgument(
            "weights", default_value="", description="checkpoint; empty = installed default model"
        ),
        DeclareLaunchArgument(
            "video", default_value="", description="demo: video file instead of synthetic frames"
        ),
        DeclareLaunchArgument(
            "large_images",
            default_value="false",
            description="use the Fast DDS profile for images over ~512 KB",
        ),
    ]

    fastdds_profile = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE",
        os.path.join(share, "config", "fastdds_large_images.xml"),
        condition=IfCondition(large_images),
    )

    remappings = [("image", image), ("camera_info", camera_info)]

    node = Node(
        package=PACKAGE,
        executable="head_pose_node",
        name="head_pose_node",
        namespace=namespace,
        parameters=[params_file, {"device": device, "backend": backend, "weights": weights}],
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
        parameters=[{"weights": weights, "video": video}],
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

    return LaunchDescription([*arguments, fastdds_profile, node, demo_node, rviz])
