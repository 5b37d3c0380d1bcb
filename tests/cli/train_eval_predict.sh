#!/usr/bin/env bash
# train_eval_predict.sh AXON - `axon train`, `axon eval` and `axon predict` end
# to end, on a real (synthetic) dataset made with `axon data convert`.
#
# Trains a 20-16-3 MLP on a separable 3-class problem and checks what a user
# relies on: the run directory (a resolved config.ini that trains again to the
# same weights, metrics.jsonl of valid JSON, model.h5 / best.h5 that h5py reads
# with PyTorch-named tensors), a validation accuracy far above chance, eval
# reproducing the logged metrics of best.h5, predict writing one row per sample
# with probabilities that sum to 1 and agree with eval, early stopping, and
# plain log lines when stdout is not a terminal.
source "$(dirname "$0")/lib.sh"

AXON=$(realpath "${1:?usage: train_eval_predict.sh PATH/TO/axon}")
need_python_modules "numpy, h5py"
make_workdir
export OPENBLAS_NUM_THREADS=1

make_blobs data 600 11

cat >cfg.ini <<'EOF'
# a small MLP on the blobs
[data]
train = data/train
val = data/val
test = data/test
batch_size = 32

[model]
fc1 = linear 16
act1 = relu
fc2 = linear out=3

[optimizer]
name = adam
lr = 0.01

[loop]
epochs = 4
log_every = 5
threads = 1

[output]
dir = run
EOF

# ---- train ----
run train 0 "$AXON" train cfg.ini
for f in config.ini metrics.jsonl model.h5 best.h5; do
	[ -s "run/$f" ] || fail "the run directory lacks $f"
done
# Not a terminal: plain lines, no carriage returns or escape sequences.
lacks train.out $'\r' "train wrote a carriage return to a non-terminal"
lacks train.out $'\033' "train wrote an escape sequence to a non-terminal"
contains train.out "train epoch 0 step 5/60 loss"
contains train.out "eval  epoch 3 step 60: loss"
contains train.out "trained 60 steps (4 epochs)"
[ ! -s train.err ] || fail "train wrote to stderr: $(cat train.err)"

"$PY" - <<'PYEOF' || fail "run/metrics.jsonl is wrong (see above)"
import json
lines = open("run/metrics.jsonl").read().splitlines()
records = [json.loads(line) for line in lines]          # every line is one JSON object
train = [r for r in records if r["type"] == "train"]
evals = [r for r in records if r["type"] == "eval"]
assert len(train) == 12, f"{len(train)} train lines, expected 60 steps / log_every 5 = 12"
assert len(evals) == 4, f"{len(evals)} eval lines, expected one per epoch = 4"
for r in train:
    assert set(r) >= {"step", "epoch", "loss", "lr", "samples_per_sec", "seconds"}, r
    assert abs(r["lr"] - 0.01) < 1e-8, r
assert [r["step"] for r in train] == list(range(5, 61, 5)), [r["step"] for r in train]
assert [r["step"] for r in evals] == [15, 30, 45, 60], [r["step"] for r in evals]
for r in evals:
    assert set(r) >= {"split", "step", "epoch", "loss", "accuracy", "precision", "recall",
                      "f1", "samples", "best"}, r
    assert r["split"] == "val" and r["samples"] == 120, r
assert train[-1]["loss"] < train[0]["loss"] / 3, "the training loss did not fall"
assert evals[-1]["accuracy"] > 0.9, f"final val accuracy {evals[-1]['accuracy']}, chance is 1/3"
assert evals[0]["best"] is True
PYEOF

"$PY" - <<'PYEOF' || fail "model.h5 / best.h5 are wrong (see above)"
import h5py, numpy as np
want = {"fc1.weight": (16, 20), "fc1.bias": (16,), "fc2.weight": (3, 16), "fc2.bias": (3,)}
config = open("run/config.ini").read()
for name in ("run/model.h5", "run/best.h5"):
    with h5py.File(name, "r") as f:
        got = {k: f[k].shape for k in f.keys()}
        assert got == want, f"{name}: tensors {got}, expected {want}"
        for k in want:
            assert f[k].dtype == np.float32 and np.all(np.isfinite(f[k][()])), k
        stored = f.attrs["config"]
        stored = stored.decode() if isinstance(stored, bytes) else stored
        assert stored == config, f"{name}: the stored config is not run/config.ini"
PYEOF

# ---- the resolved config trains again, to the same weights ----
contains run/config.ini "fc2 = linear 3 bias=true init=default"
contains run/config.ini "batch_size = 32"
run retrain 0 "$AXON" train run/config.ini --set output.dir=run2
diff <(grep -v '^#' run/config.ini | grep -v '^dir = ') \
	<(grep -v '^#' run2/config.ini | grep -v '^dir = ') >/dev/null ||
	fail "run2/config.ini differs from run/config.ini in more than [output] dir"
contains run2/config.ini "dir = run2"
"$PY" - <<'PYEOF' || fail "training again from run/config.ini gave other weights"
import h5py, numpy as np
with h5py.File("run/model.h5", "r") as a, h5py.File("run2/model.h5", "r") as b:
    for k in a:
        assert np.array_equal(a[k][()], b[k][()]), f"{k} differs"
PYEOF

# ---- eval: the metrics of best.h5 on val are the ones logged when it was saved ----
run eval 0 "$AXON" eval cfg.ini --weights run/best.h5 --data data/val
contains eval.out "dataset data/val: 120 samples, weights run/best.h5"
contains eval.out "confusion matrix, 120 samples"
contains eval.out "true \\ pred"
"$PY" - <<'PYEOF' || fail "eval does not reproduce the logged metrics of best.h5"
import json, re
records = [json.loads(l) for l in open("run/metrics.jsonl")]
best = [r for r in records if r["type"] == "eval" and r["best"]][-1]
out = open("eval.out").read()
loss = float(re.search(r"^loss (\S+)$", out, re.M).group(1))
accuracy = float(re.search(r"^accuracy (\S+) ", out, re.M).group(1))
assert abs(loss - best["loss"]) < 1e-5, (loss, best)
assert abs(accuracy - best["accuracy"]) < 1e-4, (accuracy, best)
# the confusion matrix: 3 rows of counts summing to the 120 samples
rows = re.findall(r"^([0-2])\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
assert len(rows) == 3 and sum(int(c) for r in rows for c in r[1:]) == 120, rows
diagonal = sum(int(rows[i][1 + i]) for i in range(3))
assert abs(diagonal / 120 - accuracy) < 1e-4, (diagonal, accuracy)
PYEOF
# Without --data, eval uses [data] test.
run eval_test 0 "$AXON" eval cfg.ini --weights run/model.h5
contains eval_test.out "dataset data/test: 150 samples"

# ---- predict: CSV and HDF5, one row per sample ----
run predict_csv 0 "$AXON" predict cfg.ini --weights run/best.h5 --data data/val --out p.csv
contains predict_csv.out "wrote 120 predictions to p.csv"
run predict_h5 0 "$AXON" predict cfg.ini --weights run/best.h5 --data data/val --out p.h5
contains predict_h5.out "wrote 120 predictions to p.h5"
"$PY" - <<'PYEOF' || fail "the predictions are wrong (see above)"
import csv, glob, re
import h5py, numpy as np
rows = list(csv.reader(open("p.csv")))
assert rows[0] == ["index", "predicted", "p0", "p1", "p2"], rows[0]
table = np.array([[float(v) for v in r] for r in rows[1:]])
assert table.shape == (120, 5), table.shape
index, predicted, probs = table[:, 0].astype(int), table[:, 1].astype(int), table[:, 2:]
assert list(index) == list(range(120)), "indices are not 0..119 in order"
assert np.all(np.abs(probs.sum(axis=1) - 1) < 1e-4), "CSV probabilities do not sum to 1"
assert np.array_equal(predicted, probs.argmax(axis=1)), "CSV predicted is not the argmax"
with h5py.File("p.h5", "r") as f:
    h_index, h_pred, h_probs = f["index"][()], f["predicted"][()], f["probabilities"][()]
assert h_index.shape == (120,) and h_pred.shape == (120,) and h_probs.shape == (120, 3)
assert np.all(np.abs(h_probs.sum(axis=1) - 1) < 1e-5), "HDF5 probabilities do not sum to 1"
assert np.array_equal(h_pred, h_probs.argmax(axis=1)), "HDF5 predicted is not the argmax"
assert np.array_equal(h_pred, predicted) and np.array_equal(h_index, index)
assert np.allclose(h_probs, probs, atol=1e-5), "CSV and HDF5 probabilities disagree"
# Against the true labels the predictions score what eval printed.
labels = np.concatenate([h5py.File(s, "r")["targets"][()] for s in sorted(glob.glob("data/val/*.h5"))])
accuracy = float(re.search(r"^accuracy (\S+) ", open("eval.out").read(), re.M).group(1))
assert abs((h_pred == labels).mean() - accuracy) < 1e-4, ((h_pred == labels).mean(), accuracy)
PYEOF

# ---- early stopping: with lr 0 the second evaluation cannot improve ----
run stop 0 "$AXON" train cfg.ini --set optimizer.lr=0 --set loop.epochs=6 \
	--set loop.early_stopping_metric=val_loss --set loop.patience=1 --set output.dir=stop
contains stop.out "early stopping: val_loss has not improved for 1 evaluations (best"
contains stop.out "trained 30 steps (2 epochs)"
evals=$(grep -c '"type":"eval"' stop/metrics.jsonl)
[ "$evals" -eq 2 ] || fail "early stopping ran $evals evaluations, expected 2 of the 6 epochs"
[ -s stop/best.h5 ] && [ -s stop/model.h5 ] || fail "early stopping left no best.h5 / model.h5"
# Without early stopping the same run goes the full 6 epochs.
run nostop 0 "$AXON" train cfg.ini --set optimizer.lr=0 --set loop.epochs=6 --set output.dir=nostop
lacks nostop.out "early stopping"
contains nostop.out "trained 90 steps (6 epochs)"

echo "PASS: train, eval, predict, early stopping"
