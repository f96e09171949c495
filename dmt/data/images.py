"""Decoding images into the 8-bit RGB every stage works on (preparation, training, pseudo
labels, ``predict``), and opening any image file within a pixel budget.

- Size: an image of more than ``MAX_IMAGE_PIXELS`` pixels is refused from its header, before its
  pixels are decoded (a 107 KB PNG can claim 30000x30000 pixels: 2.7 GB as RGB).
- Orientation: an EXIF orientation tag is applied (the pixels as a photo viewer shows them);
  ``read_rgb`` also returns the tag, for callers that must check a mask against the image.
- Modes: 16-bit integer greyscale (I;16, I;16B, I;16L, I;16N) by its bit depth, keeping the high
  byte (v >> 8), as Pillow reads a 16-bit-per-channel RGB PNG; 32-bit integer (I) the same when
  its values fit 16 bits, else by its range (min -> 0, max -> 255); 32-bit float (F) x 255 when
  its values lie in [0, 1], else by its range. Palette, CMYK, YCbCr, HSV, 1-bit, greyscale and
  RGBA / LA (alpha dropped) by Pillow's own conversion, which 8-bit RGB and greyscale pass
  unchanged. Any other mode (LAB, ...) is refused by name.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import ExifTags, Image, ImageOps

from dmt.errors import DMTError

# Pillow's own default decompression-bomb limit (1024**3 // 4 // 3: a quarter GiB as 24-bit RGB),
# about 89 megapixels: an 8K frame or a 50-megapixel photo passes, a forged header does not.
MAX_IMAGE_PIXELS = 1024 ** 3 // 4 // 3
ORIENTATION_TAG = ExifTags.Base.Orientation
# EXIF orientations that swap width and height (5-8) and those that keep them but still move
# pixels (2-4: mirrored or turned by 180 degrees); 1 and absent leave the stored pixels as they are.
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
MOVING_ORIENTATIONS = (2, 3, 4, 5, 6, 7, 8)

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
# Modes Pillow converts to RGB correctly; RGBa and La (premultiplied alpha) are first unmultiplied.
_PILLOW_CONVERTS = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "HSV")
_UNMULTIPLY = {"RGBa": "RGBA", "La": "LA"}


def _over_budget(path, what: str, size: str) -> DMTError:
    return DMTError(f"{what} {path} has {size} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                    f"(dmt.data.images.MAX_IMAGE_PIXELS) an image may have: downscale it or cut it "
                    f"into tiles")


@contextlib.contextmanager
def open_image(path, what: str = "image") -> Iterator[Image.Image]:
    """The Pillow image of ``path`` with only its header read, refused (one DMTError naming the
    file) if it is missing, unreadable, not an image or over the pixel budget."""
    try:
        with warnings.catch_warnings():
            # dmt's own budget below replaces Pillow's warning; its error (twice the limit) is caught.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise DMTError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise DMTError(f"{what} {path} cannot be read (permission denied)") from None
    except Image.DecompressionBombError:
        raise _over_budget(path, what, f"over {2 * Image.MAX_IMAGE_PIXELS:,}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DMTError(f"{what} {path} is corrupt or truncated ({e})") from None
    with image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _over_budget(path, what, f"{width}x{height} = {width * height:,}")
        yield image


def orientation(image: Image.Image) -> int:
    """The EXIF orientation of ``image`` (1-8; 1 where there is none or it is malformed)."""
    value = image.getexif().get(ORIENTATION_TAG, 1)
    return value if value in range(1, 9) else 1


def _scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` from [low, high] to 0-255 uint8, rounded; a constant image is all 0."""
    span = high - low
    if span <= 0:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values.astype(np.float64) - low) * (255 / span)).astype(np.uint8)


def _grey_to_8bit(image: Image.Image, path) -> np.ndarray:
    """uint8 [H, W] of a 16-bit, 32-bit integer or float greyscale image (module docstring)."""
    values = np.asarray(image)
    if image.mode in _SIXTEEN_BIT:
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    if not values.size:
        return np.zeros(values.shape, np.uint8)
    low, high = values.min(), values.max()
    if image.mode == "I":
        if low >= 0 and high <= 0xFFFF:
            return (values >> 8).astype(np.uint8)
        return _scaled(values, float(low), float(high))
    if not np.isfinite(values).all():
        raise DMTError(f"image {path} is a floating-point image with NaN or infinite pixels; save it "
                       f"as 8-bit RGB or greyscale")
    if low >= 0 and high <= 1:
        return _scaled(values, 0.0, 1.0)
    return _scaled(values, float(low), float(high))


def to_rgb(image: Image.Image, path) -> np.ndarray:
    """RGB uint8 [H, W, 3] (writable: torch.from_numpy shares it) of a decoded image of any mode
    Pillow opens; a mode without a faithful conversion is refused by name."""
    mode = image.mode
    if mode in _UNMULTIPLY:
        image = image.convert(_UNMULTIPLY[mode])
    if image.mode in _PILLOW_CONVERTS:
        return np.array(image.convert("RGB"))
    if image.mode in (*_SIXTEEN_BIT, "I", "F"):
        grey = _grey_to_8bit(image, path)
        return np.repeat(grey[..., None], 3, axis=2)
    raise DMTError(f"image {path} is a {mode} image, which dmt cannot convert to RGB; save it as "
                   f"RGB or greyscale (JPEG or PNG)")


def read_rgb(path) -> tuple[np.ndarray, int]:
    """(RGB uint8 [H, W, 3] as displayed: EXIF orientation applied, the orientation it had);
    a truncated or corrupt file is an error, not a grey patch."""
    with open_image(path) as image:
        try:
            image.load()
            tag = orientation(image)
            if tag != 1:
                image = ImageOps.exif_transpose(image)
            return to_rgb(image, path), tag
        except (OSError, SyntaxError, ValueError) as e:
            raise DMTError(f"image {path} is corrupt or truncated ({e})") from None


def describe_orientation(tag: int) -> str:
    """How EXIF orientation ``tag`` turns the stored pixels for display, in words."""
    return {2: "mirrored left-right", 3: "rotated by 180 degrees", 4: "mirrored top-bottom",
            5: "mirrored across its diagonal", 6: "rotated by 90 degrees clockwise",
            7: "mirrored across its anti-diagonal", 8: "rotated by 90 degrees counter-clockwise",
            }.get(tag, "as stored")

