"""``imagefolder:PATH``: the user's own images, with optional ground-truth masks.

Layout::

    PATH/train/CLASS/*.png|jpg|jpeg|bmp|webp      (and/or PATH/test/...)
    PATH/masks/train/CLASS/<image's file stem>.<any of those extensions>   (optional)

Classes are the sorted names of the class folders of all splits; the splits are whichever of
``train`` / ``test`` exist. Files are decoded by :mod:`xai_core.data.decode`, exactly as uploads
(content decides the format; 16-bit scaled by its full range; EXIF orientation applied), converted
to RGB (transparency onto white) and resized to a square (64 px at ``quick``, 224 at ``paper``,
32 at ``smoke``; aspect ratio not kept, so masks stay aligned). A mask pixel is inside when it is
opaque and its grey level is above 127 (:func:`~xai_core.data.decode.decode_mask`: a transparent
background is outside); masks are resized nearest-neighbour. If ``PATH/masks`` exists, every
image needs a mask of exactly its (upright) size.
mean/std are computed from the train split (the test split when there is no train split).

The decoded tensors are cached in the store, keyed by the path, the preset and every file's
size and modification time, so edits to the folder are picked up. Any problem is one
:class:`InvalidInputError` line naming the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InvalidInputError
from ..store import ArtifactStore
from . import decode
from ._common import (
    ALL_PRESETS,
    GENERATOR_VERSION,
    channel_stats,
    check_dataset_preset,
    check_split,
    open_image,
    open_mask,
)
from .base import DatasetInfo, ImageDataset, TensorImageDataset

PREFIX = "imagefolder:"
PRESETS = ALL_PRESETS
SIZES = {"quick": 64, "paper": 224, "smoke": 32}
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPLITS = ("train", "test")


def is_imagefolder(name: str) -> bool:
    return name.startswith(PREFIX)


def _root(name: str) -> Path:
    raw = name[len(PREFIX) :].strip()
    if not raw:
        raise InvalidInputError("imagefolder needs a path: imagefolder:PATH with PATH/{train,test}/CLASS/*.png")
    root = Path(raw).expanduser().resolve()
    if not root.is_dir():
        raise InvalidInputError(f"imagefolder: folder {root} does not exist")
    return root


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in EXTENSIONS
    )


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan(root: Path) -> dict[str, Any]:
    """Validate the layout; {"classes", "splits": {split: [(image, mask | None, class)]}, "masks"}."""
    splits = [s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise InvalidInputError(f"imagefolder {root} has no train/ or test/ folder (expected {root}/train/CLASS/*.png)")
    classes = sorted({d.name for s in splits for d in _subdirs(root / s)})
    if not classes:
        raise InvalidInputError(f"imagefolder {root} has no class folders (expected {root}/{splits[0]}/CLASS/*.png)")
    has_masks = (root / "masks").is_dir()
    out: dict[str, list[tuple[Path, Path | None, int]]] = {}
    for split in splits:
        items = []
        for d in _subdirs(root / split):
            for img in _images_in(d):
                mask = _find_mask(root, split, d.name, img) if has_masks else None
                items.append((img, mask, classes.index(d.name)))
        if not items:
            raise InvalidInputError(
                f"no images in {root / split} (expected {root / split}/CLASS/*{'|'.join(EXTENSIONS)})"
            )
        out[split] = items
    return {"classes": classes, "splits": out, "masks": has_masks}


def _find_mask(root: Path, split: str, cls: str, image: Path) -> Path:
    folder = root / "masks" / split / cls
    for ext in EXTENSIONS:
        for cand in (folder / (image.stem + ext), folder / (image.stem + ext.upper())):
            if cand.is_file():
                return cand
    raise InvalidInputError(
        f"missing mask for {image}: expected {folder / image.stem}.<{'|'.join(e[1:] for e in EXTENSIONS)}> "
        f"(because {root / 'masks'} exists)"
    )


def _fingerprint(layout: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for split, items in layout["splits"].items():
        for img, mask, label in items:
            for p in (img, mask):
                if p is not None:
                    st = p.stat()
                    h.update(f"{split}|{p}|{st.st_size}|{st.st_mtime_ns}|{label}\n".encode())
    return h.hexdigest()[:24]


def _load(layout: dict[str, Any], size: int) -> dict[str, Any]:
    from PIL import Image

    payload: dict[str, Any] = {"classes": layout["classes"], "splits": list(layout["splits"])}
    for split, items in layout["splits"].items():
        images = np.empty((len(items), size, size, 3), dtype=np.uint8)
        masks = np.zeros((len(items), size, size), dtype=bool) if layout["masks"] else None
        for i, (img_path, mask_path, _) in enumerate(items):
            img = open_image(img_path)
            if mask_path is not None and masks is not None:
                mask = open_mask(mask_path)
                if mask.shape[::-1] != img.size:
                    raise InvalidInputError(
                        f"mask {mask_path} is {mask.shape[1]}×{mask.shape[0]} but its image {img_path} is "
                        f"{img.size[0]}×{img.size[1]}"
                    )
                masks[i] = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST))
            images[i] = np.asarray(img.resize((size, size), Image.BILINEAR))
        payload[f"{split}/images"] = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        payload[f"{split}/labels"] = torch.tensor([label for _, _, label in items], dtype=torch.long)
        if masks is not None:
            payload[f"{split}/masks"] = torch.from_numpy(masks)
    stats_split = "train" if "train" in layout["splits"] else "test"
    mean, std = channel_stats(payload[f"{stats_split}/images"])
    payload["mean"], payload["std"] = list(mean), list(std)
    return payload


def _payload(name: str, preset: str, store: ArtifactStore) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    check_dataset_preset("imagefolder", preset, PRESETS)
    root = _root(name)
    layout = scan(root)
    key = {
        "imagefolder": str(root),
        "size": SIZES[preset],
        "files": _fingerprint(layout),
        "generator_version": GENERATOR_VERSION,
        "decoder": decode.DECODER_VERSION,
    }
    return root, key, store.get_or_create("dataset", key, lambda: _load(layout, SIZES[preset]))


def _info(root: Path, key: dict[str, Any], payload: dict[str, Any], preset: str) -> DatasetInfo:
    splits = tuple(payload["splits"])
    return DatasetInfo(
        name=f"{PREFIX}{root}",
        preset=preset,
        image_size=SIZES[preset],
        channels=3,
        num_classes=len(payload["classes"]),
        class_names=tuple(payload["classes"]),
        mean=tuple(payload["mean"]),
        std=tuple(payload["std"]),
        has_ground_truth=any(f"{s}/masks" in payload for s in splits),
        splits=splits,
        description=f"your images in {root}",
        source=str(root),
        extra={"files": key["files"], "sizes": {s: int(payload[f"{s}/labels"].shape[0]) for s in splits}},
    )


def info(name: str, preset: str = "quick", store: ArtifactStore | None = None) -> DatasetInfo:
    """Facts about the folder; reads (and caches) the images to get mean/std."""
    return _info(*_payload(name, preset, store or ArtifactStore()), preset)


def get(name: str, split: str, preset: str, store: ArtifactStore) -> ImageDataset:
    """One split of ``imagefolder:PATH`` (the folder is scanned and its cache entry read once)."""
    root, key, payload = _payload(name, preset, store)
    info = _info(root, key, payload, preset)
    check_split(info, split)
    return TensorImageDataset(
        info, split, payload[f"{split}/images"], payload[f"{split}/labels"], payload.get(f"{split}/masks")
    )
