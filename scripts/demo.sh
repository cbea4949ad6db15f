#!/usr/bin/env bash
# scripts/demo.sh — set up (idempotent) and run the main job on the built-in input (no camera):
# head_pose_demo publishes the built-in input on `image`/`camera_info`, head_pose_node estimates
# the head poses and publishes them. Runs for HEAD_POSE_DEMO_SECONDS (default 20) seconds.
# It prints about one line a second with every person's id, position (m) and yaw/pitch/roll
# (head_pose_ros.ros.monitor), at the end how many person ids it saw (one person: one id for the
# whole run), and writes the last debug image to outputs/demo_debug.png.
# Detector: the node's 'auto' (YuNet when its model is in the user cache, head-pose-fetch-models;
# else the Haar cascade, which needs no download). The Haar cascade loses the face for a few
# frames when it turns: the node keeps a person's id through up to 15 missed frames (1 s at the
# demo's 15 Hz) instead of 5.
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"

LIB="$REPO/install/head_pose_ros/lib/head_pose_ros"
if ! python -c 'import head_pose_ros.ros.node, head_pose_ros.ros.demo' 2>/dev/null; then
  echo "[demo] The ROS node (head_pose_ros.ros.node / head_pose_ros.ros.demo) is not in this" \
       "checkout yet: nothing to run."
  exit 0
fi
WEIGHTS="${HEAD_POSE_WEIGHTS:-$REPO/install/head_pose_ros/share/head_pose_ros/weights/head_pose_trg.safetensors}"
if [ ! -f "$WEIGHTS" ]; then
  echo "[demo] No trained weights are installed ($WEIGHTS is missing): the node cannot run the"
  echo "[demo] model yet. Train one (README, Training) or set HEAD_POSE_WEIGHTS=/path/model.safetensors."
  exit 0
fi

SECS="${HEAD_POSE_DEMO_SECONDS:-20}"
mkdir -p "$REPO/outputs"
echo "[demo] model: $WEIGHTS"
echo "[demo] running head_pose_demo + head_pose_node for $SECS s (ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-0})"
"$LIB/head_pose_demo" --ros-args -p "weights:=$WEIGHTS" &
DEMO_PID=$!
"$LIB/head_pose_node" --ros-args --params-file "$REPO/config/head_pose.yaml" \
  -p "weights:=$WEIGHTS" -p publish_debug_image:=true \
  -p tracker_max_misses:=15 &
NODE_PID=$!
trap 'kill -INT "$DEMO_PID" "$NODE_PID" 2>/dev/null || true' EXIT
rc=0
python -m head_pose_ros.ros.monitor --seconds "$SECS" \
  --save-debug "$REPO/outputs/demo_debug.png" || rc=$?
kill -INT "$NODE_PID" 2>/dev/null || true
wait "$NODE_PID" || { node_rc=$?; [ "$rc" -ne 0 ] || rc=$node_rc; }
exit "$rc"
