"""What every page shares: the sidebar (dataset, model, preset, device) and the caches over
xai_core — one dataset + model per choice and server process, explanations per sample.
(Over 300 lines on purpose: it is the one module every page imports — sidebar, caches, work slots
and job widgets — so pages stay widgets only.)"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import streamlit as st

from xai_core import services
from xai_core.data import dataset_info, dataset_names
from xai_core.device import describe_device, resolve_device
from xai_core.errors import XAIError
from xai_core.jobs import CANCELLED, MANAGER, Job, full_text, one_line, shorten
from xai_core.progress import Progress, no_progress
from xai_core.services import estimates, tasks
from xai_core.services.estimates import Estimate, duration
from xai_core.uploads import load_upload
from xai_core.workslots import WORK_SLOTS, waiting_message

_LOG = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: widget keys whose values survive visits to other pages. Streamlit drops a widget's state when a
#: run does not draw it, and a fragment run (the Train page's job list, every second while a job
#: runs) drops it even when the value was re-assigned as user state in the page's last full run:
#: :func:`keep_choices` keeps a copy under a key no widget owns and restores the widget's key from it
PERSISTENT_KEYS = ("dataset_choice", "preset_choice", "model_choice", "explore_split", "sample", "explore_methods",
                   "explore_outcome", "explore_mode", "explore_sign", "explore_clip", "explore_contour",
                   "explore_compare", "gallery_method", "gallery_size", "gallery_target", "gallery_split",
                   "gallery_class", "gallery_outcome", "gallery_seed", "gallery_mode", "gallery_sign", "gallery_clip")
KEPT = "kept:"  # prefix of those copies


class Selection(NamedTuple):
    """The sidebar's choice: a dataset, a preset and a model."""

    dataset: str
    preset: str
    model: services.ModelChoice


@contextmanager
def work_slot() -> Iterator[None]:
    """Hold one of the server's work slots (:data:`~xai_core.workslots.WORK_SLOTS`) for heavy work;
    while waiting, show the queue position (the line goes away once the slot is taken). Never call a
    cached function (:func:`context`, …) inside: its compute lock may be held by a session queued behind."""
    box = None

    def waiting(ahead: int) -> None:
        nonlocal box
        box = box or st.empty()
        box.info(waiting_message(ahead), icon="⏳")

    with WORK_SLOTS.slot(waiting):
        if box is not None:
            box.empty()
        yield


def failed(what: str, err: Exception) -> str:
    """Log an unexpected error with its traceback on the server; return the one line a user sees
    (no traceback, no server paths, at most about 200 characters)."""
    _LOG.exception("%s failed", what)
    return f"{what}: {one_line(err, 150)} (an internal error; details in the server log)"


def show_error(line: str, details: str | None = None) -> None:
    """An error as one short line, its full text (if longer) folded in an expander below it: a
    message that holds a tensor must not fill the page."""
    st.error(shorten(line, 300))
    if details and details not in line:
        with st.expander("Full error text"):
            long = len(details) > 600 or details.count("\n") > 12
            st.code(details, language=None, wrap_lines=True, height=320 if long else "content")


@st.cache_resource(show_spinner=False, max_entries=4)
def context(dataset: str, preset: str, model: services.ModelChoice = services.DEFAULT_MODEL) -> services.Context:
    """Dataset + model, trained on first use with a progress bar; one per server process."""
    bar = st.progress(0.0, text=f"Preparing {dataset} ({preset}) …")

    def report(done: int, total: int, message: str = "", **metrics) -> None:
        extra = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float))
        bar.progress(min(1.0, done / max(total, 1)), text=f"Black box: {message} {extra}")

    with work_slot():
        ctx = services.load_context(dataset, preset, progress=report, model=model)
    bar.empty()
    return ctx


@st.cache_resource(show_spinner="Classifying the test split …", max_entries=4)
def predicted_labels(dataset: str, preset: str, model: services.ModelChoice = services.DEFAULT_MODEL):
    """(labels, predictions) of the test split, for the sample picker's filters."""
    ctx = context(dataset, preset, model)
    with work_slot():
        return services.predicted_labels(ctx)


@st.cache_resource(show_spinner=False, max_entries=4)
def bottleneck_layers(dataset: str, preset: str,
                      model: services.ModelChoice = services.DEFAULT_MODEL) -> tuple[list[str], str | None]:
    """The layers IBA/InputIBA can use and the default (found by one forward pass, so cached)."""
    ctx = context(dataset, preset, model)
    with work_slot():
        return services.bottleneck_layers(ctx)


class ProgressBar:
    """A Progress callback drawn as a bar that appears on the first report and disappears on
    :meth:`close` (cache hits report nothing, so show nothing)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: float, total: float, message: str = "", **metrics: Any) -> None:
        if self._bar is None:
            self._bar = st.progress(0.0)
        eta = metrics.get("eta_s")
        text = message + (f" · about {duration(eta)} left" if eta is not None else "")
        self._bar.progress(max(0.0, min(1.0, done / total)) if total else 0.0, text=text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.empty()


class LRU:
    """A thread-safe least-recently-used map (shared by every session of the server)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


@st.cache_resource
def _explanations() -> LRU:
    """Explanations per (dataset, preset, model, method, sample or upload, layer), at most 500.
    Not ``st.cache_data``: that replays the elements a cached call drew (the stage progress bar),
    which breaks when the call ran in another session."""
    return LRU(500)


def _cached(key: tuple, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cache = _explanations()
    hit = cache.get(key)
    if hit is None:
        hit = compute()
        cache.put(key, hit)
    return hit


def explanation(dataset: str, preset: str, model: services.ModelChoice, method: str, index: int,
                progress: Progress = no_progress, layer: str = "",
                config: tuple[tuple[str, Any], ...] = (), *, split: str = "test",
                target: int | None = None) -> dict[str, Any]:
    """One method on sample ``index`` of ``split`` (numpy arrays) for class ``target`` (None: the
    label); cached so revisiting a sample is instant. ``progress`` hears the stages of per-instance
    methods; ``layer`` moves a bottleneck method's layer ("" = the model's default); ``config``
    overrides other settings (e.g. DiET's u in a sweep)."""
    def compute() -> dict[str, Any]:
        ctx = context(dataset, preset, model)
        configs = {method: {**services.layer_configs([method], layer).get(method, {}), **dict(config)}}
        with work_slot():
            _, out = services.explain_indices(ctx, [method], [index], progress, configs, _targets(target), split)
            return services.first_as_arrays(out[method], ctx.info.class_names)

    return _cached(("sample", dataset, preset, model, method, split, index, target, layer, config), compute)


def upload_explanation(dataset: str, preset: str, model: services.ModelChoice, method: str, data: bytes, name: str,
                       progress: Progress = no_progress, layer: str = "",
                       config: tuple[tuple[str, Any], ...] = (), *, target: int | None = None) -> dict[str, Any]:
    """One method on an uploaded image (keyed by its bytes), explained for class ``target`` (None:
    the model's top-1)."""
    def compute() -> dict[str, Any]:
        ctx = context(dataset, preset, model)
        configs = {method: {**services.layer_configs([method], layer).get(method, {}), **dict(config)}}
        with work_slot():
            _, out = services.explain_images(ctx, [method], load_upload(data, ctx.info, name)[None], progress, configs,
                                             _targets(target))
            return services.first_as_arrays(out[method], ctx.info.class_names)

    digest = hashlib.sha256(data).hexdigest()
    return _cached(("upload", dataset, preset, model, method, digest, name, target, layer, config), compute)


def _targets(target: int | None) -> list[int] | None:
    return None if target is None else [target]


def sidebar() -> Selection:
    """Draw the shared sidebar and return the choice. Choices persist across pages."""
    keep_choices()
    with st.sidebar:
        names = dataset_names()
        if st.session_state.get("dataset_choice") not in names:
            st.session_state["dataset_choice"] = "hard_mnist"
        dataset = st.selectbox("Dataset", names, key="dataset_choice")
        presets = ["quick", "paper"] + (["smoke"] if os.environ.get("XAI_APP_PRESET") == "smoke" else [])
        if st.session_state.get("preset_choice") not in presets:
            preset = os.environ.get("XAI_APP_PRESET", "quick")
            st.session_state["preset_choice"] = preset if preset in presets else "quick"
        preset = st.radio("Preset", presets, key="preset_choice", horizontal=True,
                          help="quick: CPU-sized; paper: the paper's resolution (GPU recommended)")
        st.session_state["dataset"], st.session_state["preset"] = dataset, preset
        model = _model_choice(dataset, preset)
        st.caption(f"Compute: {describe_device(resolve_device('auto'))}")
    return Selection(dataset, preset, model)


def valid_choice(key: str, options: list, default: Any = None) -> None:
    """Before a selector keyed ``key`` is drawn without a default of its own (so that
    :func:`keep_choices` can restore it): a kept value that ``options`` no longer hold (another
    dataset, split or preset) becomes ``default`` (the first option when None)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0] if default is None else default


def grid(count: int, columns: int = 4) -> list:
    """``count`` cells in rows of ``columns`` equal columns: a map keeps a readable, bounded size
    whether there are one or twenty (more wrap to new rows, never shrink or stretch)."""
    cells = []
    for start in range(0, count, columns):
        cells += st.columns(columns)[:min(columns, count - start)]
    return cells


def show_enlarged(title: str, pictures: list[tuple[Any, str]], lines: list[str], bar: Any = None) -> None:
    """One map opened large (the "Enlarge" selectors of Explore and the Gallery): ``pictures``
    (image, caption) side by side at half the page's width each, the colour bar and ``lines``
    (the map's numeric min / max, its settings) beneath."""
    with st.container(border=True):
        st.markdown(f"**{title}**")
        for col, (picture, caption) in zip(st.columns(max(2, len(pictures))), pictures):
            col.image(picture, caption=caption, width="stretch")
        if bar is not None:
            st.image(bar, caption="colour scale", width=320)
        for line in lines:
            st.caption(line)


def keep_choices() -> None:
    """Copy each of :data:`PERSISTENT_KEYS` to a key no widget owns (kept whatever runs in between)
    and give the widget's key that value again (as user state, which a page that does not draw the
    widget keeps too)."""
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[KEPT + key] = st.session_state[key]
        if KEPT + key in st.session_state:
            st.session_state[key] = st.session_state[KEPT + key]


def _model_choice(dataset: str, preset: str) -> services.ModelChoice:
    """The Model selector: the dataset's default black box, another architecture (trained on first
    use), or an uploaded ONNX / torch.export classifier (pixel input in [0, 1], logits out)."""
    try:
        choices = services.model_choices(dataset_info(dataset, preset))
    except XAIError:
        return services.DEFAULT_MODEL  # the page reports the dataset's own error
    _follow_the_dataset(choices, dataset, preset)
    chosen = st.session_state["model_choice"]
    choice = st.selectbox("Model", choices, key="model_choice", format_func=lambda c: c.label,
                          help=f"**{chosen.label}** on {dataset} ({preset}). Other architectures are trained on "
                               "first use and cached; a dataset or preset change returns to its default black "
                               "box unless you picked another model that it offers too.")
    note = st.session_state.get("model_note")
    if note and note[1] and note[0] == (dataset, preset, choice):
        st.info(note[1])
    if choice.kind != "user":
        return choice
    if not model_uploads_allowed():
        st.warning("Model uploads are off: this server listens on a network address. The operator can turn "
                   "them on with XAI_ALLOW_MODEL_UPLOADS=1 (see the README's Security and limits).")
        return choices[0]
    upload = st.file_uploader("Classifier (.onnx or .pt2)", type=[f.lstrip(".") for f in services.UPLOAD_FORMATS],
                              help="ONNX, or torch.export.save with a dynamic batch dimension; input pixels in "
                                   "[0, 1], output logits over the dataset's classes. It never runs in the server: "
                                   "a jailed worker process (no files, no network, a CPU and memory budget) loads "
                                   "and runs it.")
    if upload is None:
        services.prestart_model_worker()  # the check that follows finds torch already imported
        st.info("Upload a model, or pick another one above.")
        return choices[0]
    key = (upload.file_id, dataset, preset)  # check an upload once (accepted or refused), not on every rerun
    if st.session_state.get("checked_model", (None,))[0] != key:
        try:
            with st.spinner("Checking the model in its jail …"):
                path = services.save_user_model(upload.getvalue(), upload.name, dataset, preset)
            st.session_state["checked_model"] = key, services.ModelChoice("user", path=str(path)), None
        except XAIError as err:
            st.session_state["checked_model"] = key, choices[0], str(err)
    _, choice, refusal = st.session_state["checked_model"]
    if refusal:
        st.error(refusal)
    return choice


def _follow_the_dataset(choices: list[services.ModelChoice], dataset: str, preset: str) -> None:
    """Set the Model selector's value for (dataset, preset) before it is drawn. On a dataset or
    preset change, a model left at its default follows to the new default; one the user picked
    stays if the new dataset offers it and is reset to the default if not, both with a note in the
    sidebar (kept in ``model_note`` while the choice stands)."""
    chosen, before = st.session_state.get("model_choice"), st.session_state.get("model_for")
    st.session_state["model_for"] = where = (dataset, preset)
    default, note = choices[0], None
    if chosen is not None and before not in (None, where):
        if chosen.kind == "default" or (chosen.kind == "arch" and chosen.arch == default.arch):
            chosen = default  # the user left the default (or picked it by name): the new default follows
        elif chosen in choices:
            note = f"Model: kept your choice, **{chosen.label}** (the default black box here is {default.arch})."
        else:
            note = (f"Model reset to **{default.label}**: {chosen.label} is not offered for {dataset} "
                    f"({preset}).")
            chosen = default
        st.session_state["model_note"] = (dataset, preset, chosen), note
    st.session_state["model_choice"] = chosen if chosen in choices else default


def model_uploads_allowed() -> bool:
    """Uploaded models run in the server process (after their checks): allowed when the server
    listens on loopback only, or when the operator sets ``XAI_ALLOW_MODEL_UPLOADS=1``."""
    if os.environ.get("XAI_ALLOW_MODEL_UPLOADS") == "1":
        return True
    return str(st.get_option("server.address") or "") in LOOPBACK


def run_stored(key: str, selection: Selection, label: str, work) -> None:
    """Run ``work(progress)`` under a progress bar and keep ``(selection, result)`` in the session
    under ``key`` (see :func:`stored_result`) — in a work slot; an :class:`XAIError` becomes an error
    box, any other error a one-line box (traceback in the server log)."""
    bar = st.progress(0.0, text=label)
    try:
        with work_slot():
            st.session_state[key] = selection, work(
                lambda d, t, msg="", **_: bar.progress(min(1.0, d / max(t, 1)), text=msg or label))
    except XAIError as err:
        show_error(str(err), full_text(str(err)))
    except Exception as err:  # a bug: log it, show one line without server paths
        show_error(failed(label.rstrip(" …").capitalize(), err), full_text(err))
    finally:
        bar.empty()


def stored_result(key: str, selection: Selection) -> Any:
    """The result :func:`run_stored` kept under ``key``, if it was made for this selection."""
    stored = st.session_state.get(key)
    return stored[1] if stored and stored[0] == selection else None


def requested_job(name: str, selection: Selection, what: str, estimate: Callable[[Any], Estimate],
                  submit: Callable[[Any], Job], show: Callable[[Any], None]) -> None:
    """The second half of a form that starts long work: the request kept under ``{name}_request`` (this
    selection's) gets its estimate and, above the confirmation threshold, a *Start …* button; then the
    job runs in the background (``{name}_job``) with its progress and Cancel, and ``show`` draws its
    result once done. ``what(request)`` names the work."""
    request = stored_result(f"{name}_request", selection)
    if request is not None:
        cost = estimate(request)
        if not cost.needs_confirmation or start_button(f"Start the {what(request)}", cost, type="primary",
                                                       key=f"start-{name}-{request}"):
            if not cost.needs_confirmation and cost.seconds:
                st.caption(f"{what(request).capitalize()}, estimated time: {cost.text}.")
            try:
                st.session_state[f"{name}_job"] = selection, submit(request).key
            except XAIError as err:
                st.error(str(err))
            del st.session_state[f"{name}_request"]
    key = stored_result(f"{name}_job", selection)
    if key is not None:
        show_job(key)
        job = MANAGER.get(key)
        if job is not None and job.status == "done":
            show(job.result)


def training_notice(ctx: services.Context, methods: list[str],
                    configs: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """For trained methods not fitted yet: a "train now" button (a background job, with its time
    estimate; confirmed first when long) and its live progress with a Cancel button instead of
    blocking the page. ``configs[method]`` (e.g. DoRaR's n_e) names a variant trained apart from
    the preset's. Returns the methods that are ready."""
    configs = configs or {}
    ready = [m for m in methods if services.is_ready(ctx, m, **configs.get(m, {}))]
    for method in (m for m in methods if m not in ready):
        config = configs.get(method, {})
        label, key = services.fit_label(method, **config), services.fit_job_key(ctx, method, **config)
        job = MANAGER.get(key)
        unmet = estimates.unmet_requirement(ctx, method, **config)
        if unmet:
            st.warning(f"**{label}** cannot be trained on {ctx.dataset}: {unmet}")
        elif job is None or not job.active:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.info(f"**{label}** needs training on {ctx.dataset} first (cached afterwards)."
                    + (f" The last attempt was cancelled; {RESUMES}" if job and job.status == CANCELLED else ""))
            if job and job.error:
                show_error(f"The last attempt failed: {job.error}", job.details)
            if start_button(f"Train {label} now", estimates.fit_estimate(ctx, method, **config),
                            key=f"train-{label}", where=c2):
                services.fit_method_job(ctx, method, **config)
                st.rerun()
        else:
            show_job(key)
    return ready


#: what a cancelled fit keeps (the trainer checkpoints every epoch)
RESUMES = "training again resumes from its last finished epoch."


def start_button(label: str, estimate: Estimate, key: str, where: Any = None, **button: Any) -> bool:
    """A button that starts long work, drawn in ``where`` (default: the page), with the work's
    time estimate beneath; above the confirmation threshold (2 minutes) it stays off until the
    user ticks the confirmation. True on the click that starts it."""
    confirmed = True
    if estimate.seconds:
        st.caption(f"{label.removesuffix(' now')}, estimated time: {estimate.text}.")
    if estimate.needs_confirmation:
        confirmed = st.checkbox(f"Start it anyway: about {duration(estimate.seconds)} in the background "
                                "(you can cancel it)", key=f"confirm-{key}")
    return (where or st).button(label, key=key, disabled=not confirmed, **button)


def cancel_button(job: Job) -> None:
    """A Cancel button for an active job: the job stops at its next progress report (for everyone
    who started it: jobs are shared); the store holds nothing half-written."""
    if job.active and not job.cancel_requested:
        if st.button("Cancel", key=f"cancel-{job.key}",
                     help="stops the job at its next progress report, for everyone waiting on it; a fit keeps "
                          "its last finished epoch and resumes from there when started again"):
            MANAGER.cancel(job.key)


def show_job(key: str) -> None:
    """A background job's live progress with a Cancel button (refreshed every second while it
    runs; the page reruns once it finishes), its error, or that it was cancelled."""
    job = MANAGER.get(key)
    if job is None:
        return
    if job.error:
        show_error(f"{job.title} failed: {job.error}", job.details)
    elif job.status == CANCELLED:
        st.info(f"{job.title} was cancelled." + (f" {RESUMES[0].upper()}{RESUMES[1:]}" if key.startswith("fit/")
                                                else ""))
    elif job.active:
        st.fragment(lambda: _job_line(key), run_every=1.0)()


def _job_line(key: str) -> None:
    job = MANAGER.get(key)
    if not job.active:
        st.rerun(scope="app")
    seconds = job.eta_seconds
    eta = f" · about {duration(seconds)} left" if seconds is not None else ""
    st.progress(job.fraction, text=f"{job.title}: {job.message}{eta} (also on the Train page)")
    cancel_button(job)


def load_or_stop(selection: Selection) -> services.Context:
    """The context, or an error box and the end of this page's run (also when loading it would
    first train a black box for long: that runs as a background job from the Train page)."""
    _stop_before_long_training(selection)
    try:
        return context(*selection)
    except XAIError as err:
        st.error(str(err))
        st.stop()
    except Exception as err:  # a bug: log it, show one line without server paths
        st.error(failed(f"Loading {selection.dataset}", err))
        st.stop()


def _stop_before_long_training(selection: Selection) -> None:
    """End the page's run with a note when the default black box is not trained yet and training
    it is estimated above the confirmation threshold (e.g. the paper preset on a CPU): never train
    for hours inside a page run. Shows the training job's progress when one runs. Another
    architecture or the manipulated black box, not trained yet: :func:`model_ready`'s offer."""
    if selection.model.kind in ("arch", "manipulated"):
        if not model_ready(selection.dataset, selection.preset, selection.model):
            st.stop()
        return
    if selection.model.kind != "default":
        return
    try:
        if tasks.black_box_cached(selection.dataset, selection.preset):
            return
        estimate = estimates.black_box_estimate(selection.dataset, selection.preset)
    except XAIError:
        return  # loading the context reports it
    if not estimate.needs_confirmation:
        return
    st.info(f"The {selection.dataset} black box ({selection.preset} preset) is not trained yet: training it "
            f"takes {estimate.text}. Start it on the **Train** page, where it runs in the background (you can "
            "cancel it); this page uses it once it is ready. The quick preset trains in minutes.", icon="⏳")
    show_job(tasks.black_box_job_key(selection.dataset, selection.preset))
    st.stop()


def model_ready(dataset: str, preset: str, model: services.ModelChoice, purpose: str = "") -> bool:
    """Whether ``model`` loads without training (then :func:`context` is quick). If not: its
    training estimate and a "Train" button that starts it as a background job (confirmed first
    when long), or the running job's progress with Cancel, or its error; never trained inline.
    ``purpose`` ends the note's first sentence (e.g. "to compare with it")."""
    try:
        if tasks.model_cached(dataset, preset, model):
            return True
        estimate = estimates.model_estimate(dataset, preset, model)
    except XAIError:
        return True  # loading the context reports it
    key = tasks.model_job_key(dataset, preset, model)
    job = MANAGER.get(key)
    if job is not None and job.active:
        show_job(key)
        return False
    st.info(f"**{model.label}** is not trained yet on {dataset} ({preset}){purpose}: it trains once in the "
            "background (you can cancel it) and is cached afterwards.", icon="⏳")
    if job is not None and (job.error or job.status == CANCELLED):
        show_job(key)
    if start_button(f"Train {model.label}", estimate, key=f"train-model-{dataset}-{preset}-{model.kind}-{model.arch}",
                    type="primary"):
        tasks.train_model_job(dataset, preset, model)
        st.rerun()
    return False
