"""Early stopping: an over-parameterised MLP on 1,000 Fashion-MNIST images overfits; EarlyStopping notices the
validation loss turning up, stops training, and puts back the weights of the best epoch.

    python -m nerve.examples.early_stopping [--epochs 100] [--patience 5] [--out early_stopping.png]

Model: 784-1024-1024-10 ReLU (1.9M weights for 1,000 images), Adam lr 1e-3, batch 50, no dropout.
Validation: 5,000 other training images. Expected: the validation loss reaches its minimum within the
first 15 epochs and then rises (the training loss keeps falling), training stops `patience` epochs after
the minimum, long before --epochs, and the restored model's validation loss equals that minimum.
Writes the loss/accuracy curves to --out.
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None):
    import nerve
    from nerve import nn, optim
    from nerve.train import EarlyStopping
    from nerve.examples._shared import check, fashion
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--root", default=None)
    p.add_argument("--out", default="early_stopping.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, y, _ = fashion(args.root, train=True, limit=args.train_size + 5000)
    xt, yt, xv, yv = x[:args.train_size], y[:args.train_size], x[args.train_size:], y[args.train_size:]
    nerve.manual_seed(args.seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    stop = EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True, verbose=1)
    h = nerve.fit(model, (xt, yt), validation_data=(xv, yv), loss=nn.CrossEntropyLoss(),
                  optimizer=optim.Adam(model.parameters(), lr=1e-3), epochs=args.epochs, batch_size=50,
                  seed=args.seed, callbacks=[stop], verbose=2)
    h.plot(args.out, title="over-parameterised MLP on 1,000 images: early stopping")
    best = int(np.argmin(h["val_loss"]))
    restored = nerve.evaluate(model, (xv, yv), loss=nn.CrossEntropyLoss())
    print(f"best epoch {best + 1}: val_loss {h['val_loss'][best]:.4f}; stopped after epoch {len(h)} "
          f"(val_loss then {h['val_loss'][-1]:.4f}, train loss {h['loss'][-1]:.4f}); restored model: val_loss "
          f"{restored['loss']:.4f}, val_accuracy {restored['accuracy']:.4f}; curves in {args.out}")
    check(len(h) < args.epochs, f"training to stop before {args.epochs} epochs (it ran {len(h)})")
    check(h["val_loss"][-1] > h["val_loss"][best] and h["loss"][-1] < h["loss"][best],
          "the validation loss to turn up while the training loss keeps falling")
    check(len(h) == best + 1 + args.patience, f"the stop to come {args.patience} epochs after the best epoch")
    check(abs(restored["loss"] - h["val_loss"][best]) < 1e-5 * max(1.0, h["val_loss"][best]),
          "the restored weights to give the best validation loss")
    return h


if __name__ == "__main__":
    main()
