#!/usr/bin/env bash
# slurm_train.sh AXON - launch/slurm/train.sbatch on a real SLURM cluster.
#
# Starts a single-node SLURM cluster on localhost (munged, slurmctld and slurmd
# with their own key, sockets, ports, state and logs under a temporary
# directory; no systemd, no cgroups), converts a small dataset, submits
# launch/slurm/train.sbatch with sbatch for 2 tasks on the one node (srun
# --mpi=pmix inside), waits for the job and checks:
#   - the job COMPLETED with exit code 0:0 (scontrol show job),
#   - the ranks formed one world: the job log says "on 2 rank(s)",
#   - the run directory has model.h5, config.ini and metrics.jsonl,
#   - the log comes from rank 0 only: one start line, one "trained" line, no
#     log line twice.
# The daemons are always stopped by the pids in their pid files.
# Skips (77, with the reason) unless root with slurm-wlm and munge installed
# (launch/setup.sh installs them), or when the cluster does not come up in 30 s.
source "$(dirname "$0")/../cli/lib.sh"

AXON=$(realpath "${1:?usage: slurm_train.sh PATH/TO/axon}")
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SBATCH_SCRIPT=$REPO/launch/slurm/train.sbatch

[ "$(id -u)" -eq 0 ] || skip "needs root to run slurmctld/slurmd/munged as a private cluster"
for tool in munged slurmctld slurmd sbatch scontrol sinfo squeue scancel; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install slurm-wlm munge)"
done
[ -f "$SBATCH_SCRIPT" ] || fail "$SBATCH_SCRIPT is missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/axon-slurm-XXXXXX")
S=$WORK/slurm
export SLURM_CONF=$S/slurm.conf

stop_pidfile() { # stop_pidfile FILE - SIGTERM the daemon, SIGKILL after 5 s
	local pid
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		# gone, or a zombie that its parent (here init) has not reaped yet
		case "$(ps -o stat= -p "$pid" 2>/dev/null)" in '' | Z*) return 0 ;; esac
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

# The job's processes (slurmstepd, the ranks) run in $WORK: kill what is left
# there once the daemons are gone (axon ranks handle SIGTERM by stopping at a
# step boundary, so a scancel alone may leave a stuck rank behind).
kill_leftovers() {
	local p
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in
		"$WORK" | "$WORK"/*) kill -9 "${p#/proc/}" 2>/dev/null || true ;;
		esac
	done
}

cleanup() {
	local rc=$?
	cd /
	if [ -s "$S/slurmctld.pid" ]; then
		scancel --quiet --user=root 2>/dev/null || true
		for _ in $(seq 20); do # up to 10 s for the jobs to end
			[ -z "$(squeue -h 2>/dev/null)" ] && break
			sleep 0.5
		done
	fi
	stop_pidfile "$S/slurmd.pid"
	stop_pidfile "$S/slurmctld.pid"
	stop_pidfile "$S/munge/munged.pid"
	kill_leftovers
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -d "$S/log" ]; then
		for log in "$S"/log/*.log; do
			echo "--- last lines of $log:" >&2
			tail -n 15 "$log" >&2
		done
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
cd "$WORK"

# ---- munge: its own key and socket ----
mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/log" "$S/tmp"
chmod 700 "$S/munge"
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 status=none
chmod 400 "$S/munge.key"
/usr/sbin/munged --force --key-file="$S/munge.key" --socket="$S/munge/munge.socket.2" \
	--pid-file="$S/munge/munged.pid" --log-file="$S/log/munged.log" \
	--seed-file="$S/munge/munged.seed" ||
	skip "munged does not start (see above)"

# ---- slurm.conf: one node, this host, ports nobody listens on ----
host=$(hostname -s)
cores=$(nproc)
port=0
for _ in $(seq 20); do
	p=$((20000 + RANDOM % 20000))
	if ! ss -Htln 2>/dev/null | awk '{print $4}' | grep -qE ":($p|$((p + 1)))\$"; then
		port=$p
		break
	fi
done
[ "$port" -ne 0 ] || skip "found no free pair of TCP ports for slurmctld and slurmd"
# Job ids of its own, and PMIx's per-step directories under $S/tmp (TmpFS), so
# that two such clusters on one host (tests run concurrently) do not collide
# in /tmp/spmix_appdir_<uid>_<job>.<step>.
first_job=$((1000 + RANDOM * 30))
cat >"$SLURM_CONF" <<EOF
ClusterName=axontest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.socket.2,cred_expire=10
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
TmpFS=$S/tmp
FirstJobId=$first_job
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 Sockets=1 CoresPerSocket=$cores ThreadsPerCore=1 RealMemory=1000
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -f "$SLURM_CONF" -i || skip "slurmctld does not start (log: $S/log/slurmctld.log)"
sleep 1
slurmd -f "$SLURM_CONF" || skip "slurmd does not start (log: $S/log/slurmd.log)"
state=""
for _ in $(seq 60); do # 30 s
	state=$(sinfo -h -o %T 2>/dev/null || true)
	[ "$state" = idle ] && break
	sleep 0.5
done
if [ "$state" != idle ]; then
	tail -n 5 "$S"/log/*.log >&2 || true
	skip "the local SLURM cluster did not come up within 30 s (node state '${state:-none}')"
fi
srun --mpi=list 2>&1 | grep -qw pmix || skip "this SLURM has no PMIx plugin (srun --mpi=list)"

# ---- a small dataset and config ----
make_csv_blobs blobs.csv 3000 5
run convert 0 "$AXON" data convert --format csv --train blobs.csv --out data --val-fraction 0.2 \
	--shards 2 --num-classes 3 --quiet
cat >cfg.ini <<'EOF'
[data]
train = data/train
val = data/val
batch_size = 64

[model]
fc1 = linear 32
act = relu
fc2 = linear 3

[optimizer]
name = adamw
lr = 0.003

[loop]
epochs = 3
log_every = 10

[output]
dir = run
EOF

# ---- submit the template: 2 tasks on the one node ----
# AXON_MAX_REQUEUES=0: a failed step ends the job here instead of requeueing it.
export CONFIG=cfg.ini AXON AXON_ARGS="--set loop.threads=1" AXON_MAX_REQUEUES=0
job=$(sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=5 \
	--chdir="$WORK" --output="$WORK/job-%j.out" --error="$WORK/job-%j.out" "$SBATCH_SCRIPT") ||
	fail "sbatch rejected launch/slurm/train.sbatch"
job=${job%%;*}
out=$WORK/job-$job.out

info=""
for _ in $(seq 240); do # 120 s
	info=$(scontrol show job "$job" 2>/dev/null || true)
	case "$info" in
	*JobState=COMPLETED* | *JobState=FAILED* | *JobState=CANCELLED* | *JobState=TIMEOUT* | \
		*JobState=NODE_FAIL* | *JobState=OUT_OF_MEMORY* | *JobState=BOOT_FAIL*)
		break
		;;
	esac
	sleep 0.5
done
show_job() {
	echo "--- scontrol show job $job:" >&2
	echo "$info" >&2
	echo "--- $out:" >&2
	cat "$out" >&2 || true
}
grep -q "JobState=COMPLETED" <<<"$info" || { show_job; fail "job $job did not complete"; }
grep -q "ExitCode=0:0" <<<"$info" || { show_job; fail "job $job did not exit 0:0"; }
[ -f "$out" ] || fail "job $job wrote no output file $out"

# ---- what the job did ----
contains "$out" "2 task(s) x 1 CPU(s)" "the batch script should report 2 tasks"
contains "$out" "2 rank(s) x 1 BLAS thread(s), global batch 64" \
	"the tasks should have formed one world of 2 ranks (srun --mpi=pmix)"
n=$(grep -c "^trained .* on 2 rank(s)" "$out" || true)
[ "$n" -eq 1 ] || { cat "$out" >&2; fail "want one 'trained ... on 2 rank(s)' line, found $n"; }
lacks "$out" "on 1 rank(s)" "a task ran alone (a world of 1): srun did not wire the ranks"
n=$(grep -c "^axon .*: training " "$out" || true)
[ "$n" -eq 1 ] || { cat "$out" >&2; fail "want one start line (rank 0 only), found $n"; }
dups=$(grep -v '^$' "$out" | sort | uniq -d)
[ -z "$dups" ] || { cat "$out" >&2; fail "log lines printed more than once (not rank 0 only): $dups"; }
grep -q "^train epoch 2 step " "$out" || { cat "$out" >&2; fail "no log line of the last epoch"; }
for f in model.h5 config.ini metrics.jsonl; do
	[ -s "run/$f" ] || fail "the run directory has no $f: $(ls run 2>&1)"
done
lacks "$out" "error" "the job log should hold no error"

echo "slurm_train: job $job completed on a local SLURM cluster, 2 ranks, rank 0 wrote run/model.h5"
