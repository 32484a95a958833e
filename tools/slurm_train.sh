#!/usr/bin/env bash
# Training on a Slurm cluster: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
#
# Preemption and time limits: srun has Slurm send SIGNAL (default USR1, 90 s before the end:
# SIGNAL=USR1@90) to every task; tools/train.py then writes a checkpoint after the iteration in progress
# and exits with status 75 (so it does on SIGTERM, which Slurm sends before killing a preempted job).
# Every launch passes --resume (a first launch starts from scratch), so when this script runs inside an
# sbatch job, status 75 requeues the job (scontrol requeue; REQUEUE=0 turns that off) and the requeued
# job continues from the checkpoint. Submit with `sbatch --requeue`.
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL=${SIGNAL:-USR1@90}
REQUEUE=${REQUEUE:-1}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
    --signal="$SIGNAL" $SRUN_ARGS \
    python -u "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm --resume "${@:5}"
STATUS=$?
if [ "$STATUS" -eq 75 ] && [ "$REQUEUE" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    scontrol requeue "$SLURM_JOB_ID"  # preempted with a checkpoint: run again, from it
fi
exit "$STATUS"
