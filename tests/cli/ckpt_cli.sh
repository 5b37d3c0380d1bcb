#!/usr/bin/env bash
# ckpt_cli.sh AXON MAKE_CKPT - `axon ckpt inspect` and `axon ckpt verify` on
# real checkpoints written by ax_ckpt_save (tests/support/make_ckpt.c).
#
# Checks what a person looking at a run's checkpoints relies on: inspect shows
# the step, the data cursor and the tensors; verify says "sound" and exits 0
# for a good checkpoint and a good directory of them; a flipped byte in
# state.h5 makes verify exit 1 naming the file and the damage (CRC-32), and in
# a directory that checkpoint gets a FAIL line while the older one is named as
# the one a resume would load; a missing manifest and a leftover step-N.tmp
# are reported; usage mistakes exit 2. No Python needed.
source "$(dirname "$0")/lib.sh"

AXON=$(realpath "${1:?usage: ckpt_cli.sh PATH/TO/axon PATH/TO/make_ckpt}")
MAKE_CKPT=$(realpath "${2:?usage: ckpt_cli.sh PATH/TO/axon PATH/TO/make_ckpt}")
make_workdir

# flip_byte FILE OFFSET - XOR one byte with 0x20, in place.
flip_byte() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$byte" ] || fail "cannot read byte $2 of $1"
	# shellcheck disable=SC2059 # the format is the octal escape of the new byte
	printf "$(printf '\\%03o' $((byte ^ 32)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

run make10 0 "$MAKE_CKPT" ckpts 10
run make20 0 "$MAKE_CKPT" ckpts 20
C10=ckpts/step-0000000010
C20=ckpts/step-0000000020
contains make20.out "$C20"
[ -f "$C20/state.h5" ] && [ -f "$C20/MANIFEST.json" ] || fail "make_ckpt wrote no $C20"

# ---- inspect ----
run inspect 0 "$AXON" ckpt inspect "$C20"
contains inspect.out "step 20, epoch 0, optimizer steps 20, saved by 2 rank(s)"
contains inspect.out "data cursor: seed 12345, epoch 0, position 400"
contains inspect.out "best metric 0.875 at step 20"
contains inspect.out "params/fc1.weight"
contains inspect.out "[16, 20]"
contains inspect.out "optimizer/exp_avg_sq/fc2.bias"
run inspect_slash 0 "$AXON" ckpt inspect "$C20/"
run inspect_dir 1 "$AXON" ckpt inspect ckpts
contains inspect_dir.err "is a directory of checkpoints, not one"
contains inspect_dir.err "step-0000000020"

# ---- verify: sound ----
run verify 0 "$AXON" ckpt verify "$C20"
contains verify.out "CRC-32"
contains verify.out "every checksum matches"
contains verify.out "sound"
run verify_dir 0 "$AXON" ckpt verify ckpts
contains verify_dir.out "ok   step-0000000010"
contains verify_dir.out "ok   step-0000000020"
contains verify_dir.out "2 sound, 0 damaged"
contains verify_dir.out "a resume would load step-0000000020"

# ---- verify: a flipped byte in the middle of state.h5 ----
size=$(stat -c %s "$C20/state.h5")
flip_byte "$C20/state.h5" $((size / 2))
run damaged 1 "$AXON" ckpt verify "$C20"
contains damaged.err "step-0000000020"
contains damaged.err "state.h5 is damaged"
contains damaged.err "CRC-32"
contains damaged.out "FAIL"
lacks damaged.out "sound"
run damaged_dir 1 "$AXON" ckpt verify ckpts
contains damaged_dir.out "ok   step-0000000010"
contains damaged_dir.out "FAIL step-0000000020"
contains damaged_dir.out "damaged (CRC-32"
contains damaged_dir.out "1 sound, 1 damaged"
contains damaged_dir.out "a resume would load step-0000000010"
contains damaged_dir.err "1 of the 2 checkpoints in ckpts is damaged"
# Flipped back, it is sound again: the byte was the cause.
flip_byte "$C20/state.h5" $((size / 2))
run restored 0 "$AXON" ckpt verify "$C20"

# ... and in the first 512 bytes (the HDF5 superblock).
flip_byte "$C20/state.h5" 40
run superblock 1 "$AXON" ckpt verify "$C20"
contains superblock.err "damaged"
flip_byte "$C20/state.h5" 40

# ---- a missing manifest, an interrupted save, nothing at all ----
rm "$C10/MANIFEST.json"
run no_manifest 1 "$AXON" ckpt verify "$C10"
contains no_manifest.err "has no MANIFEST.json"
mkdir ckpts/step-0000000030.tmp
run with_tmp 1 "$AXON" ckpt verify ckpts
contains with_tmp.out "FAIL step-0000000010"
contains with_tmp.out "ok   step-0000000020"
contains with_tmp.out "tmp  step-0000000030.tmp: left by an interrupted save"
contains with_tmp.out "a resume would load step-0000000020"
rm -r "$C10"
run only_good 0 "$AXON" ckpt verify ckpts
contains only_good.out "1 sound, 0 damaged, 1 interrupted save;"
# A run's output directory: its checkpoints are in run/checkpoints.
mkdir run
cp -r ckpts run/checkpoints
run run_dir 0 "$AXON" ckpt verify run
contains run_dir.out "run/checkpoints: 1 sound, 0 damaged"
run run_inspect 1 "$AXON" ckpt inspect run
contains run_inspect.err "run/checkpoints is a directory of checkpoints"
mkdir empty
run empty 1 "$AXON" ckpt verify empty
contains empty.err "holds no checkpoint"
run missing 1 "$AXON" ckpt verify nowhere
contains missing.err "nowhere: No such file or directory"
touch plain
run not_dir 1 "$AXON" ckpt inspect plain
contains not_dir.err "is not a directory"

# ---- usage ----
run help 0 "$AXON" ckpt --help
contains help.out "usage: axon ckpt inspect PATH"
run top_help 0 "$AXON" --help
contains top_help.out "ckpt         inspect and verify checkpoints"
run no_sub 2 "$AXON" ckpt
contains no_sub.err "missing the subcommand"
run bad_sub 2 "$AXON" ckpt frobnicate "$C20"
contains bad_sub.err "unknown subcommand 'frobnicate'"
run no_path 2 "$AXON" ckpt verify
contains no_path.err "verify takes one PATH, got 0 arguments"
run two_paths 2 "$AXON" ckpt inspect "$C20" "$C20"
contains two_paths.err "(run 'axon ckpt --help' for the usage)"

echo "ckpt_cli: all checks passed"
