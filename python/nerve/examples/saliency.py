"""Saliency maps (Simonyan et al. 2014): how much each input pixel moves the score of the true class,
|d logit_y / d x|, for Fashion-MNIST test images.

    python -m nerve.examples.saliency [--model mlp|cnn] [--epochs 3] [--weights model.safetensors] [--out saliency.png]

Trains the model (or loads --weights, the model.safetensors of `nerve train fashion-mnist --model <same>`),
computes the maps of 1,000 test images in one backward pass, and checks that they point at the pixels the
decision rests on: inverting (x -> 1 - x) the 5% most salient pixels of each image must cost at least 0.3 of
accuracy, while inverting 5% of the pixels at random costs under 0.1. (The maps are not object masks: the
empty gap between trouser legs or around a sandal's straps is evidence too, and lights up.) Writes images
and maps to --out.
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


def accuracy(model, images, labels):
    import nerve
    with nerve.no_grad():
        pred = model(nerve.from_numpy(np.ascontiguousarray(images[:, None], np.float32))).argmax(1).numpy()
    return float((pred == labels).mean())


def invert(images, idx):
    """Each image with the pixels at idx[i] (flat positions) replaced by 1 - x."""
    flat = images.reshape(len(images), -1).copy()
    rows = np.arange(len(images))[:, None]
    flat[rows, idx] = 1 - flat[rows, idx]
    return flat.reshape(images.shape)


def main(argv=None):
    from nerve.examples._shared import check, fashion, save_grid, train_classifier
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--weights", default=None, help="model.safetensors from `nerve train fashion-mnist` (same --model)")
    p.add_argument("--root", default=None)
    p.add_argument("--out", default="saliency.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, y, classes = fashion(args.root, train=True) if not args.weights else (None, None, None)
    xt, yt, classes = fashion(args.root, train=False, limit=1000)
    model = train_classifier(args.model, x, y, args.epochs, args.seed, verbose=2, weights=args.weights)
    sal = saliency(model, xt, yt)
    pix, labels = xt.numpy()[:, 0], yt.numpy()
    k = int(0.05 * pix[0].size)
    top = np.argsort(-sal.reshape(len(pix), -1), 1)[:, :k]
    rand = np.random.default_rng(args.seed).random((len(pix), pix[0].size)).argsort(1)[:, :k]
    clean, salient, random = accuracy(model, pix, labels), accuracy(model, invert(pix, top), labels), \
        accuracy(model, invert(pix, rand), labels)
    print(f"accuracy on 1,000 test images: clean {clean:.4f}; 5% most salient pixels inverted {salient:.4f}; "
          f"5% random pixels inverted {random:.4f}")
    n = 8
    norm = sal[:n] / sal[:n].reshape(n, -1).max(1)[:, None, None]
    save_grid(args.out, [list(pix[:n]), list(norm)], row_titles=["image", "|d logit / d x|"],
              col_titles=[classes[int(t)] for t in labels[:n]], cmaps=["gray", "hot"],
              title=f"saliency of the true class ({args.model}): inverting the top 5% pixels takes accuracy "
                    f"{clean:.2f} -> {salient:.2f}, 5% random pixels -> {random:.2f}")
    print(f"maps in {args.out}")
    check(clean - salient >= 0.3, f"inverting the 5% most salient pixels to cost >= 0.3 accuracy "
                                  f"(cost {clean - salient:.3f})")
    check(clean - random < 0.1, f"inverting 5% random pixels to cost < 0.1 accuracy (cost {clean - random:.3f})")
    return clean, salient, random


if __name__ == "__main__":
    main()
