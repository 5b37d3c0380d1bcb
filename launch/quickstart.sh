#!/usr/bin/env bash
# launch/quickstart.sh - the README's first command: set everything up and run
# the main job. Installs what is missing (as root), builds, converts
# Fashion-MNIST from the Debian package into HDF5 shards, trains the MLP of
# examples/fashion_mnist_mlp/config.ini and evaluates it on the 10,000 test
# images. Extra arguments go to `axon train` (e.g. --set loop.epochs=2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
"$here/launch/setup.sh" "$here/build"
axon="$here/build/axon"
data=runs/data/fashion-mnist

"$axon" --version
if [[ ! -f $data/train/manifest.json ]]; then
  "$axon" data convert --fashion-mnist --out "$data" --val-fraction 0.1 --shards 4 --overwrite
fi
"$axon" train examples/fashion_mnist_mlp/config.ini "$@"
"$axon" eval examples/fashion_mnist_mlp/config.ini --weights runs/fashion_mnist_mlp/best.h5
