"""Sliding-window inference's geometry, without torch (the plan checks a configured window while
the DAG is built): a window's size and stride, and where its positions fall along an image."""

from __future__ import annotations

from dataclasses import dataclass

from dmt.errors import DMTError


@dataclass(frozen=True)
class Window:
    """Windows of ``size`` (h, w) every ``stride`` (h, w) (dmt.models.inference.sliding_logits)."""

    size: tuple[int, int]
    stride: tuple[int, int]

    def __post_init__(self):
        try:
            size, stride = tuple(int(v) for v in self.size), tuple(int(v) for v in self.stride)
        except (TypeError, ValueError):
            size = stride = ()
        if len(size) != 2 or len(stride) != 2 or min(size + stride) < 1:
            raise DMTError(f"a sliding window needs a size and a stride of two positive integers each, "
                           f"not size {self.size} stride {self.stride}")
        if any(t > z for t, z in zip(stride, size, strict=True)):
            raise DMTError(f"sliding-window stride {list(stride)} is larger than the window {list(size)}: "
                           f"some pixels would never be predicted")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "stride", stride)

    @classmethod
    def of(cls, size, stride) -> Window | None:
        """A window from command-line / spec / meta values; None (whole image) without a size."""
        if size is None and stride is None:
            return None
        if size is None:
            raise DMTError("--stride is the step of a sliding window: give --window H W too")
        if stride is None:
            raise DMTError("a sliding window needs a stride too (--stride H W)")
        return cls(tuple(size), tuple(stride))


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Offsets of windows of ``window`` every ``stride`` covering 0..length, the last one flush
    with the end (inputs are padded to at least the window, so ``length`` >= ``window``)."""
    last = max(length - window, 0)
    return sorted(set(range(0, last, stride)) | {last})
