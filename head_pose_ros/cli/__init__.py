"""Command-line tools of head_pose_ros (no ROS import)."""
