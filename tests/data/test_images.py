"""Image decoding (dmt/data/images.py, through dmt.data.voc.read_image, which preparation,
training, pseudo-labelling and predict share): every mode Pillow opens as 8-bit RGB, EXIF
orientation applied, and a pixel budget checked from the header, on files in their real formats."""

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from dmt.data.images import MAX_IMAGE_PIXELS, read_rgb, to_rgb
from dmt.data.voc import read_image, read_mask
from dmt.errors import DMTError

RNG = np.random.default_rng(0)
WORDS = RNG.integers(0, 65536, (5, 7)).astype(np.uint16)  # 16-bit samples, high bytes all over 0-255


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, samples: np.ndarray, bit_depth: int, colour_type: int, width=None, height=None) -> None:
    """A PNG written byte by byte (Pillow cannot write 48-bit RGB): ``samples`` [H, W(, C)] of
    ``bit_depth``; ``width`` / ``height`` forge a header larger than the pixels that follow."""
    h, w = samples.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\0" + samples[y].astype(dtype).tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", width or w, height or h, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
                     + _chunk(b"IEND", b""))


def grey(expected: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(expected, np.uint8)[..., None], 3, axis=2)


def test_16_bit_greyscale_png_keeps_its_high_byte(tmp_path):
    Image.fromarray(WORDS).save(tmp_path / "g16.png")  # Pillow writes uint16 as a 16-bit grey PNG
    with Image.open(tmp_path / "g16.png") as image:
        assert image.mode == "I;16"
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png"), grey(WORDS >> 8))


def test_16_bit_grey_and_48_bit_rgb_of_the_same_samples_read_alike(tmp_path):
    # Pillow itself reads a 48-bit RGB PNG by its high bytes; the grey file must agree with it.
    write_png(tmp_path / "rgb48.png", np.stack([WORDS] * 3, axis=2), 16, 2)
    write_png(tmp_path / "g16.png", WORDS, 16, 0)
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png"), read_image(tmp_path / "rgb48.png"))


def test_big_endian_16_bit_tiff(tmp_path):
    Image.frombytes("I;16B", (7, 5), WORDS.astype(">u2").tobytes()).save(tmp_path / "b.tif")
    with Image.open(tmp_path / "b.tif") as image:
        assert image.mode == "I;16B"
    np.testing.assert_array_equal(read_image(tmp_path / "b.tif"), grey(WORDS >> 8))


@pytest.mark.parametrize("mode", ["I;16L", "I;16N"])
def test_little_and_native_endian_16_bit_modes(mode):
    image = Image.frombytes(mode, (7, 5), WORDS.astype("<u2" if mode == "I;16L" else "=u2").tobytes())
    np.testing.assert_array_equal(to_rgb(image, "x"), grey(WORDS >> 8))


def test_32_bit_integer_tiff_by_bit_depth_within_16_bits_else_by_range(tmp_path):
    Image.fromarray(WORDS.astype(np.int32)).save(tmp_path / "i16.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "i16.tif"), grey(WORDS >> 8))
    wide = np.array([[-1000, 0, 99000]], np.int32)
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "wide.tif"), grey([[0, 3, 255]]))  # 1000 / 100000 x 255


def test_float_tiff_by_unit_range_else_by_its_range_and_nan_refused(tmp_path):
    unit = np.array([[0.0, 0.5, 1.0]], np.float32)
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "unit.tif"), grey([[0, 128, 255]]))
    Image.fromarray(np.array([[10.0, 20.0, 30.0]], np.float32)).save(tmp_path / "range.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "range.tif"), grey([[0, 128, 255]]))
    Image.fromarray(np.array([[0.0, np.nan]], np.float32)).save(tmp_path / "nan.tif")
    with pytest.raises(DMTError, match="nan.tif is a floating-point image with NaN"):
        read_image(tmp_path / "nan.tif")


@pytest.mark.parametrize("mode,alpha_free", [("La", "LA"), ("RGBa", "RGBA")])
def test_premultiplied_alpha_is_unmultiplied_then_dropped(mode, alpha_free):
    image = Image.frombytes(mode, (2, 1), bytes([100, 255, 40, 128] if mode == "La" else
                                                [100, 50, 20, 255, 40, 20, 10, 128]))
    np.testing.assert_array_equal(to_rgb(image, "x"), np.array(image.convert(alpha_free).convert("RGB")))


def test_a_mode_without_a_faithful_conversion_is_refused_by_name(tmp_path):
    Image.new("LAB", (3, 2), (50, 128, 128)).save(tmp_path / "lab.tif")  # Pillow's LAB->RGB is a byte copy
    with pytest.raises(DMTError, match="lab.tif is a LAB image, which dmt cannot convert to RGB"):
        read_image(tmp_path / "lab.tif")


def _tagged_jpeg(path, pixels: np.ndarray, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=100, subsampling=0)


@pytest.mark.parametrize("orientation,turn", [(3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)),
                                              (8, lambda a: np.rot90(a, 1)), (2, lambda a: a[:, ::-1])])
def test_exif_orientation_is_applied(tmp_path, orientation, turn):
    pixels = np.zeros((8, 16, 3), np.uint8)
    pixels[:, :8] = 255  # left half white: where it lands shows the turn
    _tagged_jpeg(tmp_path / "o.jpg", pixels, orientation)
    image = read_image(tmp_path / "o.jpg")
    assert read_rgb(tmp_path / "o.jpg")[1] == orientation  # what preparation checks masks with
    expected = turn(pixels)
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).max() < 8  # JPEG at quality 100


def test_an_image_over_the_pixel_budget_is_refused_from_its_header(tmp_path):
    # 30000x30000 claimed by a 100-byte file: Pillow's own bomb error, named, without decoding.
    write_png(tmp_path / "bomb.png", np.zeros((1, 1), np.uint8), 8, 0, width=30000, height=30000)
    with pytest.raises(DMTError, match=r"image .*bomb.png has over [\d,]+ pixels, more than the 89,478,485"):
        read_image(tmp_path / "bomb.png")
    # Just over the budget (below Pillow's error, where it only warns): dmt's own check.
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    write_png(tmp_path / "big.png", np.zeros((1, 1), np.uint8), 8, 0, width=side, height=side)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(DMTError, match=rf"big.png has {side}x{side} = [\d,]+ pixels, more than"):
            read_image(tmp_path / "big.png")
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
    with pytest.raises(DMTError, match=r"mask .*bomb.png has over"):
        read_mask(tmp_path / "bomb.png", 2)

