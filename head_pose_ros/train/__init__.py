"""Training (``head-pose-train``) and evaluation (``head-pose-eval``) of TRG.

- :mod:`.config`: the configuration system (OmegaConf structured configs + YAML + overrides).
- :mod:`.trainer`: the training loop (AMP, DDP via torchrun, TensorBoard, resume).
- :mod:`.cli`: the ``head-pose-train`` command (``python -m head_pose_ros.train``).
- :mod:`.metrics`: the paper's metrics (pure numpy).
- :mod:`.evaluate`: the ``head-pose-eval`` command (table, JSON, plots).
"""
