"""DoRaR's remove-and-reconstruct parts (docs/methods/dorar.md), shared by the ``dorar`` method and the ``a1a2``
evaluation of every explainer: the empirical background noise, the two generators, their losses
and the generators' training for fixed selections.

- **Background noise** E (:class:`PixelNoise`): each removed pixel takes the value of that pixel
  (per channel, independently) in a training image drawn at random, i.e. a draw from that pixel's
  empirical distribution over the training split, in pixel space [0, 1] — never zeros, blur or the
  mean, which leak the mask's shape (the EPITE problem).
- **Generators**: the paper's MLP D→D→D (ReLU, Sigmoid) for small images; a small convolutional
  encoder–decoder for larger or coloured ones (an MLP at 64×64×3 would be 150 M parameters).
  Their sigmoid outputs live in the same [0, 1] pixel space as the images the black box takes
  (the reference code compared them with normalised images).
- **Losses**: ``l_rec`` = mean |x − G(·)|, ``l_pred`` = cross-entropy of the frozen black box on
  G(·) against its own top-1 on x, in base-10 logs (CE / ln 10) as the authors' code takes it (issue 26):
  in DoRaR's training and in the a1a2 generators' alike, and so in the a1a2 stopping rule.
- **Controls** of the a1a2 protocol: a generator that sees only the kept units' *layout*
  (:func:`layout`, :func:`train_position_generator`), and G1/G2 on random units (:func:`random_units`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .. import rng, units
from ..data.base import ImageDataset
from ..errors import InvalidInputError
from ..models.views import model_view
from ..progress import Progress, no_progress
from .noise import ImageNoise

MIN_NOISE_IMAGES = 50  # fewer training images give too coarse a per-pixel distribution
MAX_NOISE_VALUES = 2**25  # at most this many pixel values are kept for the noise (128 MiB as floats)
#: ``Explanation.extras`` keys of G1's reconstruction from the selection and G2's from the complement
RECONSTRUCTIONS = ("reconstruction_selected", "reconstruction_complement")
MLP_MAX_VALUES = 1024  # images with at most this many values (28×28×1, 32×32×1) get the paper's MLP
#: the quick preset on images larger than that (64×64×3: 16× MNIST's values): fewer images and epochs
QUICK_LARGE = {"train_images": 2000, "epochs": 20}


class PixelNoise:
    """The empirical per-pixel distribution of a set of training images (kept as uint8)."""

    def __init__(self, bank: torch.Tensor) -> None:
        self.bank = bank  # N×C×H×W uint8

    @classmethod
    def from_dataset(cls, data: ImageDataset, max_images: int, device: torch.device | str = "cpu") -> PixelNoise:
        """The first ``max_images`` training images (fewer for large images); one line when the
        split has fewer than :data:`MIN_NOISE_IMAGES`."""
        check_noise_images(len(data), data.info.name)
        per_image = data.info.channels * data.info.image_size ** 2
        n = max(MIN_NOISE_IMAGES, min(len(data), int(max_images), MAX_NOISE_VALUES // per_image))
        x = torch.cat([data.batch(list(range(i, min(n, i + 256)))).x for i in range(0, n, 256)])
        return cls((x * 255).round().clamp(0, 255).to(torch.uint8).to(device))

    def __len__(self) -> int:
        return len(self.bank)

    def draw(self, uniform: torch.Tensor) -> torch.Tensor:
        """Noise images B×C×H×W from uniforms B×C×H×W in [0, 1): value of pixel j = pixel j of
        training image ⌊u_j·N⌋."""
        n = len(self.bank)
        idx = (uniform * n).long().clamp_(0, n - 1).flatten(1)
        flat = self.bank.flatten(1).to(uniform.device)
        return flat.gather(0, idx).view(uniform.shape).float() / 255.0

    def sample(self, b: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
        """B fresh noise images from ``generator`` (training)."""
        return self.draw(torch.rand(b, *self.bank.shape[1:], generator=generator).to(device))


def check_noise_images(available: int, dataset: str) -> None:
    if available < MIN_NOISE_IMAGES:
        raise InvalidInputError(f"{dataset} has {available} training images; the background noise needs at least "
                                f"{MIN_NOISE_IMAGES} to draw each pixel from its empirical distribution")


def removed(x: torch.Tensor, keep: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x⊙M + E⊙(1 − M)`` with ``keep`` = M, B×1×H×W (or B×H×W) in [0, 1]."""
    m = keep[:, None] if keep.ndim == 3 else keep
    return x * m + noise * (1 - m)


class MLPGenerator(nn.Module):
    """The paper's generator: two fully connected layers of D units (D = C·H·W), ReLU then Sigmoid."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        d = math.prod(shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view_as(x)


class ConvGenerator(nn.Module):
    """A small encoder–decoder for larger or coloured images: two stride-2 convolutions down to
    1/4 resolution, two transposed convolutions back, sigmoid pixels (83 k parameters at width 16:
    a training step on 100 images of 64×64×3 takes 0.2 s on 2 CPU cores, 0.65 s at width 32)."""

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w, channels, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out if out.shape == x.shape else F.interpolate(out, size=x.shape[-2:], mode="bilinear",
                                                              align_corners=False)


GENERATORS = ("auto", "mlp", "conv")


def generator_kind(kind: str, channels: int, image_size: int) -> str:
    """``auto``: the paper's MLP up to :data:`MLP_MAX_VALUES` values per image, else the conv one."""
    if kind not in GENERATORS:
        raise InvalidInputError(f"generator must be one of {', '.join(GENERATORS)}, not {kind!r}")
    if kind == "auto":
        return "mlp" if channels * image_size ** 2 <= MLP_MAX_VALUES else "conv"
    return kind


def make_generator(kind: str, channels: int, image_size: int) -> nn.Module:
    if generator_kind(kind, channels, image_size) == "mlp":
        return MLPGenerator((channels, image_size, image_size))
    return ConvGenerator(channels)


#: the prediction loss is the cross-entropy in base-10 logs, as the authors' code computes it: CE / ln 10
CE_SCALE = math.log(10)


def losses(black_box: nn.Module, out: torch.Tensor, x: torch.Tensor,
           y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction loss mean |x − out|, cross-entropy of the black box on ``out`` against ``y`` / ln 10)."""
    return (x - out).abs().mean(), F.cross_entropy(black_box(out), y) / CE_SCALE


def layout(keep: torch.Tensor, channels: int) -> torch.Tensor:
    """The position control's input: the keep mask M (B×H×W or B×1×H×W) as a B×C×H×W image, 1 on the kept
    units and 0 elsewhere: where the units are, none of their pixels and no noise."""
    m = keep[:, None] if keep.ndim == 3 else keep
    return m.float().expand(-1, channels, -1, -1)


def random_units(n: int, grid: int, n_e: int, generator: torch.Generator) -> torch.Tensor:
    """N×grid×grid bool: ``n_e`` units per image drawn uniformly without replacement (the random control)."""
    return units.top_units(torch.rand(n, grid, grid, generator=generator), n_e)


def adam(params, lr: float) -> torch.optim.Adam:
    """The paper's optimiser: Adam with betas (0.5, 0.999)."""
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


@dataclass(frozen=True)
class GeneratorRecipe:
    """How fresh G1/G2 are trained for fixed selections (the a1a2 protocol)."""

    kind: str = "auto"
    epochs: int = 30  # at most; fewer once converged
    batch_size: int = 100
    lr: float = 5e-4
    beta: float = 1.0
    converged: float = 0.01  # relative change of the epoch loss that counts as converged


@dataclass
class Reconstructor:
    """A trained pair: G1 reconstructs from the kept pixels, G2 from their complement, both with the
    removed pixels filled from ``noise`` (drawn per image from a stream seeded by the image and
    ``seed``: an image gets the same noise in any batch)."""

    g1: nn.Module
    g2: nn.Module
    noise: PixelNoise
    seed: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(G1(x⊙M + E⊙(1−M)), G2(x⊙(1−M) + E⊙M)) for ``keep`` = M, B×H×W."""
        e = self.noise.draw(ImageNoise(x, self.seed).rand(*x.shape[1:]))
        m = keep.float()
        return self.g1(removed(x, m, e)), self.g2(removed(x, 1 - m, e))


@dataclass
class LayoutReconstructor:
    """The position control's generator: G reconstructs x from the kept units' layout alone (:func:`layout`)."""

    g: nn.Module
    channels: int
    seed: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    @torch.no_grad()
    def __call__(self, keep: torch.Tensor) -> torch.Tensor:
        """G(M) for ``keep`` = M, B×H×W."""
        return self.g(layout(keep, self.channels))


#: a generator's input from (x, M, E): G1 sees the kept units, G2 the complement, the position control M alone
Side = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def train_generators(black_box: nn.Module, images: Callable[[torch.Tensor], torch.Tensor], keep: torch.Tensor,
                     noise: PixelNoise, recipe: GeneratorRecipe, *, seed: int, device: torch.device,
                     progress: Progress = no_progress) -> Reconstructor:
    """Fresh G1 (on ``x⊙M + E⊙(1−M)``) and G2 (on ``x⊙(1−M) + E⊙M``) trained with the DoRaR recipe
    for fixed pixel masks ``keep`` (N×H×W bool, one per training image ``images(idx)``) until the
    epoch loss changes by less than ``recipe.converged`` or ``recipe.epochs`` are done."""
    sides: dict[str, Side] = {"g1": lambda x, m, e: removed(x, m, e), "g2": lambda x, m, e: removed(x, 1 - m, e)}
    (g1, g2), history = _train(black_box, images, keep, noise, recipe, sides, seed, device, progress)
    return Reconstructor(g1, g2, noise, seed, history)


def train_position_generator(black_box: nn.Module, images: Callable[[torch.Tensor], torch.Tensor],
                             keep: torch.Tensor, noise: PixelNoise, recipe: GeneratorRecipe, *, seed: int,
                             device: torch.device, progress: Progress = no_progress) -> LayoutReconstructor:
    """The position control: one fresh G on :func:`layout` (M alone, no pixel of x) with G1's objective
    (CE / ln 10 against the black box's top-1 on x + β·mean|x − G(M)|) and stopping rule."""
    c = noise.bank.shape[1]
    (g,), history = _train(black_box, images, keep, noise, recipe, {"g": lambda x, m, e: layout(m, c)}, seed, device,
                           progress)
    return LayoutReconstructor(g, c, seed, history)


def _train(black_box: nn.Module, images: Callable[[torch.Tensor], torch.Tensor], keep: torch.Tensor,
           noise: PixelNoise, recipe: GeneratorRecipe, sides: dict[str, Side], seed: int, device: torch.device,
           progress: Progress) -> tuple[list[nn.Module], list[dict[str, float]]]:
    """One fresh generator per side, trained together (one Adam; each side's loss touches only its own G);
    stops once the summed epoch loss changes by ≤ ``recipe.converged`` (relative) or after ``recipe.epochs``."""
    c, h = noise.bank.shape[1], noise.bank.shape[2]
    gen = torch.Generator().manual_seed(seed)
    gens, _ = rng.seeded(seed, lambda: [make_generator(recipe.kind, c, h).to(device) for _ in sides])
    opt = adam([q for g in gens for q in g.parameters()], recipe.lr)
    black_box = model_view(black_box)  # frozen, private: no gradients or mode flags on the shared model
    history, last = [], None
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        total = dict.fromkeys((f"{name}_loss" for name in sides), 0.0)
        for idx in torch.randperm(len(keep), generator=gen).split(recipe.batch_size):
            x = images(idx).to(device)
            m = keep[idx].to(device).float()
            e = noise.sample(len(idx), gen, device)
            with torch.no_grad():
                y = black_box(x).argmax(1)
            step = []
            for (name, side), g in zip(sides.items(), gens):
                rec, pred = losses(black_box, g(side(x, m, e)), x, y)
                step.append(pred + recipe.beta * rec)
                total[f"{name}_loss"] += float(step[-1].detach()) * len(idx)
            opt.zero_grad()
            sum(step).backward()
            opt.step()
        losses_ = {k: v / len(keep) for k, v in total.items()}
        history.append({"epoch": epoch + 1, **losses_})
        loss = sum(losses_.values())
        eta = (time.perf_counter() - started) / (epoch + 1) * (recipe.epochs - epoch - 1)
        progress(epoch + 1, recipe.epochs, f"generators (seed {seed}), epoch {epoch + 1}", **losses_, eta_s=eta)
        if last is not None and abs(last - loss) <= recipe.converged * abs(last):
            break
        last = loss
    return [g.eval().requires_grad_(False) for g in gens], history
