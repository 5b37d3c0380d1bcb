#!/usr/bin/env bash
# cuda_train.sh AXON - `axon train` on the GPU follows the same loss curve as
# on the CPU.
#
# Trains the Fashion-MNIST MLP recipe (examples/fashion_mnist_mlp/config.ini:
# 784-256-128-10, ReLU, dropout 0.2, AdamW, cosine schedule) for 300 steps
# three times from the same seeds: [loop] device = cpu, device = cuda
# (precision f32), and device = cuda with precision = bf16. The data order is
# the same (the loader runs on the host from [data] seed) and so are the
# dropout masks (the GPU draws them from the same Philox stream as the CPU),
# so the runs differ only by floating-point rounding.
#
# Checks, from each run's metrics.jsonl (one JSON object per line, "type"
# train or eval; train lines carry the mean loss over the last log_every
# steps):
#   - f32: every logged training loss within 1% (relative) of the CPU's, and
#     the final validation loss within 1%, accuracy within 0.01. Why 1%:
#     cuBLAS and OpenBLAS sum each GEMM in a different order, so gradients
#     differ by ~1e-6 relative per step; AdamW and the ReLU kinks carry that
#     forward, and after 300 steps the two curves drift apart by ~1e-4..1e-3.
#     A wrong GPU kernel (a missing bias gradient, a transposed operand, a
#     different dropout mask) moves the curve by far more than 1% within a
#     few dozen steps.
#   - bf16 (matmul/linear operands rounded to bf16, f32 master weights): the
#     loss falls, and every logged loss is within 5% of the CPU's (bf16 keeps
#     8 bits of mantissa, ~0.4% per operand, so the curves drift further).
#
# Uses the real Fashion-MNIST when the Debian package is installed, otherwise
# a synthetic Fashion-MNIST-shaped set (28x28 uint8 images, 10 classes) made
# with numpy. Skipped (77) when this axon has no CUDA (`axon --version` says
# "CPU only") or nvidia-smi lists no GPU.
source "$(dirname "$0")/lib.sh"

AXON=$(realpath "${1:?usage: cuda_train.sh PATH/TO/axon}")
SOURCE=/usr/share/datasets/fashion-mnist

version=$("$AXON" --version) || fail "axon --version failed"
case "$version" in
*"CPU only"*) skip "this axon was built without CUDA ($version)" ;;
*"CUDA "[0-9]*) ;;
*) skip "axon --version does not report a CUDA build ($version)" ;;
esac
command -v nvidia-smi >/dev/null 2>&1 || skip "nvidia-smi not found: no NVIDIA driver"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
[ "$gpus" -ge 1 ] || skip "nvidia-smi -L lists no GPU"
case "${CUDA_VISIBLE_DEVICES-unset}" in
"" | -1) skip "CUDA_VISIBLE_DEVICES='$CUDA_VISIBLE_DEVICES' hides every GPU" ;;
esac

need_python_modules json # the comparison reads metrics.jsonl with Python
make_workdir
export OPENBLAS_NUM_THREADS=1

if [ -f "$SOURCE/train-images-idx3-ubyte.gz" ]; then
	run convert 0 "$AXON" data convert --fashion-mnist --out fm --val-fraction 0.1 --quiet
	data="real Fashion-MNIST"
else
	need_python_modules numpy
	# 10 class prototypes of 28x28 pixels; each image is its class's prototype
	# plus noise, clipped to bytes, as uint8 like the real images.
	"$PY" - <<'PYEOF'
import numpy as np
rng = np.random.default_rng(7)
protos = rng.uniform(0, 255, (10, 28, 28))
for name, count in (("train", 12000), ("test", 2000)):
    y = rng.integers(0, 10, count).astype(np.int64)
    x = protos[y] + rng.normal(0, 60, (count, 28, 28))
    np.save(f"{name}_x.npy", np.clip(x, 0, 255).astype(np.uint8))
    np.save(f"{name}_y.npy", y)
PYEOF
	run convert 0 "$AXON" data convert --format npy --train-inputs train_x.npy \
		--train-targets train_y.npy --test-inputs test_x.npy --test-targets test_y.npy \
		--out fm --val-fraction 0.1 --seed 3 --quiet
	data="synthetic Fashion-MNIST-shaped data"
fi
for split in train val; do
	[ -f "fm/$split/manifest.json" ] || fail "axon data convert wrote no fm/$split"
done

# The recipe of examples/fashion_mnist_mlp/config.ini, 300 steps, logged
# every 10, evaluated once at the end.
cat >cfg.ini <<'EOF'
[data]
train = fm/train
val = fm/val
batch_size = 64
shuffle = true
seed = 1

[model]
flatten = flatten
fc1 = linear 256
relu1 = relu
drop1 = dropout 0.2
fc2 = linear 128
relu2 = relu
drop2 = dropout 0.2
fc3 = linear 10
seed = 1

[optimizer]
name = adamw
lr = 1e-3
weight_decay = 1e-2

[schedule]
name = cosine

[loop]
steps = 300
loss = cross_entropy
log_every = 10
device = cpu
precision = f32

[output]
dir = cpu
EOF

run train_cpu 0 "$AXON" train cfg.ini
run train_gpu 0 "$AXON" train cfg.ini --set loop.device=cuda --set output.dir=gpu
run train_bf16 0 "$AXON" train cfg.ini --set loop.device=cuda --set loop.precision=bf16 \
	--set output.dir=bf16
# The banner names the device: the GPU runs must not have fallen back to the CPU.
contains train_cpu.out "device cpu,"
lacks train_gpu.out "device cpu," "the device = cuda run trained on the CPU"
lacks train_bf16.out "device cpu," "the bf16 run trained on the CPU"
contains train_bf16.out " bf16, run dir"
for run_dir in cpu gpu bf16; do
	contains "$run_dir/config.ini" "device = " "$run_dir/config.ini does not record the device"
	[ -s "$run_dir/metrics.jsonl" ] || fail "$run_dir has no metrics.jsonl"
done
contains gpu/config.ini "device = cuda"
contains bf16/config.ini "precision = bf16"

"$PY" - <<'PYEOF' || fail "the GPU runs do not follow the CPU run (see above)"
import json, math

def load(run):
    records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
    train = [(r["step"], r["loss"]) for r in records if r["type"] == "train"]
    evals = [r for r in records if r["type"] == "eval"]
    return train, evals

cpu, cpu_eval = load("cpu")
assert len(cpu) == 30, f"cpu: {len(cpu)} train lines, expected 300 / 10"
assert [s for s, _ in cpu] == list(range(10, 301, 10)), [s for s, _ in cpu]
assert cpu[-1][1] < 0.8 * cpu[0][1], f"the CPU loss did not fall: {cpu[0][1]} -> {cpu[-1][1]}"
assert cpu_eval, "cpu: no eval line"

def compare(run, rtol):
    got, got_eval = load(run)
    assert [s for s, _ in got] == [s for s, _ in cpu], f"{run}: logged steps differ"
    worst = 0.0
    for (step, want), (_, have) in zip(cpu, got):
        assert math.isfinite(have), f"{run}: step {step} loss {have}"
        rel = abs(have - want) / abs(want)
        worst = max(worst, rel)
        assert rel <= rtol, (f"{run}: step {step}: loss {have:.6f}, cpu {want:.6f} "
                             f"(relative difference {rel:.2e} > {rtol})")
    print(f"{run}: {len(got)} logged losses within {worst:.2e} of the CPU's (limit {rtol})")
    assert got_eval, f"{run}: no eval line"
    return got, got_eval[-1]

_, gpu_eval = compare("gpu", 0.01)
want = cpu_eval[-1]
assert abs(gpu_eval["loss"] - want["loss"]) <= 0.01 * want["loss"], (gpu_eval, want)
assert abs(gpu_eval["accuracy"] - want["accuracy"]) <= 0.01, (gpu_eval, want)
bf16, _ = compare("bf16", 0.05)
assert bf16[-1][1] < 0.8 * bf16[0][1], "the bf16 loss did not fall"
PYEOF

echo "PASS: 300 steps of the Fashion-MNIST MLP ($data) on cpu, cuda f32 and cuda bf16 agree"
