"""nerve.fit / evaluate / predict: learning a tiny problem to ~zero loss, the same trajectory as a hand-written
loop, History contents, validation_split, determinism, schedulers, progress output, and bad input."""
import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.data import DataLoader, TensorDataset
from nerve.train import Callback, LambdaCallback


def blobs(n=96, d=6, classes=3, seed=0, noise=0.3):
    """Separable clusters: an easy, deterministic classification problem."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)).astype(np.float32) * 3
    y = rng.integers(0, classes, n)
    x = (centers[y] + noise * rng.standard_normal((n, d))).astype(np.float32)
    return x, y.astype(np.int64)


def mlp(d=6, classes=3, hidden=16):
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def test_fit_reaches_zero_loss():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 8)).astype(np.float32)
    y = rng.integers(0, 4, 32)  # random labels: only memorisation drives the loss to zero
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4))
    h = nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(model.parameters(), lr=0.02),
                  epochs=150, batch_size=32, verbose=0)
    assert h["loss"][-1] < 0.01 < h["loss"][0]
    assert h["accuracy"][-1] == 1.0
    assert nerve.evaluate(model, (x, y), loss=nn.CrossEntropyLoss())["loss"] < 0.01


def test_fit_matches_a_hand_written_loop():
    x, y = blobs()
    nerve.manual_seed(3)
    a = mlp()
    nerve.manual_seed(3)
    b = mlp()
    h = nerve.fit(a, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(a.parameters(), lr=0.1), epochs=3,
                  batch_size=20, shuffle=False, verbose=0)
    opt, lf, losses = optim.SGD(b.parameters(), lr=0.1), nn.CrossEntropyLoss(), []
    for _ in range(3):
        total = 0.0
        for i in range(0, len(x), 20):
            xb, yb = nerve.from_numpy(x[i:i + 20]), nerve.from_numpy(y[i:i + 20])
            loss = lf(b(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        losses.append(total / len(x))
    assert np.allclose(h["loss"], losses, rtol=1e-6, atol=0)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())


def test_history_and_validation_split():
    x, y = blobs(100)
    model = mlp()
    h = nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.05),
                  epochs=4, batch_size=16, validation_split=0.2, verbose=0)
    assert h.epoch == [0, 1, 2, 3] and len(h) == 4
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 4 for v in h.history.values())
    assert h["lr"] == [0.05] * 4
    # Keras' rule: the validation samples are the last 20%, never trained on
    last = nerve.evaluate(model, (x[80:], y[80:]), loss=nn.CrossEntropyLoss())
    assert last["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-6)
    assert last["accuracy"] == pytest.approx(h["val_accuracy"][-1])
    assert h.params["steps"] == 5  # 80 training samples / 16


def test_validation_data_and_evaluate_predict():
    x, y = blobs(90)
    model = mlp()
    h = nerve.fit(model, (x[:60], y[:60]), validation_data=(x[60:], y[60:]), loss=nn.CrossEntropyLoss(),
                  optimizer=optim.Adam(model.parameters(), lr=0.01), epochs=5, batch_size=16, verbose=0)
    assert h["val_accuracy"][-1] > 0.9
    out = nerve.predict(model, x[60:], batch_size=7)
    assert tuple(out.shape) == (30, 3)
    model.eval()
    with nerve.no_grad():
        direct = model(nerve.from_numpy(x[60:])).numpy()
    assert np.allclose(out.numpy(), direct, atol=1e-6)
    ev = nerve.evaluate(model, TensorDataset(x[60:], y[60:]), metrics=["accuracy"])
    assert ev["accuracy"] == pytest.approx(float((direct.argmax(1) == y[60:]).mean()))
    assert "loss" not in ev
    assert model.training is False  # predict/evaluate leave the mode as they found it


def test_train_and_eval_modes_and_hook_order():
    seen, calls = [], []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, v):
            seen.append(self.training)
            return self.fc(v)

    x, y = blobs(20)
    model = Spy()
    hooks = {name: (lambda n: lambda *a: calls.append(n))(name) for name in
             ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end", "on_epoch_end",
              "on_train_end")}
    nerve.fit(model, (x[:12], y[:12]), validation_data=(x[12:], y[12:]), loss=nn.CrossEntropyLoss(),
              optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=6, verbose=0,
              callbacks=[LambdaCallback(**hooks)])
    assert seen == [True, True, False] * 2  # two training batches, then one validation batch in eval mode
    epoch = ["on_epoch_begin"] + ["on_train_batch_begin", "on_train_batch_end"] * 2 + ["on_epoch_end"]
    assert calls == ["on_train_begin"] + epoch * 2 + ["on_train_end"]


def test_determinism_with_seeds():
    x, y = blobs()

    def run(seed, global_seed):
        nerve.manual_seed(0)
        model = mlp()
        nerve.manual_seed(global_seed)
        return nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1),
                         epochs=3, batch_size=10, seed=seed, verbose=0)["loss"]

    assert run(7, 1) == run(7, 2)  # the loader's own seed decides the order, whatever the global state
    assert run(7, 1) != run(8, 1)
    assert run(None, 5) == run(None, 5)


def test_scheduler_argument():
    x, y = blobs(40)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    h = nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=3, batch_size=10, verbose=0,
                  scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025])
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2, batch_size=10, verbose=0,
              scheduler=optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5), scheduler_interval="batch")
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 4)  # 8 steps, halved every 2


def test_dataloader_input_and_workers():
    x, y = blobs(50)
    model = mlp()
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=0, num_workers=2)
    h = nerve.fit(model, loader, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1),
                  epochs=2, verbose=0)
    assert h.params["steps"] == 7 and len(h) == 2


def test_metrics():
    x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    t = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    model = nn.Linear(3, 1)
    h = nerve.fit(model, (x, t), loss=nn.MSELoss(), optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=30,
                  batch_size=40, metrics=["mae", "mse", lambda out, tgt: float((out - tgt).abs().max())], verbose=0)
    assert h["mse"][-1] < 0.01 and h["mae"][-1] < 0.1
    assert h["<lambda>"][-1] >= h["mae"][-1]
    assert h["mse"][-1] == pytest.approx(nerve.evaluate(model, (x, t), metrics=["mse"])["mse"], rel=0.5)


def test_progress_output(capsys):
    x, y = blobs(40)
    model = mlp()
    kw = dict(loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=10)
    nerve.fit(model, (x, y), verbose=0, **kw)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    nerve.fit(model, (x, y), verbose=1, **kw)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "samples/s" in err and "accuracy" in err
    nerve.fit(model, (x, y), verbose=2, **kw)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2") and "loss" in lines[1]


def test_history_plot(tmp_path):
    x, y = blobs(40)
    model = mlp()
    h = nerve.fit(model, (x, y), validation_split=0.25, loss=nn.CrossEntropyLoss(),
                  optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=3, batch_size=10, verbose=0)
    p = h.plot(tmp_path / "curves.png")
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_stop_training_from_a_callback():
    class StopAt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.trainer.stop_training = True

    x, y = blobs(20)
    model = mlp()
    h = nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1),
                  epochs=10, batch_size=10, verbose=0, callbacks=[StopAt()])
    assert len(h) == 2


@pytest.mark.parametrize("kw,err,msg", [
    (dict(data=(np.zeros((10, 6), np.float32), np.zeros(9, np.int64))), ValueError,
     r"\[fit\] train_data: inputs have 10 samples but targets have 9"),
    (dict(validation_split=0.0), ValueError, r"validation_split must lie strictly between 0 and 1"),
    (dict(validation_split=1.0), ValueError, r"validation_split must lie strictly between 0 and 1"),
    (dict(validation_split=1.5), ValueError, r"validation_split must lie strictly between 0 and 1"),
    (dict(validation_split=-0.2), ValueError, r"validation_split must lie strictly between 0 and 1"),
    (dict(validation_split=0.99), ValueError, r"leaves 0 of 20 samples for training"),
    (dict(batch_size=0), ValueError, r"batch_size must be a positive int"),
    (dict(metrics=["f1"]), ValueError, r"unknown metric 'f1'"),
    (dict(callbacks=[object()]), TypeError, r"callbacks must be nerve Callback instances"),
    (dict(loss="hinge"), ValueError, r"unknown loss 'hinge'"),
    (dict(optimizer=None), TypeError, r"optimizer must be a nerve.optim optimizer"),
])
def test_bad_arguments(kw, err, msg):
    x, y = blobs(20)
    model = mlp()
    data = kw.pop("data", (x, y))
    args = dict(loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
                batch_size=5, verbose=0)
    args.update(kw)
    with pytest.raises(err, match=msg):
        nerve.fit(model, data, **args)


def test_labels_out_of_range():
    x, y = blobs(20)
    y[7] = 5  # the model has 3 outputs
    model = mlp()
    with pytest.raises(ValueError, match=r"\[fit\] target label 5 is out of range for a model with 3 outputs"):
        nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1),
                  epochs=1, batch_size=20, verbose=0)
    y[7] = -1
    with pytest.raises(ValueError, match=r"target label -1 is out of range"):
        nerve.evaluate(model, (x, y))


def test_validation_split_with_a_loader_is_refused():
    x, y = blobs(20)
    model = mlp()
    with pytest.raises(ValueError, match="validation_split needs a dataset"):
        nerve.fit(model, DataLoader(TensorDataset(x, y), batch_size=5), loss=nn.CrossEntropyLoss(),
                  optimizer=optim.SGD(model.parameters(), lr=0.1), validation_split=0.2, verbose=0)
