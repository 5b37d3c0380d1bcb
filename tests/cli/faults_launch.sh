#!/usr/bin/env bash
# faults_launch.sh AXON - `axon launch` against real faults: processes killed,
# stopped and signalled while a data-parallel job trains under mpirun.
#
# The data is a learnable synthetic 3-class set (numpy, then `axon data
# convert --format npy`); the model has dropout, so every rank's RNG stream
# matters, and checkpoints are written every 20 steps. An uninterrupted
# `axon launch -n 3` run is the reference. Then:
#   - kill -9 rank 0 (the rank that writes checkpoints) of 3 once checkpoints
#     exist: the launcher restarts the job, which resumes from a checkpoint
#     and ends with a model.h5 that is bit-for-bit the reference's (every
#     dataset compared with h5py); the summary shows the killed attempt and
#     the restart;
#   - SIGSTOP rank 1 of 2 with [checkpoint] watchdog_seconds = 3: the job ends
#     within 20 s of the stop, stderr names the watchdog with the rank, step
#     and phase, and the launcher restarts the job, which finishes;
#   - a job that fails every time (a NaN at step 5, nan_patience 1, no
#     checkpoint to roll back to) under --max-restarts 2: exit 1 after exactly
#     3 attempts, with a summary listing the 3;
#   - SIGTERM to `axon launch`: the job saves a checkpoint and exits 75, the
#     launcher exits 75 without restarting; the same command again continues
#     from that checkpoint and ends bit-for-bit at the reference.
# Every launch runs under `timeout`; whatever is left of a run (a stopped
# rank, an mpirun) is killed on exit by its unique directory in the command
# line. Skips (77) only when mpirun is missing.
source "$(dirname "$0")/lib.sh"
# Per-launch time limit; tests/run.sh --sanitize sets AXON_TEST_SLOWDOWN
# (sanitized binaries run several times slower).
LIMIT=$((60 * ${AXON_TEST_SLOWDOWN:-1}))

AXON=$(realpath "${1:?usage: faults_launch.sh PATH/TO/axon}")
MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
[ -n "$MPIRUN" ] || skip "mpirun is not installed (apt-get install openmpi-bin)"
[ -x "$PY" ] || fail "$PY is missing (the checks compare weights with numpy and h5py)"
"$PY" -c 'import numpy, h5py' 2>/dev/null ||
	fail "$PY lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/axon-faults-launch-XXXXXX")
cleanup() {
	local rc=$? pid
	# Everything started here has $WORK in its command line (the config and
	# the run directories are absolute paths): mpirun, the ranks, the launcher.
	for pid in $(pgrep -f -- "$WORK" || true); do
		kill -CONT "$pid" 2>/dev/null || true
		kill -9 "$pid" 2>/dev/null || true
	done
	cd /
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
cd "$WORK"
T0=$(date +%s.%N)

elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

make_blobs data 3000 11
cat >cfg.ini <<'EOF'
[data]
train = data/train
val = data/val
batch_size = 24

[model]
fc1 = linear 64
act = relu
drop = dropout 0.3
fc2 = linear 3
seed = 5

[optimizer]
name = adamw
lr = 0.003

[loop]
steps = 4000
log_every = 100
eval_every = 500
threads = 1

[checkpoint]
every_steps = 20
keep_last = 3
EOF
CFG=$WORK/cfg.ini

# launch NAME RC_VAR ARGS... - `axon launch ARGS` under timeout 60 in the
# foreground, output in NAME.out/NAME.err, its exit code into RC_VAR.
launch() {
	local name=$1 var=$2 code=0
	shift 2
	timeout -k 5 "$LIMIT" "$AXON" launch --restart-delay 0.2 "$@" >"$name.out" 2>"$name.err" || code=$?
	[ "$code" -ne 124 ] || { show "$name"; fail "$name: axon launch $* hung (killed after 60 s)"; }
	printf -v "$var" '%s' "$code"
}

show() {
	echo "--- stdout of $1:" >&2
	cat "$1.out" >&2
	echo "--- stderr of $1:" >&2
	cat "$1.err" >&2
}

# newest_step DIR - the newest committed checkpoint's step in DIR/checkpoints, -1 if none.
newest_step() {
	local newest=-1 d n
	for d in "$1"/checkpoints/step-*; do
		n=${d##*/step-}
		case $n in '' | *[!0-9]*) continue ;; esac
		n=$((10#$n))
		[ "$n" -gt "$newest" ] && newest=$n
	done
	echo "$newest"
}

# wait_ckpt DIR STEP NAME - wait (up to 30 s) until DIR has a checkpoint at STEP or later.
wait_ckpt() {
	for _ in $(seq 300); do
		[ "$(newest_step "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	show "$3"
	fail "$3: no checkpoint at step $2 or later in $1 after 30 s"
}

# rank_pid DIR RANK - the pid of the `axon train` rank RANK whose command line
# holds DIR (not mpirun, not the launcher); empty when there is none.
rank_pid() {
	local pid
	for pid in $(pgrep -f -- "$1" || true); do
		[ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 2p)" = train ] || continue
		if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
			echo "$pid"
			return 0
		fi
	done
}

# same_weights A B WHY - every dataset of the HDF5 files A and B is equal, bit for bit.
same_weights() {
	"$PY" - "$1" "$2" <<'PYEOF' || fail "$3"
import sys
import h5py
import numpy as np

def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out

a, b = datasets(sys.argv[1]), datasets(sys.argv[2])
if not a:
    sys.exit(f"{sys.argv[1]} holds no datasets")
if sorted(a) != sorted(b):
    sys.exit(f"different datasets: {sorted(a)} vs {sorted(b)}")
bad = [k for k in sorted(a) if a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k])]
for k in bad:
    d = np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max() if a[k].shape == b[k].shape else "shape"
    print(f"{k}: differs (max |a - b| = {d})", file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
}

# summary_row FILE N - the summary line of attempt N in the launcher's stderr.
summary_row() { grep -E "^  $2 +[0-9]{4}-" "$1" || true; }

# ---- the reference: 3 ranks, never interrupted ----
t=$(date +%s.%N)
launch ref rc -n 3 -- train "$CFG" --set output.dir="$WORK/run-ref"
[ "$rc" -eq 0 ] || { show ref; fail "the uninterrupted run exited $rc"; }
[ -s run-ref/model.h5 ] || fail "the uninterrupted run wrote no model.h5"
contains ref.err "1 attempt(s), 0 restart(s)" "the reference run needed no restart"
contains ref.out "trained 4000 steps" "the reference run should train all 4000 steps"
echo "reference run: $(elapsed_since "$t") s"

# ---- kill -9 rank 0 of 3 after checkpoints: restart, resume, same weights ----
t=$(date +%s.%N)
run_dir=$WORK/run-kill
timeout -k 5 "$LIMIT" "$AXON" launch --restart-delay 0.2 -n 3 -- train "$CFG" --set output.dir="$run_dir" \
	>kill.out 2>kill.err &
bg=$!
wait_ckpt "$run_dir" 100 kill
victim=$(rank_pid "$run_dir" 0)
[ -n "$victim" ] || { show kill; fail "found no rank 0 process of the run in $run_dir"; }
killed_at=$(newest_step "$run_dir")
kill -9 "$victim" || fail "rank 0 (pid $victim) was gone before it could be killed"
rc=0
wait "$bg" || rc=$?
[ "$rc" -ne 124 ] || { show kill; fail "kill: the launcher hung (killed after 60 s)"; }
[ "$rc" -eq 0 ] || { show kill; fail "kill: axon launch exited $rc after restarting a killed job"; }
[ "$killed_at" -lt 4000 ] || fail "kill: the job had finished before rank 0 was killed"
contains kill.err "restarting from the newest checkpoint, step" "the launcher should restart the job"
contains kill.err "2 attempt(s), 1 restart(s)" "the summary should list the killed attempt and the restart"
row=$(summary_row kill.err 1)
grep -q "a rank was killed: signal 9" <<<"$row" ||
	{ show kill; fail "attempt 1 should be reported as a rank killed by signal 9, got: '$row'"; }
grep -q "exit 0 (finished)" <<<"$(summary_row kill.err 2)" || { show kill; fail "attempt 2 should finish"; }
resumed=$(sed -n 's/^resume: continuing from .*step-0*\([0-9][0-9]*\) (step.*/\1/p' kill.out)
[ -n "$resumed" ] && [ "$resumed" -ge "$killed_at" ] && [ "$resumed" -lt 4000 ] ||
	{ show kill; fail "the restart should resume from a checkpoint at step >= $killed_at, got '$resumed'"; }
same_weights run-ref/model.h5 "$run_dir/model.h5" \
	"after a rank was killed at step ~$killed_at and the job resumed from step $resumed, model.h5 differs from the uninterrupted run"
echo "kill -9 rank 0 near step $killed_at, resumed from step $resumed: $(elapsed_since "$t") s, weights identical"

# ---- SIGSTOP rank 1 of 2: the watchdog ends the job, the launcher restarts it ----
t=$(date +%s.%N)
run_dir=$WORK/run-stop
timeout -k 5 "$LIMIT" "$AXON" launch --restart-delay 0.2 -n 2 -- train "$CFG" --set output.dir="$run_dir" \
	--set checkpoint.watchdog_seconds=3 >stop.out 2>stop.err &
bg=$!
wait_ckpt "$run_dir" 100 stop
victim=$(rank_pid "$run_dir" 1)
[ -n "$victim" ] || { show stop; fail "found no rank 1 process of the run in $run_dir"; }
kill -STOP "$victim" || fail "rank 1 (pid $victim) was gone before it could be stopped"
stopped=$(date +%s.%N)
ended=""
for _ in $(seq 250); do # 25 s
	if grep -q "attempt 1 failed" stop.err; then
		ended=$(elapsed_since "$stopped")
		break
	fi
	sleep 0.1
done
# The stopped rank, should mpirun have left it behind: let it go and end it.
kill -CONT "$victim" 2>/dev/null || true
kill -9 "$victim" 2>/dev/null || true
[ -n "$ended" ] || { show stop; fail "stop: the job did not end within 25 s of a rank being stopped"; }
awk -v e="$ended" 'BEGIN { exit !(e < 20) }' ||
	fail "stop: the job ended $ended s after rank 1 stopped (watchdog 3 s; want < 20 s)"
grep -qE "axon train \(rank [01]\): watchdog: no progress for [0-9]+ s at step [0-9]+ in phase '[a-z-]+'" \
	stop.err || { show stop; fail "stop: stderr should name the watchdog with the rank, step and phase"; }
rc=0
wait "$bg" || rc=$?
[ "$rc" -ne 124 ] || { show stop; fail "stop: the launcher hung (killed after 60 s)"; }
[ "$rc" -eq 0 ] || { show stop; fail "stop: axon launch exited $rc; the restarted job should finish"; }
grep -q "exit 3 (watchdog" <<<"$(summary_row stop.err 1)" ||
	{ show stop; fail "stop: attempt 1 should be reported as ended by the watchdog (exit 3)"; }
contains stop.err "restarting from the newest checkpoint, step" "stop: the launcher should restart the job"
[ -s "$run_dir/model.h5" ] || fail "stop: the restarted job wrote no model.h5"
contains stop.out "trained 4000 steps" "stop: the restarted job should train to the end"
echo "SIGSTOP rank 1: job ended $ended s after the stop, restarted and finished: $(elapsed_since "$t") s"

# ---- a job that always fails: --max-restarts 2 gives up after 3 attempts ----
t=$(date +%s.%N)
AXON_FAULT_NAN_STEPS=5 launch giveup rc --max-restarts 2 -n 2 -- train "$CFG" \
	--set output.dir="$WORK/run-giveup" --set checkpoint.nan_patience=1 --set checkpoint.every_steps=0
[ "$rc" -eq 1 ] || { show giveup; fail "giveup: axon launch exited $rc, want 1 (gave up)"; }
contains giveup.err "giving up: attempt 3 failed" "giveup: the launcher should give up after attempt 3"
contains giveup.err "3 attempt(s), 2 restart(s)" "giveup: the summary should count 3 attempts"
for n in 1 2 3; do
	grep -q "exit 1 (failed)" <<<"$(summary_row giveup.err "$n")" ||
		{ show giveup; fail "giveup: the summary should list attempt $n as failed (exit 1)"; }
done
[ -z "$(summary_row giveup.err 4)" ] || { show giveup; fail "giveup: there should be no attempt 4"; }
n=$(grep -c "^axon launch: attempt [0-9]* of at most 3" giveup.err || true)
[ "$n" -eq 3 ] || { show giveup; fail "giveup: want 3 attempts started, found $n"; }
n=$(grep -c "no checkpoint to roll back to" giveup.err || true)
[ "$n" -ge 3 ] || { show giveup; fail "giveup: every attempt should fail on the NaN at step 5 ($n)"; }
echo "--max-restarts 2: gave up after 3 attempts: $(elapsed_since "$t") s"

# ---- SIGTERM to the launcher: checkpoint, exit 75, no restart; rerun continues ----
t=$(date +%s.%N)
run_dir=$WORK/run-term
timeout -k 5 "$LIMIT" "$AXON" launch --restart-delay 0.2 -n 3 -- train "$CFG" --set output.dir="$run_dir" \
	>term.out 2>term.err &
bg=$!
wait_ckpt "$run_dir" 100 term
launcher=$(pgrep -P "$bg" -f "launch" || true)
[ -n "$launcher" ] || { show term; fail "term: found no axon launch process under timeout ($bg)"; }
kill -TERM "$launcher"
rc=0
wait "$bg" || rc=$?
[ "$rc" -ne 124 ] || { show term; fail "term: the launcher hung after SIGTERM (killed after 60 s)"; }
[ "$rc" -eq 75 ] || { show term; fail "term: axon launch exited $rc after SIGTERM, want 75"; }
contains term.err "not restarting" "term: the launcher should not restart a stopped job"
contains term.err "1 attempt(s), 0 restart(s)" "term: exactly one attempt"
stopped_at=$(sed -n 's/^signal received: saving a checkpoint at step \([0-9]*\) .*/\1/p' term.out)
[ -n "$stopped_at" ] || { show term; fail "term: the job should say it saved a checkpoint on the signal"; }
[ "$stopped_at" -lt 4000 ] || fail "term: the job had finished before the signal"
[ "$(newest_step "$run_dir")" -eq "$stopped_at" ] ||
	fail "term: the newest checkpoint is step $(newest_step "$run_dir"), want $stopped_at"
[ ! -e "$run_dir/model.h5" ] || fail "term: a stopped job should not write model.h5"
launch term2 rc -n 3 -- train "$CFG" --set output.dir="$run_dir"
[ "$rc" -eq 0 ] || { show term2; fail "term: the second axon launch exited $rc"; }
contains term2.out "resume: continuing from $run_dir/checkpoints/step-$(printf %010d "$stopped_at")" \
	"term: the second launch should continue from the checkpoint saved on SIGTERM"
same_weights run-ref/model.h5 "$run_dir/model.h5" \
	"stopped by SIGTERM at step $stopped_at and continued, model.h5 differs from the uninterrupted run"
echo "SIGTERM at step $stopped_at, exit 75, continued: $(elapsed_since "$t") s, weights identical"

echo "faults_launch: all cases passed in $(elapsed_since "$T0") s"
