#!/usr/bin/env bash
# .ci/dev_build.sh — a developer build in place: compiles nerve._C and nerve._C_emu with CMake +
# Ninja into build/<name> and copies them into python/nerve/, so that `PYTHONPATH=python` runs the
# checkout without installing it (several checkouts can then live side by side).
#
#   bash .ci/dev_build.sh            # CPU-only _C (fast) + _C_emu, in build/dev-cpu
#   NERVE_CUDA=ON bash .ci/dev_build.sh   # also nvcc for every arch, in build/dev-cuda
#   PYTHONPATH=python python -m pytest -q
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CUDA=${NERVE_CUDA:-OFF}
build=build/dev-$([ "$CUDA" = OFF ] && echo cpu || echo cuda)
extra=()
[ -n "${NERVE_CUDA_ARCHS:-}" ] && extra+=("-DNERVE_CUDA_ARCHS=${NERVE_CUDA_ARCHS}")
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNERVE_CUDA="$CUDA" "${extra[@]}" \
    -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
fi
cmake --build "$build" --target _C _C_emu -- -j "${JOBS:-2}"
rm -f python/nerve/_C.*.so python/nerve/_C_emu.*.so
cp "$build"/_C.*.so "$build"/csrc/emu/_C_emu.*.so python/nerve/
echo "built $build -> python/nerve/"
