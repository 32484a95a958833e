#!/usr/bin/env bash
# Create the project's virtual environment and install the tested stack into it. Idempotent.
#
#   bash tools/setup_env.sh              # or: make setup
#   bash tools/setup_env.sh --dry-run    # print what it detects and every command; change nothing
#
# Environment (docs/install.md explains the CPU, single-GPU and cluster cases):
#   SE_VENV             the virtual environment (default: <repo>/.venv)
#   SE_WHEEL_CACHE      where the compiled mmcv wheel is kept between set-ups
#                       (default: ${XDG_CACHE_HOME:-~/.cache}/se_plugins/wheels)
#   PYTHON              the interpreter that creates the venv (default: python3.11)
#   SE_DEVICE           auto (default: CUDA ops when nvidia-smi sees a GPU), cpu, or cuda (build CUDA ops
#                       on a node without a GPU; needs TORCH_CUDA_ARCH_LIST)
#   SE_TORCH_SPEC       torch and torchvision to install (default: requirements/torch.txt, the registry's
#                       torch 2.14.1, a CUDA 13.0 build)
#   SE_TORCH_INDEX_URL  the index to take them from, e.g. https://download.pytorch.org/whl/cu126
#   SE_TORCH_CUDA       the CUDA version of that torch build (default: read from the index URL's cuXYZ)
#   TORCH_CUDA_ARCH_LIST  GPU architectures of mmcv's CUDA ops (default: those nvidia-smi reports)
#   CUDA_HOME           the CUDA toolkit whose nvcc builds them (default: the nvcc on PATH)
#   MAX_JOBS            parallel compile jobs (default: nproc)
#
# Every phase prints one line with its wall time; what pip and the compiler print goes to a log, <venv>.setup.log
# beside the venv (SE_SETUP_LOG), whose path and last lines a failed phase prints. The slow phase is mmcv: the
# registry has only its sdist, whose setup.py forces -std=c++17 while torch 2.14's headers need C++20. We build
# it once (~25 min on 2 cores for CPU ops) with that one flag changed and cache the wheel, keyed by the mmcv,
# torch, Python and CUDA versions.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SE_VENV:-$REPO/.venv}"
CACHE="${SE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/se_plugins/wheels}"
PYTHON="${PYTHON:-python3.11}"
MMCV_DIST=onedl-mmcv
MMCV_VERSION=2.3.6
DEFAULT_TORCH_CUDA=13.0  # the CUDA build of requirements/torch.txt's torch on the registry

die() { echo "error: $*" >&2; exit 1; }

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$arg' of tools/setup_env.sh; its only option is --dry-run" ;;
    esac
done

LOG="${SE_SETUP_LOG:-${VENV%/}.setup.log}"
phase_start=0 phase_name=""
phase() {  # a phase's line: its name now, its time when it is done (phase_done), on the same line
    phase_start=$SECONDS phase_name="$*"
    if [ "$DRY_RUN" = 1 ]; then echo "[setup] $*"; else printf '[setup] %s ... ' "$*"; fi
}
phase_done() { [ "$DRY_RUN" = 1 ] || echo "done in $((SECONDS - phase_start)) s"; }
run() {  # run a command with its output in the log, or print it in a dry run; a failure ends the set-up
    if [ "$DRY_RUN" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; return; fi
    mkdir -p "$(dirname "$LOG")"
    printf '\n+' >>"$LOG"; printf ' %q' "$@" >>"$LOG"; printf '\n' >>"$LOG"
    local status=0
    "$@" >>"$LOG" 2>&1 || status=$?
    if [ "$status" != 0 ]; then
        echo "failed"
        echo "error: the set-up step '$phase_name' failed (exit $status); its output is in $LOG, which ends:" >&2
        tail -n 20 "$LOG" | sed 's/^/    /' >&2
        exit "$status"
    fi
}

# The oldest Linux driver each CUDA major version runs on (NVIDIA's minor-version compatibility table).
min_driver_for_cuda() {
    case "${1%%.*}" in
        13) echo 580.65.06 ;;
        12) echo 525.60.13 ;;
        11) echo 450.80.02 ;;
        *) echo "" ;;
    esac
}
version_lt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }

# ---- what this machine has -------------------------------------------------------------------------------
GPU_NAMES="" DRIVER="" GPU_ARCHS=""
if command -v nvidia-smi >/dev/null 2>&1 \
        && GPUS_CSV="$(nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader 2>/dev/null)" \
        && [ -n "$GPUS_CSV" ]; then
    GPU_NAMES="$(cut -d, -f1 <<<"$GPUS_CSV" | sed 's/^ *//' | sort | uniq -c | sed 's/^ *//' | paste -sd ',' - | sed 's/,/, /g')"
    DRIVER="$(head -n 1 <<<"$GPUS_CSV" | cut -d, -f2 | tr -d ' ')"
    GPU_ARCHS="$(cut -d, -f3 <<<"$GPUS_CSV" | tr -d ' ' | sort -uV | paste -sd ';' -)"
fi

DEVICE="${SE_DEVICE:-auto}"
case "$DEVICE" in
    auto) if [ -n "$GPU_NAMES" ]; then DEVICE=cuda; else DEVICE=cpu; fi ;;
    cpu|cuda) ;;
    *) die "SE_DEVICE='$DEVICE' is not supported; choose one of auto, cpu, cuda" ;;
esac

if [ -n "${SE_TORCH_SPEC:-}" ]; then
    read -r -a TORCH_REQS <<<"$SE_TORCH_SPEC"
else
    TORCH_REQS=(-r "$REPO/requirements/torch.txt")
fi
TORCH_SOURCE=(); [ -z "${SE_TORCH_INDEX_URL:-}" ] || TORCH_SOURCE=(--index-url "$SE_TORCH_INDEX_URL")
if [ -n "${SE_TORCH_CUDA:-}" ]; then
    TORCH_CUDA="$SE_TORCH_CUDA"
elif [[ "${SE_TORCH_INDEX_URL:-}" =~ /cu([0-9]+)([0-9])/?$ ]]; then
    TORCH_CUDA="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
elif [[ "${SE_TORCH_INDEX_URL:-}" =~ /cpu/?$ ]]; then
    TORCH_CUDA=none
elif [ -z "${SE_TORCH_SPEC:-}${SE_TORCH_INDEX_URL:-}" ]; then
    TORCH_CUDA="$DEFAULT_TORCH_CUDA"
else
    TORCH_CUDA=unknown
fi

echo "[setup] venv $VENV; mmcv wheel cache $CACHE; the output of each step: $LOG"
if [ -n "$GPU_NAMES" ]; then
    echo "[setup] nvidia-smi: $GPU_NAMES; driver $DRIVER; compute capability $GPU_ARCHS"
else
    echo "[setup] nvidia-smi: no GPU"
fi
echo "[setup] torch: ${SE_TORCH_SPEC:-requirements/torch.txt} from ${SE_TORCH_INDEX_URL:-the default index}" \
     "(CUDA build: $TORCH_CUDA)"

MMCV_BUILD_ENV=(MMCV_WITH_OPS=1 "MAX_JOBS=${MAX_JOBS:-$(nproc)}")
if [ "$DEVICE" = cuda ]; then
    case "$TORCH_CUDA" in
        none) die "SE_DEVICE=cuda, but SE_TORCH_INDEX_URL=$SE_TORCH_INDEX_URL serves CPU-only torch builds" ;;
        unknown) die "which CUDA version is torch '${SE_TORCH_SPEC:-}' built for? Set SE_TORCH_CUDA (e.g. 12.6)" ;;
    esac
    if [ -n "$DRIVER" ]; then
        NEED="$(min_driver_for_cuda "$TORCH_CUDA")"; export NEED
        [ -n "$NEED" ] || die "SE_TORCH_CUDA=$TORCH_CUDA: no known driver requirement for CUDA ${TORCH_CUDA%%.*}.x"
        if version_lt "$DRIVER" "$NEED"; then
            die "the NVIDIA driver $DRIVER cannot run torch built for CUDA $TORCH_CUDA, which needs driver" \
                ">= $NEED; install a torch build for your driver (CUDA 12.x needs >= 525.60.13, 11.x >= 450.80.02)," \
                "e.g. SE_TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126" \
                "SE_TORCH_SPEC='torch==2.7.1 torchvision==0.22.1', or update the driver (docs/install.md)"
        fi
    fi
    ARCHS="${TORCH_CUDA_ARCH_LIST:-$GPU_ARCHS}"
    [ -n "$ARCHS" ] || die "SE_DEVICE=cuda on a machine without a GPU: set TORCH_CUDA_ARCH_LIST (e.g. '8.0;9.0')"
    if [ -z "${CUDA_HOME:-}" ] && NVCC="$(command -v nvcc 2>/dev/null)"; then
        CUDA_HOME="$(dirname "$(dirname "$NVCC")")"
    fi
    [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ] || die "mmcv's CUDA ops need the CUDA $TORCH_CUDA" \
        "toolkit (nvcc): set CUDA_HOME (now '${CUDA_HOME:-}') or put nvcc on PATH; or SE_DEVICE=cpu for CPU ops only"
    NVCC_CUDA="$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p')"
    [ "${NVCC_CUDA%%.*}" = "${TORCH_CUDA%%.*}" ] || die "nvcc in $CUDA_HOME is CUDA $NVCC_CUDA; torch is built for" \
        "CUDA $TORCH_CUDA and PyTorch builds extensions only with the same major version: set CUDA_HOME to a" \
        "CUDA ${TORCH_CUDA%%.*}.x toolkit"
    MMCV_BUILD_ENV+=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$ARCHS" "CUDA_HOME=$CUDA_HOME")
    CACHE_SUFFIX="-cu${TORCH_CUDA//./}-sm$(tr -d '.' <<<"$ARCHS" | tr ';' '_')"
    echo "[setup] mmcv: CUDA ops for compute capability $ARCHS with $CUDA_HOME/bin/nvcc (CUDA $NVCC_CUDA)"
else
    MMCV_BUILD_ENV+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)  # CPU ops, even where a GPU is visible
    CACHE_SUFFIX=""
    echo "[setup] mmcv: CPU ops"
fi
[ "$DRY_RUN" = 0 ] || echo "[setup] dry run: the plan below changes nothing"

# ---- the venv and the stack -----------------------------------------------------------------------------
stamp_of() {  # what the venv was built from: requirement pins, this script, the choices above
    { cat "$REPO"/requirements/*.txt "$REPO/tools/setup_env.sh"
      echo "$DEVICE ${SE_TORCH_SPEC:-} ${SE_TORCH_INDEX_URL:-} $TORCH_CUDA $CACHE_SUFFIX"; } | sha256sum | cut -d' ' -f1
}

if [ ! -x "$VENV/bin/python" ]; then
    phase "creating $VENV with $PYTHON"
    run "$PYTHON" -m venv "$VENV"
    phase_done
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --no-input)

STAMP="$(stamp_of)"
if [ -f "$VENV/.se_plugins_stamp" ] && [ "$(cat "$VENV/.se_plugins_stamp")" = "$STAMP" ]; then
    echo "[setup] $VENV is up to date with requirements/"
else
    phase "installing torch and build tools"
    run "${PIP[@]}" "${TORCH_SOURCE[@]}" "${TORCH_REQS[@]}"
    run "${PIP[@]}" -r "$REPO/requirements/build.txt"
    phase_done

    if [ -x "$PY" ]; then
        TAG="$("$PY" -c 'import sys, torch; v = torch.__version__.split("+")[0]; print(f"torch{v}-cp{sys.version_info[0]}{sys.version_info[1]}")')"
    else  # a dry run before the venv exists: the pinned versions
        # shellcheck disable=SC2046
        TORCH_PIN="$(printf '%s\n' ${SE_TORCH_SPEC:-$(grep -v '^#' "$REPO/requirements/torch.txt")} | sed -n 's/^torch==//p')"
        TAG="torch${TORCH_PIN:-?}-cp$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
    fi
    WHEEL_DIR="$CACHE/$MMCV_DIST-$MMCV_VERSION-$TAG$CACHE_SUFFIX"
    if ! ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
        phase "building $MMCV_DIST $MMCV_VERSION with compiled ops (cache miss: $WHEEL_DIR; ~25 min on 2 cores)"
        if [ "$DRY_RUN" = 1 ]; then
            BUILD='$BUILD' SRC="\$BUILD/onedl_mmcv-$MMCV_VERSION"
        else
            BUILD="$(mktemp -d)"
            trap 'rm -rf "$BUILD"' EXIT
        fi
        run "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
            -d "$BUILD" "$MMCV_DIST==$MMCV_VERSION"
        if [ "$DRY_RUN" = 0 ]; then
            tar -xzf "$BUILD"/*.tar.gz -C "$BUILD"
            SRC="$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
            grep -q "'-std=c++17'" "$SRC/setup.py" || die "$SRC/setup.py: no -std=c++17 flag to patch"
        fi
        run sed -i "s/'-std=c++17'/'-std=c++20'/g" "$SRC/setup.py"
        run env "${MMCV_BUILD_ENV[@]}" "$PY" -m pip wheel --disable-pip-version-check \
            --no-build-isolation --no-deps -w "$BUILD/dist" "$SRC"
        if [ "$DRY_RUN" = 0 ]; then
            mkdir -p "$CACHE"
            # Publish atomically: a killed build leaves no half-written wheel in the cache.
            STAGE="$(mktemp -d "$CACHE/.stage.XXXXXX")"
            cp "$BUILD"/dist/*.whl "$STAGE/"
            rm -rf "$WHEEL_DIR" && mv "$STAGE" "$WHEEL_DIR"
        else
            echo "+ publish \$BUILD/dist/*.whl as $WHEEL_DIR"
        fi
        phase_done
    else
        echo "[setup] reusing cached $(basename "$WHEEL_DIR"/*.whl)"
    fi

    phase "installing mmcv, the OpenMMLab stack and test peers"
    run "${PIP[@]}" "$WHEEL_DIR"/*.whl
    run "${PIP[@]}" -r "$REPO/requirements/stack.txt" -r "$REPO/requirements/tests.txt"
    phase_done
    [ "$DRY_RUN" = 1 ] || echo "$STAMP" > "$VENV/.se_plugins_stamp"
fi

phase "installing se_plugins (editable)"
# An earlier set-up installed the package as the distribution `se_plugins` (now se-plugins-openmmlab).
if [ -x "$PY" ] && "$PY" -m pip show -q se_plugins >/dev/null 2>&1; then
    run "$PY" -m pip uninstall -y -q se_plugins
fi
run "${PIP[@]}" --no-deps --no-build-isolation -e "$REPO"
phase_done

[ "$DRY_RUN" = 0 ] || exit 0
# ---- check what was built -------------------------------------------------------------------------------
GPU_SEEN="$([ -n "$GPU_NAMES" ] && echo 1 || echo 0)" DRIVER="$DRIVER" DEVICE="$DEVICE" "$PY" - <<'EOF'
import os
import sys

import mmcv, mmdet, mmengine, mmpretrain, torch
from mmcv.ops import nms, roi_align  # the compiled ops Faster R-CNN needs

print(f'[setup] torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, '
      f'mmdet {mmdet.__version__}, mmpretrain {mmpretrain.__version__}')
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]])
devices = ['cpu']
if os.environ['DEVICE'] == 'cuda' and os.environ['GPU_SEEN'] == '1':
    if not torch.cuda.is_available():
        sys.exit(f'error: nvidia-smi sees a GPU (driver {os.environ["DRIVER"]}) but torch {torch.__version__} '
                 f'(CUDA {torch.version.cuda}, which needs driver >= {os.environ.get("NEED", "?")}) cannot use it: '
                 'pick a torch build for this driver (docs/install.md)')
    devices.append('cuda')
for device in devices:
    keep = nms(boxes.to(device), torch.tensor([0.9, 0.8], device=device), 0.5)[1]
    pooled = roi_align(torch.ones(1, 1, 4, 4, device=device), torch.tensor([[0., 0., 0., 4., 4.]], device=device),
                       (1, 1), 1.0, 2, 'avg', False)
    assert keep.tolist() == [0] and pooled.item() == 1.0, (keep, pooled)
    print(f'[setup] mmcv nms and roi_align run on {device}')
# yapf (mmengine prints configs with it) writes its grammar cache at its first import in an environment newer
# than the cache, renaming the file before it is flushed (yapf 0.43): the ranks of a job that start together
# there could read it half-written and die (EOFError, seen in a Slurm test). Written here, once.
import yapf  # noqa: E402,F401
EOF
ACTIVATE="$VENV/bin/activate"
[ "$VENV" = "$REPO/.venv" ] && ACTIVATE=".venv/bin/activate"
echo "[setup] ready. The tools run in this environment; in each new shell, first: source $ACTIVATE"
