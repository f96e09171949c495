"""Pseudo-labels: class-wise top-alpha thresholds (``thresholds``), the segmentation store
written in one pass (``segmentation``), image labels for classification (``images``), their sealed
HDF5 files (``h5io``) and the stage's command (``job``).

``dmt.pseudo.class_thresholds`` and ``dmt.pseudo.apply_thresholds`` are the paper's interface
(../shared/DESIGN.md) and stay importable from here.
"""

from dmt.pseudo.thresholds import apply_thresholds, class_thresholds

__all__ = ["apply_thresholds", "class_thresholds"]
