"""Softmax regression on Fashion-MNIST with nothing but tensors and autograd.

    python -m nerve.examples.softmax_regression [--epochs 5] [--lr 0.1] [--batch-size 256]

A linear model (784 -> 10) trained by minibatch SGD on the cross-entropy written out by hand:
loss = logsumexp(logits) - logit of the true class. Expected: test accuracy >= 0.82 after 5 epochs
(published softmax/logistic regression on Fashion-MNIST: ~0.84), in a few seconds on 2 cores.
Data: see nerve.data.datasets.FashionMNIST (Debian package dataset-fashion-mnist, or root=).
"""
from __future__ import annotations

import argparse
import sys
import time

import nerve
from nerve.data.datasets import FashionMNIST

EXPECTED_ACCURACY = 0.82


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--root", default=None, help="folder holding the four Fashion-MNIST .gz files")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    nerve.manual_seed(args.seed)
    train, test = FashionMNIST(args.root, train=True), FashionMNIST(args.root, train=False)
    x_train, y_train = train.data.reshape(len(train), -1), train.targets
    x_test, y_test = test.data.reshape(len(test), -1), test.targets
    mean, std = x_train.mean(), x_train.std()
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    w = nerve.zeros(784, 10, requires_grad=True)
    b = nerve.zeros(10, requires_grad=True)
    n = len(x_train)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        order = nerve.randperm(n)
        total = 0.0
        for i in range(0, n, args.batch_size):
            idx = order[i:i + args.batch_size]
            x, y = x_train[idx], y_train[idx]
            logits = x @ w + b
            loss = (logits.logsumexp(1) - logits.gather(1, y.unsqueeze(1)).squeeze(1)).mean()
            loss.backward()
            with nerve.no_grad():
                w -= args.lr * w.grad
                b -= args.lr * b.grad
            w.grad = b.grad = None
            total += loss.item() * len(idx)
        with nerve.no_grad():
            acc = ((x_test @ w + b).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}/{args.epochs}  train loss {total / n:.4f}  test accuracy {acc:.4f}  "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
    if acc < EXPECTED_ACCURACY:
        print(f"FAILED: test accuracy {acc:.4f} is below the expected {EXPECTED_ACCURACY}", file=sys.stderr)
        sys.exit(1)
    print(f"OK: test accuracy {acc:.4f} >= {EXPECTED_ACCURACY}")
    return acc


if __name__ == "__main__":
    main()
