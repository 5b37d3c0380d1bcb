#!/usr/bin/env bash
# ddp_mlp.sh - 2-rank data-parallel training throughput of the Fashion-MNIST MLP:
# `mpirun -np 2 axon train` against PyTorch DDP (gloo), and against 1 rank.
#
# The recipe is examples/fashion_mnist_mlp/config.ini (784-256-128-10, ReLU,
# dropout 0.2, AdamW, cosine) with --set: global batch 128 (64 per rank),
# EPOCHS epochs of the 60,000 training images (no validation, no early
# stopping), 1 BLAS thread per rank, log every 100 steps. Variants, run in a
# rotating order in each of ROUNDS rounds so that the host's changes of speed
# (PLATFORM-NOTES: its two vCPUs move) hit all of them alike:
#   axon-2     mpirun -np 2 axon train, global batch 128
#   axon-1     mpirun -np 1 axon train, batch 64: one rank's share alone
#   axon-2-mpi axon-2 with [loop] grad_transport = mpi (MPI all-reduces instead
#              of the shared-memory transport axon-2 uses on one node)
#   torch-ddp  bench/ddp_mlp_torch.py: PyTorch DDP, gloo, 2 processes x 1 thread,
#              global batch 128, preloaded images (Debian's python3-torch), glibc
#              malloc told to keep its memory (TORCH_MALLOC=default: not)
#   axon-2-bK  axon-2 with [loop] bucket_kib = K, for each K in BUCKETS
# axon's step time is its steady state: from metrics.jsonl, the median over
# the 100-step intervals after the first two (warm-up) of seconds per step.
# Then one --profile run of axon-2 and axon-1 says where a step's time goes.
#
#   bench/ddp_mlp.sh [BUILD_DIR]        (default: build)
#   ROUNDS=3 EPOCHS=4 BUCKETS="64 1024" DATA=/tmp/axon-ddp-data TORCH=1
# Goals (issue 5): axon-2 >= 4x torch-ddp samples/s; an axon-2 step at most
# 15% slower than an axon-1 step.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath "${1:-build}")
AXON=$BUILD/axon
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-4}
BUCKETS=${BUCKETS:-}
DATA=${DATA:-/tmp/axon-ddp-data}
TORCH=${TORCH:-1}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
WORK=$(mktemp -d /tmp/axon-ddp-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[ -x "$AXON" ] || { echo "ddp_mlp.sh: $AXON not found; build first" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "ddp_mlp.sh: mpirun not found (openmpi-bin)" >&2; exit 1; }
if [ "$TORCH" = 1 ] && ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "ddp_mlp.sh: $PY has no torch (apt-get install python3-torch), or run with TORCH=0" >&2
	exit 1
fi
if [ ! -f "$DATA/train/manifest.json" ]; then
	"$AXON" data convert --fashion-mnist --out "$DATA" --shards 4 --quiet
fi

recipe=(train "$here/examples/fashion_mnist_mlp/config.ini" --set "data.train=$DATA/train"
	--set data.val= --set data.test= --set loop.early_stopping_metric=
	--set "loop.epochs=$EPOCHS" --set loop.log_every=100 --set loop.threads=1)

# run_axon NAME NP BATCH [more axon train args] - one run; appends its RESULT line.
run_axon() {
	local name=$1 np=$2 batch=$3 dir=$WORK/$1
	shift 3
	rm -rf "$dir"
	mpirun -np "$np" "$AXON" "${recipe[@]}" --set "data.batch_size=$batch" \
		--set "output.dir=$dir" "$@" >"$dir.log" 2>&1 ||
		{ cat "$dir.log" >&2; echo "ddp_mlp.sh: $name failed" >&2; exit 1; }
	"$PY" - "$dir/metrics.jsonl" "$name" "$batch" >>"$WORK/results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["type"] == "train"]
per_step = [(b["seconds"] - a["seconds"]) / (b["step"] - a["step"])
            for a, b in zip(rows, rows[1:]) if b["step"] - a["step"] == 100][2:]
ms = statistics.median(per_step) * 1e3
print(f"RESULT side={sys.argv[2]} global_batch={sys.argv[3]} step_ms={ms:.4f} "
      f"samples_s={int(sys.argv[3]) / ms * 1e3:.0f} intervals={len(per_step)}")
EOF
	tail -n 1 "$WORK/results"
}

# PyTorch allocates its temporaries with malloc every step; with glibc's
# defaults a good part of its step goes to page faults. It runs with glibc told
# to keep its memory (as bench/peer_mlp.sh does; TORCH_MALLOC=default: not).
run_torch() {
	local env=()
	[ "${TORCH_MALLOC:-tuned}" = default ] ||
		env=(MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824
			MALLOC_TOP_PAD_=67108864)
	env "${env[@]}" "$PY" "$here/bench/ddp_mlp_torch.py" --world 2 --batch 128 --steps 300 \
		--reps 5 | grep '^RESULT' | tee -a "$WORK/results"
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average:$(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores; $(uname -sr)"
echo "axon: $("$AXON" --version 2>/dev/null || echo "$AXON"); $(mpirun --version | head -1)"
echo "rounds: $ROUNDS, $EPOCHS epochs per axon run; buckets: default${BUCKETS:+ and $BUCKETS KiB}"
echo

variants=(axon-2 axon-1 axon-2-mpi)
[ "$TORCH" = 1 ] && variants+=(torch-ddp)
for k in $BUCKETS; do variants+=("axon-2-b$k"); done
for ((r = 0; r < ROUNDS; r++)); do
	for ((i = 0; i < ${#variants[@]}; i++)); do
		v=${variants[$(((i + r) % ${#variants[@]}))]}
		case "$v" in
		axon-2) run_axon axon-2 2 128 ;;
		axon-1) run_axon axon-1 1 64 ;;
		axon-2-mpi) run_axon axon-2-mpi 2 128 --set loop.grad_transport=mpi ;;
		torch-ddp) run_torch ;;
		axon-2-b*) run_axon "$v" 2 128 --set "loop.bucket_kib=${v#axon-2-b}" ;;
		esac
	done
	echo "round $((r + 1)) done, load average:$(cut -d' ' -f1-3 /proc/loadavg)"
done
echo

"$PY" - "$WORK/results" <<'EOF'
import statistics, sys
rows = [dict(kv.split("=", 1) for kv in l.split()[1:]) for l in open(sys.argv[1])]
sides = list(dict.fromkeys(r["side"] for r in rows))
med = {s: statistics.median(float(r["step_ms"]) for r in rows if r["side"] == s) for s in sides}
batch = {r["side"]: int(r["global_batch"]) for r in rows}
print("| variant | global batch | step ms (median of rounds) | samples/s |")
print("|---|---:|---:|---:|")
for s in sides:
    print(f"| {s} | {batch[s]} | {med[s]:.3f} | {batch[s] / med[s] * 1e3:,.0f} |")
print()
a2 = 128 / med["axon-2"] * 1e3
if "torch-ddp" in med:
    t = 128 / med["torch-ddp"] * 1e3
    print(f"axon-2 / torch-ddp throughput: {a2 / t:.2f}x (goal >= 4x)")
print(f"axon-2 step / axon-1 step: {med['axon-2'] / med['axon-1']:.3f} "
      f"({100 * (med['axon-2'] / med['axon-1'] - 1):+.1f}%, goal <= +15%)")
EOF
echo
echo "where the time goes (axon train --profile, ms per step, last full 100-step interval):"
for v in "axon-2 2 128" "axon-1 1 64" "axon-2-mpi 2 128 --set loop.grad_transport=mpi"; do
	set -- $v
	rm -rf "$WORK/prof"
	mpirun -np "$2" "$AXON" "${recipe[@]}" --set "data.batch_size=$3" --set "output.dir=$WORK/prof" \
		"${@:4}" --profile 2>&1 | tr '\r' '\n' | grep -o 'profile over 100 steps.*' | tail -n 1 |
		sed "s/^/$1: /"
done
