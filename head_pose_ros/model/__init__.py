"""TRG network (plain PyTorch, no ROS, no torchvision)."""

from head_pose_ros.model.config import ModelConfig
from head_pose_ros.model.trg import TRG, build_model

__all__ = ["TRG", "ModelConfig", "build_model"]
