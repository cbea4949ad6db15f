"""head_pose_ros: metric 6DoF head pose and dense face geometry (TRG) with a ROS 2 node.

The core (geometry, model, training, synthetic data, estimator) imports no ROS module; the ROS
layer lives in ``head_pose_ros.ros`` and the generated messages in ``head_pose_ros.msg``.
"""

__version__ = "0.2.0"
