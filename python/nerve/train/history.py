"""history.py — History: what fit returns, per-epoch loss and metrics (Keras' History), and plot(path)."""
from __future__ import annotations

from typing import Dict, List


class History:
    """`history[name]` is the list of per-epoch values of a log entry ('loss', 'accuracy', 'val_loss', 'lr', ...);
    `epoch` the 0-based epoch numbers they belong to."""

    def __init__(self):
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []
        self.params: dict = {}

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(int(epoch))
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epoch)

    def last(self, key, default=None):
        v = self.history.get(key)
        return v[-1] if v else default

    def state_dict(self) -> dict:
        return {"history": self.history, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History({len(self.epoch)} epochs: {last})"

    def plot(self, path, title=None):
        """Writes loss curves (and each metric's, train vs validation) to a PNG at `path`; returns the path."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg directly: no GUI, no global backend change
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
        names = [k for k in self.history if not k.startswith("val_") and k != "lr"]
        if not names:
            raise ValueError("[History.plot] nothing to plot: the history is empty")
        epochs = [e + 1 for e in self.epoch]
        fig = Figure(figsize=(5 * len(names), 3.8))
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(names), squeeze=False)
        for ax, name in zip(axes[0], names):
            ax.plot(epochs, self.history[name], "o-", label=f"train {name}")
            if f"val_{name}" in self.history:
                ax.plot(epochs, self.history[f"val_{name}"], "s-", label=f"validation {name}")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path
