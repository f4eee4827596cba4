"""Write the image fuzz corpus into ``tests/fuzz/images/`` with its expectations table
``EXPECTED.json`` (run from anywhere: ``python tests/fuzz/make_images.py``).

Every file is small (the pixel bombs are headers that *claim* billions of pixels). The expected
values are computed here from the pixels written, with the documented rules (16-bit grey
``round(v * 255 / 65535)``, transparency onto white for images and black for masks, EXIF
orientation by ``np.rot90``), never by running the decoder. Each entry is either
``{"error": substring}`` (for both paths; ``upload_error`` / ``folder_error`` when they differ) or
``{"size": [w, h], "pixels": [[x, y, [r, g, b], tolerance], ...]}`` (upright, RGB), optionally
with ``"uniform": true`` (every pixel is the listed colour),
``"mask": {"count": n, "inside": [[x, y]], "outside": [[x, y]]}`` and
``"upload_max_bytes"`` (the test lowers the upload byte limit to that for the file).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent / "images"
EXPECTED: dict[str, dict[str, Any]] = {}
RNG = np.random.default_rng(20240601)


def write(name: str, data: bytes, **expected: Any) -> None:
    (OUT / name).write_bytes(data)
    EXPECTED[name] = expected


def save(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(width: int, height: int, depth: int, colour_type: int, rows: bytes, extra: tuple[bytes, ...] = ()) -> bytes:
    """A PNG written by hand: IHDR, ``extra`` chunks, one IDAT of ``rows`` (filter bytes included), IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(extra) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def grey16(arr: np.ndarray, extra: tuple[bytes, ...] = ()) -> bytes:
    """A 16-bit greyscale PNG of ``arr`` (uint16, big-endian on disk as PNG wants)."""
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)
    return png(arr.shape[1], arr.shape[0], 16, 0, rows, extra)


def to8(v: float) -> int:
    """The documented 16-bit -> 8-bit rule."""
    return int(np.rint(v * 255.0 / 65535.0))


def px(x: int, y: int, rgb: Any, tol: int = 0) -> list[Any]:
    rgb = [int(c) for c in (rgb if np.ndim(rgb) else (rgb, rgb, rgb))]
    return [x, y, rgb, tol]


def ok(size: tuple[int, int], pixels: list[list[Any]], **more: Any) -> dict[str, Any]:
    return {"size": list(size), "pixels": pixels, **more}


def sample(arr: np.ndarray, points: list[tuple[int, int]], tol: int = 0) -> list[list[Any]]:
    return [px(x, y, arr[y, x], tol) for x, y in points]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()

    # -- 16-bit grey: scaled by the full 0..65535 range ------------------------------------
    ramp = np.tile((np.arange(256) * 257).astype(np.uint16), (4, 1))  # x*257 -> exactly x
    write("grey16_gradient.png", grey16(ramp), **ok((256, 4), [px(x, 1, x) for x in (0, 1, 77, 128, 200, 254, 255)]))
    part = np.tile(np.linspace(1000, 3000, 64).round().astype(np.uint16), (4, 1))
    write("grey16_partial.png", grey16(part), **ok((64, 4), [px(x, 0, to8(part[0, x])) for x in (0, 31, 63)]))
    for name, level in (("grey16_white.png", 65535), ("grey16_black.png", 0), ("grey16_mid.png", 128 * 257)):
        write(name, grey16(np.full((8, 8), level, np.uint16)), **ok((8, 8), [px(0, 0, to8(level)), px(7, 7, to8(level))], uniform=True))
    keyed = np.full((4, 8), 50 * 257, np.uint16)
    keyed[:, :4] = 0  # tRNS grey key 0: transparent -> white
    write("grey16_trns.png", grey16(keyed, (chunk(b"tRNS", struct.pack(">H", 0)),)),
          **ok((8, 4), [px(1, 1, 255), px(6, 2, 50)]))
    rgb16 = b"".join(b"\x00" + struct.pack(">HHH", 65535, 128 * 257, 0) * 4 for _ in range(4))
    write("rgb16.png", png(4, 4, 16, 2, rgb16), **ok((4, 4), [px(2, 2, (255, 128, 0))]))
    big_endian = Image.frombytes("I;16B", (16, 4), np.full((4, 16), 40000, ">u2").tobytes())
    write("grey16b.tif", save(big_endian, "TIFF"), error="is a TIFF file")
    write("float.tif", save(Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)), "TIFF"),
          error="is a TIFF file")

    # -- transparency: images onto white, masks transparent = outside -----------------------
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 0, 0, 255, 255, 0] + [0] * 762)  # 0: black (transparent), 1: yellow
    pal.paste(1, (4, 4, 12, 12))
    write("palette_transparent.png", save(pal, "PNG", transparency=0),
          **ok((16, 16), [px(0, 0, 255), px(15, 3, 255), px(8, 8, (255, 255, 0))],
               mask={"count": 64, "inside": [[4, 4], [11, 11]], "outside": [[0, 0], [3, 8], [12, 12]]}))
    mpal = Image.new("P", (16, 16), 0)
    mpal.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)  # both white; 0 is transparent
    mpal.paste(1, (5, 5, 11, 11))
    write("mask_palette_transparent.png", save(mpal, "PNG", transparency=0),
          **ok((16, 16), [px(0, 0, 255), px(7, 7, 255)],
               mask={"count": 36, "inside": [[5, 5], [10, 10]], "outside": [[0, 0], [4, 5], [11, 11]]}))
    rgba_mask = np.zeros((12, 12, 4), np.uint8)
    rgba_mask[..., :3] = 255  # white everywhere, transparent outside the square
    rgba_mask[2:6, 3:7, 3] = 255
    write("mask_rgba_transparent.png", save(Image.fromarray(rgba_mask), "PNG"),
          **ok((12, 12), [px(0, 0, 255), px(4, 3, 255)],
               mask={"count": 16, "inside": [[3, 2], [6, 5]], "outside": [[0, 0], [2, 2], [7, 5], [3, 6]]}))
    key = np.zeros((4, 8, 3), np.uint8)
    key[:, :4] = (255, 0, 0)
    key[:, 4:] = (0, 0, 255)
    write("rgb_colorkey.png", save(Image.fromarray(key), "PNG", transparency=(255, 0, 0)),
          **ok((8, 4), [px(1, 1, 255), px(6, 1, (0, 0, 255))]))
    la = np.zeros((4, 12, 2), np.uint8)
    la[:, 4:8, 1], la[:, 8:, 1] = 128, 255  # alpha 0 | 128 | 255 over black
    write("la.png", save(Image.fromarray(la), "PNG"), **ok((12, 4), [px(1, 1, 255), px(5, 1, 127), px(10, 1, 0)]))
    write("rgba.png", save(Image.new("RGBA", (6, 6), (255, 0, 0, 128)), "PNG"), **ok((6, 6), [px(3, 3, (255, 127, 127), 1)], uniform=True))
    webp_rgba = np.zeros((8, 8, 4), np.uint8)
    webp_rgba[:, 4:] = (0, 200, 0, 255)  # left half fully transparent
    write("rgba.webp", save(Image.fromarray(webp_rgba), "WEBP", lossless=True, exact=True),
          **ok((8, 8), [px(1, 4, 255), px(6, 4, (0, 200, 0))]))

    # -- EXIF orientation, multi-picture JPEG ------------------------------------------------
    quads = np.zeros((32, 64, 3), np.uint8)
    quads[:16, :32], quads[:16, 32:], quads[16:, :32], quads[16:, 32:] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255,) * 3
    centres = [(8, 16), (24, 16), (8, 48), (24, 48)]  # of the 32×64 upright picture
    for orientation, turns in ((6, -1), (8, 1)):  # 6: turn clockwise to view; 8: anticlockwise
        exif = Image.Exif()
        exif[0x0112] = orientation
        upright = np.rot90(quads, turns)
        write(f"exif_rot{orientation}.jpg", save(Image.fromarray(quads), "JPEG", quality=95, exif=exif.tobytes()),
              **ok((32, 64), sample(upright, centres, 24)))
    plain = save(Image.fromarray(quads), "JPEG", quality=95)
    junk = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05" + b"\xff" * 30  # claims 5 entries, holds 2.5
    write("exif_garbage.jpg", plain[:2] + b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk + plain[2:],
          **ok((64, 32), sample(quads, [(16, 8), (48, 8), (16, 24), (48, 24)], 24)))
    write("mpo.jpg", save(Image.new("RGB", (32, 24), (255, 0, 0)), "MPO", save_all=True, quality=95,
                          append_images=[Image.new("RGB", (32, 24), (0, 255, 0))]),
          **ok((32, 24), [px(16, 12, (255, 0, 0), 8)], uniform=True))
    write("cmyk.jpg", save(Image.new("CMYK", (16, 16), (0, 255, 0, 0)), "JPEG", quality=95),
          **ok((16, 16), [px(8, 8, (255, 0, 255), 8)], uniform=True))

    # -- pixel bombs: tiny files whose header claims too many pixels -------------------------
    row = b"\x00" + b"\x80" * 12
    for name, side in (("bomb_64m.png", 8000), ("bomb_100m.png", 10000), ("bomb_400m.png", 20000),
                       ("bomb_10g.png", 100000)):
        write(name, png(side, side, 8, 2, row * 4), error="pixels; the limit is")
    sof = plain.index(b"\xff\xc0")  # baseline frame header: length(2) precision(1) height(2) width(2)
    write("bomb.jpg", plain[: sof + 5] + struct.pack(">HH", 60000, 60000) + plain[sof + 9 :], error="pixels; the limit is")
    bmp = bytearray(save(Image.new("RGB", (4, 4)), "BMP"))
    bmp[18:26] = struct.pack("<ii", 30000, 30000)
    write("bomb.bmp", bytes(bmp), error="pixels; the limit is")
    noise = RNG.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    write("over_max_bytes.png", save(Image.fromarray(noise), "PNG"), upload_max_bytes=16384,
          upload_error="MB; the limit is", **ok((80, 80), sample(noise, [(0, 0), (40, 40), (79, 79)])))

    # -- damaged, empty, not images ------------------------------------------------------------
    good_png = save(Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)), "PNG")
    write("truncated.png", good_png[: len(good_png) // 2], error="damaged or truncated")
    write("truncated.jpg", plain[: len(plain) // 2], error="damaged or truncated")
    write("empty.png", b"", error="is empty")
    write("random.png", RNG.integers(0, 256, 2000, dtype=np.uint8).tobytes(), error="not a readable image")
    write("text.png", b"This is a text file, not a picture.\n" * 20, error="not a readable image")
    write("zero_width.png", png(0, 4, 8, 2, row * 4), error="damaged")
    ztxt = b"Comment\x00\x00" + zlib.compress(b"a" * 5_000_000, 9)  # 5 MB of text from ~5 KB
    write("ztxt_bomb.png", png(4, 4, 8, 2, row * 4, (chunk(b"zTXt", ztxt),)), error="damaged")
    itxt = b"Comment\x00\x00\x00\x00\x00" + b"lorem ipsum " * 3500  # 42 KB, under PIL's text limit
    write("itxt_42k.png", png(4, 4, 8, 2, row * 4, (chunk(b"iTXt", itxt),)), **ok((4, 4), [px(1, 1, 128)], uniform=True))
    write("anim.gif", save(Image.new("RGB", (8, 8), (255, 0, 0)), "GIF", save_all=True,
                           append_images=[Image.new("RGB", (8, 8), (0, 255, 0))]), error="is a GIF file")

    # -- plain formats and modes, odd shapes, animations, wrong extension -------------------------
    rgb = np.zeros((6, 10, 3), np.uint8)
    rgb[:, :5], rgb[:, 5:] = (10, 20, 30), (200, 100, 50)
    write("rgb.bmp", save(Image.fromarray(rgb), "BMP"), **ok((10, 6), [px(2, 2, (10, 20, 30)), px(8, 3, (200, 100, 50))]))
    write("palette.bmp", save(Image.fromarray(rgb).quantize(4), "BMP"),
          **ok((10, 6), [px(2, 2, (10, 20, 30), 4), px(8, 3, (200, 100, 50), 4)]))
    write("rgb_lossless.webp", save(Image.fromarray(rgb), "WEBP", lossless=True),
          **ok((10, 6), [px(2, 2, (10, 20, 30)), px(8, 3, (200, 100, 50))]))
    checker = (np.indices((8, 8)).sum(0) % 2).astype(bool)
    write("one_bit.png", save(Image.fromarray(checker), "PNG"), **ok((8, 8), [px(0, 0, 0), px(1, 0, 255), px(7, 7, 0)]))
    tiny = "uploads need at least 4 pixels on each side"  # the folder path reads them; uploads refuse them
    write("one_by_one.png", save(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"), upload_error=tiny,
          **ok((1, 1), [px(0, 0, (10, 200, 30))], uniform=True))
    wide = (np.arange(5000) % 256).astype(np.uint8)[None]
    write("wide_5000x1.png", save(Image.fromarray(wide), "PNG"), upload_error=tiny,
          **ok((5000, 1), [px(x, 0, x % 256) for x in (0, 300, 4999)]))
    write("tall_1x5000.png", save(Image.fromarray(wide.T.copy()), "PNG"), upload_error=tiny,
          **ok((1, 5000), [px(0, y, y % 256) for y in (0, 4999)]))
    frames = [Image.new("RGB", (8, 8), (0, 255, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    first = Image.new("RGB", (8, 8), (255, 0, 0))
    write("anim.webp", save(first, "WEBP", save_all=True, append_images=frames, lossless=True),
          **ok((8, 8), [px(4, 4, (255, 0, 0))], uniform=True))
    write("apng.png", save(first, "PNG", save_all=True, append_images=frames), **ok((8, 8), [px(4, 4, (255, 0, 0))], uniform=True))
    write("png_named.jpg", save(Image.new("RGB", (8, 8), (0, 128, 255)), "PNG"), **ok((8, 8), [px(3, 3, (0, 128, 255))], uniform=True))

    (OUT / "EXPECTED.json").write_text(json.dumps(dict(sorted(EXPECTED.items())), indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(EXPECTED)} files, {total / 1024:.0f} KB in {OUT}")


if __name__ == "__main__":
    main()
