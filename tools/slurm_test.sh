#!/usr/bin/env bash
# Testing on a Slurm cluster: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
#
# From a login node srun makes the allocation (GPUS tasks, GPUS_PER_NODE a node, 0 for CPU nodes; CPUS_PER_TASK);
# inside an sbatch or salloc job the step takes the job's layout, e.g.
#     sbatch -p PARTITION -J JOB_NAME --ntasks-per-node=8 --gres=gpu:8 --cpus-per-task=5 \
#         tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT
set -u
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -f "$TOOLS/train.py" ] && [ -n "${SLURM_JOB_ID:-}" ]; then  # sbatch runs a copy from its spool folder
    SCRIPT=$(scontrol show job "$SLURM_JOB_ID" | sed -n 's/^ *Command=\([^ ]*\).*/\1/p')
    TOOLS="$(cd "${SLURM_SUBMIT_DIR:-.}" && cd "$(dirname "$SCRIPT")" && pwd)"
fi

if [ -n "${SLURM_JOB_ID:-}" ]; then  # inside an allocation: a step with the job's layout
    LAYOUT=()
    [ -z "${SLURM_CPUS_PER_TASK:-}" ] || LAYOUT=(--cpus-per-task="$SLURM_CPUS_PER_TASK")  # srun does not inherit it
    export MASTER_PORT=${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 10000))}
else  # from a login node: srun makes the allocation
    LAYOUT=(-p "$PARTITION" --job-name="$JOB_NAME" --ntasks="$GPUS" --cpus-per-task="$CPUS_PER_TASK")
    if [ "$GPUS_PER_NODE" -gt 0 ]; then
        LAYOUT+=(--gres=gpu:"$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
    fi
fi

set -x
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec srun "${LAYOUT[@]}" --kill-on-bad-exit=1 $SRUN_ARGS \
    python -u "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "${@:5}"
