#!/usr/bin/env bash
# launch/quickstart.sh - the README's first command: set everything up and run
# the main job. Installs what is missing (as root), builds, converts
# Fashion-MNIST from the Debian package into HDF5 shards, trains the MLP of
# examples/fashion_mnist_mlp/config.ini data-parallel on 2 ranks (mpirun; the
# global batch of 64 is split 32 + 32) and evaluates it on the 10,000 test
# images. Extra arguments go to `axon train` (e.g. --set loop.epochs=2);
# AXON_RANKS changes the number of ranks.
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
ranks=${AXON_RANKS:-2}
if [[ $(id -u) -eq 0 ]]; then
  # Open MPI refuses root unless told twice (CI and containers run as root).
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# --oversubscribe: more ranks than cores is allowed (a 2-core machine may show 1).
mpirun --oversubscribe -np "$ranks" "$axon" train examples/fashion_mnist_mlp/config.ini "$@"
"$axon" eval examples/fashion_mnist_mlp/config.ini --weights runs/fashion_mnist_mlp/best.h5
