#!/bin/sh
# gpu_mlp.sh - axon against PyTorch on one GPU: a full training step, side by side.
#
# Runs build/bench/bench_gpu_mlp (axon, C) and bench/gpu_mlp_torch.py
# (PyTorch) alternately, one configuration at a time - axon, PyTorch, axon,
# PyTorch ... - so that a change of GPU clock or of other load hits both, for
#   mlp  784-256-128-10 (ReLU, dropout 0.2) at batch 64 and 256,
#   ffn  4096-16384-4096 (GELU) at 4096 tokens,
# each in f32 (no TF32) and bf16, then prints the GPU (nvidia-smi) and a
# table: step time of each (median over rounds of each run's median), the
# ratio axon / PyTorch of the step times (below 1: axon is faster), the GEMM
# TFLOP/s each reaches over the whole step, what cuBLAS alone reaches on the
# same GEMMs (measured inside the axon runs) and axon's share of that bound.
# See bench/gpu_mlp.c for the model, the step and the timing method.
#
#   bench/gpu_mlp.sh [BUILD_DIR]          (default: build)
#   ROUNDS=3 REPS=7 WARMUP=20 REP_SECONDS=0.25 PYTHON=python3 RAW=FILE
#
# PYTHON must have a CUDA build of PyTorch (Debian's python3-torch has none);
# without one the table has axon's rows only. Without a GPU it says so and
# exits 0.
set -eu

BUILD=${1:-build}
AXON=$BUILD/bench/bench_gpu_mlp
PYTHON=${PYTHON:-python3}
TORCH="$PYTHON $(dirname "$0")/gpu_mlp_torch.py"
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-7}
WARMUP=${WARMUP:-20}
REP_SECONDS=${REP_SECONDS:-0.25}
LOG=$(mktemp /tmp/gpu_mlp.XXXXXX)
trap 'if [ -n "${RAW:-}" ]; then cp "$LOG" "$RAW"; fi; rm -f "$LOG"' EXIT

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
	echo "gpu_mlp.sh: no GPU (nvidia-smi is missing or lists none); nothing to measure"
	exit 0
fi
if [ ! -x "$AXON" ]; then
	echo "gpu_mlp.sh: $AXON not found; build first (cmake --build $BUILD)" >&2
	exit 1
fi
probe=$("$AXON" --model mlp --batch 64 --precision f32 --reps 1 --warmup 1 --seconds 0.01)
case "$probe" in
*"nothing to measure"*)
	echo "$probe"
	exit 0
	;;
esac
HAVE_TORCH=1
if ! $PYTHON -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
	>/dev/null 2>&1; then
	HAVE_TORCH=0
	echo "gpu_mlp.sh: $PYTHON has no PyTorch with CUDA: axon's rows only"
fi

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
	--format=csv,noheader | sed 's/^/nvidia-smi: /'
echo "$probe" | sed -n '/^gpu:/p; /^cuda:/p; /^axon:/p'
if [ "$HAVE_TORCH" = 1 ]; then
	$TORCH --model mlp --batch 64 --precision f32 --reps 1 --warmup 1 --seconds 0.01 |
		sed -n '/^torch:/p'
fi
echo "rounds: $ROUNDS (axon and PyTorch alternating); per run $WARMUP warm-up steps, then" \
	"the median of $REPS repetitions of ~${REP_SECONDS}s"
echo

COMMON="--reps $REPS --warmup $WARMUP --seconds $REP_SECONDS"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for config in "mlp 64 f32" "mlp 256 f32" "mlp 64 bf16" "mlp 256 bf16" \
		"ffn 4096 f32" "ffn 4096 bf16"; do
		# shellcheck disable=SC2086 # both are lists of words
		set -- $config
		# shellcheck disable=SC2086
		"$AXON" --model "$1" --batch "$2" --precision "$3" $COMMON | grep '^RESULT' >>"$LOG"
		if [ "$HAVE_TORCH" = 1 ]; then
			# shellcheck disable=SC2086
			$TORCH --model "$1" --batch "$2" --precision "$3" $COMMON |
				grep '^RESULT' >>"$LOG"
		fi
	done
	echo "done: round $r of $ROUNDS"
	r=$((r + 1))
done
echo

"$PYTHON" - "$LOG" <<'EOF'
# Medians over rounds of each run's median step time.
import statistics, sys
rows = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sys.argv[1])]

def med(side, key, model, batch, precision):
    v = [float(r[key]) for r in rows if r["side"] == side and r["model"] == model
         and r["batch"] == batch and r["precision"] == precision]
    return statistics.median(v) if v else float("nan")

configs = []
for r in rows:
    c = (r["model"], r["batch"], r["precision"])
    if c not in configs:
        configs.append(c)
print("step time: median over rounds of each run's median; TFLOP/s: the step's GEMM FLOPs "
      "(6MNK per linear, 4MNK for the first) / step time")
print("| model | batch | precision | axon ms | PyTorch ms | axon / PyTorch | axon TFLOP/s "
      "| PyTorch TFLOP/s | cuBLAS alone TFLOP/s | axon share of cuBLAS alone |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for model, batch, precision in configs:
    a = med("axon", "step_ms", model, batch, precision)
    t = med("torch", "step_ms", model, batch, precision)
    at = med("axon", "tflops", model, batch, precision)
    tt = med("torch", "tflops", model, batch, precision)
    ct = med("axon", "cublas_tflops", model, batch, precision)
    share = med("axon", "share_pct", model, batch, precision)
    ratio = f"{a / t:.2f}" if t == t else "n/a"
    torch_ms = f"{t:.4f}" if t == t else "n/a"
    torch_tf = f"{tt:.2f}" if tt == tt else "n/a"
    print(f"| {model} | {batch} | {precision} | {a:.4f} | {torch_ms} | {ratio} | {at:.2f} "
          f"| {torch_tf} | {ct:.2f} | {share:.0f}% |")
EOF
