#!/usr/bin/env bash
# launch/setup.sh - install what axon needs on Debian, then configure and build.
#
#   launch/setup.sh [BUILD_DIR] [extra cmake args...]
#
# As root, missing Debian packages are installed with apt-get (after
# apt-get update). As another user, the script names the missing packages and
# stops, so nothing is half-installed. BUILD_DIR defaults to ./build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${1:-"$here/build"}
shift || true

packages=(
  build-essential cmake pkg-config   # compiler and build
  libopenblas-dev                    # CPU GEMMs
  libhdf5-dev zlib1g-dev             # datasets (HDF5 shards, gzip'd IDX files)
  libcjson-dev libcsv-dev            # manifests, CSV conversion
  libinih-dev                        # config files
  libopenmpi-dev openmpi-bin         # data-parallel ranks (mpirun)
  slurm-wlm munge                    # tests: a local SLURM cluster (tests/slurm)
  libcmocka-dev                      # unit tests
  python3-h5py python3-numpy         # tests: datasets written by h5py
  dataset-fashion-mnist              # the default dataset (IDX files)
)

missing=()
for pkg in "${packages[@]}"; do
  [[ $pkg == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "axon setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "axon setup: missing Debian packages: ${missing[*]}" >&2
    echo "axon setup: install them with: sudo apt-get install ${missing[*]}" >&2
    echo "axon setup: (or run this script as root, and it installs them)" >&2
    exit 1
  fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$jobs"
echo "axon setup: built in $build_dir"
