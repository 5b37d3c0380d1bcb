#!/usr/bin/env bash
# bad_config.sh AXON - what `axon train` / `eval` / `predict` say when the
# config, the command line, the dataset or the weights are wrong.
#
# Every mistake must give the documented exit code (1 failure, 2 usage), a
# message on stderr that points at the cause (file:line and key, the missing
# directory, the layer to change, the mismatched tensor), nothing half-written
# in a run directory, and no crash. A regression dataset checks the
# loss / metric / width rules for float targets (and that it does train).
source "$(dirname "$0")/lib.sh"

AXON=$(realpath "${1:?usage: bad_config.sh PATH/TO/axon}")
need_python_modules numpy
make_workdir
export OPENBLAS_NUM_THREADS=1

make_blobs data 200 5

write_config() { # write_config FILE [sed expression applied to the good config]
	sed -e "${2:-}" >"$1" <<'EOF'
[data]
train = data/train
val = data/val
batch_size = 20

[model]
fc1 = linear 16
act = relu
fc2 = linear 3

[optimizer]
lr = 0.01

[loop]
epochs = 1
threads = 1

[output]
dir = run
EOF
}

# The good config trains (so each failure below is the one change's).
write_config good.ini
run good 0 "$AXON" train good.ini
[ -s run/model.h5 ] || fail "the good config wrote no run/model.h5"

# ---- the config file ----
write_config unknown_key.ini 's/^lr = 0.01/lrr = 0.01/'
line=$(grep -n '^lrr' unknown_key.ini | cut -d: -f1)
run unknown_key 1 "$AXON" train unknown_key.ini --set output.dir=r1
contains unknown_key.err "axon train: config unknown_key.ini:$line: unknown key 'lrr' in [optimizer]"
contains unknown_key.err "known: name, lr, momentum"
[ ! -e r1 ] || fail "a config error still created the run directory"

write_config bad_value.ini 's/^batch_size = 20/batch_size = twenty/'
line=$(grep -n '^batch_size' bad_value.ini | cut -d: -f1)
run bad_value 1 "$AXON" train bad_value.ini
contains bad_value.err "bad_value.ini:$line: [data] batch_size = 'twenty' is not a whole number"

write_config bad_layer.ini 's/^act = relu/act = relu 0.5/'
line=$(grep -n '^act' bad_layer.ini | cut -d: -f1)
run bad_layer 1 "$AXON" train bad_layer.ini
contains bad_layer.err "bad_layer.ini:$line: layer act: unexpected argument '0.5'"

run bad_set 1 "$AXON" train good.ini --set optimizer.lrr=1
contains bad_set.err "config --set: unknown key 'lrr' in [optimizer]"
run malformed_set 1 "$AXON" train good.ini --set optimizer.lr
contains malformed_set.err "--set optimizer.lr: expected section.key=value"

run missing_config 1 "$AXON" train nowhere.ini
contains missing_config.err "config nowhere.ini: cannot open it"

# ---- the dataset ----
write_config missing_data.ini 's#^train = data/train#train = data/missing#'
run missing_data 1 "$AXON" train missing_data.ini --set output.dir=r2
contains missing_data.err "data/missing"
contains missing_data.err "does not exist"
[ ! -e r2 ] || fail "a missing dataset still created the run directory"

write_config wide.ini 's/^fc2 = linear 3/fc2 = linear 4/'
run wide 1 "$AXON" train wide.ini
contains wide.err "the last layer fc2 gives [4] per sample, but data/train has 3 classes; make it 'linear 3'"

write_config mse.ini 's/^\[loop\]/[loop]\nloss = mse/'
run mse 1 "$AXON" train mse.ini
contains mse.err "loss mse needs float targets"

# ---- the command line ----
run no_args 2 "$AXON" train
contains no_args.err "usage: axon train CONFIG"
run two_configs 2 "$AXON" train good.ini good.ini
contains two_configs.err "usage: axon train CONFIG"
run bad_option 2 "$AXON" train good.ini --frobnicate
contains bad_option.err "usage: axon train CONFIG"
run help 0 "$AXON" train --help
contains help.out "usage: axon train CONFIG"
run eval_no_weights 2 "$AXON" eval good.ini
contains eval_no_weights.err "usage: axon eval CONFIG --weights FILE"
run predict_no_out 2 "$AXON" predict good.ini --weights run/model.h5 --data data/val
contains predict_no_out.err "usage: axon predict CONFIG --weights FILE --data DIR --out"
run unknown_command 2 "$AXON" trian good.ini
contains unknown_command.err "unknown command 'trian'"
run no_command 2 "$AXON"
contains no_command.err "usage: axon"
run top_help 0 "$AXON" --help
contains top_help.out "  train        train a model from a config file"

# ---- weights that do not fit ----
write_config narrow.ini 's/^fc1 = linear 16/fc1 = linear 8/'
run other_arch 1 "$AXON" eval narrow.ini --weights run/model.h5 --data data/val
contains other_arch.err "tensor 'fc1.weight' is [16, 20] in run/model.h5 but [8, 20] in the model"
run other_arch_predict 1 "$AXON" predict narrow.ini --weights run/model.h5 --data data/val \
	--out p.csv
contains other_arch_predict.err "fc1.weight"
[ ! -e p.csv ] || fail "predict wrote p.csv although the weights did not load"
run missing_weights 1 "$AXON" eval good.ini --weights run/nothing.h5 --data data/val
contains missing_weights.err "run/nothing.h5"
run eval_no_data 1 "$AXON" eval good.ini --weights run/model.h5 --set data.val=
contains eval_no_data.err "no dataset to evaluate"

# ---- a regression dataset ----
"$PY" - <<'PYEOF'
import numpy as np
rng = np.random.default_rng(2)
x = rng.normal(size=(200, 5)).astype(np.float32)
np.save("reg_x.npy", x)
np.save("reg_y.npy", (x @ rng.normal(size=(5, 2))).astype(np.float32))
PYEOF
run convert_reg 0 "$AXON" data convert --format npy --regression --train-inputs reg_x.npy \
	--train-targets reg_y.npy --out reg --val-fraction 0.25 --quiet
cat >reg.ini <<'EOF'
[data]
train = reg/train
val = reg/val
batch_size = 25
[model]
fc = linear 2
[optimizer]
lr = 0.05
[loop]
loss = mse
epochs = 6
early_stopping_metric = val_accuracy
patience = 1
threads = 1
[output]
dir = reg_run
EOF
# A class metric of a regression is always 0: refused, not a silent early stop.
run reg_metric 1 "$AXON" train reg.ini
contains reg_metric.err "early_stopping_metric val_accuracy needs class labels, but reg/train has regression targets"
run reg_ce 1 "$AXON" train reg.ini --set loop.loss=cross_entropy
contains reg_ce.err "loss cross_entropy needs class labels"
run reg_wide 1 "$AXON" train reg.ini --set loop.early_stopping_metric=val_loss --set model.fc="linear 3"
contains reg_wide.err "the last layer gives 3 outputs but reg/train has 2 targets per sample"
run reg_train 0 "$AXON" train reg.ini --set loop.early_stopping_metric=val_loss
lacks reg_train.out "early stopping" "val_loss of a linear fit kept improving but training stopped"
contains reg_train.out "trained 36 steps (6 epochs)"
run reg_eval 0 "$AXON" eval reg.ini --weights reg_run/best.h5 --data reg/val
contains reg_eval.out "dataset reg/val: 50 samples"
lacks reg_eval.out "confusion matrix"
run reg_predict 1 "$AXON" predict reg.ini --weights reg_run/best.h5 --data reg/val --out r.csv
contains reg_predict.err "regression targets; predict writes class predictions"

echo "PASS: bad configs, datasets, command lines and weights are reported"
