"""Dynamic Mutual Training (DMT): a library for semi-supervised segmentation and classification.

The library never imports Snakemake: the workflow calls it through ``python -m dmt``.
"""

__version__ = "0.1.0"

IGNORE_INDEX = 255
