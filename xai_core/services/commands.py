"""The command lines behind the pages' results: an evaluation (what the Evaluate page shows under
every result, so that the same numbers can be made again with ``python -m xai_core evaluate`` and,
for more images, across processes or GPUs with ``torchrun``) and a fit (the Train page's). Pure functions: names and settings in, a shell-quoted string
out; nothing is loaded.

Every option that changes the result is written, and only those: ``--set`` for the method settings
that differ from the preset's, ``--metric-set`` for the metric parameters that differ from their
defaults, ``--units`` / ``--n-e`` only where a chosen method or metric takes them, the model choice
(``--manipulated`` or ``--model PATH``), ``--target label`` unless the black box's top-1 is explained,
``--device`` unless "auto". Values are written so that the
CLI's ``--set`` parser (:func:`xai_core.cli._parse_sets`) reads them back as the same values; a value
it cannot read back (``None``, a list, a string that reads as a number) is a one-line error."""
from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import Any

from ..device import DEVICES
from ..errors import XAIError
from ..metrics import METRICS
from .catalog import method_defaults, randomized_configs, unit_configs
from .context import DEFAULT_MODEL, TOP1, Configs, ModelChoice, check_target

PROGRAM = ("python", "-m", "xai_core")


def evaluate_arguments(
    dataset: str,
    preset: str,
    methods: Sequence[str],
    metrics: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    model: ModelChoice = DEFAULT_MODEL,
    units: int | None = None,
    n_e: int | None = None,
    randomize_labels: bool = False,
    configs: Configs | None = None,
    metric_settings: Configs | None = None,
    device: str = "auto",
    json_path: str = "eval.json",
    target: str = TOP1,
) -> list[str]:
    """The arguments of ``evaluate`` (after the subcommand) that reproduce ``services.evaluate`` of
    ``methods`` × ``metrics`` on the first ``n`` test images of ``dataset`` at ``preset``, the
    classifier ``model`` loaded with ``seed`` on ``device``. ``units`` / ``n_e`` are the CLI's
    ``--units`` / ``--n-e`` (what :func:`~xai_core.services.catalog.unit_configs` turns into configs),
    ``randomize_labels`` its ``--randomize-labels``; ``configs`` (per method) and ``metric_settings``
    (per metric) are further settings, applied on top as ``--set`` / ``--metric-set`` are; ``target``
    the class explained (``--target``, written only when not the default top-1).

    A model the command line cannot name (another architecture than the dataset's default, a user
    model without its file) or a value ``--set`` cannot carry is one :class:`XAIError` line."""
    methods, metrics = list(methods), list(metrics)
    if not methods or not metrics:
        raise XAIError("an evaluation names at least one method and one metric")
    args = ["--dataset", dataset, "--preset", preset, "--seed", str(int(seed)), *_model_arguments(model),
            "--methods", ",".join(methods), "--metrics", ",".join(metrics)]
    if units is not None and any(unit_configs(methods, metrics, units, None)):
        args += ["--units", str(int(units))]  # only where a chosen method or metric has explanation units
    if n_e is not None and any(unit_configs(methods, metrics, None, n_e)):
        args += ["--n-e", str(int(n_e))]
    if randomize_labels:
        randomized_configs(methods)  # one line when no chosen method is trained
        args.append("--randomize-labels")
    if check_target(target) != TOP1:
        args += ["--target", target]
    for method, setting, value in _changed(configs, methods, "--methods", lambda m: method_defaults(m, preset)):
        args += ["--set", f"{method}.{setting}={_value(value, method, setting)}"]
    for metric, param, value in _changed(metric_settings, metrics, "--metrics", lambda m: METRICS.get(m).parameters):
        args += ["--metric-set", f"{metric}.{param}={_value(value, metric, param)}"]
    args += ["--num-images", str(int(n)), "--json", json_path]
    return args + _device_arguments(device)


def evaluate_command(dataset: str, preset: str, methods: Sequence[str], metrics: Sequence[str], n: int,
                     **options: Any) -> str:
    """``python -m xai_core evaluate …``: the command that reproduces the evaluation, shell-quoted
    (``options``: those of :func:`evaluate_arguments`). E.g. ``python -m xai_core evaluate --dataset
    hard_mnist --preset quick --seed 0 --methods diet,gradient --metrics iou,deletion --num-images 200
    --json eval.json``."""
    return shlex.join([*PROGRAM, "evaluate", *evaluate_arguments(dataset, preset, methods, metrics, n, **options)])


def torchrun_command(dataset: str, preset: str, methods: Sequence[str], metrics: Sequence[str], n: int, *,
                     processes: int = 2, **options: Any) -> str:
    """``torchrun --nproc_per_node N -m xai_core evaluate …``: the same evaluation on ``n`` images,
    sharded across ``processes`` processes (one per GPU on a GPU machine); rank 0 writes the same JSON.
    Always ``--num-images``: torchrun's own parser reads ``--n`` as an ambiguous abbreviation of its
    options."""
    return _torchrun(processes, ["evaluate", *evaluate_arguments(dataset, preset, methods, metrics, n, **options)])


def train_command(dataset: str, preset: str, methods: Sequence[str], *, seed: int = 0,
                  model: ModelChoice = DEFAULT_MODEL, processes: int | None = None) -> str:
    """``python -m xai_core train …`` fitting ``methods`` at their preset's settings on ``model``; with
    ``processes``, its ``torchrun --nproc_per_node N`` form (every rank trains together, data parallel;
    rank 0 writes the store entry every page then loads). A user's model file is one line: ``train``
    has no ``--model``."""
    if not methods:
        raise XAIError("a fit names at least one method")
    if model.kind == "user":
        raise XAIError("the train command fits on the dataset's black boxes only (it has no --model)")
    args = ["train", "--dataset", dataset, "--preset", preset, "--seed", str(int(seed)), *_model_arguments(model),
            "--methods", ",".join(methods)]
    return shlex.join([*PROGRAM, *args]) if processes is None else _torchrun(processes, args)


# -- pieces ------------------------------------------------------------------------------------------
def _torchrun(processes: Any, args: list[str]) -> str:
    """``torchrun --nproc_per_node N -m xai_core ARGS``, shell-quoted."""
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise XAIError(f"torchrun needs a positive number of processes, got {processes!r}")
    return shlex.join(["torchrun", "--nproc_per_node", str(processes), "-m", "xai_core", *args])


def _model_arguments(model: ModelChoice) -> list[str]:
    """The CLI's model choice: nothing for the dataset's default black box, ``--manipulated`` for
    it trained with gradient manipulation (the dashboard offers that on the default architecture
    only, as the CLI), ``--model PATH`` for a user's file."""
    if model.kind == "default":
        return []
    if model.kind == "manipulated":
        return ["--manipulated"]
    if model.kind == "user":
        if not model.path:
            raise XAIError("no model file chosen: the command names it with --model PATH")
        return ["--model", model.path]
    raise XAIError(f"the command line has no option for {model.label}: it evaluates the dataset's default "
                   "black box, --manipulated or --model FILE")


def _device_arguments(device: Any) -> list[str]:
    """``--device`` unless "auto"; a torch device string ("cuda:1") by its kind."""
    name = str(device).split(":")[0]
    if name not in DEVICES:
        raise XAIError(f"the command line takes --device {', '.join(DEVICES)}, not {device!r}")
    return [] if name == "auto" else ["--device", name]


def _changed(settings: Configs | None, names: Sequence[str], among: str,
             defaults: Any) -> list[tuple[str, str, Any]]:
    """(name, setting, value) of ``settings`` that differ from ``defaults(name)``, in the order given;
    a name not among ``names`` is refused as the CLI would."""
    out = []
    for name, values in (settings or {}).items():
        if not values:
            continue
        if name not in names:
            raise XAIError(f"settings for {name!r}, which is not among {among}")
        default = defaults(name)
        out += [(name, k, v) for k, v in values.items() if k not in default or not _same(default[k], v)]
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values, a bool never equal to a number (``True == 1`` in Python)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _value(value: Any, name: str, setting: str) -> str:
    """``value`` as ``--set`` writes it: true / false, an int, a float (shortest round-tripping form),
    or a string the CLI reads back as that same string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise XAIError(f"{name}.{setting} is NaN: no command line sets it")
        return repr(value)
    if isinstance(value, str) and value and parse_value(value) == value and type(parse_value(value)) is str:
        return value
    raise XAIError(f"{name}.{setting}={value!r} cannot be written on the command line "
                   "(--set takes true / false, numbers and plain words)")


def parse_value(text: str) -> Any:
    """A ``--set`` / ``--metric-set`` value as the CLI reads it: true/false, an int, a float, else the
    stripped text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return parse_number(text)


def parse_number(text: str) -> Any:
    """An int, else a float, else the stripped text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()
