#!/usr/bin/env bash
# launch/quickstart.sh - the README's first command: set everything up and run
# the main job. Until Fashion-MNIST training lands this trains the XOR MLP
# example through the library API and prints the falling loss.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/launch/setup.sh" "$here/build"
"$here/build/axon" --version
"$here/build/examples/xor_mlp"
