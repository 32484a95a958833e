#!/usr/bin/env bash
# A real single-node Slurm cluster for the tests (Debian's slurm-wlm and munge), in a folder of its own.
#
#   bash tests/slurm/cluster.sh start DIR   # install the packages if missing (root, apt-get), start munged,
#                                           # slurmctld and slurmd with DIR/slurm.conf; prints SLURM_CONF=...
#   bash tests/slurm/cluster.sh stop DIR    # stop the daemons this script started (by their pid files)
#
# Two nodes, two slurmd on this machine: `<hostname>` offers SE_SLURM_CPUS CPUs (default 24, more than the
# machine has, so that many two-task jobs run side by side: config_overrides) to partition `main` (default; its
# jobs are never preempted); `localhost` offers 2 CPUs to `spot` (PreemptMode=REQUEUE, GraceTime=30) and `urgent`
# (PriorityTier=10): an urgent job preempts the spot job running there. For tests, AuthInfo=cred_expire=5
# shortens the hold Slurm puts on a requeued job from 121 s to 6 s (the slurm.conf man page: cred_expire "also
# controls how long a requeued job must wait before starting again"), the scheduler runs every 2 s, and
# slurmctld keeps an ended job's record for an hour (MinJobAge; 300 s by default), so that `scontrol show job`
# answers for every job of the module however long its slowest job takes.
set -euo pipefail
ACTION=${1:?usage: cluster.sh start|stop DIR}
DIR=${2:?usage: cluster.sh start|stop DIR}
CPUS=${SE_SLURM_CPUS:-24}

stop_pidfile() {
    local file=$1
    [ -f "$file" ] || return 0
    local pid; pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

if [ "$ACTION" = stop ]; then
    if [ -f "$DIR/slurmctld.pid" ]; then  # end the jobs first: their processes belong to slurmd's steps
        SLURM_CONF="$DIR/slurm.conf" scancel --full --signal=KILL --user="$(id -un)" 2>/dev/null || true
        SLURM_CONF="$DIR/slurm.conf" scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -z "$(SLURM_CONF="$DIR/slurm.conf" squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    for pidfile in "$DIR"/slurmd-*.pid; do stop_pidfile "$pidfile"; done
    stop_pidfile "$DIR/slurmctld.pid"
    stop_pidfile "$DIR/munged.pid"
    exit 0
fi
[ "$ACTION" = start ] || { echo "error: cluster.sh: unknown action '$ACTION' (start or stop)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "error: Slurm is not installed and installing it needs root" \
        "(apt-get install slurmd slurmctld slurm-client munge)" >&2; exit 1; }
    echo "[slurm] installing slurmd slurmctld slurm-client munge" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurmd slurmctld slurm-client munge >&2
fi

rm -rf "$DIR/state" "$DIR/spool"
mkdir -p "$DIR"/{state,spool,log}
HOST=$(hostname -s)
SLURMD_PORT=${SE_SLURMD_PORT:-6818}
cat > "$DIR/slurm.conf" <<CONF
ClusterName=se-plugins-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobRequeue=1
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldPort=${SE_SLURMCTLD_PORT:-6817}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SchedulerParameters=sched_interval=2
MinJobAge=3600
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=$HOST NodeHostname=$HOST Port=$SLURMD_PORT CPUs=$CPUS CoresPerSocket=$CPUS ThreadsPerCore=1 State=UNKNOWN
NodeName=localhost NodeHostname=$HOST Port=$((SLURMD_PORT + 1)) CPUs=2 CoresPerSocket=2 ThreadsPerCore=1 State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=OFF
PartitionName=spot Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=30
PartitionName=urgent Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
CONF

# munged: the package's key, as the munge user; one that already runs is left alone
if ! pgrep -x munged >/dev/null; then
    install -d -o munge -g munge -m 0755 /run/munge
    # its pid file in its own folder: DIR may sit in a folder only root may enter (pytest's /tmp/pytest-of-root)
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 50); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$DIR/munged.pid" 2>/dev/null || pgrep -x munged > "$DIR/munged.pid"
fi
export SLURM_CONF="$DIR/slurm.conf"
slurmctld -c -f "$SLURM_CONF"  # -c: no state of an earlier cluster
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
slurmd -f "$SLURM_CONF" -N "$HOST"
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 200); do
    states=$(sinfo -h -N -o %t 2>/dev/null | sort -u | tr '\n' ' ')
    [ "$states" = "idle " ] && { echo "SLURM_CONF=$SLURM_CONF"; exit 0; }
    sleep 0.1
done
echo "error: the Slurm nodes did not come up (states: ${states:-?}); logs in $DIR/log" >&2
exit 1
