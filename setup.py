"""pip install of the ROS-free core: `pip install .` or `pip install -e ".[train,synth,dev]"`.

ROS users build with colcon instead (CMakeLists.txt generates head_pose_ros.msg and installs the
same sources next to it). The ROS layer (head_pose_ros.ros) imports rclpy lazily, so shipping it
here is harmless; it only works where rclpy and the built messages are available.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "head_pose_ros" / "__init__.py").read_text(), re.M
).group(1)

setup(
    name="head_pose_ros",
    version=VERSION,
    description="Metric 6DoF head pose and dense face geometry (TRG) with a ROS 2 node",
    long_description=(HERE / "README.md").read_text(encoding="utf-8")
    if (HERE / "README.md").exists()
    else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["head_pose_ros", "head_pose_ros.*"]),
    include_package_data=False,
    install_requires=[
        "numpy>=1.24",
        "opencv-python-headless>=4.8,<5",
        "torch>=2.2",
        "safetensors",
        "scipy",
        "pyyaml",
        "omegaconf",
        "onnx",  # the default CPU inference backend (exported once per checkpoint, cached)
        "onnxruntime",
    ],
    extras_require={
        "train": ["tensorboard", "tqdm", "matplotlib"],
        "synth": ["moderngl"],
        "export": [],  # kept for compatibility: onnx / onnxruntime are core dependencies now
        "dev": ["pytest", "ruff"],
        # peer baselines for docs/RESULTS.md only; mediapipe pulls opencv-contrib-python 5, which
        # replaces the headless 4.x cv2: install it in its own venv (see README, Results)
        "peers": ["mediapipe"],
    },
    entry_points={
        "console_scripts": [
            "head-pose-info=head_pose_ros.cli.info:main",
            "head-pose-synth=head_pose_ros.synth.cli:main",
            "head-pose-sheet=head_pose_ros.synth.sheet:main",
            "head-pose-train=head_pose_ros.train.cli:main",
            "head-pose-eval=head_pose_ros.train.evaluate:main",
            "head-pose-bench=head_pose_ros.cli.bench:main",
            "head-pose-export=head_pose_ros.cli.export:main",
            "head-pose-video=head_pose_ros.video:main",
            "head-pose-fetch-models=head_pose_ros.cli.fetch_models:main",
        ],
    },
)
