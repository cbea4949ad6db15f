# Sourced by scripts/train_real_mix.sh and scripts/real_ablation.sh: INIT = the model that stage 5
# (real faces, issue 12) fine-tunes, i.e. the stage-4 synthetic-only model as it was shipped in
# commit 1728034 (weights/ holds one model; the history keeps the previous one). Set INIT to
# start from another checkpoint.
if [ -z "${INIT:-}" ]; then
  INIT="$REPO/outputs/stage4_head_pose_trg.safetensors"
  if [ ! -f "$INIT" ]; then
    mkdir -p "$(dirname "$INIT")"
    git -C "$REPO" show 1728034:weights/head_pose_trg.safetensors > "$INIT.tmp" && mv "$INIT.tmp" "$INIT"
  fi
fi
