"""Files and their integrity, the glue no result depends on: atomic writes (``atomic``), digests and
sidecars (``integrity``), the safe torch reader (``torchfile``), kept finished results
(``finished``) and the stages' code digests (``provenance``).
"""
