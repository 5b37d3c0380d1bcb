#!/usr/bin/env bash
# fashion_mnist_example.sh AXON EXAMPLE - the Fashion-MNIST MLP example (the C
# API twin of examples/fashion_mnist_mlp/config.ini) still learns.
#
# Converts the Debian package's Fashion-MNIST with `axon data convert
# --fashion-mnist`, trains build/examples/fashion_mnist_mlp_train for one
# epoch and requires a test accuracy above 0.80 (one epoch of this MLP reaches
# about 0.85; chance is 0.10). Skipped (77) when the dataset is not installed.
source "$(dirname "$0")/lib.sh"

AXON=$(realpath "${1:?usage: fashion_mnist_example.sh PATH/TO/axon PATH/TO/fashion_mnist_mlp_train}")
EXAMPLE=$(realpath "${2:?usage: fashion_mnist_example.sh PATH/TO/axon PATH/TO/fashion_mnist_mlp_train}")
SOURCE=/usr/share/datasets/fashion-mnist
[ -f "$SOURCE/train-images-idx3-ubyte.gz" ] ||
	skip "$SOURCE is not installed (apt-get install dataset-fashion-mnist)"
make_workdir
export OPENBLAS_NUM_THREADS=1

run convert 0 "$AXON" data convert --fashion-mnist --out fm --val-fraction 0.1 --shards 4 --quiet
run example 0 "$EXAMPLE" fm 1
contains example.out "epoch  1  train loss"
accuracy=$(sed -n 's/^test accuracy \([0-9.]*\) .*/\1/p' example.out)
[ -n "$accuracy" ] || fail "the example printed no test accuracy: $(cat example.out)"
awk -v a="$accuracy" 'BEGIN { exit !(a > 0.80) }' ||
	fail "test accuracy $accuracy after one epoch, expected > 0.80"
echo "PASS: Fashion-MNIST MLP, 1 epoch, test accuracy $accuracy"
