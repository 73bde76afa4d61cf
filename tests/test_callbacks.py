"""Callbacks: EarlyStopping's rule (driven directly and inside fit), ModelCheckpoint's files, exact resume from
a checkpoint, atomic checkpoint writes, CSVLogger, LRSchedulerCallback."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.data import TensorDataset, ArrayDataset
from nerve.data import transforms as T
from nerve.train import CSVLogger, EarlyStopping, LRSchedulerCallback, ModelCheckpoint


class FakeTrainer:
    def __init__(self, model=None):
        self.model = model or nn.Linear(2, 1)
        self.stop_training = False


def drive(cb, values, key="val_loss", model=None, on_epoch=None):
    """Feeds a sequence of monitored values to a callback; returns the epoch where training stopped (or None)."""
    tr = FakeTrainer(model)
    cb.set_trainer(tr)
    cb.on_train_begin({})
    stopped = None
    for epoch, v in enumerate(values):
        if on_epoch:
            on_epoch(epoch, tr.model)
        cb.on_epoch_end(epoch, {key: v})
        if tr.stop_training:
            stopped = epoch
            break
    cb.on_train_end({})
    return stopped


def test_early_stopping_rule():
    es = EarlyStopping(patience=2)
    assert drive(es, [1.0, 0.8, 0.9, 0.85, 0.7]) == 3  # two epochs without beating 0.8
    assert es.best == 0.8 and es.best_epoch == 1 and es.stopped_epoch == 3
    assert drive(EarlyStopping(patience=2), [1.0, 0.9, 0.8, 0.7, 0.6]) is None
    # an improvement smaller than min_delta does not count
    assert drive(EarlyStopping(patience=1, min_delta=0.1), [1.0, 0.95, 0.5]) == 1
    # accuracies are maximised (mode auto)
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    assert drive(es, [0.5, 0.6, 0.55, 0.7], key="val_accuracy") == 2 and es.best == 0.6
    assert drive(EarlyStopping(monitor="val_loss", mode="max", patience=0), [1.0, 0.5], key="val_loss") == 1
    # a baseline that is never beaten stops after patience epochs
    assert drive(EarlyStopping(patience=2, baseline=0.1), [1.0, 0.9, 0.8, 0.7]) == 1
    assert drive(EarlyStopping(patience=0, start_from_epoch=3), [1.0, 2.0, 3.0, 4.0, 5.0]) == 4
    with pytest.raises(KeyError, match="monitor 'val_loss' is not in the logs"):
        drive(EarlyStopping(), [1.0], key="loss")


def test_early_stopping_restores_best_weights():
    model = nn.Linear(2, 1)

    def set_weights(epoch, m):
        with nerve.no_grad():
            m.weight.fill_(float(epoch))

    es = EarlyStopping(patience=2, restore_best_weights=True)
    assert drive(es, [3.0, 1.0, 2.0, 2.5, 0.1], model=model, on_epoch=set_weights) == 3
    assert np.all(model.weight.detach().numpy() == 1.0)  # the weights of epoch 1, the best
    es = EarlyStopping(patience=5, restore_best_weights=False)
    drive(es, [3.0, 1.0, 2.0], model=model, on_epoch=set_weights)
    assert np.all(model.weight.detach().numpy() == 2.0)


def noisy_problem(n=60, d=20, seed=0):
    """Few samples, many features, noisy labels: an over-parameterised MLP fits the noise and overfits."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    flip = rng.random(n) < 0.3
    y[flip] = 1 - y[flip]
    return x, y


def test_early_stopping_inside_fit():
    x, y = noisy_problem()
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    es = EarlyStopping(patience=3, restore_best_weights=True)
    h = nerve.fit(model, (x[:40], y[:40]), validation_data=(x[40:], y[40:]), loss=nn.CrossEntropyLoss(),
                  optimizer=optim.Adam(model.parameters(), lr=0.01), epochs=200, batch_size=40, verbose=0,
                  callbacks=[es])
    assert len(h) < 200 and es.stopped_epoch == len(h) - 1
    best = int(np.argmin(h["val_loss"]))
    assert es.best_epoch == best and len(h) == best + 4  # stopped 3 epochs after the best one
    now = nerve.evaluate(model, (x[40:], y[40:]), loss=nn.CrossEntropyLoss())["loss"]
    assert now == pytest.approx(h["val_loss"][best], rel=1e-6)


def _files(folder):
    return sorted(f for f in os.listdir(folder))


def test_model_checkpoint_files(tmp_path):
    from safetensors import safe_open
    x, y = noisy_problem()
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    best = ModelCheckpoint(tmp_path / "best" / "e{epoch:02d}-{val_loss:.3f}.safetensors", save_best_only=True)
    every = ModelCheckpoint(str(tmp_path / "all" / "e{epoch}.safetensors"))
    weights = ModelCheckpoint(str(tmp_path / "w.safetensors"), save_weights_only=True)
    h = nerve.fit(model, (x[:40], y[:40]), validation_data=(x[40:], y[40:]), loss=nn.CrossEntropyLoss(),
                  optimizer=opt, epochs=8, batch_size=10, verbose=0, callbacks=[best, every, weights])
    assert _files(tmp_path / "all") == sorted(f"e{i}.safetensors" for i in range(1, 9))
    improving = [e for e in range(8) if h["val_loss"][e] < min(h["val_loss"][:e], default=np.inf)]
    expect = sorted(f"e{e + 1:02d}-{h['val_loss'][e]:.3f}.safetensors" for e in improving)
    assert _files(tmp_path / "best") == expect
    # weights-only files are plain state dicts that load into the model (and open with safetensors itself)
    fresh = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 2))
    fresh.load_state_dict(nerve.load(str(tmp_path / "w.safetensors")))
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    with safe_open(str(tmp_path / "w.safetensors"), "np") as f:
        assert sorted(f.keys()) == sorted(model.state_dict())
    assert every.last_saved.endswith("e8.safetensors")


class Images(ArrayDataset):
    def __init__(self, n, seed, transform=None):
        rng = np.random.default_rng(seed)
        self.targets = nerve.from_numpy(rng.integers(0, 3, n))
        base = rng.random((3, 1, 8, 8), dtype=np.float32)
        self.data = nerve.from_numpy((base[self.targets.numpy()] + 0.3 * rng.random((n, 1, 8, 8), np.float32))
                                     .astype(np.float32))
        self.transform = transform


def _resume_setup(seed=None):
    nerve.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    train = Images(48, 0, T.Compose([T.RandomCrop(8, padding=1), T.RandomHorizontalFlip(), T.GaussianNoise(0, 0.05)]))
    return model, opt, sched, train, Images(24, 1)


@pytest.mark.parametrize("seed", [None, 5])
def test_resume_is_exact(tmp_path, seed):
    def run(epochs, resume=None, ckpt=None, model_setup=None):
        model, opt, sched, train, val = _resume_setup()
        if model_setup:
            model_setup(model)
        cbs = [EarlyStopping(patience=50), CSVLogger(tmp_path / f"log-{ckpt}.csv")]
        if ckpt:
            cbs.append(ModelCheckpoint(tmp_path / (ckpt + "-{epoch}.safetensors")))
        h = nerve.fit(model, train, validation_data=val, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=epochs,
                      batch_size=8, scheduler=sched, seed=seed, callbacks=cbs, verbose=0, resume=resume)
        return h, model, cbs

    full, full_model, _ = run(5, ckpt="a")
    # a different init and global RNG state before resuming: the checkpoint must restore all of it
    nerve.manual_seed(999)
    part, part_model, cbs = run(5, resume=tmp_path / "a-2.safetensors", ckpt="b",
                                model_setup=lambda m: [p.detach().fill_(0.0) for p in m.parameters()])
    assert part.epoch == full.epoch
    for key in full.history:
        assert part[key] == full[key], key  # bitwise: the same batches, augmentations and updates
    for a, b in zip(full_model.state_dict().values(), part_model.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())
    assert cbs[0].wait == 0 or cbs[0].best == min(full["val_loss"])
    rows = list(csv.reader(open(tmp_path / "log-b.csv")))
    assert [r[0] for r in rows[1:]] == ["2", "3", "4"]


def test_resume_from_a_different_model_is_refused(tmp_path):
    model, opt, sched, train, val = _resume_setup()
    nerve.fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, batch_size=8, verbose=0,
              callbacks=[ModelCheckpoint(tmp_path / "c.safetensors")])
    other = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 3))
    with pytest.raises(ValueError, match=r"\[fit\] checkpoint .*c.safetensors was saved from a different model"):
        nerve.fit(other, train, loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(other.parameters()), epochs=2,
                  batch_size=8, verbose=0, resume=tmp_path / "c.safetensors")
    nerve.save(model.state_dict(), str(tmp_path / "weights.safetensors"))
    with pytest.raises(ValueError, match="not a nerve training checkpoint"):
        nerve.fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2, batch_size=8, verbose=0,
                  resume=tmp_path / "weights.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nerve.fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2, batch_size=8, verbose=0,
                  resume=tmp_path / "missing.safetensors")


def test_checkpoint_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    model, opt, sched, train, val = _resume_setup()
    path = tmp_path / "ck.safetensors"
    nerve.fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, batch_size=8, verbose=0,
              callbacks=[ModelCheckpoint(path)])
    before = path.read_bytes()

    def fail(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    monkeypatch.setattr(os, "rename", fail)
    with pytest.raises(OSError, match="simulated"):
        nerve.fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, batch_size=8, verbose=0,
                  callbacks=[ModelCheckpoint(path)])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["ck.safetensors"]  # no temp file left behind


KILLER = r"""
import sys, numpy as np
sys.path[:0] = {paths!r}
import nerve
from nerve import nn
m = nn.Linear(1000, 2000)
path, flag = sys.argv[1], sys.argv[2]
i = 0
while True:
    with nerve.no_grad():
        m.weight.fill_(float(i))
    nerve.save(m.state_dict(), path)
    i += 1
    if i == 2:
        open(flag, "w").close()
"""


def test_a_killed_checkpoint_write_never_leaves_a_broken_file(tmp_path):
    """SIGKILL a process that rewrites an 8 MB checkpoint in a loop: the file is always a whole save."""
    path, flag = tmp_path / "w.safetensors", tmp_path / "started"
    script = tmp_path / "writer.py"
    script.write_text(KILLER.format(paths=[p for p in sys.path if p]))
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(flag)])
        t0 = time.time()
        while not flag.exists() and proc.poll() is None and time.time() - t0 < 60:
            time.sleep(0.01)
        assert proc.poll() is None, "the writer process died before it saved twice"
        time.sleep(0.05 * (attempt + 1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sd = nerve.load(str(path))
        w = sd["weight"].numpy()
        assert w.shape == (2000, 1000) and np.all(w == w.flat[0])  # one whole version, never a torn mix
        flag.unlink()


def test_csv_logger(tmp_path):
    x, y = noisy_problem()
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "log.csv"
    kw = dict(loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1), batch_size=20,
              verbose=0, validation_split=0.25)
    h = nerve.fit(model, (x, y), epochs=3, callbacks=[CSVLogger(path)], **kw)
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert [float(r[2]) for r in rows[1:]] == h["loss"]
    nerve.fit(model, (x, y), epochs=2, callbacks=[CSVLogger(path, append=True)], **kw)
    assert len(list(csv.reader(open(path)))) == 6
    nerve.fit(model, (x, y), epochs=1, callbacks=[CSVLogger(path)], **kw)
    assert len(list(csv.reader(open(path)))) == 2  # append=False starts over


def test_lr_scheduler_callback_plateau_and_batches():
    x, y = noisy_problem()
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    seen = []
    orig = plateau.step
    plateau.step = lambda metric=None, *a: (seen.append(metric), orig(metric))
    h = nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=4, batch_size=20, verbose=0,
                  validation_split=0.25, callbacks=[LRSchedulerCallback(plateau, monitor="val_loss")])
    assert seen == h["val_loss"]
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2, batch_size=20, verbose=0,
              callbacks=[LRSchedulerCallback(step, interval="batch")])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9 ** 6)
    with pytest.raises(ValueError, match="interval must be"):
        LRSchedulerCallback(step, interval="week")
