#!/usr/bin/env bash
# Training on a Slurm cluster: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
#
# Two ways to run it (docs/configs.md, "Slurm"):
# - from a login node, as mmdet's script: srun makes the allocation, GPUS tasks in all, GPUS_PER_NODE a node
#   (GPUS_PER_NODE=0: CPU nodes, no --gres), CPUS_PER_TASK CPUs each, and Slurm sends SIGNAL (USR1@90) to
#   every task before the time limit;
# - as an sbatch job, which is what survives preemption and time limits:
#     sbatch --requeue --open-mode=append --signal=USR1@90 -p PARTITION -J JOB_NAME --nodes=1 \
#         --ntasks-per-node=8 --gres=gpu:8 --cpus-per-task=5 --time=2-00:00:00 \
#         tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR
#   The training step takes the job's layout (sbatch's options; GPUS, GPUS_PER_NODE, CPUS_PER_TASK and
#   SIGNAL are not used: Slurm honours --signal for a job, not for a step inside it).
#
# Every launch passes --resume, so a requeued job continues from the latest checkpoint (a first launch starts
# from scratch). tools/train.py ends on SIGTERM, SIGUSR1 or SIGINT after the iteration in progress with a
# checkpoint and exit status 75. Inside an sbatch job this script survives the signals Slurm sends its shell
# (time limit, `scancel --full`, `--signal=B:...`), passes them on to training as SIGUSR1, and requeues the job
# when training stopped for a signal, unless Slurm has requeued it already (`scontrol requeue`, preemption
# after GraceTime) or the job was cancelled (a plain `scancel` stays cancelled). REQUEUE=0 turns that off.
set -u
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
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -f "$TOOLS/train.py" ] && [ -n "${SLURM_JOB_ID:-}" ]; then  # sbatch runs a copy from its spool folder
    SCRIPT=$(scontrol show job "$SLURM_JOB_ID" | sed -n 's/^ *Command=\([^ ]*\).*/\1/p')
    TOOLS="$(cd "${SLURM_SUBMIT_DIR:-.}" && cd "$(dirname "$SCRIPT")" && pwd)"
fi

if [ -n "${SLURM_JOB_ID:-}" ]; then  # inside an allocation: a step with the job's layout
    LAYOUT=()
    [ -z "${SLURM_CPUS_PER_TASK:-}" ] || LAYOUT=(--cpus-per-task="$SLURM_CPUS_PER_TASK")  # srun does not inherit it
    # one rendezvous port per job, so that jobs sharing a node do not collide (mmengine's default is 29500)
    export MASTER_PORT=${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 10000))}
else  # from a login node: srun makes the allocation
    LAYOUT=(-p "$PARTITION" --job-name="$JOB_NAME" --ntasks="$GPUS" --cpus-per-task="$CPUS_PER_TASK"
            --signal="$SIGNAL")
    if [ "$GPUS_PER_NODE" -gt 0 ]; then
        LAYOUT+=(--gres=gpu:"$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
    fi
fi

STOP_SIGNAL=""
SRUN_PID=""
on_signal() {  # the batch shell's signal: pass it on to training (which may have it already) and go on waiting
    STOP_SIGNAL=$1
    echo "slurm_train.sh: SIG$1; training stops after its iteration with a checkpoint" >&2
    [ -z "$SRUN_PID" ] || kill -USR1 "$SRUN_PID" 2>/dev/null  # srun forwards it to every task
}
for sig in TERM USR1 USR2 INT HUP; do
    trap "on_signal $sig" "$sig"
done

set -x
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
srun "${LAYOUT[@]}" --kill-on-bad-exit=1 $SRUN_ARGS \
    python -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm --resume "${@:5}" &
set +x
SRUN_PID=$!
while kill -0 "$SRUN_PID" 2>/dev/null; do
    wait "$SRUN_PID"  # returns early when a trapped signal arrives
done
wait "$SRUN_PID"
STATUS=$?

requeue_reason() {  # prints why the job should run again, or nothing
    [ -n "${SLURM_JOB_ID:-}" ] && [ "$REQUEUE" = 1 ] || return 0
    # 75: training stopped for a signal with a checkpoint; a task killed by TERM/USR1/INT (138, 143, 130) was
    # signalled while it started, before it could stop cleanly: nothing was trained since the checkpoint
    case "$STATUS" in
        75|130|138|143) ;;
        *) [ -n "$STOP_SIGNAL" ] && [ "$STATUS" -ne 0 ] || return 0 ;;
    esac
    local job state reason restarts
    job=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null) || return 0
    state=$(grep -o 'JobState=[A-Z_]*' <<<"$job" | cut -d= -f2)
    reason=$(grep -o ' Reason=[A-Za-z_]*' <<<"$job" | cut -d= -f2)
    restarts=$(grep -o 'Restarts=[0-9]*' <<<"$job" | cut -d= -f2)
    if [ "${restarts:-0}" -gt "${SLURM_RESTART_COUNT:-0}" ]; then
        echo "slurm_train.sh: job $SLURM_JOB_ID is requeued by Slurm already" >&2
    elif [ "$state" != RUNNING ] && [ "$reason" != TimeLimit ]; then
        echo "slurm_train.sh: job $SLURM_JOB_ID was cancelled ($state); not requeued" >&2
    else
        echo "${reason/None/signal}"
    fi
}
REASON=$(requeue_reason)
if [ -n "$REASON" ]; then
    echo "slurm_train.sh: training stopped (status $STATUS, $REASON); requeueing job $SLURM_JOB_ID to resume" >&2
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$STATUS"
