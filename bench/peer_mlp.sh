#!/bin/sh
# peer_mlp.sh - axon against PyTorch on the Fashion-MNIST MLP recipe, side by side.
#
# Runs bench_peer_mlp (axon, C) and bench/peer_mlp_torch.py (Debian's PyTorch)
# alternately - axon, PyTorch, axon, PyTorch ... - for batch 64 and 256 with 1
# and 2 threads, so that the host's changes of speed (its two vCPUs move, see
# PLATFORM-NOTES) hit both sides alike, then prints a table: samples/s of
# each (median over the rounds of each run's median), their ratio, the
# GEMM-only bound (the step's own sgemm calls replayed alone, timed inside the
# axon runs) and axon's share of it, and one of PyTorch at every thread
# split. Both sides train the same model with the same optimizer on the same
# preloaded float32 images (written once by `bench_peer_mlp --write-data`).
# Then the accuracy check: both train one epoch of the recipe (cosine
# schedule) for a few seeds and report the test accuracy.
#
# Threading models:
#   axon    exactly one pool: OpenBLAS's own pthreads, sized with
#           openblas_set_num_threads(T). Its elementwise kernels, the
#           optimizer and the batch gathering run on the calling thread.
#           No OpenMP anywhere.
#   PyTorch two pools: its kernels on OpenMP (torch.set_num_threads), its
#           GEMMs in the same OpenBLAS (pthread flavour) with its own pool
#           (OPENBLAS_NUM_THREADS, set before import). At T = 2 every split is
#           measured - OpenMP 2 / BLAS 1, OpenMP 1 / BLAS 2, and both 2 (the
#           trap: the pools spin against each other) - and at each batch the
#           best of these and of the 1/1 setting is "PyTorch's best on 2 cores".
#
# Memory allocator: PyTorch allocates its temporaries with malloc every step;
# glibc hands blocks this large back to the kernel and takes them again, so
# with the defaults PyTorch's step takes about 1.5 times as long (page faults
# clearing fresh pages). Both sides therefore run with glibc told to keep its memory
# (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_), the
# setting under which PyTorch is fastest; PEER_MALLOC=default runs both with
# glibc's defaults instead. axon is not affected: it makes no heap allocation
# per step.
#
#   bench/peer_mlp.sh [BUILD_DIR]          (default: build)
#   ROUNDS=3 SAMPLES=12800 REPS=5 SEEDS="1 2 3" DATA=/tmp/axon-peer-data
#
# SAMPLES is the number of samples per timed repetition (steps = SAMPLES /
# batch), so every configuration runs for a similar time. Each run reports the
# median of its repetitions and its fastest one; the script prints the tables
# twice: from the medians over rounds of the runs' medians, and of their
# fastest repetitions (the least disturbed figure when other jobs share the
# host). RAW=FILE keeps every RESULT line. The host is shared: before each
# run the script waits (up to QUIET_WAIT seconds, default 120) until both
# cores have been at least 90% idle for 3 s, and it says how many runs
# started without that.
set -eu

BUILD=${1:-build}
AXON=$BUILD/bench/bench_peer_mlp
TORCH="/usr/bin/python3 $(dirname "$0")/peer_mlp_torch.py"
ROUNDS=${ROUNDS:-3}
SAMPLES=${SAMPLES:-12800}
REPS=${REPS:-5}
SEEDS=${SEEDS:-1 2 3}
DATA=${DATA:-/tmp/axon-peer-data}
LOG=$(mktemp /tmp/peer_mlp.XXXXXX)
if [ "${PEER_MALLOC:-tuned}" != default ]; then
	export MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824
	export MALLOC_TOP_PAD_=67108864
fi
trap 'if [ -n "${RAW:-}" ]; then cp "$LOG" "$RAW"; fi; rm -f "$LOG"' EXIT

QUIET_WAIT=${QUIET_WAIT:-120}
NOISY=0

# Both cores >= 90% idle over 3 s (from /proc/stat), or give up after
# QUIET_WAIT seconds and count the run as noisy.
wait_quiet() {
	waited=0
	while [ "$waited" -lt "$QUIET_WAIT" ]; do
		a=$(awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat)
		sleep 3
		b=$(awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat)
		if echo "$a $b" | awk '{exit !(($3 - $1) >= 0.9 * ($4 - $2))}'; then
			return 0
		fi
		waited=$((waited + 3))
	done
	NOISY=$((NOISY + 1))
}

if [ ! -x "$AXON" ]; then
	echo "peer_mlp.sh: $AXON not found; build first (cmake --build $BUILD)" >&2
	exit 1
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	echo "peer_mlp.sh: Debian's PyTorch is missing: apt-get install -y python3-torch" >&2
	exit 1
fi
if [ ! -f "$DATA/train_x.npy" ] || [ ! -f "$DATA/test_y.npy" ]; then
	mkdir -p "$DATA"
	"$AXON" --write-data "$DATA"
fi

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average:$(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel: $(uname -sr); malloc: ${PEER_MALLOC:-tuned}"
"$AXON" --batch 64 --threads 1 --steps 1 --reps 1 --warmup 1 | sed -n '1,4p'
$TORCH --data "$DATA" --batch 64 --threads 1 --steps 1 --reps 1 --warmup 1 | sed -n '2,3p'
echo "rounds: $ROUNDS (axon and PyTorch alternating), $REPS reps of $SAMPLES samples each"
echo

for batch in 64 256; do
	steps=$((SAMPLES / batch))
	for threads in 1 2; do
		if [ "$threads" = 1 ]; then
			settings="1:1"
		else
			settings="2:1 1:2 2:2"
		fi
		r=1
		while [ "$r" -le "$ROUNDS" ]; do
			wait_quiet
			"$AXON" --batch "$batch" --threads "$threads" --steps "$steps" \
				--reps "$REPS" | grep '^RESULT' >>"$LOG"
			for s in $settings; do
				wait_quiet
				$TORCH --data "$DATA" --batch "$batch" --threads "${s%:*}" \
					--blas-threads "${s#*:}" --steps "$steps" --reps "$REPS" |
					grep '^RESULT' >>"$LOG"
			done
			r=$((r + 1))
		done
		echo "done: batch $batch, $threads thread(s), load average:$(cut -d' ' -f1-3 /proc/loadavg)"
	done
done
echo "runs started without a quiet machine (after waiting ${QUIET_WAIT}s): $NOISY"
echo

/usr/bin/python3 - "$LOG" <<'EOF'
# The tables: medians over rounds of each run's median, then of each run's
# fastest repetition.
import statistics, sys
rows = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sys.argv[1])]
for use_best in (False, True):
    def med(side, key, **match):
        if use_best:
            key = {"samples_s": "best_samples_s",
                   "gemm_only_samples_s": "gemm_only_best_samples_s"}[key]
        v = [float(r[key]) for r in rows if r["side"] == side
             and all(r[k] == str(m) for k, m in match.items())]
        return statistics.median(v) if v else float("nan")
    torch_set = lambda b, o, l: med("torch", "samples_s", batch=b, threads=o, blas_threads=l)
    print(f"samples/s: median over rounds of each run's "
          f"{'fastest repetition' if use_best else 'median'}")
    print("| batch | threads | axon | PyTorch (OpenMP/BLAS threads) | axon / PyTorch "
          "| GEMM-only | axon share of GEMM-only |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for b in (64, 256):
        for t in (1, 2):
            a = med("axon", "samples_s", batch=b, threads=t)
            g = med("axon", "gemm_only_samples_s", batch=b, threads=t)
            settings = [(1, 1)] if t == 1 else [(2, 1), (1, 2), (2, 2)]
            p, (o, l) = max((torch_set(b, o, l), (o, l)) for o, l in settings)
            print(f"| {b} | {t} | {a:,.0f} | {p:,.0f} ({o}/{l}) | {a / p:.2f}x | {g:,.0f} "
                  f"| {100 * a / g:.0f}% |")
    print()
    print("PyTorch at every thread setting (OpenMP/BLAS), samples/s:")
    print("| batch | 1/1 | 2/1 | 1/2 | 2/2 | best on 2 cores | axon at 2 threads / best |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for b in (64, 256):
        v = {s: torch_set(b, *s) for s in [(1, 1), (2, 1), (1, 2), (2, 2)]}
        top = max(v, key=v.get)
        a2 = med("axon", "samples_s", batch=b, threads=2)
        print(f"| {b} | " + " | ".join(f"{v[s]:,.0f}" for s in v) +
              f" | {v[top]:,.0f} ({top[0]}/{top[1]}) | {a2 / v[top]:.2f}x |")
    print()
EOF

echo
echo "accuracy check: 1 epoch of the recipe (batch 64, cosine schedule), 1 thread each"
for seed in $SEEDS; do
	"$AXON" --train-epochs 1 --batch 64 --threads 1 --seed "$seed" | grep '^RESULT'
	$TORCH --data "$DATA" --train-epochs 1 --batch 64 --threads 1 --seed "$seed" | grep '^RESULT'
done
