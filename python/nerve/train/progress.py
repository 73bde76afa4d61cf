"""progress.py — fit's per-epoch display: a tqdm bar (verbose=1) whose postfix shows the running loss,
metrics and samples/s, refreshed at most 4 times a second; or one line per epoch (verbose=2)."""
from __future__ import annotations

import sys
import time


def _fmt_logs(logs: dict) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in logs.items())


class EpochProgress:
    def __init__(self, verbose: int, epoch: int, epochs: int, steps: int):
        self.verbose, self.epoch, self.epochs = verbose, epoch, epochs
        self.bar = None
        self._next = 0.0
        if verbose == 1:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True,
                            dynamic_ncols=True, mininterval=0.25, file=sys.stderr)

    def update(self, seen: int, total_loss: float, metrics, elapsed: float) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.monotonic()
        if now >= self._next:
            self._next = now + 0.25
            parts = [f"loss {total_loss / seen:.4f}"] + [f"{m.name} {m.result():.4f}" for m in metrics]
            parts.append(f"{seen / elapsed:,.0f} samples/s" if elapsed > 0 else "")
            self.bar.set_postfix_str("  ".join(parts), refresh=False)

    def close(self, logs: dict, elapsed: float, seen: int) -> None:
        rate = f"{seen / elapsed:,.0f} samples/s" if elapsed > 0 else ""
        if self.bar is not None:
            self.bar.set_postfix_str(_fmt_logs({k: v for k, v in logs.items() if k != "lr"}) + "  " + rate,
                                     refresh=False)
            self.bar.close()
        elif self.verbose == 2:
            print(f"epoch {self.epoch + 1}/{self.epochs} - {elapsed:.1f}s - {_fmt_logs(logs)} - {rate}", flush=True)
