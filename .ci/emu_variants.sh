#!/usr/bin/env bash
# .ci/emu_variants.sh — the CUDA emulator's extra CI runs (DESIGN.md, "Verifying CUDA kernels
# without a GPU"): the emulated kernel tests once with every block's threads run in reverse order,
# and once under AddressSanitizer from a build of their own. The normal-order run is part of the
# main test suite.
#
#   bash .ci/emu_variants.sh reverse   # needs nerve importable (PYTHONPATH or installed), as for pytest
#   bash .ci/emu_variants.sh asan      # builds build/asan (NERVE_ASAN=ON, NERVE_CUDA=OFF) and runs there
#   bash .ci/emu_variants.sh           # both
#
# The emulated tests are tests/test_cuda_emu.py and every tests/test_<family>_cuda.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mapfile -t EMU_TESTS < <(ls tests/test_cuda_emu.py tests/test_*_cuda.py 2>/dev/null | sort -u)

run_reverse() {
  echo "== emulated CUDA tests, threads in reverse order"
  NERVE_EMU_ORDER=reverse "$PY" -m pytest -q -p no:cacheprovider "${EMU_TESTS[@]}"
}

run_asan() {
  echo "== emulated CUDA tests under AddressSanitizer"
  local build=build/asan
  "$PY" -c 'import pybind11' 2>/dev/null || "$PY" -m pip install -q pybind11 ninja
  # RelWithDebInfo, so that reports name functions and lines; GCC warns of pybind11 under ASan.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNERVE_CUDA=OFF -DNERVE_ASAN=ON \
    -DCMAKE_CXX_FLAGS=-Wno-maybe-uninitialized \
    -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
  cmake --build "$build" --target _C _C_emu
  # The package as a developer checkout has it, with the ASan-built extensions in place.
  rm -rf "$build/pkg" && mkdir -p "$build/pkg"
  cp -r python/nerve "$build/pkg/nerve"
  find "$build/pkg/nerve" -name '*.so' -delete
  cp "$build"/_C.*.so "$build"/csrc/emu/_C_emu.*.so "$build/pkg/nerve/"
  # libasan must come first into a python that was not built with it, and libstdc++ right after
  # it or ASan cannot intercept C++ throws (CHECK failed: real___cxa_throw). Leaks are Python's own;
  # fibers switch stacks (annotated in cuda_emu.cpp), which needs no other option.
  LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0 \
  PYTHONPATH="$build/pkg" "$PY" -m pytest -q -p no:cacheprovider "${EMU_TESTS[@]}"
}

case "${1:-all}" in
  reverse) run_reverse ;;
  asan) run_asan ;;
  all) run_reverse; run_asan ;;
  *) echo "usage: $0 [reverse|asan|all]" >&2; exit 2 ;;
esac
