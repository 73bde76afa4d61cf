"""charlm.py — what the character-level language-model examples share: the two models (CharLSTM,
TinyGPT), a time-budgeted training loop with periodic validation, full evaluation of the held-out
text, and sampling. Used by nerve.examples.char_lstm, nerve.examples.tiny_transformer and
`nerve train shakespeare`.

Losses are cross-entropy in nats per character (divide by ln 2 for bits). Validation windows are
independent (each starts with no context), so the reported loss slightly overstates what the
model achieves on running text.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F


class CharLSTM(nn.Module):
    """Embedding -> LSTM (num_layers) -> Linear over the vocabulary, on (N, T) character ids."""

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 512, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.head(h), state


class TinyGPT(nn.Module):
    """A small GPT: token + learned position embeddings, pre-norm Transformer blocks with causal
    self-attention (the fused kernel), a final LayerNorm and a Linear over the vocabulary."""

    def __init__(self, vocab_size: int, block_size: int = 128, d_model: int = 128, nhead: int = 4, layers: int = 4,
                 dim_feedforward: int = 512, dropout: float = 0.1):
        super().__init__()
        self.block_size = block_size
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.LearnedPositionalEmbedding(block_size, d_model, batch_first=True)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x, state=None):
        L = x.shape[1]
        h = self.drop(self.pos(self.tok(x)))
        h = self.blocks(h, mask=nn.generate_square_subsequent_mask(L), is_causal=True)
        return self.head(self.norm(h)), None


def pick_threads(requested: Optional[int]) -> int:
    """Kernel threads for a training run: `requested`, else all cores unless the machine is already
    busier than it has cores (then 1: a time step's threads meet at a barrier many times per
    batch, and on an oversubscribed machine each meeting waits for a descheduled thread)."""
    if requested:
        nerve.set_num_threads(requested)
    elif os.getloadavg()[0] >= (os.cpu_count() or 1):
        nerve.set_num_threads(1)
    return nerve.get_num_threads()


def loss_of(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def evaluate(model, data, batch_size: int = 64, max_batches: Optional[int] = None) -> float:
    """Mean cross-entropy (nats per character) over non-overlapping windows of `data`."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    with nerve.no_grad():
        for i, (x, y) in enumerate(data.batches(batch_size)):
            if max_batches is not None and i >= max_batches:
                break
            total += loss_of(model, x, y).item() * y.numel()
            count += y.numel()
    model.train(was)
    return total / max(count, 1)


def sample(model, data, prompt: str = "ROMEO:\n", length: int = 400, temperature: float = 0.8,
           seed: int = 0) -> str:
    """Continues `prompt` by sampling one character at a time (the LSTM carries its state; the GPT
    re-reads its last block_size characters)."""
    rng = np.random.default_rng(seed)
    was = model.training
    model.eval()
    ids = list(data.encode(prompt))
    out = []
    with nerve.no_grad():
        if isinstance(model, CharLSTM):
            logits, state = model(nerve.tensor([ids]))
            for _ in range(length):
                p = _probs(logits[0, -1].numpy(), temperature)
                c = int(rng.choice(len(p), p=p))
                out.append(c)
                logits, state = model(nerve.tensor([[c]]), state)
        else:
            for _ in range(length):
                ctx = (ids + out)[-model.block_size:]
                logits, _ = model(nerve.tensor([ctx]))
                p = _probs(logits[0, -1].numpy(), temperature)
                out.append(int(rng.choice(len(p), p=p)))
    model.train(was)
    return prompt + data.decode(out)


def _probs(logits, temperature):
    z = logits.astype(np.float64) / max(temperature, 1e-6)
    z = np.exp(z - z.max())
    return z / z.sum()


@dataclass
class Result:
    val_loss: float
    steps: int
    seconds: float
    history: List[tuple] = field(default_factory=list)  # (step, seconds, train loss, val estimate)
    model: object = None
    vocab: List[str] = field(default_factory=list)
    ok: bool = False


def lr_scale(step: int, frac: float, warmup: int, decay_from: float = 0.6) -> float:
    """Warm-up over `warmup` steps, constant, then a cosine decay to 10% over the last part of the
    budget (frac: the fraction of the budget used): short runs learn fastest at a high, steady rate."""
    ramp = min(1.0, (step + 1) / warmup)
    if frac <= decay_from:
        return ramp
    t = (frac - decay_from) / (1.0 - decay_from)
    return ramp * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def train(model, train_data, val_data, *, minutes: float, batch_size: int, lr: float, target: float,
          max_steps: Optional[int] = None, eval_every: int = 200, eval_batches: int = 20, clip: float = 1.0,
          warmup: int = 100, weight_decay: float = 0.0, betas=(0.9, 0.99), seed: int = 0,
          log: Callable = print) -> Result:
    """Adam (AdamW with weight_decay) with warm-up, a steady rate and a final cosine decay over the
    time budget, gradient clipping, validation estimates every eval_every steps; stops at the
    budget, at max_steps, or once the full validation loss reaches `target`. Returns the full
    validation loss at the end."""
    rng = np.random.default_rng(seed)
    opt = nerve.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay) if weight_decay \
        else nerve.optim.Adam(model.parameters(), lr=lr, betas=betas)
    budget = minutes * 60.0
    if max_steps is not None:
        warmup = max(1, min(warmup, max_steps // 10))
    t0 = time.perf_counter()
    step, running, history = 0, None, []
    final = None
    model.train()
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= budget or (max_steps is not None and step >= max_steps):
            break
        frac = min(elapsed / budget, 1.0) if max_steps is None else step / max_steps
        scale = lr_scale(step, frac, warmup)
        for g in opt.param_groups:
            g["lr"] = lr * scale
        x, y = train_data.batch(batch_size, rng)
        loss = loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        step += 1
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        if step % eval_every == 0:
            est = evaluate(model, val_data, max_batches=eval_batches)
            history.append((step, time.perf_counter() - t0, running, est))
            log(f"step {step:6d}  {time.perf_counter() - t0:7.1f} s  train {running:.3f}  val~ {est:.3f} nats/char"
                f"  lr {lr * scale:.2e}  load {os.getloadavg()[0]:.1f}")
            if est <= target - 0.02:  # close enough to check on the whole held-out text
                final = evaluate(model, val_data)
                log(f"          full validation {final:.4f} nats/char")
                if final <= target:
                    break
                final = None
    seconds = time.perf_counter() - t0
    if final is None:
        final = evaluate(model, val_data)
    return Result(final, step, seconds, history, model, list(train_data.vocab))


def report(name: str, result: Result, target: float, text: str, exit_on_miss: bool = True) -> Result:
    """Prints the outcome and a sample; exits with status 1 when the target was missed (or, with
    exit_on_miss=False, returns the result with ok=False)."""
    print(f"\n--- sample ({name}) ---\n{text}\n---")
    bits = result.val_loss / math.log(2)
    msg = (f"{name}: validation loss {result.val_loss:.4f} nats/char ({bits:.3f} bits) after {result.steps} steps "
           f"in {result.seconds / 60:.1f} min (load average {os.getloadavg()[0]:.1f})")
    result.ok = bool(result.val_loss <= target)
    if not result.ok:
        print(f"FAILED: {msg}; expected <= {target}", file=sys.stderr)
        if exit_on_miss:
            sys.exit(1)
        return result
    print(f"OK: {msg} <= {target}")
    return result
