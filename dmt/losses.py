"""The dynamic loss's public import path (../shared/DESIGN.md); it lives in ``dmt.training.losses``."""

from dmt.training.losses import dynamic_loss, dynamic_weights

__all__ = ["dynamic_loss", "dynamic_weights"]
