"""models.py — the networks the examples, `nerve train` and the training benchmarks build.

    mlp(in_features, classes)           Flatten, 512, 256 ReLU units with dropout, logits
    cnn(channels, size, classes)        two conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), then
                                        a 128-unit dense layer with dropout, logits
    lenet_like()                        issue 6's benchmark CNN, as specified: conv 32 3x3, ReLU, pool, conv 64
                                        3x3, ReLU, pool, linear 128, linear 10 (no batch norm, no dropout)
    mlp_benchmark()                     issue 6's benchmark MLP: 784-512-256-10 ReLU
    small_resnet(channels, classes)     a stem conv and two ResNet BasicBlocks (skip connections)

Each takes a `lib` argument (nerve.nn by default; torch.nn works too) so that the benchmarks build the
very same network in both libraries.
"""
from __future__ import annotations


def _nn(lib):
    if lib is None:
        from nerve import nn
        return nn
    return lib


def mlp(in_features: int = 784, classes: int = 10, hidden=(512, 256), dropout: float = 0.2, lib=None):
    nn = _nn(lib)
    layers, width = [nn.Flatten()], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def cnn(channels: int = 1, size: int = 28, classes: int = 10, widths=(32, 64), hidden: int = 128,
        dropout: float = 0.25, lib=None):
    nn = _nn(lib)
    layers, c, s = [], channels, size
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
        c, s = w, s // 2
    layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * s * s, hidden), nn.ReLU(), nn.Dropout(dropout),
               nn.Linear(hidden, classes)]
    return nn.Sequential(*layers)


def lenet_like(lib=None):
    nn = _nn(lib)
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.Linear(128, 10))


def mlp_benchmark(lib=None):
    nn = _nn(lib)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def small_resnet(channels: int = 1, classes: int = 10, width: int = 32):
    """Stem conv, a BasicBlock at full resolution, a strided BasicBlock (1x1 shortcut), global average pool."""
    from nerve import nn
    return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.BasicBlock(width, width), nn.BasicBlock(width, 2 * width, stride=2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


MODELS = {"mlp": mlp, "cnn": cnn, "resnet": small_resnet}
