# cluster.sh: a throw-away single-node Slurm cluster (munged, slurmctld,
# slurmd) from a generated configuration in a temporary folder. Sourced by
# tests/slurm/test_slurm.sh. Root only: the daemons run as root.
#
#   cluster_start DIR   start the three daemons with everything under DIR;
#                       exports SLURM_CONF; records their pids in DIR/*.pid
#   cluster_stop DIR    stop exactly the daemons cluster_start started (by pid)
#
# Ports are chosen free at start so a Slurm already on the machine (or another
# test cluster) is not disturbed. Waits are bounded (the machine may be busy).

cluster_free_port() {
    local p
    for p in $(shuf -i 20000-60000 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

cluster_start() {
    local dir=$1 host cpus mem ctl_port d_port
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
    ctl_port=$(cluster_free_port) && d_port=$(cluster_free_port) || { echo "cluster: no free port" >&2; return 1; }
    mkdir -p "$dir/state" "$dir/spool" && chmod 700 "$dir"
    # MUNGE: a fresh key and its own socket.
    head -c 1024 /dev/urandom > "$dir/munge.key" && chmod 400 "$dir/munge.key"
    munged --key-file="$dir/munge.key" --socket="$dir/munge.sock" --pid-file="$dir/munged.pid" \
        --log-file="$dir/munged.log" --seed-file="$dir/munged.seed" --force || return 1
    cat > "$dir/slurm.conf" <<CONF
ClusterName=bfntest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/munge
# cred_expire also delays a requeued job before it may start again (default 120 s).
AuthInfo=socket=$dir/munge.sock,cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=60
MinJobAge=600
SchedulerParameters=sched_interval=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$dir/slurm.conf" -i || return 1
    slurmd -f "$dir/slurm.conf" || return 1
    # The node must register and become idle (bounded wait).
    local i state
    for i in $(seq 120); do
        state=$(sinfo -h -n "$host" -o '%T' 2>/dev/null | head -1)
        [ "$state" = idle ] && return 0
        sleep 1
    done
    echo "cluster: node $host did not become idle (state '$state'); see $dir/slurmctld.log, $dir/slurmd.log" >&2
    return 1
}

# Stop one daemon by the pid in its pid file (TERM, then KILL after 30 s).
cluster_stop_pid() {
    local file=$1 pid i
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    return 0
}

cluster_stop() {
    local dir=$1
    cluster_stop_pid "$dir/slurmd.pid"
    cluster_stop_pid "$dir/slurmctld.pid"
    cluster_stop_pid "$dir/munged.pid"
}
