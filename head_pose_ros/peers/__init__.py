"""Peer baselines (own venv from ``requirements/peers.in``; never imported by the node).

- :mod:`head_pose_ros.peers.aflw2000`: the AFLW2000-3D rotation protocol (labels, the 99 degree
  filter, errors with misses counted as a ``(0, 0, 0)`` prediction). Pure numpy + scipy.io.
- :mod:`head_pose_ros.peers.mediapipe_peer`: MediaPipe Face Landmarker peers (landmarks +
  ``cv2.solvePnP`` on the canonical mesh; the landmarker's own facial transformation matrix).
  Needs ``mediapipe``.
"""
