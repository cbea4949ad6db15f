"""``head-pose-bench``: speed of the TRG model, the estimator pipeline and the node, in one run.

One module per job:

- :mod:`.model`: model-only latency and throughput of the baseline and the optimised variants,
  with their output differences against the baseline;
- :mod:`.end_to_end`: one frame = JPEG decode + detection + ``HeadPoseEstimator.predict``;
- :mod:`.node`: image-in to pose-out latency of the node executable over DDS;
- :mod:`.targets`: the package's speed targets checked against a report;
- :mod:`.report`: the machine description and the plain-text / Markdown tables;
- :mod:`.frames`: the test frames (a real face photo tiled on a background);
- :mod:`.timing`: timing and latency statistics;
- :mod:`.runner`: runs the sections in order and assembles the report.

The console script is :mod:`head_pose_ros.cli.bench`. Each section times with warm-up, then
reports the median and 90th percentile over the repeats. Without ``--weights`` a seeded
random-init model is used (printed loudly): fine for speed, not for accuracy. Outputs of a
random model stay near the template with the default small output gain, so the random model is
built with ``last_layer_gain=1`` to make the equivalence checks exercise every stage (speed is
unaffected).
"""
