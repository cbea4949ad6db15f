"""Teacher pseudo-labels for real face crops (``real/aflw_crops``).

- :mod:`.aflw21`: the 21 AFLW hand landmarks -> vertices of the 1220 ARKit topology;
- :mod:`.mediapipe_run`: MediaPipe Face Landmarker over the crops (runs in the peers venv);
- :mod:`.fit`: the 1220-vertex face model fitted to teacher + human landmarks (pure numpy/cv2);
- :mod:`.pseudolabel`: the one command that writes the label file
  (``python -m head_pose_ros.teacher.pseudolabel``).
"""
