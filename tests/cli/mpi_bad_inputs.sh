#!/usr/bin/env bash
# mpi_bad_inputs.sh AXON - what `mpirun ... axon train` does when the ranks do
# not agree or one of them fails.
#
# Every case runs under `timeout 60` and must end with a non-zero exit (a
# hang is a failure) and a message on stderr naming the rank and the
# problem, and leave no half-made run directory behind:
#   - ranks started with different configs (MPMD, one with --set optimizer.lr)
#   - a dataset with fewer samples than ranks
#   - a world size (3) that does not divide the global batch (64): the message
#     suggests a multiple
#   - the dataset missing on one rank only (MPMD, different working directories)
#   - a rank whose shards are damaged: it fails at its first read, mid-run, and
#     its MPI_Abort ends the job
#   - a rank killed with SIGKILL a second into training: mpirun must exit
#     non-zero within a few seconds instead of leaving rank 0 waiting
# The data is a small synthetic CSV dataset made with awk (no Python needed).
source "$(dirname "$0")/lib.sh"

AXON=$(realpath "${1:?usage: mpi_bad_inputs.sh PATH/TO/axon}")
MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
[ -n "$MPIRUN" ] || skip "mpirun is not installed (apt-get install openmpi-bin)"
make_workdir
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

bg_pid=""
cleanup() {
	if [ -n "$bg_pid" ]; then
		kill -9 "$bg_pid" 2>/dev/null || true
	fi
	cd /
	rm -rf "$WORK"
}
trap cleanup EXIT

make_csv_blobs blobs.csv 4000 7
run convert 0 "$AXON" data convert --format csv --train blobs.csv --out data --shards 2 \
	--val-fraction 0.2 --num-classes 3 --quiet
printf '0.5,1.0,0.25,1\n' >one.csv
run convert_one 0 "$AXON" data convert --format csv --train one.csv --out one --num-classes 2 --quiet

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
lr = 0.001

[loop]
epochs = 2
log_every = 10
threads = 1

[output]
dir = run
EOF

# mpi_fails NAME ARGS... - mpirun ARGS under timeout 60 (SIGTERM, then SIGKILL
# 5 s later: the ranks handle SIGTERM); it must exit non-zero, and not by the
# timeout. Output in NAME.out / NAME.err.
mpi_fails() {
	local name=$1 rc=0 start=$SECONDS
	shift
	timeout -k 5 60 "$MPIRUN" --oversubscribe "$@" >"$name.out" 2>"$name.err" || rc=$?
	if [ "$rc" -eq 0 ] || [ $((SECONDS - start)) -ge 60 ]; then
		echo "--- stdout of $name:" >&2
		cat "$name.out" >&2
		echo "--- stderr of $name:" >&2
		cat "$name.err" >&2
		[ "$rc" -eq 0 ] && fail "$name: mpirun $* succeeded; it should have failed"
		fail "$name: mpirun $* hung (stopped after 60 s, exit $rc); it should have failed"
	fi
}

# The good config trains on 2 ranks (so each failure below is the one change's),
# validating and keeping a best checkpoint each epoch, and ends (no rank left
# in a collective the others skipped).
run good 0 timeout -k 5 60 "$MPIRUN" --oversubscribe -np 2 "$AXON" train cfg.ini
contains good.out "on 2 rank(s)"
contains good.out "(best)" "the good run should have validated"
[ -s run/model.h5 ] || fail "the good 2-rank run wrote no run/model.h5"
rm -rf run

# ---- ranks with different configs ----
mpi_fails mismatch -np 1 "$AXON" train cfg.ini : -np 1 "$AXON" train cfg.ini --set optimizer.lr=0.5
contains mismatch.err "rank 1 has a different config than rank 0"
contains mismatch.err "every rank must start the same job with the same files"
[ ! -e run ] || fail "mismatched configs still created the run directory"

# ---- fewer samples than ranks ----
mpi_fails tiny -np 2 "$AXON" train cfg.ini --set data.train=one/train --set data.batch_size=2 \
	--set model.fc2='linear 2'
contains tiny.err "dataset one/train has 1 samples, fewer than the 2 ranks"
[ ! -e run ] || fail "a too-small dataset still created the run directory"

# ---- a world size that does not divide the global batch ----
mpi_fails indivisible -np 3 "$AXON" train cfg.ini
contains indivisible.err "the global batch_size 64 cannot be split evenly over 3 rank(s)"
contains indivisible.err "use a multiple of 3 (such as 63 or 66)"
[ ! -e run ] || fail "an indivisible batch still created the run directory"

# ---- the dataset missing on one rank (relative path, different working dirs) ----
# A model of 1 MiB: a collective that only rank 0 enters (once the initial
# weights were broadcast inside set-up) cannot complete on MPI's eager path.
mkdir -p with without
cp -r data with/
big=(--set model.fc1='linear 8192')
mpi_fails missing -np 1 -wdir "$WORK/with" "$AXON" train "$WORK/cfg.ini" "${big[@]}" : \
	-np 1 -wdir "$WORK/without" "$AXON" train "$WORK/cfg.ini" "${big[@]}"
contains missing.err "axon train (rank 1 of 2): data: dataset directory data/train does not exist"
contains missing.err "axon train (rank 0 of 2): stopping: rank 1 failed during set-up"
[ ! -e with/run ] && [ ! -e without/run ] || fail "a set-up failure on rank 1 left a run directory"

# ---- a rank whose shards are damaged fails at its first read, mid-run ----
mkdir -p damaged
cp -r data damaged/
for shard in damaged/data/train/*.h5; do
	size=$(stat -c %s "$shard")
	# 64 bytes in the middle of the file: chunk data, caught by the Fletcher-32 checksums.
	head -c 64 /dev/zero | tr '\0' '\377' |
		dd of="$shard" bs=1 seek=$((size / 2)) conv=notrunc status=none
done
mpi_fails damaged -np 1 -wdir "$WORK/with" "$AXON" train "$WORK/cfg.ini" : \
	-np 1 -wdir "$WORK/damaged" "$AXON" train "$WORK/cfg.ini"
contains damaged.out "total parameters" "rank 0 should have started training before rank 1 failed"
contains damaged.err "axon train (rank 1 of 2): data: shard data/train/"
contains damaged.err "failed (truncated or damaged file?)"
lacks damaged.out "trained " "a job with a failed rank should not report success"

# ---- a rank killed a second into training ----
# 10^8 steps: only the kill can end it within the 60 s.
timeout -k 5 60 "$MPIRUN" --oversubscribe -np 2 "$AXON" train cfg.ini --set loop.steps=100000000 \
	>killed.out 2>killed.err &
bg_pid=$!
rank1=""
for _ in $(seq 100); do # up to 10 s for the ranks to start training
	if grep -q "^train epoch" killed.out 2>/dev/null; then
		for pid in $(pgrep -P "$(pgrep -P "$bg_pid" -x mpirun || echo 0)" || true); do
			if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
				rank1=$pid
			fi
		done
		[ -n "$rank1" ] && break
	fi
	sleep 0.1
done
[ -n "$rank1" ] || { cat killed.out killed.err >&2; fail "did not find rank 1 training"; }
sleep 1
start=$(date +%s.%N)
kill -9 "$rank1" || fail "rank 1 (pid $rank1) was gone before it could be killed"
rc=0
wait "$bg_pid" || rc=$?
bg_pid=""
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$rc" -ne 124 ] || fail "mpirun hung after rank 1 was killed (stopped by the timeout)"
[ "$rc" -ne 0 ] || fail "mpirun exited 0 although rank 1 was killed"
awk -v e="$elapsed" 'BEGIN { exit !(e < 10) }' ||
	fail "mpirun took $elapsed s to end the job after rank 1 was killed (want < 10 s)"
lacks killed.out "trained " "a job with a killed rank should not report success"
contains killed.err "signal 9" "mpirun should say that a rank died of signal 9"

echo "mpi_bad_inputs: all cases passed (the killed job ended ${elapsed} s after the kill, exit $rc)"
