"""``imagefolder:PATH``: the user's own images, with optional ground-truth masks, streamed from disk.

Layouts (the first that applies)::

    PATH/train/CLASS/*.png|jpg|jpeg|bmp|webp      and/or PATH/test/CLASS/*...   (splits "train", "test")
    PATH/masks/train/CLASS/<image's file stem>.<any of those extensions>       (optional)

    PATH/CLASS/*.png|...                           no train/ or test/ folder: one split, "test"
    PATH/masks/CLASS/<image's file stem>.<ext>                                   (optional)

Classes are the sorted names of the class folders of all splits (in the flat layout every folder
of PATH except ``masks``); the splits are whichever of ``train`` / ``test`` exist. A folder with
only a test split (or the flat layout) is for a pretrained model or a user model file: there is
nothing to train a black box on. Files are decoded by :mod:`xai_core.data.decode`, exactly as
uploads (content decides the format; 16-bit scaled by its full range; EXIF orientation applied),
converted to RGB (transparency onto white) and resized to a square (64 px at ``quick``, 224 at
``paper``, 32 at ``smoke``; aspect ratio not kept, so masks stay aligned). A mask pixel is inside
when it is opaque and its grey level is above 127 (:func:`~xai_core.data.decode.decode_mask`: a
transparent background is outside); masks are resized nearest-neighbour. If ``PATH/masks``
exists, every image needs a mask of exactly its (upright) size.

**Streaming.** A split is a :class:`StreamedImageDataset`: the list of its files (paths, labels,
mask paths), never their pixels. An image (and its mask) is decoded when it is read, so memory
stays bounded whatever the folder's size; :meth:`~StreamedImageDataset.batches` and
:meth:`~StreamedImageDataset.loader` decode ahead in ``torch.utils.data.DataLoader`` worker
processes (``min(4, CPUs)`` by default; the environment variable ``XAI_DATA_WORKERS`` overrides
it, 0 decodes in-process). Opening the folder checks its layout (class folders, images, one mask
per image) up front; a file's content (unreadable, too large, a mask of the wrong size) is
checked when that file is read. Either way the problem is one :class:`InvalidInputError` line
naming the file.

**mean/std** come from a seeded sample of :data:`STATS_SAMPLE` images (seed :data:`STATS_SEED`)
of the train split (the test split when there is no train split): all of them for smaller
splits. They and the classes are cached in the store (kind ``dataset``, a few hundred bytes,
never pixels), keyed by the path, the image size, every file's size and modification time
(one ``stat`` per file, no pixel read, so edits to the folder are picked up) and the
generator/decoder versions.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ..errors import InvalidInputError, XAIError
from ..store import ArtifactStore
from . import decode
from ._common import (
    ALL_PRESETS,
    GENERATOR_VERSION,
    check_dataset_preset,
    check_split,
    open_image,
    open_mask,
)
from .base import Batch, DatasetInfo, ImageDataset

PREFIX = "imagefolder:"
PRESETS = ALL_PRESETS
SIZES = {"quick": 64, "paper": 224, "smoke": 32}
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPLITS = ("train", "test")
#: mean/std are measured on at most this many images of the train split, drawn with this seed.
STATS_SAMPLE, STATS_SEED = 512, 0
#: The environment variable that sets how many DataLoader workers decode a split (0: in-process).
WORKERS_ENV = "XAI_DATA_WORKERS"
#: Part of the cache key of the (statistics-only) entry: a folder cached whole by older code is not read.
STATS_FORMAT = 1
_IN_PROCESS_BELOW = 64  # fewer images than this (e.g. the statistics of a small folder) decode in-process


def is_imagefolder(name: str) -> bool:
    return name.startswith(PREFIX)


def default_workers() -> int:
    """DataLoader workers a streamed split decodes in: ``XAI_DATA_WORKERS`` if set, else
    ``min(4, CPUs available)``; 0 inside a daemon process or a DataLoader worker (they cannot
    have children) and off the main thread (the dashboard's sessions and background jobs are
    threads of one server process: forking it mid-request is not safe)."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = -1
        if n < 0:
            raise InvalidInputError(f"{WORKERS_ENV} must be a whole number ≥ 0 (0: decode in-process), got {raw!r}")
    else:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = min(4, cpus)
    if n and (multiprocessing.current_process().daemon or get_worker_info() is not None
              or threading.current_thread() is not threading.main_thread()):
        return 0
    return n


def _root(name: str) -> Path:
    raw = name[len(PREFIX) :].strip()
    if not raw:
        raise InvalidInputError(
            "imagefolder needs a path: imagefolder:PATH with PATH/{train,test}/CLASS/*.png or PATH/CLASS/*.png"
        )
    root = Path(raw).expanduser().resolve()
    if not root.is_dir():
        raise InvalidInputError(f"imagefolder: folder {root} does not exist")
    return root


def _images_in(folder: Path) -> list[Path]:
    with os.scandir(folder) as it:
        names = [e.name for e in it if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in EXTENSIONS
                 and e.is_file()]
    return [folder / n for n in sorted(names)]


def _subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as it:
        names = [e.name for e in it if not e.name.startswith(".") and e.is_dir()]
    return [folder / n for n in sorted(names)]


def _files_in(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    with os.scandir(folder) as it:
        return {e.name for e in it if e.is_file()}


def scan(root: Path) -> dict[str, Any]:
    """Validate the layout; {"classes", "splits": {split: [(image, mask | None, class)]}, "masks", "flat"}.
    Reads directory listings only (no file is opened)."""
    splits = [s for s in SPLITS if (root / s).is_dir()]
    flat = not splits
    if flat:
        class_dirs = {"test": [d for d in _subdirs(root) if d.name != "masks"]}
        splits = ["test"]
    else:
        class_dirs = {s: _subdirs(root / s) for s in splits}
    classes = sorted({d.name for dirs in class_dirs.values() for d in dirs})
    if not classes:
        if flat:
            raise InvalidInputError(
                f"imagefolder {root} has no train/ or test/ folder and no class folders (expected "
                f"{root}/train/CLASS/*.png, {root}/test/CLASS/*.png or {root}/CLASS/*.png)"
            )
        raise InvalidInputError(f"imagefolder {root} has no class folders (expected {root}/{splits[0]}/CLASS/*.png)")
    has_masks = (root / "masks").is_dir()
    out: dict[str, list[tuple[Path, Path | None, int]]] = {}
    for split in splits:
        items = []
        for d in class_dirs[split]:
            mask_dir = (root / "masks" / d.name) if flat else (root / "masks" / split / d.name)
            mask_names = _files_in(mask_dir) if has_masks else set()
            for img in _images_in(d):
                mask = _find_mask(root, mask_dir, mask_names, img) if has_masks else None
                items.append((img, mask, classes.index(d.name)))
        where = root if flat else root / split
        if not items:
            raise InvalidInputError(f"no images in {where} (expected {where}/CLASS/*{'|'.join(EXTENSIONS)})")
        present = sorted({classes[c] for _, _, c in items})
        if len(present) < 2:
            raise InvalidInputError(f"imagefolder {where} has images of one class only ({present[0]}); a classifier "
                                    "and its explanations need at least two classes")
        out[split] = items
    return {"classes": classes, "splits": out, "masks": has_masks, "flat": flat}


def _find_mask(root: Path, folder: Path, names: set[str], image: Path) -> Path:
    for ext in EXTENSIONS:
        for cand in (image.stem + ext, image.stem + ext.upper()):
            if cand in names:
                return folder / cand
    raise InvalidInputError(
        f"missing mask for {image}: expected {folder / image.stem}.<{'|'.join(e[1:] for e in EXTENSIONS)}> "
        f"(because {root / 'masks'} exists)"
    )


def _fingerprint(layout: dict[str, Any]) -> str:
    """Every file's path, size and modification time (one ``stat`` each: O(files), not O(pixels))."""
    h = hashlib.sha256()
    for split, items in layout["splits"].items():
        for img, mask, label in items:
            for p in (img, mask):
                if p is not None:
                    st = p.stat()
                    h.update(f"{split}|{p}|{st.st_size}|{st.st_mtime_ns}|{label}\n".encode())
    return h.hexdigest()[:24]


# -- the streamed split ----------------------------------------------------------------------------
class StreamedImageDataset(ImageDataset):
    """One split of an image folder, decoded one file at a time when read. Holds only the root, the
    files' paths relative to it, their labels and their masks' paths: it pickles in a few dozen
    bytes per file (DataLoader workers receive it). :attr:`workers` (default
    :func:`default_workers`) is how many worker processes :meth:`batches` and :meth:`loader` decode in."""

    def __init__(
        self,
        info: DatasetInfo,
        split: str,
        root: Path | str,
        files: Sequence[str],
        labels: Sequence[int],
        masks: Sequence[str] | None,
        size: int,
        workers: int | None = None,
    ) -> None:
        assert masks is None or len(masks) == len(files)
        self.info, self.split, self.size = info, split, int(size)
        self.root = str(root)
        self.files = tuple(files)
        self.mask_files = None if masks is None else tuple(masks)
        self._labels = np.asarray(labels, dtype=np.int64)
        self._workers = workers

    @property
    def workers(self) -> int:  # type: ignore[override]
        return default_workers() if self._workers is None else self._workers

    @workers.setter
    def workers(self, n: int | None) -> None:
        self._workers = None if n is None else int(n)

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> Path:
        return Path(self.root) / self.files[index]

    def decode(self, index: int) -> tuple[np.ndarray, int, np.ndarray | None]:
        """File ``index`` -> (C×H×W uint8 image, label, H×W bool mask or None)."""
        from PIL import Image

        img_path = self.path(index)
        img = open_image(img_path)
        mask = None
        if self.mask_files is not None:
            mask_path = Path(self.root) / self.mask_files[index]
            m = open_mask(mask_path)
            if m.shape[::-1] != img.size:
                raise InvalidInputError(
                    f"mask {mask_path} is {m.shape[1]}×{m.shape[0]} but its image {img_path} is "
                    f"{img.size[0]}×{img.size[1]}"
                )
            mask = np.array(Image.fromarray(m).resize((self.size, self.size), Image.NEAREST), dtype=bool)
        pixels = np.asarray(img.resize((self.size, self.size), Image.BILINEAR))
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)), int(self._labels[index]), mask

    def sample(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        pixels, label, mask = self.decode(index)
        # uint8 / 255 in float32: the same values as TensorImageDataset's
        x = torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0))
        return x, label, None if mask is None else torch.from_numpy(mask)

    def batches(self, index_batches: Sequence[Sequence[int]], workers: int | None = None) -> Iterator[Batch]:
        """The :class:`Batch` of each list of indices, in order, decoded ahead in ``workers``
        (default :attr:`workers`) DataLoader worker processes; in this process when 0."""
        workers = self.workers if workers is None else workers
        if workers <= 0:
            return super().batches(index_batches, 0)
        return iter(_Loader(_Raw(self), batch_sampler=[list(b) for b in index_batches], num_workers=workers,
                            collate_fn=_collate_raw, prefetch_factor=2, persistent_workers=False))

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0, workers: int | None = None) -> DataLoader:
        """Batches of :class:`Batch` (shuffling seeded, the same order whatever ``workers``),
        decoded in ``workers`` (default :attr:`workers`) DataLoader worker processes."""
        workers = self.workers if workers is None else workers
        g = torch.Generator().manual_seed(seed)
        return _Loader(_Raw(self), batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=max(0, workers),
                       collate_fn=_collate_raw, **({"prefetch_factor": 2} if workers > 0 else {}))

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(self._labels.copy())


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255.0).round().to(torch.uint8)


class _Failed:
    """A user-facing error raised while decoding in a worker, sent back as a value: DataLoader would
    re-raise it with the worker's traceback in its message (several lines)."""

    def __init__(self, err: XAIError) -> None:
        self.type, self.message = type(err), str(err)

    def error(self) -> XAIError:
        try:
            return self.type(self.message)
        except Exception:  # noqa: BLE001 - an error class with another signature
            return InvalidInputError(self.message)


class _Raw(Dataset):
    """(index, uint8 sample) for the workers: a quarter of the float bytes through shared memory."""

    def __init__(self, ds: StreamedImageDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        try:
            return i, self.ds.decode(i)
        except XAIError as err:
            return i, _Failed(err)


def _collate_raw(items):
    failed = next((it[1] for it in items if isinstance(it[1], _Failed)), None)
    if failed is not None:
        return failed
    x = torch.from_numpy(np.stack([it[1][0] for it in items]))
    y = torch.as_tensor([it[1][1] for it in items], dtype=torch.long)
    masks = None if items[0][1][2] is None else torch.from_numpy(np.stack([it[1][2] for it in items]))
    return Batch(x, y, masks, torch.as_tensor([it[0] for it in items]))


class _Loader(DataLoader):
    """A DataLoader of :class:`_Raw` batches: uint8 pixels become float in [0, 1] here (the same
    values as :meth:`StreamedImageDataset.sample`), a worker's error is raised here as one line."""

    def __iter__(self):  # type: ignore[override]
        for b in super().__iter__():
            if isinstance(b, _Failed):
                raise b.error()
            yield Batch(b.x.float() / 255.0, b.y, b.masks, b.indices)


# -- the cached statistics and the entry points ------------------------------------------------------
def _stats_sample(n: int) -> list[int]:
    """The (sorted) indices mean/std are measured on: all ``n`` up to :data:`STATS_SAMPLE`, else a seeded draw."""
    if n <= STATS_SAMPLE:
        return list(range(n))
    return sorted(int(i) for i in np.random.default_rng(STATS_SEED).choice(n, STATS_SAMPLE, replace=False))


def _measure(ds: StreamedImageDataset, indices: list[int], batch_size: int = 64) -> tuple[list[float], list[float]]:
    """Per-channel mean/std in [0, 1] of the images at ``indices`` (float64 sums, like ``channel_stats``)."""
    s1 = torch.zeros(3, dtype=torch.float64)
    s2 = torch.zeros(3, dtype=torch.float64)
    chunks = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    for b in ds.batches(chunks, 0 if len(indices) < _IN_PROCESS_BELOW else None):
        part = _to_uint8(b.x).to(torch.float64) / 255.0
        s1 += part.sum((0, 2, 3))
        s2 += (part * part).sum((0, 2, 3))
    n = len(indices) * ds.size * ds.size
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt()
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def _split_dataset(info: DatasetInfo, root: Path, layout: dict[str, Any], split: str, size: int) -> StreamedImageDataset:
    items = layout["splits"][split]
    rel = [str(img.relative_to(root)) for img, _, _ in items]
    masks = [str(m.relative_to(root)) for _, m, _ in items] if layout["masks"] else None
    return StreamedImageDataset(info, split, root, rel, [label for _, _, label in items], masks, size)


def _opened(name: str, preset: str, store: ArtifactStore) -> tuple[Path, dict[str, Any], DatasetInfo]:
    """Scan the folder, read (or measure and cache) its statistics: (root, layout, info)."""
    check_dataset_preset("imagefolder", preset, PRESETS)
    root = _root(name)
    layout = scan(root)
    size = SIZES[preset]
    key = {
        "imagefolder": str(root),
        "size": size,
        "files": _fingerprint(layout),
        "generator_version": GENERATOR_VERSION,
        "decoder": decode.DECODER_VERSION,
        "stats": {"format": STATS_FORMAT, "sample": STATS_SAMPLE, "seed": STATS_SEED},
    }
    splits = tuple(layout["splits"])
    stats_split = "train" if "train" in splits else "test"

    def info_with(mean: Sequence[float], std: Sequence[float], sampled: int) -> DatasetInfo:
        return DatasetInfo(
            name=f"{PREFIX}{root}",
            preset=preset,
            image_size=size,
            channels=3,
            num_classes=len(layout["classes"]),
            class_names=tuple(layout["classes"]),
            mean=tuple(mean),
            std=tuple(std),
            has_ground_truth=layout["masks"],
            splits=splits,
            description=f"your images in {root} (mean/std of {sampled} {stats_split} images)",
            source=str(root),
            extra={"files": key["files"], "sizes": {s: len(items) for s, items in layout["splits"].items()}},
        )

    def measure() -> dict[str, Any]:
        ds = _split_dataset(info_with((0.5,) * 3, (0.25,) * 3, 0), root, layout, stats_split, size)
        indices = _stats_sample(len(ds))
        mean, std = _measure(ds, indices)
        return {"classes": list(layout["classes"]), "splits": list(splits), "stats_split": stats_split,
                "sampled": len(indices), "mean": mean, "std": std}

    stats = store.get_or_create("dataset", key, measure)
    return root, layout, info_with(stats["mean"], stats["std"], int(stats["sampled"]))


def info(name: str, preset: str = "quick", store: ArtifactStore | None = None) -> DatasetInfo:
    """Facts about the folder; mean/std measured on a sample of its images the first time (then cached)."""
    return _opened(name, preset, store or ArtifactStore())[2]


def get(name: str, split: str, preset: str, store: ArtifactStore) -> StreamedImageDataset:
    """One split of ``imagefolder:PATH``, streamed (the folder is scanned, its statistics read or measured)."""
    root, layout, info = _opened(name, preset, store)
    check_split(info, split)
    return _split_dataset(info, root, layout, split, SIZES[preset])
