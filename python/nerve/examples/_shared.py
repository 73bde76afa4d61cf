"""_shared.py — what several examples need: Fashion-MNIST as [0, 1] pixel tensors, a quickly trained
classifier, an image-grid PNG, and the loud failure every example ends with below its bar."""
from __future__ import annotations

import sys

import numpy as np


def fashion(root=None, train=True, limit=None):
    """(images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64) as nerve Tensors, and the class names."""
    from nerve.data.datasets import FashionMNIST
    ds = FashionMNIST(root, train=train)
    x, y = ds.data, ds.targets
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y, FashionMNIST.classes


def train_classifier(kind, x, y, epochs, seed=0, verbose=1):
    """An MLP or CNN (nerve.examples.models) fitted with Adam on pixels in [0, 1]."""
    import nerve
    from nerve import nn, optim
    from nerve.examples import models
    nerve.manual_seed(seed)
    model = models.mlp(784) if kind == "mlp" else models.cnn(1, 28)
    nerve.fit(model, (x, y), loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(model.parameters(), lr=1e-3),
              epochs=epochs, batch_size=128, seed=seed, verbose=verbose)
    return model.eval()


def save_grid(path, rows, row_titles=None, col_titles=None, cmaps=None, title=None):
    """rows: a list of lists of 2-D arrays; one image per cell (matplotlib Agg, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = Figure(figsize=(1.6 * n_cols, 1.75 * n_rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                cmap = (cmaps[i] if cmaps else None) or "gray"
                ax.imshow(np.asarray(row[j]), cmap=cmap, vmin=None if cmap != "gray" else 0,
                          vmax=None if cmap != "gray" else 1)
            if col_titles and i == 0 and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=7)
            if row_titles and j == 0:
                ax.set_ylabel(row_titles[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def check(ok: bool, what: str) -> None:
    """Prints OK or FAILED for an expected result; exits with status 1 on failure."""
    if ok:
        print(f"OK: {what}")
    else:
        print(f"FAILED: expected {what}", file=sys.stderr)
        sys.exit(1)
