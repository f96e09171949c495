"""Id lists: a file, a named list of a prepared data set (either layout), or a published split.
"""

from __future__ import annotations

from pathlib import Path

from dmt.errors import DMTError


def read_named_split(root, split: str) -> list[str]:
    """A named id list of a prepared data set, whichever layout it has."""
    if (Path(root) / "lists").is_dir():  # the classification layout (dmt.data.classification)
        from dmt.data.classification import read_class_split  # imports torch: only for that layout

        return read_class_split(root, split)
    from dmt.data.voc import check_root, read_split

    return read_split(check_root(root), split)


def read_ids(path) -> list[str]:
    from dmt.data.voc import read_id_file

    return read_id_file(path)


def read_id_source(data, source: str) -> list[str]:
    """An id list: ``data:NAME`` (a list of the prepared data set), ``published:NAME`` (the paper's
    published splits, dmt/data/published_splits/) or a file."""
    from dmt.data.splits import read_published

    kind, _, name = source.partition(":")
    if kind == "data" and name:
        return read_named_split(data, name)
    if kind == "published" and name:
        try:
            return read_published(name)
        except ValueError as e:
            raise DMTError(str(e)) from None
    return read_ids(source)
