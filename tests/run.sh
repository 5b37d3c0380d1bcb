#!/usr/bin/env bash
# tests/run.sh - the README's second command: set everything up, build, and run
# the whole test suite with ctest.
#
#   tests/run.sh              normal build in ./build, every test
#   tests/run.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build
#                             in ./build-asan, every test
#   tests/run.sh --fast       skip tests labelled "slow"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$here/build"
cmake_args=()
ctest_args=()
for arg in "$@"; do
  case $arg in
    --sanitize)
      build_dir="$here/build-asan"
      # Host code only: the CUDA driver does not run under AddressSanitizer
      # (its shadow memory collides with the driver's mappings), and nvcc
      # cannot drive a sanitizer link. The normal build covers the CUDA path.
      cmake_args+=(-DAXON_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug -DAXON_CUDA=OFF)
      ;;
    --fast) ctest_args+=(-LE slow) ;;
    *) echo "tests/run.sh: unknown option '$arg' (use --sanitize or --fast)" >&2; exit 2 ;;
  esac
done

"$here/launch/setup.sh" "$build_dir" "${cmake_args[@]}"
jobs=$(nproc 2>/dev/null || echo 2)
if [[ $build_dir != "$here/build-asan" ]]; then
  exec ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" "${ctest_args[@]}"
fi
# Under the sanitizers, with LeakSanitizer on. Open MPI keeps what it
# allocates at MPI_Init until exit; tests/lsan.supp names its libraries, and
# the slow unwinder (fast_unwind_on_malloc=0) is needed for those names to
# appear: Open MPI's libraries are built without frame pointers, so the fast
# one stops at their first frame and reports "<unknown module>".
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp:print_suppressions=0}
# Time limits inside the fault scripts scale with this (sanitized code is slower).
export AXON_TEST_SLOWDOWN=${AXON_TEST_SLOWDOWN:-8}
exec ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" "${ctest_args[@]}"
