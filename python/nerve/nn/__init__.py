"""nerve.nn — layers, losses and initialisation, shaped like torch.nn."""
from . import functional  # noqa: F401
