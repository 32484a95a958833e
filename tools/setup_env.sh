#!/usr/bin/env bash
# Create the project's virtual environment and install the tested stack into it. Idempotent.
#
#   bash tools/setup_env.sh            # or: make setup
#
# Environment:
#   SE_VENV         the virtual environment (default: <repo>/.venv)
#   SE_WHEEL_CACHE  where the compiled mmcv wheel is kept between set-ups
#                   (default: ${XDG_CACHE_HOME:-~/.cache}/se_plugins/wheels)
#   PYTHON          the interpreter that creates the venv (default: python3.11)
#
# Every phase prints its wall time. The slow phase is mmcv: the registry has only its sdist, whose setup.py
# forces -std=c++17 while torch 2.14's headers need C++20. We build it once (~25 min on 2 cores) with that
# one flag changed and cache the wheel, keyed by the mmcv, torch and Python versions.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SE_VENV:-$REPO/.venv}"
CACHE="${SE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/se_plugins/wheels}"
PYTHON="${PYTHON:-python3.11}"
MMCV_DIST=onedl-mmcv
MMCV_VERSION=2.3.6

phase_start=0
phase() { phase_start=$SECONDS; echo "[setup] $*"; }
phase_done() { echo "[setup]   done in $((SECONDS - phase_start)) s"; }

stamp_of() {  # what the venv was built from: requirement pins, this script, the mmcv version
    cat "$REPO"/requirements/*.txt "$REPO/tools/setup_env.sh" | sha256sum | cut -d' ' -f1
}

if [ ! -x "$VENV/bin/python" ]; then
    phase "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
    phase_done
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --no-input)

STAMP="$(stamp_of)"
if [ -f "$VENV/.se_plugins_stamp" ] && [ "$(cat "$VENV/.se_plugins_stamp")" = "$STAMP" ]; then
    echo "[setup] $VENV is up to date with requirements/"
else
    phase "installing torch and build tools"
    "${PIP[@]}" -r "$REPO/requirements/torch.txt" -r "$REPO/requirements/build.txt"
    phase_done

    TAG="$("$PY" -c 'import sys, torch; v = torch.__version__.split("+")[0]; print(f"torch{v}-cp{sys.version_info[0]}{sys.version_info[1]}")')"
    WHEEL_DIR="$CACHE/$MMCV_DIST-$MMCV_VERSION-$TAG"
    if ! ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
        phase "building $MMCV_DIST $MMCV_VERSION with compiled ops (cache miss: $WHEEL_DIR; ~25 min on 2 cores)"
        BUILD="$(mktemp -d)"
        trap 'rm -rf "$BUILD"' EXIT
        "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
            -d "$BUILD" "$MMCV_DIST==$MMCV_VERSION"
        tar -xzf "$BUILD"/*.tar.gz -C "$BUILD"
        SRC="$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
        grep -q "'-std=c++17'" "$SRC/setup.py" || { echo "[setup] $SRC/setup.py: no -std=c++17 flag to patch" >&2; exit 1; }
        sed -i "s/'-std=c++17'/'-std=c++20'/g" "$SRC/setup.py"
        MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 "$PY" -m pip wheel --disable-pip-version-check \
            --no-build-isolation --no-deps -w "$BUILD/dist" "$SRC"
        mkdir -p "$CACHE"
        # Publish atomically: a killed build leaves no half-written wheel in the cache.
        STAGE="$(mktemp -d "$CACHE/.stage.XXXXXX")"
        cp "$BUILD"/dist/*.whl "$STAGE/"
        rm -rf "$WHEEL_DIR" && mv "$STAGE" "$WHEEL_DIR"
        phase_done
    else
        echo "[setup] reusing cached $(basename "$WHEEL_DIR"/*.whl)"
    fi

    phase "installing mmcv, the OpenMMLab stack and test peers"
    "${PIP[@]}" "$WHEEL_DIR"/*.whl
    "${PIP[@]}" -r "$REPO/requirements/stack.txt" -r "$REPO/requirements/tests.txt"
    phase_done
    echo "$STAMP" > "$VENV/.se_plugins_stamp"
fi

phase "installing se_plugins (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$REPO"
phase_done

"$PY" - <<'EOF'
import mmcv, mmdet, mmengine, mmpretrain, torch
from mmcv.ops import nms, roi_align  # noqa: F401  (the compiled ops Faster R-CNN needs)
print(f'[setup] torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, '
      f'mmdet {mmdet.__version__}, mmpretrain {mmpretrain.__version__}')
EOF
