"""Command line: the same services the dashboard uses (see DESIGN.md, "Command-line contract").

Bad input exits with status 2 and one line on stderr; nothing is half-written. (Over 300 lines on
purpose: the whole command-line contract — one function per command and the parser — in one place.)"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import distributed
from .data import dataset_info
from .errors import XAIError
from .presets import PRESETS

if TYPE_CHECKING:
    from .metrics import MetricValue


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return items


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high] (one line otherwise, exit 2)."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high:,}, got {value}")
        return number
    return parse


#: seeds fit every generator the code seeds (numpy, torch, seed·100003 + epoch in 64 bits)
SEED = _int_in(0, 2**31 - 1)


def tqdm_progress(desc: str) -> Callable[..., None]:
    """A Progress callback drawing a tqdm bar on stderr."""
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def report(done: int, total: int, message: str = "", **metrics: Any) -> None:
        if "bar" not in bar or bar["bar"].total != total:
            if "bar" in bar:
                bar["bar"].close()
            bar["bar"] = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)
        b = bar["bar"]
        b.n = done
        b.set_postfix_str(" ".join([message] + [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()]))
        b.refresh()
        if done >= total:
            b.close()
            bar.pop("bar")

    return report


def _write_json(path: str, payload: Any) -> None:
    """Write JSON atomically (temp file beside it + rename) so a failed run leaves no partial file."""
    from .store import atomic_write

    text = json.dumps(payload, indent=2, default=float).encode()
    atomic_write(Path(path), lambda fh: fh.write(text))


def _check_output(path: str, option: str, directory: bool = False) -> None:
    """One line, before any work, when ``path`` cannot be written: a folder where a file goes (or
    the reverse), or a parent that is not a writable folder."""
    target = Path(path)
    if target.exists() and target.is_dir() != directory:
        raise XAIError(f"{option} {path} is {'a file' if directory else 'a directory'}; "
                       f"give {'a folder' if directory else 'a file name'}")
    parent = target if directory and target.exists() else target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not _can_create_in(parent):
        raise XAIError(f"{option} {path}: {parent} is not a writable folder")


def _can_create_in(folder: Path) -> bool:
    """Whether a folder can really be created in ``folder`` (permission bits say yes to root, and
    /proc or a read-only mount say no only when tried): made and removed at once."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".xai-probe-", dir=folder))
    except OSError:
        return False
    return True


def _preflight(args: argparse.Namespace) -> None:
    """What can be checked before training or explaining starts: output paths and the bottleneck
    layer (the cache folder is checked first thing in ``services.load_context``)."""
    for option, directory in (("json", False), ("out", True), ("examples", True)):
        value = getattr(args, option, None)
        if isinstance(value, str):
            _check_output(value, f"--{option}", directory)
    if getattr(args, "layer", None) and not getattr(args, "model", None):
        from . import services

        services.check_layer(dataset_info(args.dataset, args.preset), args.layer)
    if getattr(args, "target", None) is not None:
        from .services.context import check_target

        check_target(args.target)


# -- commands ------------------------------------------------------------------------------
def cmd_datasets(args: argparse.Namespace) -> None:
    from .data import dataset_names

    rows = []
    for name in dataset_names():
        info = dataset_info(name, "quick")
        rows.append(
            {
                "name": name,
                "description": info.description,
                "image_size": info.image_size,
                "channels": info.channels,
                "classes": info.num_classes,
                "ground_truth": info.has_ground_truth,
                "splits": list(info.splits),
                "source": info.source,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            gt = "ground truth" if r["ground_truth"] else "no ground truth"
            print(f"{r['name']:<15} {r['image_size']}px x{r['channels']} {r['classes']:>4} classes, {gt}: "
                  f"{r['description']}")
        print("imagefolder:PATH  your own images: PATH/{train,test}/CLASS/*.png, optional PATH/masks/...")


def cmd_methods(args: argparse.Namespace) -> None:
    from .services import method_rows

    rows = [{"name": r.name, "kind": r.kind, "description": r.about} for r in method_rows()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<22} {r['kind']:<13} {r['description']}")


def cmd_train(args: argparse.Namespace) -> None:
    from . import services

    if args.methods:
        services.check_methods(args.methods, dataset_info(args.dataset, args.preset))
    configs, _ = _unit_settings(args, [])
    ctx = _load_context(args)
    accuracy = ctx.record.get("test_accuracy")
    state = f"test accuracy {accuracy:.4f}" if accuracy is not None else "pretrained, nothing to train"
    _say(f"black box for {args.dataset} ({args.preset}): {state}")
    for name in args.methods or []:  # under torchrun every rank trains together; rank 0 writes the entry
        services.build_explainer(ctx, name, _progress(name), **configs.get(name, {}))
        _say(f"{name}: ready" + (f" (trained on {distributed.world_size()} processes)" if distributed.active() else ""))


def cmd_explain(args: argparse.Namespace) -> None:
    from . import services
    from .export import save_explanations

    services.check_methods(args.methods, dataset_info(args.dataset, args.preset))
    ctx = _load_context(args)
    _check_index(args, ctx)
    batch, explanations = services.explain_indices(ctx, args.methods, [args.index], tqdm_progress("explain"),
                                                   services.layer_configs(args.methods, args.layer))
    written = save_explanations(Path(args.out), ctx, batch, explanations)
    print(f"wrote {len(written)} files to {args.out}")


def _load_context(args: argparse.Namespace) -> Any:
    """The context the command names: ``--model`` (a user's file), else ``--manipulated``, else the
    dataset's default black box; loaded (or trained) with a progress bar."""
    from . import services

    path = getattr(args, "model", None)
    model = (services.ModelChoice("user", path=path) if path else
             services.ModelChoice("manipulated") if args.manipulated else services.DEFAULT_MODEL)
    device = args.device
    if distributed.launched():  # torchrun: the arguments are checked; join the job on this rank's own device
        device = distributed.start(args.device)
    return distributed.main_first(lambda: services.load_context(
        args.dataset, args.preset, device=device, seed=args.seed, model=model, progress=_progress("black box")))


def _progress(desc: str) -> Callable[..., None]:
    """A progress bar; under torchrun rank 0's alone."""
    from .progress import no_progress

    return tqdm_progress(desc) if distributed.is_main() else no_progress


def _say(line: str) -> None:
    """Print a result line; under torchrun rank 0 alone."""
    if distributed.is_main():
        print(line)


def _check_index(args: argparse.Namespace, ctx: Any) -> None:
    if not 0 <= args.index < len(ctx.test):
        raise XAIError(f"--index {args.index} out of range: {args.dataset} test split has {len(ctx.test)} images")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from . import services
    from .metrics import EvaluationResult

    info = dataset_info(args.dataset, args.preset)
    services.check_methods(args.methods, info)
    services.applicable_metrics(args.metrics, info)  # one line when none applies; the rest are n/a
    configs, metric_settings = _unit_settings(args, args.metrics)
    ctx = _load_context(args)
    if distributed.active():  # torchrun: the images shared out, rank 0 gathers and writes
        result = services.evaluate_across_ranks(ctx, args.methods, args.metrics, args.n, configs=configs,
                                                progress=_progress("evaluate"), metric_settings=metric_settings,
                                                target=args.target)
        if result is None:
            return
    else:
        result = services.evaluate(ctx, args.methods, args.metrics, args.n, progress=tqdm_progress("evaluate"),
                                   configs=configs, metric_settings=metric_settings, target=args.target)
    _write_json(args.json, result)
    typed = EvaluationResult.from_json(result)
    skipped = typed.not_applicable
    for method, values in typed.results.items():
        summary = ", ".join(f"{k}=n/a ({skipped[k]})" if k in skipped else f"{k}={_short(v)}"
                            for k, v in values.items())
        print(f"{method}: {summary}")
    print(f"wrote {args.json}")


def _unit_settings(args: argparse.Namespace, metrics: list[str]) -> tuple[dict, dict]:
    """Method configs (``--layer``, ``--units``, ``--n-e``, ``--randomize-labels``, ``--set``) and metric settings (``--units``, ``--n-e``),
    checked before any work: a unit size that does not divide the image or n_e beyond the units is one line."""
    from . import services
    from .methods import METHODS
    from .metrics import METRICS
    from .units import check_units, default_size

    info = dataset_info(args.dataset, args.preset)
    if args.units is not None or args.n_e is not None:
        check_units(info.image_size, args.units or default_size(info.image_size), args.n_e or 1)
    configs, metric_settings = services.unit_configs(args.methods or [], metrics, args.units, args.n_e)
    extra = [services.layer_configs(args.methods or [], getattr(args, "layer", None))]
    if getattr(args, "randomize_labels", False):
        extra.append(services.randomized_configs(args.methods or []))
    extra.append(_parse_sets(getattr(args, "set", None) or [], args.methods or []))
    for more in extra:
        for method, config in more.items():
            configs[method] = {**configs.get(method, {}), **config}
    for method, config in configs.items():  # unknown or unfit settings: one line before any training
        cls = METHODS.get(method)
        cls.for_dataset(cls.Config.for_preset(args.preset, method, **config), info)
    for metric, params in _parse_sets(getattr(args, "metric_set", None) or [], metrics, "--metrics").items():
        metric_settings[metric] = {**metric_settings.get(metric, {}), **params}
    for metric, params in metric_settings.items():  # unknown parameters: one line before any work
        METRICS.get(metric).resolve(**params)
    return configs, metric_settings


def cmd_ablate(args: argparse.Namespace) -> None:
    from . import services

    info = dataset_info(args.dataset, args.preset)
    services.check_methods(args.methods, info)
    if args.components:
        return _component_ablation(args, info)
    services.check_metrics([args.metric], info)
    if args.sweep:
        setting, values = _parse_sweep(args.sweep, args.methods)
    else:
        factors = args.factors or services.resolution_factors(info.image_size)
        if not all(str(u).isdigit() and int(u) >= 1 for u in factors):
            raise XAIError(f"--factors must be positive integers, got {','.join(map(str, factors))}")
        factors = [int(u) for u in factors]
    ctx = _load_context(args)
    if args.examples:
        _check_index(args, ctx)  # before any refit
    if args.sweep:
        runs = [services.setting_sweep(ctx, m, setting, values, args.metric, args.n, tqdm_progress(m), args.target)
                for m in args.methods]
        result = {**runs[0], "summary": {k: v for r in runs for k, v in r["summary"].items()},
                  "per_image": {k: v for r in runs for k, v in r["per_image"].items()},
                  "runs": {m: r["runs"] for m, r in zip(args.methods, runs)}}
        if args.examples:
            _sweep_examples(ctx, args, setting, values)
    else:
        setting = "u"
        result = services.resolution_ablation(ctx, args.methods, args.metric, factors, args.n, tqdm_progress("ablate"),
                                              args.target)
    _write_json(args.json, result)
    for method, by_value in result["summary"].items():
        print(f"{method}: " + ", ".join(f"{setting}={u}: {_short(v)}" for u, v in by_value.items()))
    print(f"wrote {args.json}")


def _component_ablation(args: argparse.Namespace, info: Any) -> None:
    """``ablate --components``: each method beside its variants without each component (MEED's Table 2)."""
    from . import services
    from .metrics import EvaluationResult

    metrics = _csv(args.metric)
    services.check_metrics(metrics, info)
    for m in args.methods:
        services.component_variants(m)  # one line for a method without components, before any training
    ctx = _load_context(args)
    result = {m: services.component_ablation(ctx, m, metrics, args.n, tqdm_progress(m), args.target)
              for m in args.methods}
    _write_json(args.json, result[args.methods[0]] if len(args.methods) == 1 else result)
    for run in result.values():
        for label, values in EvaluationResult.from_json(run).results.items():
            print(f"{label}: " + ", ".join(f"{k}={_short(v)}" for k, v in values.items() if k in metrics))
    print(f"wrote {args.json}")


def _sweep_examples(ctx: Any, args: argparse.Namespace, setting: str, values: list[Any]) -> None:
    """Each method's explanation of test sample ``--index`` per swept value (fits are cached by the sweep)."""
    from . import services
    from .export import save_explanations

    for m in args.methods:
        for value in values:
            batch, out = services.explain_indices(ctx, [m], [args.index], configs={m: {setting: value}})
            folder = Path(args.examples) / f"{m}_{setting}={value}"
            save_explanations(folder, ctx, batch, out)
            print(f"wrote {folder}")


def _parse_sweep(text: str, methods: list[str]) -> tuple[str, list[Any]]:
    """``SETTING=v1,v2,…`` → (setting, values as int / float / str); the setting must be one every
    method declares worth sweeping (:func:`xai_core.services.check_sweep`)."""
    from .services import check_sweep

    setting, _, raw = text.partition("=")
    from .services.commands import parse_number

    values = [parse_number(v) for v in raw.split(",") if v.strip()]
    if not setting or not values:
        raise XAIError(f"--sweep must look like SETTING=v1,v2 (e.g. u=2,4,8), got {text!r}")
    check_sweep(methods, setting)
    return setting, values


def _parse_sets(items: list[str], methods: list[str], among: str = "--methods") -> dict[str, dict[str, Any]]:
    """``METHOD.SETTING=VALUE`` items → ``{method: {setting: value}}`` (int / float / true / false / str);
    the method (or metric) must be among ``methods``; an unknown setting is refused when it is built."""
    from .services.commands import parse_value

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, _, raw = item.partition("=")
        method, _, setting = target.partition(".")
        if not (method and setting and raw.strip()):
            raise XAIError(f"--set must look like METHOD.SETTING=VALUE (e.g. comet.t=0.03), got {item!r}")
        if method not in methods:
            raise XAIError(f"{item}: {method!r} is not among {among}")
        out.setdefault(method, {})[setting] = parse_value(raw)
    return out


def cmd_signal_distractor(args: argparse.Namespace) -> None:
    from . import services
    from .figures import masking_rows
    from .services.masking import masking_signal

    info = dataset_info(args.dataset, args.preset)
    signal = masking_signal(args.methods or [], args.signal)
    services.check_region_masking(info, signal)
    if args.methods:
        services.check_methods(args.methods, info)
    fractions = [services.commands.parse_number(f) for f in args.fractions]
    if not all(isinstance(f, (int, float)) and 0 <= f <= 1 for f in fractions):
        raise XAIError(f"--fractions must be numbers in [0, 1], got {','.join(args.fractions)}")
    ctx = _load_context(args)
    for m in args.methods or []:
        ctx.explainer(m, tqdm_progress(m))  # fitted (or loaded) with a progress bar, reused below
    result = services.region_masking(ctx, args.methods or [], n=args.n, fractions=tuple(float(f) for f in fractions),
                                     signal=signal)
    _write_json(args.json, result)
    print(f"signal: {result['signal_source']} ({result['signal_share']:.1%} of the pixels on average)")
    for row in masking_rows(result):
        print(", ".join(f"{k}={v}" for k, v in row.items()))
    print(f"wrote {args.json}")


def cmd_assets(args: argparse.Namespace) -> None:
    from .models import write_shipped_black_boxes
    from .services.shipped import write_shipped_fits

    for path in write_shipped_black_boxes(device=args.device, progress=tqdm_progress("black box")):
        print(f"wrote {path}")
    for path in write_shipped_fits(device=args.device, progress=tqdm_progress("fit")):
        print(f"wrote {path}")


def _short(value: MetricValue | float | None, ci: Sequence[float] | None = None) -> str:
    """One value for the console, by its kind: a scalar's mean (or a plain number: an ablation's
    headline, a claim's value), a curve's AUC, each score's mean ± std of a seeded metric (over seeds)
    or a group metric (over images); each followed by its 95 % interval where known (``ci``: a plain
    number's); n/a where there is nothing to score."""
    from .metrics import CurveValue, GroupValue, ScalarValue, SeededValue  # the CLI starts without torch

    if isinstance(value, (SeededValue, GroupValue)):
        return " ".join(f"{key} {_mean_std(s.mean, s.std)}{_ci(s.ci95)}" for key, s in value.scores.items())
    if isinstance(value, CurveValue):
        return "n/a" if value.auc is None else f"{value.auc:.4f} (AUC){_ci(value.interval)}"
    if isinstance(value, ScalarValue):
        value, ci = value.mean, value.ci95
    return "n/a" if value is None else f"{value:.4f}{_ci(ci)}"


def _ci(ci: Sequence[float] | None) -> str:
    """" [low, high]": a 95 % interval after its value ("" without one)."""
    return "" if ci is None else f" [{ci[0]:.4f}, {ci[1]:.4f}]"


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.4f}" if std is None else f"{mean:.4f}±{std:.4f}"


def cmd_reproduce(args: argparse.Namespace) -> None:
    """Run what is not cached of the chosen claims' measurements (one progress bar over all of them),
    then print claim | paper | ours | holds and write the report JSON."""
    from . import reproduce
    from .reproduce.render import separated_text
    from .store import ArtifactStore

    if args.json:
        _check_output(args.json, "--json")
    claims = reproduce.select(args.papers, args.preset, args.claims)
    store = ArtifactStore()
    if not args.report_only:
        reproduce.measure_pending(claims, args.preset, store, args.device, tqdm_progress("reproduce"))
    result = reproduce.report(claims, args.preset, store)
    mark = {True: "yes", False: "NO", None: "n/a"}
    for row in result["claims"]:
        intervals = row.get("ours_ci95") or {}
        ours = ", ".join(f"{k} {_short(v, intervals.get(k))}" for k, v in row["ours"].items()) or "–"
        paper = ", ".join(f"{k} {v:g}" for k, v in row["paper_values"].items()) or "–"
        stale = " (stale: older code)" if row["status"] == "stale" else ""
        separate = separated_text(row)
        print(f"[{mark[row['holds']]}] {row['id']} ({row['source']}): {row['claim']}\n"
              f"      paper: {paper}\n      ours{stale}: {ours}\n      {row['check']}: {row['reason']}"
              + ("" if separate == "–" else f"\n      95 % intervals separate: {separate}"))
    held = sum(r["holds"] is True for r in result["claims"])
    print(f"{held} of {len(result['claims'])} claims hold at preset {args.preset}")
    if args.json:
        _write_json(args.json, result)
        print(f"wrote {args.json}")


def cmd_bench(args: argparse.Namespace) -> None:
    from .bench import DEFAULT_SECTIONS, run_bench

    result = run_bench(
        dataset=args.dataset, preset=args.preset, methods=args.methods, n=args.n, device=args.device,
        seed=args.seed, train_datasets=args.train, bottleneck_presets=args.bottleneck_presets,
        bottleneck_batches=[int(b) for b in args.bottleneck_batches], sections=tuple(args.sections or DEFAULT_SECTIONS),
        fit_dataset=args.fit_dataset, fit_methods=args.fit_methods, fit_a1a2=not args.no_a1a2,
        sizes=args.sizes, repeats=args.repeats,
        progress=tqdm_progress("bench"),
    )
    _write_json(args.json, result)
    print(json.dumps(result, indent=2))


def unit_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--units", type=_int_in(1, 4096), default=None,
                    help="explanation unit side in px for dorar, lime, a1a2 and hit_rate (default: about a 7×7 grid)")
    sp.add_argument("--n-e", type=_int_in(1, 10**6), default=None, help="explanation units kept (dorar, a1a2, "
                                                                        "hit_rate; default 4)")
    sp.add_argument("--set", action="append", metavar="METHOD.SETTING=VALUE",
                    help="a method setting other than its preset's, e.g. comet.t=0.03 or comet.loss=hinge "
                         "(repeatable; trained methods cache each setting's fit apart)")
    sp.add_argument("--metric-set", action="append", metavar="METRIC.PARAMETER=VALUE",
                    help="a metric parameter other than its default, e.g. sen.normalise=false or fs_fu.k=50 "
                         "(repeatable)")
    sp.add_argument("--randomize-labels", action="store_true",
                    help="fit the trained methods on labels shuffled across the training split (the data-"
                         "randomisation sanity check; cached apart from the real-label fit)")


def target_option(sp: argparse.ArgumentParser) -> None:
    """``--target``: the class every map explains (checked in :func:`_preflight`: one line for a bad value)."""
    sp.add_argument("--target", default="top1", metavar="{top1,label}",
                    help="the class explained: top1, the black box's own decision as the papers explain it "
                         "(default), or label, the dataset's label where known")


LAYER_HELP = ("the bottleneck layer of iba / input_iba, by its dotted name (e.g. net.features.1); "
              "default: the model's own (about 1/8 of the input)")


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xai_core", description="Attribution Explorer backend")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, dataset: bool = True) -> None:
        if dataset:
            sp.add_argument("--dataset", required=True, help="registered name or imagefolder:PATH")
        sp.add_argument("--preset", default="quick", choices=PRESETS)
        sp.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        sp.add_argument("--seed", type=SEED, default=0)
        if dataset:
            sp.add_argument("--manipulated", action="store_true",
                            help="the black box trained with gradient manipulation (DiET §5.4) instead")

    for name, fn in (("datasets", cmd_datasets), ("methods", cmd_methods)):
        sp = sub.add_parser(name, help=f"list {name}")
        sp.add_argument("--json", action="store_true")
        sp.set_defaults(fn=fn)

    sp = sub.add_parser("train", help="train (or load) the black box and the methods that need fitting")
    common(sp)
    sp.add_argument("--methods", type=_csv, default=None)
    unit_options(sp)
    sp.set_defaults(fn=cmd_train)

    sp = sub.add_parser("explain", help="explain one test image, write PNGs + scores")
    common(sp)
    sp.add_argument("--index", type=_int_in(0, 2**31 - 1), required=True)
    sp.add_argument("--methods", type=_csv, required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--model", default=None, help="explain your own classifier instead: .onnx, .pt2 (torch.export) or "
                                                  ".pt (TorchScript); "
                         "pixel input in [0,1]; it runs only in a jailed worker process")
    sp.add_argument("--layer", default=None, help=LAYER_HELP)
    sp.set_defaults(fn=cmd_explain)

    sp = sub.add_parser("evaluate", help="methods x metrics on n test images, JSON out")
    common(sp)
    sp.add_argument("--methods", type=_csv, required=True)
    sp.add_argument("--metrics", type=_csv, required=True)
    sp.add_argument("--num-images", "--n", dest="n", type=_int_in(1, 10**7), default=100)
    sp.add_argument("--json", required=True)
    sp.add_argument("--model", default=None, help="evaluate your own classifier (.onnx, .pt2 or .pt) instead of the "
                                                  "black box")
    sp.add_argument("--layer", default=None, help=LAYER_HELP)
    unit_options(sp)
    target_option(sp)
    sp.set_defaults(fn=cmd_evaluate)

    sp = sub.add_parser("ablate", help="resolution ablation (maps averaged over u x u blocks) or a method-setting "
                                       "sweep (--sweep u=2,4,8 for DiET), JSON out")
    common(sp)
    sp.add_argument("--methods", type=_csv, required=True)
    sp.add_argument("--metric", default="pixel_perturbation",
                    help="the metric (with --components: a comma-separated list, e.g. fs_fu,sen)")
    sp.add_argument("--components", action="store_true",
                    help="evaluate each method beside its variants without each of its components (meed: w/o output, "
                         "w/o AIL, w/o prior: the MEED paper's Table 2) instead")
    sp.add_argument("--factors", type=_csv, default=None, help="block sizes, default 1,2,4,8,16 as the size allows")
    sp.add_argument("--sweep", default=None,
                    help="refit each method per value of one of its settings instead, e.g. u=2,4,8 for DiET")
    sp.add_argument("--num-images", "--n", dest="n", type=_int_in(1, 10**7), default=100)
    sp.add_argument("--json", required=True)
    sp.add_argument("--examples", default=None,
                    help="with --sweep: write each value's explanation of test sample --index as PNGs under this folder")
    sp.add_argument("--index", type=_int_in(0, 2**31 - 1), default=0)
    target_option(sp)
    sp.set_defaults(fn=cmd_ablate)

    sp = sub.add_parser("signal_distractor", help="signal vs distractor (DiET's Table 6): accuracy of the black box "
                        "and of the methods' tuned models when a fraction of each region is erased, JSON out")
    common(sp)
    sp.add_argument("--methods", type=_csv, default=None, help="methods whose tuned model to test too (e.g. diet)")
    sp.add_argument("--fractions", type=_csv, default=["0.2", "0.5", "0.8"])
    sp.add_argument("--signal", choices=("diet_mask", "ground_truth"), default=None,
                    help="the signal region: DiET's own rounded test masks (the paper's Table 6; the default with "
                         "--methods diet) or the dataset's ground truth (the default otherwise)")
    sp.add_argument("--num-images", "--n", dest="n", type=_int_in(1, 10**7), default=200)
    sp.add_argument("--json", required=True)
    sp.set_defaults(fn=cmd_signal_distractor)

    sp = sub.add_parser("assets", help="regenerate the black boxes and fits shipped in assets/ with the current code "
                                       "(fits are taken from the cache, else fitted)")
    sp.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    sp.set_defaults(fn=cmd_assets)

    sp = sub.add_parser("reproduce", help="the papers' headline claims: run what is not cached, print paper vs ours "
                                          "and whether each claim holds here")
    sp.add_argument("--papers", type=_csv, default=None, help="diet,inputiba,dorar,comet,meed (default: all)")
    sp.add_argument("--claims", type=_csv, default=None, help="claim ids, e.g. meed.mnist_fidelity (default: all)")
    sp.add_argument("--preset", default="quick", choices=list(PRESETS))
    sp.add_argument("--device", default="auto")
    sp.add_argument("--json", default=None, help="write the report here (docs/reproduction.md's tables are rendered "
                                                 "from it)")
    sp.add_argument("--report-only", action="store_true", help="run nothing: judge what the cache holds")
    sp.set_defaults(fn=cmd_reproduce)

    sp = sub.add_parser("bench", help="timings: training, ms/image per method, metric vs model throughput")
    common(sp, dataset=False)
    sp.add_argument("--dataset", default="hard_mnist")
    sp.add_argument("--methods", type=_csv, default=None)
    sp.add_argument("--num-images", "--n", dest="n", type=_int_in(1, 10**7), default=None,
                    help="test images timed (default 32; the peers section: 8)")
    sp.add_argument("--train", type=_csv, default=["hard_mnist", "spurious_patch", "mnist38"],
                    help="datasets whose black-box training time/accuracy to report")
    sp.add_argument("--bottleneck-presets", type=_csv, default=None,
                    help="presets at which to time IBA/InputIBA on 224-px photos (default: --preset)")
    sp.add_argument("--bottleneck-batches", type=_csv, default=["1", "16"],
                    help="batch sizes B for those timings (B images optimised together)")
    sp.add_argument("--sections", type=_csv, default=None,
                    help="what to time, of training, explain, metrics, per_instance, fits, peers, growth (fits "
                         "trains from scratch; peers: ours against Captum and Quantus called directly; growth: "
                         "evaluation cost against images, shard size and image side; default: all but those three)")
    sp.add_argument("--fit-dataset", default="mnist", help="dataset of the fits section")
    sp.add_argument("--fit-methods", type=_csv, default=None,
                    help="methods the fits section times: fitting, explaining, one a1a2 seed (default dorar)")
    sp.add_argument("--no-a1a2", action="store_true", help="the fits section skips the a1a2 seed")
    sp.add_argument("--sizes", type=lambda v: [_int_in(1, 4096)(s) for s in _csv(v)], default=None,
                    help="image sides of the peers section (default 64,224: hard_mnist's cnn_light, natural's "
                         "efficientnet_lite0)")
    sp.add_argument("--repeats", type=_int_in(1, 1000), default=5,
                    help="least interleaved timings per pair in the peers section (more, up to 50, while a "
                         "pair's rounds took under 10 s; the median is reported)")
    sp.add_argument("--json", required=True)
    sp.set_defaults(fn=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if distributed.launched():
        return _main_ranks(args)
    try:
        _preflight(args)
        args.fn(args)
    except XAIError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


#: the commands a torchrun job can run: they share their work out across the ranks
DISTRIBUTED_COMMANDS = ("evaluate", "train")


def _main_ranks(args: argparse.Namespace) -> int:
    """One rank of a torchrun job: run the command (it joins the process group once its arguments are
    checked, in :func:`_load_context`) and on failure print one line: bad input found before the group
    forms is found alike by every rank, so rank 0 alone reports it; later, a failing rank names
    itself. torchrun ends the other ranks when one exits non-zero; the JSON and store entries are
    written whole or not at all."""
    import torch.distributed

    rank = distributed.env_rank()
    lead = "" if rank == 0 else "\n"  # rank 0 may be drawing a progress bar on the same terminal
    try:
        if args.command not in DISTRIBUTED_COMMANDS:
            raise distributed.AgreedError(f"under torchrun only {' and '.join(DISTRIBUTED_COMMANDS)} run; "
                                          f"run {args.command} as one process")
        world = int(os.environ["WORLD_SIZE"])
        if args.command == "evaluate" and args.n < world:
            raise distributed.AgreedError(f"{world} processes for --num-images {args.n}: start at most one "
                                          "process per image")
        _preflight(args)
        args.fn(args)
        return 0
    except XAIError as err:
        if isinstance(err, distributed.AgreedError) or not distributed.started():
            if rank == 0:  # every rank checked the same arguments
                print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{lead}error: rank {rank}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{lead}error: rank {rank}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a lost peer, a crash: one line naming this rank
        first = (str(err).strip().splitlines() or [""])[0][:300]
        if isinstance(err, torch.distributed.DistError):
            first = f"lost contact with another rank (its own error line says why): {first}"
        print(f"{lead}error: rank {rank} stopped: {type(err).__name__}: {first}", file=sys.stderr)
        return 1
    finally:
        distributed.stop()
