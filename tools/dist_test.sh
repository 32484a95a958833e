#!/usr/bin/env bash
# Distributed testing on one node with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# (started by tools/misc/torchrun.py: how a stop signal reaches the ranks and ends the run).
# Without a GPU, the processes run on the CPU with the gloo backend.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python "$(dirname "$0")/misc/torchrun.py" --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
