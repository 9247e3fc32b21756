#!/usr/bin/env bash
# make test-slurm: the smoke Table 3 sweep on a real single-node Slurm
# (Debian slurm-wlm + munge, started here from a generated config in a
# temporary folder), end to end, against the same sweep run locally:
#   1. local reference: bfn sweep -j 2 --threads 1;
#   2. the same sweep as a job array (1 CPU per task, so 1 thread);
#   3. task 0 cancelled mid-training (scancel) and resubmitted;
#   4. task 1 given a 2-minute time limit mid-training: Slurm's B:USR1 reaches
#      the batch shell, bfn checkpoints and exits 130, the task requeues
#      itself, resumes and finishes;
#   5. the wait-and-merge of `make table3 SLURM=1`, merged twice (idempotent);
#   6. final checkpoints (last.h5, best.h5) byte-identical, metric and eval
#      rows identical (%.17g), and the table identical to the local one.
# The daemons started here are stopped by pid on every exit (trap).
# To make the interruptions land mid-training on any machine, the bfn
# process is paused (SIGSTOP) while the signal is delivered, then resumed.
# Root only (it starts daemons): run it on a throw-away machine or CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
    echo "test-slurm: starts munged, slurmctld and slurmd as root; run it as root on a throw-away machine (CI)." >&2
    exit 2
fi
BFN=$(realpath "${BFN:-build/bfn}")
bash src/tools/slurm_deps.sh
t0=$(date +%s)
work=$(mktemp -d /tmp/bfn-slurm-XXXXXX)
# shellcheck source=tests/slurm/cluster.sh
source tests/slurm/cluster.sh
JOBS_SUBMITTED=()
cleanup() {
    local rc=$? j
    # Our jobs first (their processes are slurmstepd's, not the daemons').
    for j in "${JOBS_SUBMITTED[@]}"; do scancel "$j" 2>/dev/null || true; done
    if [ ${#JOBS_SUBMITTED[@]} -gt 0 ]; then
        for j in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 1; done
    fi
    cluster_stop "$work/cluster"
    if [ "$rc" -eq 0 ] && [ -z "${BFN_KEEP_TMP:-}" ]; then rm -rf "$work"; else echo "test-slurm: files kept in $work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "test-slurm [$(($(date +%s) - t0)) s]: $*"; }
die() { echo "test-slurm: FAILED: $*" >&2; exit 1; }

# Wait (bounded) until a command succeeds.
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}

SWEEP=experiments/table3.sweep
# 600 steps so that training lasts long enough to be interrupted;
# log_every=1 so no metric row straddles an interruption.
OVER=(train.steps=600 train.log_every=1)

say "starting a single-node Slurm cluster in $work/cluster"
cluster_start "$work/cluster" || die "cluster did not start"

say "local reference: bfn sweep -j 2 --threads 1"
BFN_RESULTS=$work/local BFN_DB=$work/local.db "$BFN" sweep "$SWEEP" --profile smoke -j 2 --threads 1 --quiet "${OVER[@]}" \
    || die "local sweep"

export BFN_RESULTS=$work/slurm BFN_DB=$work/slurm.db BFN SLURM_POLL=2
say "submitting the array"
job=$(bash src/tools/slurm_sweep.sh submit "$SWEEP" --profile smoke --cpus-per-task 1 --time 10 --signal-seconds 110 \
    "${OVER[@]}")
JOBS_SUBMITTED+=("$job")
say "job $job"
dir=$work/slurm/slurm/table3
script=$work/slurm/slurm/table3.sbatch

# The bfn process of run $1: the one whose BFN_DB is that run's database
# (one per task: no other process has it).
bfn_pid() {
    local p db
    db=$(task_db "$1")
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = bfn ] || continue
        tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "BFN_DB=$db" && { echo "${p#/proc/}"; return 0; }
    done
    return 1
}
task_db() { ls "$dir"/"$1".*.db 2>/dev/null | head -1; }
run_status() { sqlite3 "$(task_db "$1")" "SELECT status FROM run" 2>/dev/null; }
is_training() { [ -n "$(task_db "$1")" ] && [ "$(run_status "$1")" = running ]; }
# Pause run $1's bfn (array task $2) while it trains; its pid in PAUSED.
pause_training() {
    local name=$1 task=$2 i
    for ((i = 0; i < 3000; i++)); do  # up to ~5 min: a loaded machine starts tasks slowly
        if is_training "$name" && PAUSED=$(bfn_pid "$name"); then
            kill -STOP "$PAUSED"
            is_training "$name" && return 0
            kill -CONT "$PAUSED"
        fi
        sleep 0.1
    done
    return 1
}
# SIGUSR1 (10) pending for process $1: bit 9 of ShdPnd or SigPnd.
usr1_pending() {
    local field mask
    while read -r field mask; do
        case "$field" in ShdPnd: | SigPnd:) (( (16#$mask >> 9) & 1 )) && return 0 ;; esac
    done < "/proc/$1/status"
    return 1
}

say "task 0 (cifar_cts256): cancel mid-training"
pause_training cifar_cts256 0 || die "task 0 never seen training"
scancel "${job}_0"
kill -CONT "$PAUSED" 2>/dev/null || true
wait_until 120 grep -q "stopped (checkpoint written)" "$dir/logs/${job}_0.log" || die "task 0 did not stop cleanly"
wait_until 120 bash -c "[ -z \"\$(squeue -h -j ${job}_0 2>/dev/null)\" ]" || die "task 0 still queued"
[ "$(run_status cifar_cts256)" = interrupted ] || die "task 0 status $(run_status cifar_cts256), expected interrupted"
say "task 0 stopped at step $(sqlite3 "$(task_db cifar_cts256)" "SELECT MAX(step) FROM checkpoint WHERE kind='last'"); resubmitting"
job2=$(sbatch --parsable --array=0 "$script" | cut -d';' -f1)
JOBS_SUBMITTED+=("$job2")

say "task 1 (cifar_disc256): 2-minute time limit mid-training, B:USR1 within 30 s"
pause_training cifar_disc256 1 || die "task 1 never seen training"
scontrol update JobId="${job}_1" TimeLimit=2
wait_until 150 usr1_pending "$PAUSED" || die "USR1 never reached task 1's bfn"
kill -CONT "$PAUSED"
wait_until 120 grep -q "requeueing" "$dir/logs/${job}_1.log" || die "task 1 did not requeue itself"
step1=$(sqlite3 "$(task_db cifar_disc256)" "SELECT MAX(step) FROM checkpoint WHERE kind='last'")
scontrol update JobId="${job}_1" TimeLimit=10
say "task 1 stopped at step $step1 and requeued"

say "waiting and merging (as make table3 SLURM=1 does)"
bash src/tools/slurm_sweep.sh wait "$SWEEP" "$job" "$job2" || die "wait/merge"
[ "$(grep -c 'attempt' "$dir/logs/${job}_1.log")" -ge 2 ] || die "task 1 ran only once"
grep -q "resumed at step" "$dir/logs/${job}_1.log" || die "task 1 did not resume"
grep -q "resumed at step" "$dir/logs/${job2}_0.log" || die "task 0 did not resume"
"$BFN" merge --sweep "$SWEEP" | grep -q "0 new runs, 0 updated, 4 unchanged; 0 rows written" || die "second merge not idempotent"

say "comparing with the local run"
n=0
for key in $(sqlite3 "$work/local.db" "SELECT key FROM run ORDER BY key"); do
    for kind in last best; do
        cmp "$work/local/runs/$key/$kind.h5" "$work/slurm/runs/$key/$kind.h5" || die "$key/$kind.h5 differs"
        n=$((n + 1))
    done
done
[ "$n" -eq 8 ] || die "expected 4 runs, compared $((n / 2))"
q_metric="SELECT run, name, step, printf('%.17g', value), kind FROM metric ORDER BY run, name, step"
q_eval="SELECT run, ckpt_step, split, n, repeats, printf('%.17g %.17g %.17g %.17g %.17g %.17g', loss, loss_se, recon,
    recon_se, total, total_se), unit FROM eval ORDER BY run, ckpt_step, split, n"
q_run="SELECT key, experiment, profile, status, config FROM run ORDER BY key"
for q in "$q_metric" "$q_eval" "$q_run"; do
    diff <(sqlite3 "$work/local.db" "$q") <(sqlite3 "$work/slurm.db" "$q") > "$work/diff.txt" || die "rows differ: $(head -5 "$work/diff.txt")"
done
rows=$(sqlite3 "$work/slurm.db" "SELECT (SELECT COUNT(*) FROM metric) || ' metric rows, ' || (SELECT COUNT(*) FROM eval) || ' eval rows'")
"$BFN" table paper/reference/table3.tsv --profile smoke --out "$work/local.md" --db "$work/local.db" >/dev/null
"$BFN" table paper/reference/table3.tsv --profile smoke --out "$work/slurm.md" --db "$work/slurm.db" >/dev/null
diff "$work/local.md" "$work/slurm.md" > "$work/diff.txt" || die "tables differ: $(head -5 "$work/diff.txt")"
say "PASSED: 8 checkpoints byte-identical, $rows identical, table identical; cancel+resubmit and B:USR1+requeue resumed"
