"""``python -m head_pose_ros.train`` = ``head-pose-train``."""

import sys

from head_pose_ros.train.cli import main

sys.exit(main())
