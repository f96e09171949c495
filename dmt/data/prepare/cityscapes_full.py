"""Cityscapes at its full resolution (1024 x 2048), the modern protocol's (data set
``cityscapes_full``): the half-resolution preparation at scale 1, where resizing copies the pixels.
A module of its own, so that its digest, not the paper's Cityscapes', says what it depends on."""

from __future__ import annotations

from dmt.data.prepare.cityscapes import prepare_cityscapes


def prepare_cityscapes_full(cityscapes_root, out_root) -> dict:
    return prepare_cityscapes(cityscapes_root, out_root, scale=1.0)
