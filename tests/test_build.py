"""The build itself: what nerve._C was compiled with, and, when CUDA was compiled, that the module
carries SASS for every configured arch plus PTX for the last (read back with cuobjdump, which CI
installs from PyPI: nvidia-cuda-cuobjdump)."""
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

import nerve
from nerve import _C


def _cuobjdump():
    found = shutil.which("cuobjdump")
    if found:
        return found
    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for p in Path(base, "nvidia").glob("cu*/bin/cuobjdump"):
            return str(p)
    return None


def test_build_info_is_consistent():
    info = _C.build_info
    assert info["compiler"] and isinstance(info["openmp"], bool)
    assert nerve.cuda.is_built() == bool(info["cuda"])
    assert nerve.cuda.device_count() >= 0  # answers (0 here), never crashes without a driver


@pytest.mark.skipif(not _C.build_info["cuda"], reason="nerve was built without CUDA (NERVE_CUDA=OFF)")
def test_cuda_archs_in_the_module():
    tool = _cuobjdump()
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("cuobjdump not found in CI (.ci/run installs nvidia-cuda-cuobjdump)")
        pytest.skip("cuobjdump not installed (pip install nvidia-cuda-cuobjdump)")
    archs = [a for a in _C.build_info["cuda_archs"].split(",") if a]
    assert archs, "built with CUDA but no archs recorded"
    elf = subprocess.run([tool, "--list-elf", _C.__file__], capture_output=True, text=True, check=True).stdout
    ptx = subprocess.run([tool, "--list-ptx", _C.__file__], capture_output=True, text=True, check=True).stdout
    sass = set(re.findall(r"\.sm_(\d+)\.cubin", elf))
    assert set(archs) <= sass, f"SASS for {sorted(sass)}, configured {archs}"
    assert set(re.findall(r"\.sm_(\d+)\.ptx", ptx)) == {archs[-1]}, ptx
