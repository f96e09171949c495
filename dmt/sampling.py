"""Difference-maximised sampling's public import path (../shared/DESIGN.md); it lives in
``dmt.data.sampling``."""

from dmt.data.sampling import difference_maximized

__all__ = ["difference_maximized"]
