#!/usr/bin/env bash
# slurm_sweep.sh: run a sweep on a Slurm cluster end to end (what
# `make table3 SLURM=1` and the other sweep targets call).
#
#   slurm_sweep.sh run SWEEP [bfn sweep options...]      submit, wait, merge
#   slurm_sweep.sh submit SWEEP [bfn sweep options...]   write the script, sbatch it; prints the job id
#   slurm_sweep.sh wait SWEEP JOBID...                   wait with progress, merge, check every task
#
# Environment: BFN (default build/bfn), SLURM_ARGS (extra sbatch options,
# e.g. "--partition=gpu --time=04:00:00"), BFN_RESULTS, BFN_DB, and
# SLURM_POLL (seconds between progress checks, default 10).
# The job-array script goes to RESULTS/slurm/SWEEP.sbatch; logs and per-run
# databases to RESULTS/slurm/SWEEP/ (see src/run/slurm_script.h).
set -euo pipefail
BFN=${BFN:-build/bfn}
RESULTS=${BFN_RESULTS:-results}
POLL=${SLURM_POLL:-10}

usage() { echo "usage: $0 run|submit SWEEP [bfn sweep options...] | wait SWEEP JOBID..." >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 sweep=$2
shift 2
name=$(basename "$sweep"); name=${name%.*}
script="$RESULTS/slurm/$name.sbatch"
dir="$RESULTS/slurm/$name"

submit() {
    command -v sbatch >/dev/null || { echo "slurm: sbatch not found: is this a Slurm login node?" >&2; exit 1; }
    mkdir -p "$RESULTS/slurm"
    "$BFN" sweep "$sweep" --slurm "$script" --quiet "$@"
    # SLURM_ARGS is split into words on purpose: several sbatch options.
    # shellcheck disable=SC2086
    sbatch --parsable ${SLURM_ARGS:-} "$script" | cut -d';' -f1
}

# The state of task $1 from the last "bfn-sweep: task" line of its newest
# log among the jobs waited for (JOB_IDS).
task_state() {
    local log j logs=()
    for j in "${JOB_IDS[@]}"; do [ -f "$dir/logs/${j}_$1.log" ] && logs+=("$dir/logs/${j}_$1.log"); done
    log=""
    if [ ${#logs[@]} -gt 0 ]; then log=$(ls -t "${logs[@]}" | head -1); fi
    [ -n "$log" ] || { echo none; return; }
    case "$(grep -a '^bfn-sweep: task' "$log" | tail -1)" in
        *") done") echo done ;;
        *FAILED*) echo failed ;;
        *requeueing) echo requeued ;;
        *stopped*) echo stopped ;;
        *) echo started ;;
    esac
}

wait_jobs() {
    local n last="" line pending running done failed states i
    n=$(sed -n 's/^#SBATCH --array=0-\([0-9]*\)$/\1/p' "$script")
    n=$((n + 1))
    local jobs
    JOB_IDS=("$@")
    jobs=$(IFS=,; echo "$*")
    echo "slurm: waiting for job(s) $jobs ($n tasks; logs in $dir/logs)"
    while :; do
        states=$(squeue -h -r -j "$jobs" -o '%t' 2>/dev/null || true)
        pending=$(grep -c '^PD$' <<<"$states" || true)
        running=$(grep -cv '^PD$' <<<"$states" || true)
        [ -z "$states" ] && running=0
        done=0 failed=0
        for ((i = 0; i < n; i++)); do
            case $(task_state "$i") in done) done=$((done + 1)) ;; failed) failed=$((failed + 1)) ;; esac
        done
        line="slurm: $pending pending, $running running, $done done, $failed failed (of $n)"
        [ "$line" != "$last" ] && echo "$line ($(date -u +%H:%M:%S))"
        last=$line
        [ -z "$states" ] && break
        sleep "$POLL"
    done
    "$BFN" merge --sweep "$sweep"
    local bad=0
    for ((i = 0; i < n; i++)); do
        s=$(task_state "$i")
        if [ "$s" != done ]; then
            echo "slurm: task $i $s (logs: $dir/logs/*_$i.log)" >&2
            bad=1
        fi
    done
    [ "$bad" -eq 0 ] || { echo "slurm: some tasks did not finish; resubmit them (sbatch --array=I $script) and wait again" >&2; exit 1; }
    echo "slurm: all $n tasks done and merged into ${BFN_DB:-results/bfn.db}"
}

case "$cmd" in
    submit) submit "$@" ;;
    wait) [ $# -ge 1 ] || usage; wait_jobs "$@" ;;
    run) job=$(submit "$@"); echo "slurm: submitted job $job ($script)"; wait_jobs "$job" ;;
    *) usage ;;
esac
