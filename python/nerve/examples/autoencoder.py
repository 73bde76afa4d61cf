"""A convolutional autoencoder on Fashion-MNIST: two strided Conv2d layers squeeze each image to 32x7x7, two
ConvTranspose2d layers rebuild it; trained with mean squared error.

    python -m nerve.examples.autoencoder [--epochs 3] [--out autoencoder.png]

Expected: test reconstruction MSE <= 0.012 after 3 epochs, under a quarter of the error of always
predicting the mean training image (~0.057 for that baseline). Writes originals above reconstructions to --out.
"""
from __future__ import annotations

import argparse


def autoencoder():
    from nerve import nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),                       # 16 x 14 x 14
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),                      # 32 x 7 x 7
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 16 x 14 x 14
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())  # 1 x 28 x 28


def main(argv=None):
    import nerve
    from nerve import nn, optim
    from nerve.examples._shared import check, fashion, save_grid
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--root", default=None)
    p.add_argument("--out", default="autoencoder.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, _, _ = fashion(args.root, train=True)
    xt, _, _ = fashion(args.root, train=False)
    nerve.manual_seed(args.seed)
    model = autoencoder()
    nerve.fit(model, (x, x), loss=nn.MSELoss(), optimizer=optim.Adam(model.parameters(), lr=2e-3), metrics=[],
              epochs=args.epochs, batch_size=128, seed=args.seed, verbose=2)
    mse = nerve.evaluate(model, (xt, xt), loss=nn.MSELoss(), metrics=[])["loss"]
    mean_img = x.mean(0, keepdim=True)
    baseline = float(((xt - mean_img) ** 2).mean().item())
    print(f"test reconstruction MSE {mse:.5f} (mean-image baseline {baseline:.5f})")
    rec = nerve.predict(model, xt[:10]).numpy()[:, 0]
    save_grid(args.out, [list(xt[:10].numpy()[:, 0]), list(rec)], row_titles=["original", "reconstructed"],
              title=f"conv autoencoder, 32x7x7 code: test MSE {mse:.4f}")
    print(f"reconstructions in {args.out}")
    check(mse <= 0.012 and mse < 0.25 * baseline,
          f"test MSE <= 0.012 and < a quarter of the mean-image baseline (got {mse:.5f} vs {baseline:.5f})")
    return mse


if __name__ == "__main__":
    main()
