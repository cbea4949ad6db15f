"""ROS 2 layer of head_pose_ros: the node, its parameters, conversions, TF and markers."""
