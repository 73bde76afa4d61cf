"""Saliency maps (Simonyan et al. 2014): how much each input pixel moves the score of the true class,
|d logit_y / d x|, for a few Fashion-MNIST test images.

    python -m nerve.examples.saliency [--model cnn|mlp] [--epochs 2] [--out saliency.png]

Expected: the gradient concentrates on the garment, not the empty background: over 500 test images the mean
saliency on object pixels (intensity > 0.1) is at least 2x the mean on background pixels. Writes the images
and their saliency maps to --out.
"""
from __future__ import annotations

import argparse

import numpy as np


def saliency(model, x, y):
    """|d logit_y / d x| for each image of the batch (the true class's logit, summed over the batch)."""
    x = x.detach().requires_grad_(True)
    out = model(x)
    out.gather(1, y.unsqueeze(1)).sum().backward()
    return np.abs(x.grad.numpy())[:, 0]


def main(argv=None):
    from nerve.examples._shared import check, fashion, save_grid, train_classifier
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--root", default=None)
    p.add_argument("--out", default="saliency.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, y, classes = fashion(args.root, train=True)
    xt, yt, _ = fashion(args.root, train=False, limit=500)
    model = train_classifier(args.model, x, y, args.epochs, args.seed, verbose=2)
    sal = saliency(model, xt, yt)
    pix = xt.numpy()[:, 0]
    obj = pix > 0.1
    ratio = sal[obj].mean() / max(sal[~obj].mean(), 1e-12)
    print(f"mean saliency on object pixels / on background pixels: {ratio:.2f}")
    k = 8
    norm = sal[:k] / sal[:k].reshape(k, -1).max(1)[:, None, None]
    save_grid(args.out, [list(pix[:k]), list(norm)], row_titles=["image", "|d logit / d x|"],
              col_titles=[classes[int(t)].split("/")[0] for t in yt[:k].numpy()], cmaps=["gray", "hot"],
              title=f"saliency of the true class ({args.model}); object/background ratio {ratio:.1f}")
    print(f"maps in {args.out}")
    check(ratio >= 2.0, f"saliency on the object at least 2x the background's (got {ratio:.2f})")
    return ratio


if __name__ == "__main__":
    main()
