#!/usr/bin/env bash
# End-to-end test of sharded runs against a real Slurm: a one-node cluster on localhost (munged,
# slurmctld, slurmd, all in a temporary directory, stopped by pid at exit), then
#   1. an array job with a step (--array=1-5:2, 3 tasks) submitted through scripts/slurm-bench.sh runs a
#      tiny suite, the dependent merge job joins the shards, and the merged run holds exactly the cells
#      of an unsharded run of the same suite (compared with `seqbench compare`);
#   2. merging with one shard left out exits 2 and names the missing shard;
#   3. an array whose ids are not evenly spaced (--array=1,3,4) fails in each task with a message that
#      names the Slurm variables it read and says what to pass instead.
# Installs Debian's slurm-wlm and munge when they are missing; where they cannot be installed it says
# so and exits 0 (SKIPPED). Usage: scripts/slurm-e2e.sh [SEQBENCH_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
bin="$(realpath "${1:-target/release/seqbench}")"
[[ -x "$bin" ]] || { echo "slurm-e2e: $bin not built (cargo build --release)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm-e2e: installing slurm-wlm and munge (Debian packages)..."
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >>/tmp/slurm-e2e-apt.log 2>&1; }
  if ! { [[ $(id -u) -eq 0 ]] && { install || { apt-get update -q >>/tmp/slurm-e2e-apt.log 2>&1 && install; }; }; }; then
    echo "slurm-e2e: SKIPPED: cannot install slurm-wlm and munge here (needs root and Debian's apt; log: /tmp/slurm-e2e-apt.log)"
    exit 0
  fi
fi

work="$(mktemp -d /tmp/seqbench-slurm.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() {
  echo "slurm-e2e: FAILED: $*" >&2
  for f in "$work"/*.log "$work"/out/logs/*; do [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}

# munge: its own key and socket.
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/out"
head -c 1024 /dev/urandom >"$work/munge/munge.key"
chmod 400 "$work/munge/munge.key"
munged --force --foreground --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
  --pid-file="$work/munge/pid" --log-file="$work/munge.log" --seed-file="$work/munge/seed" >"$work/munged.out" 2>&1 &
pids+=($!)

host="$(hostname -s)"
port=$((20000 + RANDOM % 20000))
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat >"$work/slurm.conf" <<CONF
ClusterName=seqbench-e2e
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=e2e Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
for _ in $(seq 50); do [[ -S "$work/munge/socket" ]] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
sleep 1
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -Eq '^idle' && break
  sleep 1
done
sinfo -h -o %t | grep -Eq '^idle' || fail "the node did not come up idle: $(sinfo 2>&1 | tr '\n' ' ')"
echo "slurm-e2e: cluster up ($(sinfo --version), node $host)"

# The suite: tiny models, every measurement, a handful of cells.
cat >"$work/e2e.toml" <<'SUITE'
name = "slurm-e2e"
models = ["attention", "gated-deltanet"]
size = "tiny"
plan = { warmup = 1, min_samples = 3, min_seconds = 0.0, max_samples = 3 }
[train]
seq_lens = [16]
batch = 2
[latency]
prompt = 8
positions = [8, 32]
[memory]
positions = [16, 64]
[generation]
prompt = 8
tokens = 2
batches = [1, 2]
SUITE

wait_job() { # JOBID: until it has left the queue
  for _ in $(seq 300); do
    [[ -z "$(squeue -h -j "$1" 2>/dev/null)" ]] && return 0
    sleep 1
  done
  fail "job $1 still queued after 300 s: $(squeue 2>&1 | tr '\n' ' ')"
}

export SEQBENCH="$bin" SEQBENCH_OUT="$work/out" SEQBENCH_SBATCH_ARGS="--cpus-per-task=1 --mem=512M" RAYON_NUM_THREADS=1
cd "$work"
submitted="$("$root/scripts/slurm-bench.sh" "$work/e2e.toml" 1-5:2)" || fail "submission: $submitted"
echo "$submitted"
job="$(echo "$submitted" | sed -n 's/^submitted array job \([0-9]*\).*/\1/p')"
merge_job="$(echo "$submitted" | sed -n 's/.* and merge job \([0-9]*\)$/\1/p')"
wait_job "$job"
wait_job "$merge_job"
for i in 1 2 3; do
  [[ -f "$work/out/slurm-e2e-job$job-shard${i}of3/results.json" ]] || fail "shard $i of 3 (run id by job id) is missing"
done
[[ -f "$work/out/slurm-e2e-job$job/results.json" ]] || fail "the merge job wrote no merged run"

"$bin" run "$work/e2e.toml" --out "$work/out" --run-id unsharded -q --no-tables --no-report >/dev/null
python3 - "$work/out/slurm-e2e-job$job/results.json" "$work/out/unsharded/results.json" <<'PY' || fail "merged and unsharded runs differ"
import json, sys
merged, full = (json.load(open(p)) for p in sys.argv[1:])
ids = lambda r: [c["id"] for c in r["cells"]]
assert ids(merged) == ids(full), (ids(merged), ids(full))
assert merged["planned"] == full["planned"]
assert all(c["status"] == "ok" or c["status"] == "refused" for c in merged["cells"])
assert [s["shard"]["index"] for s in merged["shards"]] == [1, 2, 3]
assert all("calibration_gflops" in c for c in merged["cells"])
assert "partial" not in merged and merged["finished"]
print(f"slurm-e2e: merged run holds the {len(ids(full))} cells of the unsharded run, in order, from 3 shards")
PY
cmp_out="$("$bin" compare "$work/out/unsharded" "$work/out/slurm-e2e-job$job" --threshold 1000 2>&1)" \
  || fail "compare merged vs unsharded: $cmp_out"
echo "$cmp_out" | grep -q "missing" && fail "compare reports missing cells: $cmp_out"
echo "slurm-e2e: $(echo "$cmp_out" | tail -n 1)"

# 2. A shard left out: refused, named.
set +e
partial="$("$bin" merge "$work/out/slurm-e2e-job$job-shard1of3" "$work/out/slurm-e2e-job$job-shard3of3" --out "$work/out/partial" 2>&1)"
rc=$?
set -e
[[ $rc -eq 2 && "$partial" == *"missing shard 2 of 3"* ]] || fail "merging without shard 2 gave exit $rc: $partial"
echo "slurm-e2e: merge without shard 2 refused (exit 2): $partial"

# 3. An uneven list: every task fails with a message naming the Slurm variables.
list_job="$(sbatch --parsable --array=1,3,4 --cpus-per-task=1 --mem=512M --output="$work/out/logs/list-%A_%a.out" \
  "$root/scripts/slurm-bench.sh" "$work/e2e.toml")"
list_job="${list_job%%;*}"
wait_job "$list_job"
for t in 1 3 4; do
  grep -q "not evenly spaced" "$work/out/logs/list-${list_job}_$t.out" || fail "task $t of --array=1,3,4 did not explain itself"
done
echo "slurm-e2e: --array=1,3,4 refused in every task: $(head -n 1 "$work/out/logs/list-${list_job}_1.out")"
echo "slurm-e2e: PASSED"
