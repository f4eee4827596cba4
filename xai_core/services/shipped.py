"""The trained methods' fits shipped in ``assets/fits/`` so a fresh clone shows them on the default dataset
without training (issue 29; :func:`preselected`: what Explore starts with), and how ``python -m xai_core
assets`` regenerates them from the store (or fits them): each as its store payload with only the state its
explain step reads (:meth:`~xai_core.methods.trained.TrainedExplainer.shipped_payload`)."""
from __future__ import annotations

from collections.abc import Sequence

from ..errors import XAIError
from ..methods import METHODS
from ..models.assets import FIT_DIR, fit_path, write_shipped_fit
from ..progress import Progress, no_progress, prefixed
from ..store import ArtifactStore
from .context import Context, build_explainer, load_context

#: (method, dataset, preset) shipped with the code, seed 0: the default dataset's four trained papers' methods and
#: MEED's baseline L2X, so a fresh clone shows all five papers' methods (InputIBA trains nothing) without training
SHIPPED_FITS: tuple[tuple[str, str, str], ...] = tuple(
    (method, "hard_mnist", "quick") for method in ("diet", "dorar", "comet", "meed", "l2x"))


def ships(ctx: Context, method: str) -> bool:
    """Whether a fit of trained ``method`` on ``ctx`` (its black box, dataset, preset, seed, settings) ships in
    ``assets/fits/``: the method built unprepared for its store key, then a file ``stat`` call; nothing trains."""
    if not METHODS.get(method).caps.trained:
        return False
    explainer = build_explainer(ctx, method, prepare=False)
    return fit_path(method, explainer.cache_spec()).is_file()


#: the five papers' methods, the ones this dashboard exists to compare
PAPER_METHODS = ("diet", "dorar", "comet", "meed", "input_iba")
#: what Explore starts with where no paper method's fit ships: the post-hoc baselines, instant
BASELINES = ("gradient", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradcam")
BESIDE_PAPERS = "gradcam"  #: the baseline Explore shows beside the papers' methods


def preselected(ctx: Context, offered: Sequence[str]) -> list[str]:
    """The methods Explore starts with on ``ctx``, among ``offered``: where fits of the papers' methods ship in
    ``assets/fits/`` (the default dataset at quick: a newcomer sees all five without training), the shipped ones
    and those of :data:`PAPER_METHODS` that train nothing (InputIBA), then Grad-CAM; elsewhere :data:`BASELINES`.
    It depends on the repository alone, not on what this machine fitted (file ``stat`` calls; nothing trains)."""
    shipped = [m for m in PAPER_METHODS if m in offered and ships(ctx, m)]
    if not shipped:
        return [m for m in BASELINES if m in offered]
    fitless = [m for m in PAPER_METHODS if m in offered and not METHODS.get(m).caps.trained]
    papers = [m for m in PAPER_METHODS if m in shipped or m in fitless]
    return papers + ([BESIDE_PAPERS] if BESIDE_PAPERS in offered else [])


def write_shipped_fits(store: ArtifactStore | None = None, device: str = "cpu",
                       progress: Progress = no_progress) -> list[str]:
    """Regenerate ``assets/fits/`` with the current code: each of :data:`SHIPPED_FITS` loaded from the store
    or fitted (a shipped fit under the same key is the same fit), written under its store key; files of
    other keys (stale ones) are removed. Returns the paths written."""
    wanted = []
    for method, dataset, preset in SHIPPED_FITS:
        ctx = load_context(dataset, preset, device=device, store=store)
        explainer = build_explainer(ctx, method, prefixed(progress, f"{method} on {dataset}: "))
        payload = ctx.store.load(method, explainer.cache_spec())
        if payload is None:
            raise XAIError(f"{method} on {dataset} was fitted but the cache {ctx.store.root} could not keep it")
        wanted.append((method, explainer.cache_spec(), explainer.shipped_payload(payload)))
    keep = {fit_path(method, spec) for method, spec, _ in wanted}
    for old in FIT_DIR.glob("*.pt"):  # first, so each write's manifest lists only what ships
        if old not in keep:
            old.unlink()
    return [str(write_shipped_fit(method, spec, payload)) for method, spec, payload in wanted]
