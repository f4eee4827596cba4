"""The one image decoder: uploads (:mod:`xai_core.uploads`) and ``imagefolder:`` files
(:func:`xai_core.data._common.open_image`) both go through :func:`decode_image`.

* Formats: PNG (first frame of an APNG), JPEG (first picture of a multi-picture MPO), WebP
  (first frame when animated) and BMP, recognised from the content, never the file name. Only
  those four parsers ever run; anything else (GIF, TIFF, HEIC, ...) is named and refused.
* Limits: at most :data:`MAX_PIXELS` pixels, checked from the header before any pixel is
  decoded (PIL's own decompression-bomb guard gets the same message); an optional byte limit.
* Modes: 1-bit, grey, grey + alpha, palette (with or without transparency), RGB, RGBA, CMYK,
  YCbCr and 16-/32-bit integer and float grey. High bit depths are scaled by their type's full
  range, not by the image's own min/max, so a constant image keeps its level (65535 → 255,
  0 → 0) and two files with the same values look the same: 16-bit and 32-bit integer grey are
  read as 0..65535 (PIL's convention for 16-bit data held in 32 bits; values outside are
  clipped) → ``round(v * 255 / 65535)``; float grey as 0..1 (clipped; NaN → 0).
* EXIF orientation is applied (a broken EXIF block is ignored, not fatal).
* Transparency (alpha channel, palette or colour key) is composited onto a background: white
  for images (what a viewer shows), black for masks, so transparent = outside the mask.

Every failure is one :class:`InvalidInputError` line that names the file and nothing else.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InvalidInputError

# PIL warns above its own pixel limit (89.5 M; ours is checked right after opening) and about
# corrupt metadata: nobody reads those, the result is an image or one line. Filtered once here:
# ``warnings.catch_warnings`` per call would race between the server's session threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")

#: The formats PIL may parse (what a JPEG with several pictures reports is "MPO").
FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
#: The most pixels (width × height from the header) an image may have.
MAX_PIXELS = 40_000_000
#: The upload byte limit (imagefolder files on disk are bounded by the pixel limit only).
MAX_BYTES = 25 * 1024 * 1024
#: Bump when decoded pixels change: part of the imagefolder cache key, so cached folders rebuild.
DECODER_VERSION = 2

_READABLE = "PNG, JPEG, WebP or BMP"
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_BOMB = re.compile(r"\((\d+) pixels\)")
# EXIF orientation -> the transpose that undoes it (as PIL.ImageOps.exif_transpose)
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# leading bytes of formats PIL is never asked to parse: named in the refusal
_OTHER_SIGNATURES = (
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xffO\xffQ", "JPEG 2000"), (b"8BPS", "PSD"),
    (b"%PDF", "PDF"), (b"qoif", "QOI"), (b"\x00\x00\x01\x00", "ICO"),
)
_OWN_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"))


def display_name(name: str, limit: int = 120) -> str:
    """``name`` safe for a one-line message: control characters become '?', long names are cut."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return clean if len(clean) <= limit else f"{clean[: limit // 2 - 1]}…{clean[-(limit // 2) :]}"


def _sniff(head: bytes) -> str | None:
    """The format that ``head`` (a file's first bytes) starts like, if it is a known one."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIC"
    for sig, fmt in _OWN_SIGNATURES + _OTHER_SIGNATURES:
        if head.startswith(sig):
            return fmt
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return display_name(text[0], 160) if text else type(err).__name__


def _too_large(name: str, limit: int, size: tuple[int, int] | None = None, pixels: int | None = None) -> InvalidInputError:
    what = f"{size[0]}×{size[1]} pixels" if size else f"{pixels:,} pixels" if pixels else "too many pixels"
    return InvalidInputError(f"{name} is too large: {what}; the limit is {limit:,} pixels")


def _refused(name: str, fmt: str) -> InvalidInputError:
    article = "an" if fmt[:1] in "AEFHILMNORSX" and not fmt.startswith(("HEIC", "U")) else "a"
    return InvalidInputError(f"{name} is {article} {fmt} file; use {_READABLE}")


def to_8bit(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit ``L``, ``LA``, ``RGB`` or ``RGBA`` (alpha kept, transparency keys
    turned into alpha). High-depth grey is scaled by its type's range (see the module doc)."""
    mode, key = img.mode, img.info.get("transparency")
    if mode in _HIGH_DEPTH or mode == "F":
        raw = np.asarray(img)
        if mode == "F":
            arr = np.nan_to_num(raw.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            grey = Image.fromarray(np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))
        else:  # round(v * 255 / 65535) in integers (never a tie); uint32 holds 65535 * 255
            v = np.clip(raw, 0, 65535).astype(np.uint32)
            grey = Image.fromarray(((v * 255 + 32767) // 65535).astype(np.uint8))
        if isinstance(key, (int, float)) and not isinstance(key, bool):
            alpha = Image.fromarray(np.where(raw == key, 0, 255).astype(np.uint8))
            return Image.merge("LA", (grey, alpha))
        return grey
    if mode in ("L", "RGB"):
        return img.convert(mode + "A") if key is not None else img  # colour key -> alpha
    if mode in ("LA", "RGBA"):
        return img
    if mode in ("1", "La"):
        return img.convert("LA" if key is not None or mode == "La" else "L")
    if mode in ("PA", "RGBa"):
        return img.convert("RGBA")
    if mode == "P":
        alpha = key is not None or getattr(img.palette, "mode", "RGB") == "RGBA"
        return img.convert("RGBA" if alpha else "RGB")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...


def flatten(img: Image.Image, mode: str = "RGB", background: int = 255) -> Image.Image:
    """An ``L`` / ``LA`` / ``RGB`` / ``RGBA`` image -> ``mode`` (``L`` or ``RGB``), its alpha
    composited onto a uniform ``background`` level (0..255)."""
    if img.mode not in ("LA", "RGBA"):
        return img.convert(mode)
    under = Image.new("RGBA", img.size, (background, background, background, 255))
    return Image.alpha_composite(under, img.convert("RGBA")).convert(mode)


def _orient(img: Image.Image) -> Image.Image:
    """Undo the EXIF orientation (1..8); an unreadable EXIF block counts as 'upright'."""
    try:
        orientation = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - broken metadata must not refuse good pixels
        orientation = 1
    method = _ORIENTATION.get(orientation)
    return img.transpose(method) if method is not None else img


def decode_image(
    source: bytes | str | Path,
    name: str | None = None,
    *,
    mode: str = "RGB",
    background: int = 255,
    max_pixels: int | None = None,
    max_bytes: int | None = None,
) -> Image.Image:
    """Decode a file (its bytes or its path) into an upright 8-bit ``mode`` image (``"RGB"`` or
    ``"L"``) at its own size, transparency composited onto ``background``.

    ``name`` (default: the path, or "upload") is the only thing error messages show. Raises
    :class:`InvalidInputError` (one line) for an empty, too big, unknown, refused, damaged or
    truncated file."""
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', not {mode!r}")
    name = display_name(name if name is not None else (str(source) if isinstance(source, (str, Path)) else "upload"))
    max_pixels = max_pixels or MAX_PIXELS
    try:
        if isinstance(source, (str, Path)):
            size = Path(source).stat().st_size
            with open(source, "rb") as fh:
                head = fh.read(16)
            fp: io.BytesIO | str | Path = source
        else:
            size, head, fp = len(source), bytes(source[:16]), io.BytesIO(source)
    except OSError as err:
        raise InvalidInputError(f"{name} cannot be read ({err.strerror or type(err).__name__})") from None
    if size == 0:
        raise InvalidInputError(f"{name} is empty")
    if max_bytes is not None and size > max_bytes:
        raise InvalidInputError(f"{name} is {size / 2**20:.3g} MB; the limit is {max_bytes / 2**20:.3g} MB")
    try:
        with Image.open(fp, formats=FORMATS) as im:
            if im.format not in FORMATS + ("MPO",):  # a plugin registered under another name
                raise _refused(name, str(im.format))
            w, h = im.size
            if w * h > max_pixels:
                raise _too_large(name, max_pixels, size=(w, h))
            if w <= 0 or h <= 0:
                raise InvalidInputError(f"{name} is damaged (it has {w}×{h} pixels)")
            im.load()  # the first frame / picture only
            img = to_8bit(_orient(im))
            return flatten(img, mode, background)
    except InvalidInputError:
        raise
    except Image.DecompressionBombError as err:  # PIL refused the header (over 179 M pixels)
        found = _BOMB.search(str(err))
        raise _too_large(name, max_pixels, pixels=int(found.group(1)) if found else None) from None
    except UnidentifiedImageError:
        fmt = _sniff(head)
        if fmt in FORMATS:
            raise InvalidInputError(f"{name} is damaged or truncated (its {fmt} header cannot be read)") from None
        if fmt is not None:
            raise _refused(name, fmt) from None
        raise InvalidInputError(f"{name} is not a readable image ({_READABLE})") from None
    except Exception as err:  # noqa: BLE001 - truncated data, broken chunks, decoder errors, ...
        raise InvalidInputError(f"{name} is damaged or truncated ({_first_line(err)})") from None


def decode_mask(source: bytes | str | Path, name: str | None = None, *, max_pixels: int | None = None) -> np.ndarray:
    """A ground-truth mask file -> H×W bool (upright, as its image): a pixel is inside when it
    is opaque and bright — its grey level (transparent pixels count as black) is above 127.
    So a palette or RGBA mask with a transparent background covers only its opaque white part."""
    grey = decode_image(source, name, mode="L", background=0, max_pixels=max_pixels)
    return np.asarray(grey) > 127
