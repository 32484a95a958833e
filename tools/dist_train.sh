#!/usr/bin/env bash
# Distributed training on one node with torchrun: tools/dist_train.sh CONFIG GPUS [train.py args...]
# Without a GPU, the processes train on the CPU with the gloo backend.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

# torchrun starts each rank in a session of its own, so a signal to this process group reaches the ranks only as
# torchrun passes it on: it does so for SIGTERM and SIGINT, and here for SIGUSR1 too (the other stop signal of
# tools/train.py, Slurm's --signal=USR1@...), waiting for the ranks to stop with their checkpoint; without it,
# torchrun died of SIGUSR1 at once and left the ranks training on.
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH exec \
torchrun --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" --signals-to-handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
