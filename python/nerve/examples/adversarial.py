"""Adversarial examples with FGSM (Goodfellow et al. 2015): nudge every pixel by epsilon along the sign of the
loss gradient with respect to the input, and watch a well-trained classifier's accuracy collapse.

    python -m nerve.examples.adversarial [--model mlp|cnn] [--epochs 3] [--out adversarial.png]

Trains the model on Fashion-MNIST pixels in [0, 1] (or loads --weights from `nerve train`-style MLP/CNN
weights trained on such pixels), then attacks the first 2,000 test images: x' = clip(x + eps * sign(dL/dx), 0, 1).
Expected: clean accuracy >= 0.85; accuracy falls as epsilon grows and is below 0.30 at eps = 0.1 (a change of
at most 10% of the pixel range, barely visible). Writes clean vs perturbed images with predictions to --out.
"""
from __future__ import annotations

import argparse

import numpy as np

EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)


def fgsm(model, loss_fn, x, y, eps):
    """x + eps * sign(dL/dx), clipped to the pixel range [0, 1]."""
    import nerve
    x = x.detach().requires_grad_(True)
    loss_fn(model(x), y).backward()
    with nerve.no_grad():
        return (x + eps * x.grad.sign()).clamp(0.0, 1.0)


def main(argv=None):
    import nerve
    from nerve import nn
    from nerve.examples._shared import check, fashion, save_grid, train_classifier
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--attack-size", type=int, default=2000)
    p.add_argument("--root", default=None)
    p.add_argument("--out", default="adversarial.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, y, classes = fashion(args.root, train=True)
    xt, yt, _ = fashion(args.root, train=False, limit=args.attack_size)
    model = train_classifier(args.model, x, y, args.epochs, args.seed, verbose=2)
    loss_fn = nn.CrossEntropyLoss()
    accs, shown = {}, {}
    for eps in EPSILONS:
        correct = 0
        for i in range(0, len(yt), 500):
            xb, yb = xt[i:i + 500], yt[i:i + 500]
            adv = fgsm(model, loss_fn, xb, yb, eps) if eps > 0 else xb
            with nerve.no_grad():
                pred = model(adv).argmax(1)
            correct += int((pred == yb).sum().item())
            if i == 0:
                shown[eps] = (adv[:8].numpy()[:, 0], pred[:8].numpy())
        accs[eps] = correct / len(yt)
        print(f"epsilon {eps:5.2f}: accuracy {accs[eps]:.4f}")
    rows = [list(shown[e][0]) for e in (0.0, 0.05, 0.1)]
    cols = [f"{classes[int(t)].split('/')[0]}" for t in yt[:8].numpy()]
    titles = [f"eps {e}: " + " ".join(classes[int(k)][:4] for k in shown[e][1][:3]) + "..." for e in (0.0, 0.05, 0.1)]
    save_grid(args.out, rows, row_titles=[f"eps {e}" for e in (0.0, 0.05, 0.1)], col_titles=cols,
              title="FGSM: clean (top) and perturbed test images; " + "; ".join(titles))
    print(f"images in {args.out}")
    values = [accs[e] for e in EPSILONS]
    check(accs[0.0] >= 0.85, f"clean accuracy >= 0.85 (got {accs[0.0]:.4f})")
    check(all(b <= a + 0.01 for a, b in zip(values, values[1:])), "accuracy to fall as epsilon grows")
    check(accs[0.1] < 0.30, f"accuracy below 0.30 at epsilon 0.1 (got {accs[0.1]:.4f})")
    return accs


if __name__ == "__main__":
    main()
