"""Shared pytest setup: the `cuda` marker runs only where a GPU answers; every test starts from
seed 0. torch is a hard requirement of the suite (tests compare against it and must fail, not skip,
when it is missing)."""
import numpy as np
import pytest
import torch  # noqa: F401  (ImportError here is the intended failure when torch is absent)

import nerve


def pytest_collection_modifyitems(config, items):
    if nerve.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none answers on this machine)")
    for item in items:
        if item.get_closest_marker("cuda"):  # not item.keywords: it holds path names too ("./cuda/")
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    nerve.manual_seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
