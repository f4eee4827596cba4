"""``natural``: a few dozen real photos for the pretrained ImageNet classifier (3 channels,
224×224, 1000 ImageNet classes), no ground truth.

Pixels come only from files that installed packages ship, read without importing them:

* foolbox's 20 labelled ImageNet sample images (``foolbox/data/imagenet_NN_LABEL.jpg``,
  the label is the ImageNet class index) — ``pip install --no-deps foolbox==3.3.4``;
* scikit-image's bundled photos (astronaut, coffee, chelsea, rocket, camera, coins, moon,
  hubble_deep_field, retina, immunohistochemistry; grey ones become 3 equal channels);
* scikit-learn's two sample images (china, flower).

**Label convention:** foolbox images carry their ImageNet label; every other photo has label
``-1``, meaning "no label: explain the model's own top-1 class" (``services.targets_for``).
Missing packages only shrink the list.

Preprocessing: short side resized to 256, centre 224×224 crop (the usual ImageNet evaluation
transform). mean = std = 0.5 per channel: the normalisation the ``efficientnet_lite0``
weights expect (models normalise with ``info.mean``/``info.std``), not the photos' statistics.
Only one set of photos exists: ``train`` is the same images as ``test`` (it is there so that
methods that fit on a train split, e.g. DiET, can run; it is not a held-out set). All three
presets are the same data.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingDataError
from ..store import ArtifactStore
from ._common import ALL_PRESETS, GENERATOR_VERSION, check_dataset_preset, open_image, resize_center_crop
from .base import DatasetInfo, ImageDataset, TensorImageDataset

NAME = "natural"
PRESETS = ALL_PRESETS
SIZE = 224
RESIZE = 256
UNLABELLED = -1
_SKIMAGE = (
    ("astronaut", "astronaut.png"),
    ("coffee", "coffee.png"),
    ("chelsea", "chelsea.png"),
    ("rocket", "rocket.jpg"),
    ("camera", "camera.png"),
    ("coins", "coins.png"),
    ("moon", "moon.png"),
    ("hubble_deep_field", "hubble_deep_field.jpg"),
    ("retina", "retina.jpg"),
    ("immunohistochemistry", "ihc.png"),
)
_SKLEARN = (("china", "china.jpg"), ("flower", "flower.jpg"))
_FOOLBOX = re.compile(r"imagenet_(\d+)_(\d+)\.(jpg|png)$")


def _package_dir(name: str) -> Path | None:
    """A package's folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def photos() -> list[tuple[str, Path, int]]:
    """(name, file, label) of every available photo, in a fixed order (cheap: no decoding)."""
    out: list[tuple[str, Path, int]] = []
    foolbox = _package_dir("foolbox")
    if foolbox is not None and (foolbox / "data").is_dir():
        for path in sorted((foolbox / "data").iterdir()):
            m = _FOOLBOX.match(path.name)
            if m:
                out.append((f"foolbox_imagenet_{m.group(1)}", path, int(m.group(2))))
    for package, folder, files in (("skimage", "data", _SKIMAGE), ("sklearn", "datasets/images", _SKLEARN)):
        base = _package_dir(package)
        for name, file in files:
            if base is not None and (base / folder / file).is_file():
                out.append((name, base / folder / file, UNLABELLED))
    return out


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from ``imagenet_classes.txt`` beside this file (a copy of
    ``torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]``: importing
    torchvision.models takes seconds, reading the file takes none)."""
    path = Path(__file__).with_name("imagenet_classes.txt")
    names = tuple(path.read_text().splitlines()) if path.is_file() else ()
    return names if len(names) == 1000 else tuple(f"imagenet class {i}" for i in range(1000))


def info(preset: str = "quick", root: Path | None = None) -> DatasetInfo:
    """Static facts (lists the files; decodes nothing)."""
    check_dataset_preset(NAME, preset, PRESETS)
    items = photos()
    n = len(items)
    return DatasetInfo(
        name=NAME,
        preset=preset,
        image_size=SIZE,
        channels=3,
        num_classes=1000,
        class_names=imagenet_classes(),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        has_ground_truth=False,
        splits=("test", "train"),
        description="a few dozen real photos for the pretrained ImageNet classifier (label -1 = explain its top-1)",
        source="foolbox's 20 labelled ImageNet images, scikit-image and scikit-learn sample photos",
        extra={
            "sizes": {"test": n, "train": n},
            "photos": [name for name, _, _ in items],
            "labels": [label for _, _, label in items],
            "unlabelled": UNLABELLED,
            "train_is_test": True,
            "preprocess": f"short side {RESIZE}, centre crop {SIZE}",
        },
    )


def _load(items: list[tuple[str, Path, int]]) -> dict[str, torch.Tensor]:
    images = np.stack([np.asarray(resize_center_crop(open_image(p), SIZE, RESIZE)) for _, p, _ in items])
    return {
        "images": torch.from_numpy(images.transpose(0, 3, 1, 2).copy()),
        "labels": torch.tensor([label for _, _, label in items], dtype=torch.long),
    }


def build(info: DatasetInfo, split: str, store: ArtifactStore, root: Path | None = None) -> ImageDataset:
    items = [it for it in photos() if it[0] in set(info.extra["photos"])]
    if not items:
        raise MissingDataError(
            "no sample photos found: pip install scikit-image scikit-learn (and foolbox==3.3.4 --no-deps)"
        )
    spec = {**info.spec(), "preset": "any", "split": "test", "generator_version": GENERATOR_VERSION}
    payload = store.get_or_create("dataset", spec, lambda: _load(items))
    return TensorImageDataset(info, split, payload["images"], payload["labels"])
