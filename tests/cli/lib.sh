# lib.sh - helpers shared by the CLI end-to-end tests (sourced, not run).
#
# Each test runs the real `axon` binary in a fresh temporary directory that is
# removed on exit, and fails loudly: a failed check prints what was expected,
# what the command printed, and exits 1. Exit code 77 means "skipped" (ctest
# SKIP_RETURN_CODE) for a missing optional dependency.

set -euo pipefail

PY=/usr/bin/python3 # Debian's interpreter, with numpy and h5py (a pyenv python3 may lack them)

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# make_workdir - cd into a new temporary directory, removed when the script exits.
make_workdir() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/axon-cli-XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	cd "$WORK"
}

need_python_modules() {
	[ -x "$PY" ] || skip "$PY is missing"
	"$PY" -c "import $1" 2>/dev/null || skip "$PY has no $1 (apt-get install python3-numpy python3-h5py)"
}

# run NAME WANT CMD... - run CMD with stdout in NAME.out and stderr in NAME.err;
# fail unless it exits with WANT.
run() {
	local name=$1 want=$2 rc=0
	shift 2
	"$@" >"$name.out" 2>"$name.err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "--- stdout of $name:" >&2
		cat "$name.out" >&2
		echo "--- stderr of $name:" >&2
		cat "$name.err" >&2
		fail "$name: '$*' exited with $rc, expected $want"
	fi
}

# contains FILE TEXT [WHY] - fail unless FILE holds TEXT (a fixed string).
contains() {
	if ! grep -qF -- "$2" "$1"; then
		echo "--- $1:" >&2
		cat "$1" >&2
		fail "${3:-$1 should contain '$2'}"
	fi
}

# lacks FILE TEXT [WHY] - fail if FILE holds TEXT.
lacks() {
	if grep -qF -- "$2" "$1"; then
		echo "--- $1:" >&2
		cat "$1" >&2
		fail "${3:-$1 should not contain '$2'}"
	fi
}

# make_blobs DIR N SEED - a learnable 3-class dataset: 20 features, Gaussian
# blobs around well-separated centres, written as .npy and converted by
# `axon data convert --format npy` into DIR/train, DIR/val (20%) and DIR/test.
make_blobs() {
	local dir=$1 n=$2 seed=$3
	"$PY" - "$n" "$seed" <<'PYEOF'
import sys
import numpy as np
n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(seed)
centres = rng.normal(0.0, 1.0, (3, 20)).astype(np.float32) * 2.5
for name, count in (("train", n), ("test", n // 4)):
    y = rng.integers(0, 3, count).astype(np.int64)
    x = (centres[y] + rng.normal(0.0, 1.0, (count, 20))).astype(np.float32)
    np.save(f"{name}_x.npy", x)
    np.save(f"{name}_y.npy", y)
PYEOF
	run convert 0 "$AXON" data convert --format npy --train-inputs train_x.npy \
		--train-targets train_y.npy --test-inputs test_x.npy --test-targets test_y.npy \
		--out "$dir" --val-fraction 0.2 --seed 3 --quiet
	for split in train val test; do
		[ -f "$dir/$split/manifest.json" ] || fail "axon data convert wrote no $dir/$split"
	done
}

# make_csv_blobs FILE ROWS SEED - a separable 3-class problem as CSV (20
# features, the label last), made with awk so that no Python is needed.
make_csv_blobs() {
	awk -v n="$2" -v seed="$3" 'BEGIN {
		srand(seed)
		for (c = 0; c < 3; c++) for (j = 0; j < 20; j++) centre[c, j] = 3 * (rand() - 0.5)
		for (i = 0; i < n; i++) {
			c = int(rand() * 3); line = ""
			for (j = 0; j < 20; j++) line = line sprintf("%.4f,", centre[c, j] + rand() - 0.5)
			print line c
		}
	}' >"$1"
}
