"""Synthetic metric face data: ICT head renders with exact 6DoF + dense ARKit-1220 labels.

Entry points: :class:`SynthConfig` / :func:`preset` (ranges), :class:`SyntheticFaceGenerator`
(``generate(index) -> dict``), :class:`SyntheticFaceStream` (iterable for data loaders), the
CLIs ``head-pose-synth`` (:mod:`.cli`) and ``head-pose-sheet`` (:mod:`.sheet`), and the
benchmark ``python -m head_pose_ros.synth.bench``. See docs/SYNTH.md.
"""

from .sampler import (
    PRESETS,
    SynthConfig,
    SyntheticFaceGenerator,
    SyntheticFaceStream,
    landmark_visibility,
    preset,
)

__all__ = [
    "PRESETS",
    "SynthConfig",
    "SyntheticFaceGenerator",
    "SyntheticFaceStream",
    "landmark_visibility",
    "preset",
]
