"""nerve.save / nerve.load and Module.save / Module.load: safetensors files that round-trip state
dicts, optimizer state dicts and checkpoints; open with the safetensors package and load into the
same-shaped torch model and back; are written atomically (a crash mid-write leaves the old file);
never run code when loaded; and reject bad input with errors that name the function."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import safetensors
import safetensors.numpy
import safetensors.torch
import torch

import nerve
import nerve.io
import nerve.nn


def nerve_mlp():
    return nerve.nn.Sequential(nerve.nn.Linear(6, 5), nerve.nn.Linear(5, 3, bias=False), nerve.nn.Linear(3, 2))


def torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 3, bias=False), torch.nn.Linear(3, 2))


def test_flat_state_dict_round_trip(tmp_path):
    sd = {"a.weight": nerve.randn(4, 3), "a.bias": nerve.randn(3).double(), "steps": nerve.tensor(7),
          "mask": nerve.tensor([True, False]), "empty": nerve.zeros(0, 5), "scalar": nerve.tensor(2.5),
          "bytes": nerve.tensor(np.arange(5, dtype=np.uint8))}
    path = tmp_path / "sd.safetensors"
    nerve.save(sd, path)
    back = nerve.load(path)
    assert list(back) == list(sd)
    for k, v in sd.items():
        assert isinstance(back[k], nerve.Tensor) and back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    back["a.weight"].add_(1)  # loaded tensors are ordinary, writable tensors
    with safetensors.safe_open(str(path), "np") as f:  # a plain safetensors file, tensors under their own names
        assert sorted(f.keys()) == sorted(sd)
        assert f.metadata()["format"] == "pt"
        np.testing.assert_array_equal(f.get_tensor("a.weight"), sd["a.weight"].numpy())


def test_model_to_torch_and_back(tmp_path):
    model = nerve_mlp()
    path = tmp_path / "model.safetensors"
    model.save(path)
    tmodel = torch_mlp()
    tmodel.load_state_dict(safetensors.torch.load_file(str(path)))  # strict: same keys and shapes
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    with nerve.no_grad():
        ny = model(nerve.tensor(x)).numpy()
    np.testing.assert_allclose(ny, tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # and back: a torch model's weights, written by safetensors.torch, into a nerve model
    tmodel2 = torch_mlp()
    tpath = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(tmodel2.state_dict(), str(tpath))
    model2 = nerve_mlp()
    model2.load(tpath)
    for (k, p), (tk, tp) in zip(model2.state_dict().items(), tmodel2.state_dict().items()):
        assert k == tk
        np.testing.assert_array_equal(p.numpy(), tp.numpy())
    model3 = nerve_mlp()
    model3.load_state_dict(nerve.load(path))
    for a, b in zip(model.parameters(), model3.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_model_load_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    nerve.save({"0.weight": nerve.zeros(5, 6), "0.bias": nerve.zeros(5), "extra": nerve.zeros(1)}, path)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: .*"1.weight"'):
        nerve_mlp().load(path)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        nerve_mlp().load(path)
    nerve.save({"0.weight": nerve.zeros(5, 7), "0.bias": nerve.zeros(5)}, path)
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight: copying a param with shape \(5, 7\)"):
        nerve_mlp().load(path, strict=False)


def test_optimizer_state_and_checkpoint_round_trip(tmp_path):
    model = nerve_mlp()
    opt = nerve.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    sched = nerve.optim.lr_scheduler.ReduceLROnPlateau(opt)
    for _ in range(3):
        opt.zero_grad()
        model(nerve.randn(8, 6)).square().mean().backward()
        opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "epoch": 3, "loss": 0.25, "note": "best", "history": [1.0, float("nan"), None, (1, 2)]}
    path = tmp_path / "ckpt.safetensors"
    nerve.save(ckpt, path)
    back = nerve.load(path)
    assert back["epoch"] == 3 and back["loss"] == 0.25 and back["note"] == "best"
    assert back["history"][0] == 1.0 and np.isnan(back["history"][1]) and back["history"][2:] == [None, (1, 2)]
    assert back["scheduler"]["best"] == float("inf")
    sd, bsd = opt.state_dict(), back["optimizer"]
    assert bsd["param_groups"] == sd["param_groups"]  # betas come back as a tuple, params as ints
    assert isinstance(bsd["param_groups"][0]["betas"], tuple)
    assert sorted(bsd["state"]) == sorted(sd["state"]) and all(isinstance(k, int) for k in bsd["state"])
    for k, s in sd["state"].items():
        for name, v in s.items():
            np.testing.assert_array_equal(bsd["state"][k][name].numpy(), v.numpy())
            assert bsd["state"][k][name].dtype == v.dtype
    for k, v in ckpt["model"].items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    with safetensors.safe_open(str(path), "np") as f:  # tensors sit under dotted paths; the rest is JSON
        assert "model.0.weight" in f.keys() and "optimizer.state.0.exp_avg" in f.keys()
        assert json.loads(f.metadata()["nerve"])["version"] == 1


def test_numpy_torch_and_dtype_values(tmp_path):
    obj = {"np": np.arange(6, dtype=np.int32).reshape(2, 3), "torch": torch.ones(2, dtype=torch.float64),
           "nested": {1: {"x": nerve.ones(1)}, (2, "a"): [nerve.zeros(2)]}}
    path = tmp_path / "o.safetensors"
    nerve.save(obj, path)
    back = nerve.load(path)
    assert isinstance(back["np"], np.ndarray) and back["np"].dtype == np.int32
    np.testing.assert_array_equal(back["np"], obj["np"])
    assert isinstance(back["torch"], nerve.Tensor) and back["torch"].dtype == nerve.float64
    assert list(back["nested"]) == [1, (2, "a")]
    assert back["nested"][1]["x"].shape == (1,)


def test_unsupported_values_are_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match=r"\[save\] cannot store a function at fn: only tensors"):
        nerve.save({"fn": lambda: 0}, path)
    with pytest.raises(TypeError, match=r"\[save\] cannot store a object at a.b"):
        nerve.save({"a": {"b": object()}}, path)
    with pytest.raises(TypeError, match=r"\[save\] cannot store the array at a with dtype object"):
        nerve.save({"a": np.array([None])}, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_loading_never_runs_code(tmp_path):
    """Metadata is data: an unknown tag (say, a pickled payload) is refused, never interpreted."""
    path = tmp_path / "evil.safetensors"
    payload = {"version": 1, "object": {"__reduce__": ["os.system", ["echo pwned"]]}}
    safetensors.numpy.save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"nerve": json.dumps(payload)})
    with pytest.raises(ValueError, match=r"\[load\] .*unknown tag '__reduce__'"):
        nerve.load(path)
    payload = {"version": 1, "object": {"__tensor__": "missing"}}
    safetensors.numpy.save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"nerve": json.dumps(payload)})
    with pytest.raises(ValueError, match=r"\[load\] .*refers to a tensor 'missing' the file does not hold"):
        nerve.load(path)
    safetensors.numpy.save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"nerve": "{not json"})
    with pytest.raises(ValueError, match=r"\[load\] .*not valid JSON"):
        nerve.load(path)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[load\] no such file"):
        nerve.load(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(ValueError, match=r"\[load\] .* is not a valid safetensors file"):
        nerve.load(junk)
    good = tmp_path / "good.safetensors"
    nerve.save({"w": nerve.ones(1000)}, good)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])  # truncated
    with pytest.raises(ValueError, match=r"\[load\] .* is not a valid safetensors file"):
        nerve.load(cut)
    with pytest.raises(IsADirectoryError, match=r"\[save\]"):
        nerve.save({"w": nerve.ones(1)}, tmp_path)


def test_interrupted_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    nerve.save({"w": nerve.ones(100)}, path)
    old = path.read_bytes()

    def crash_midway(st, tensors, tmp, meta):
        with open(tmp, "wb") as f:
            f.write(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"w\":")  # half a header
        raise KeyboardInterrupt  # the process dies mid-write

    monkeypatch.setattr(nerve.io, "_write", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        nerve.save({"w": nerve.zeros(100)}, path)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["w.safetensors"]  # no temp file left
    monkeypatch.undo()

    def fail_rename(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", fail_rename)
    with pytest.raises(OSError, match="disk went away"):
        nerve.save({"w": nerve.zeros(100)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["w.safetensors"]
    np.testing.assert_array_equal(nerve.load(path)["w"].numpy(), np.ones(100, np.float32))


def test_killed_writer_never_leaves_a_broken_file(tmp_path):
    """A process killed (SIGKILL) while saving, again and again: the file is always whole, old or new."""
    path = tmp_path / "big.safetensors"
    nerve.save({"w": nerve.zeros(1 << 21)}, path)  # 8 MB of 0
    src = os.path.dirname(os.path.dirname(os.path.abspath(nerve.__file__)))  # the nerve this test imported
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {src!r})
        import numpy as np, nerve
        t = nerve.tensor(np.ones(1 << 21, np.float32))
        print("ready", flush=True)
        while True:
            nerve.save({{"w": t}}, {str(path)!r})
    """)
    for delay in (0.05, 0.15, 0.3):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        w = nerve.load(path)["w"].numpy()
        assert w.shape == (1 << 21,) and (np.all(w == 0) or np.all(w == 1))
