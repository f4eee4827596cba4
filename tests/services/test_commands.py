"""The command line of an evaluation (what the Evaluate page shows under every result): it parses back,
with the CLI's own parser and settings helpers, to the evaluation it was built from."""
from __future__ import annotations

import shlex
from typing import Any

import pytest

from xai_core import cli, services
from xai_core.errors import XAIError
from xai_core.methods import METHODS
from xai_core.metrics import METRICS
from xai_core.services import ModelChoice, commands
from xai_core.services.catalog import randomized_configs

PROGRAM = ["python", "-m", "xai_core"]


def _parse(command: str, processes: int | None = None) -> Any:
    """The CLI's namespace for ``command`` (python -m xai_core … or its torchrun form), checking the prefix."""
    argv = shlex.split(command)
    if processes is None:
        assert argv[:3] == PROGRAM
        rest = argv[3:]
    else:
        assert argv[:5] == ["torchrun", "--nproc_per_node", str(processes), "-m", "xai_core"]
        rest = argv[5:]
    assert rest[0] == "evaluate"
    return cli.build_parser().parse_args(rest)


def _resolved(preset: str, methods: list[str], metrics: list[str], configs: dict, metric_settings: dict):
    """Every method's full settings and every metric's full parameters: what the evaluation runs with."""
    return ({m: METHODS.get(m).Config.for_preset(preset, m, **configs.get(m, {})).as_dict() for m in methods},
            {m: METRICS.get(m).resolve(**metric_settings.get(m, {})) for m in metrics})


def _expected(methods, metrics, units=None, n_e=None, randomize_labels=False, configs=None, metric_settings=None):
    """The configs services.evaluate gets for these choices (as the Evaluate page builds them)."""
    method_cfg, metric_cfg = services.unit_configs(methods, metrics, units, n_e)
    extra = [randomized_configs(methods)] if randomize_labels else []
    for more in [*extra, configs or {}]:
        for m, c in more.items():
            method_cfg[m] = {**method_cfg.get(m, {}), **c}
    for m, c in (metric_settings or {}).items():
        metric_cfg[m] = {**metric_cfg.get(m, {}), **c}
    return method_cfg, metric_cfg


CASES = {
    "plain": dict(dataset="hard_mnist", methods=["random", "gradient"], metrics=["iou", "deletion"], n=20),
    "units": dict(dataset="hard_mnist", methods=["dorar", "lime", "gradient"], metrics=["a1a2", "hit_rate", "iou"],
                  n=8, units=8, n_e=2),
    "settings": dict(dataset="hard_mnist", methods=["comet", "smoothgrad", "gradcam", "iba", "gradient"],
                     metrics=["sen", "fs_fu", "deletion"], n=50,
                     configs={"comet": {"t": 0.03, "loss": "hinge", "lr": 1e-4}, "gradient": {},
                              "smoothgrad": {"noise_std": 0.2, "samples": 16},  # samples: the preset's
                              "gradcam": {"upsample": "nearest"}},
                     metric_settings={"sen": {"normalise": False, "radius": 0.1}, "fs_fu": {"k": 50},
                                      "deletion": {"steps": 51}}),  # steps: the default
    "randomised": dict(dataset="hard_mnist", methods=["comet", "gradient"], metrics=["iou_curve", "pxap"], n=12,
                       randomize_labels=True, seed=3, model=services.ModelChoice("manipulated")),
    "user model": dict(dataset="hard_mnist", methods=["gradient"], metrics=["deletion"], n=4, device="cpu",
                       model=services.ModelChoice("user", path="/tmp/my models/net's.onnx"),
                       json_path="out dir/eval.json"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_command_and_torchrun_form_parse_back_to_the_same_evaluation(case, preset):
    spec = dict(CASES[case])
    dataset, methods, metrics, n = (spec.pop(k) for k in ("dataset", "methods", "metrics", "n"))
    want = _resolved(preset, methods, metrics, *_expected(
        methods, metrics, spec.get("units"), spec.get("n_e"), spec.get("randomize_labels", False),
        spec.get("configs"), spec.get("metric_settings")))
    model = spec.get("model", services.DEFAULT_MODEL)
    for processes, images in ((None, n), (2, 10 * n), (4, 7)):
        command = (services.evaluate_command(dataset, preset, methods, metrics, n, **spec) if processes is None else
                   services.torchrun_command(dataset, preset, methods, metrics, images, processes=processes, **spec))
        args = _parse(command, processes)
        assert (args.command, args.dataset, args.preset, args.methods, args.metrics, args.n) == (
            "evaluate", dataset, preset, methods, metrics, images)
        assert (args.seed, args.device, args.json) == (
            spec.get("seed", 0), spec.get("device", "auto"), spec.get("json_path", "eval.json"))
        assert args.manipulated == (model.kind == "manipulated")
        assert args.model == (model.path if model.kind == "user" else None)
        assert _resolved(preset, methods, metrics, *cli._unit_settings(args, args.metrics)) == want


def test_the_documented_shape_and_its_torchrun_form():
    assert services.evaluate_command("hard_mnist", "quick", ["diet", "gradient"], ["iou", "deletion"], 200) == (
        "python -m xai_core evaluate --dataset hard_mnist --preset quick --seed 0 --methods diet,gradient "
        "--metrics iou,deletion --num-images 200 --json eval.json")
    assert services.torchrun_command("hard_mnist", "quick", ["diet", "gradient"], ["iou", "deletion"], 5000,
                                     processes=2, json_path="all.json") == (
        "torchrun --nproc_per_node 2 -m xai_core evaluate --dataset hard_mnist --preset quick --seed 0 "
        "--methods diet,gradient --metrics iou,deletion --num-images 5000 --json all.json")


def test_defaults_are_left_out():
    command = services.evaluate_command(
        "hard_mnist", "quick", ["gradient", "smoothgrad", "dorar"], ["iou", "sen"], 10, device="auto",
        units=None, n_e=None, configs={"gradient": {}, "smoothgrad": {"samples": 16, "noise_std": 0.15},
                                       "dorar": {"randomize_labels": False, "n_e": 4}},
        metric_settings={"sen": {"radius": 0.2, "normalise": True}})
    for option in ("--device", "--set", "--metric-set", "--units", "--n-e", "--manipulated", "--model",
                   "--randomize-labels", "--n "):
        assert option not in command
    # units and n_e only where a chosen method or metric has explanation units
    plain = services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 10, units=8, n_e=2)
    assert "--units" not in plain and "--n-e" not in plain
    lime = services.evaluate_command("hard_mnist", "quick", ["lime"], ["iou"], 10, units=8, n_e=2)
    assert "--units 8" in lime and "--n-e" not in lime  # lime keeps the units it scores, n_e is dorar's
    # a changed value is written, a bool as the CLI reads it, a float in its shortest exact form
    changed = services.evaluate_command("hard_mnist", "quick", ["dorar", "smoothgrad"], ["sen"], 10,
                                        configs={"dorar": {"randomize_labels": True},
                                                 "smoothgrad": {"noise_std": 0.1 + 0.2}},
                                        metric_settings={"sen": {"normalise": False}})
    assert "--set dorar.randomize_labels=true" in changed and "--metric-set sen.normalise=false" in changed
    assert "--set smoothgrad.noise_std=0.30000000000000004" in changed
    assert services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 10, device="cuda:1").endswith(
        "--device cuda")


def test_values_are_shell_quoted_where_needed():
    tricky = "imagefolder:/data/x rays/it's $HOME"
    command = services.evaluate_command(tricky, "quick", ["gradcam"], ["iou"], 5, json_path="my results;rm -rf.json",
                                        configs={"gradcam": {"layer": "net.features 1"}})
    argv = shlex.split(command)
    assert argv[argv.index("--dataset") + 1] == tricky
    assert argv[argv.index("--json") + 1] == "my results;rm -rf.json"
    assert "gradcam.layer=net.features 1" in argv
    assert "'" in command and " --preset quick --seed 0 " in command  # plain words stay unquoted
    args = _parse(command)
    assert cli._parse_sets(args.set, args.methods) == {"gradcam": {"layer": "net.features 1"}}


def test_model_choices():
    def options(model):
        return shlex.split(services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 4, model=model))

    assert options(services.DEFAULT_MODEL) == options(services.ModelChoice("default", "cnn_light"))
    assert "--manipulated" not in options(services.DEFAULT_MODEL) and "--model" not in options(services.DEFAULT_MODEL)
    assert "--manipulated" in options(services.ModelChoice("manipulated", "cnn_light"))
    user = options(services.ModelChoice("user", path="/cache/user_models/ab12.onnx"))
    assert user[user.index("--model") + 1] == "/cache/user_models/ab12.onnx" and "--manipulated" not in user
    with pytest.raises(XAIError, match="no option for"):
        options(services.ModelChoice("arch", "resnet18"))
    with pytest.raises(XAIError, match="no model file"):
        options(services.ModelChoice("user"))


@pytest.mark.parametrize("value", [None, (0.4, 0.3), [1], "12", "true", " padded", "", "nan", float("nan")])
def test_a_value_the_cli_cannot_read_back_is_one_line(value):
    with pytest.raises(XAIError, match="comet.loss"):
        services.evaluate_command("hard_mnist", "quick", ["comet"], ["iou"], 4, configs={"comet": {"loss": value}})


@pytest.mark.parametrize("text", ["3", "-2", "0.03", "1e-4", "1e20", "inf", "true", "False", "TRUE", "hinge",
                                  "net.features.1", "a=b", "x y", "1_000", "0x10"])
def test_values_are_read_as_the_cli_reads_them(text):
    parsed = cli._parse_sets([f"comet.loss={text}"], ["comet"])["comet"]["loss"]
    assert commands.parse_value(text) == parsed and type(commands.parse_value(text)) is type(parsed)
    if isinstance(parsed, (bool, int, float)) or parsed == text:  # what a value is written as reads back as it
        written = commands._value(parsed, "comet", "loss")
        assert cli._parse_sets([f"comet.loss={written}"], ["comet"])["comet"]["loss"] == parsed


def test_bad_requests_are_one_line():
    with pytest.raises(XAIError, match="not among --methods"):
        services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 4, configs={"comet": {"t": 0.1}})
    with pytest.raises(XAIError, match="not among --metrics"):
        services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 4, metric_settings={"sen": {"k": 1}})
    with pytest.raises(XAIError, match="--device"):
        services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 4, device="tpu")
    with pytest.raises(XAIError, match="trained"):
        services.evaluate_command("hard_mnist", "quick", ["gradient"], ["iou"], 4, randomize_labels=True)
    with pytest.raises(XAIError, match="at least one method"):
        services.evaluate_command("hard_mnist", "quick", [], ["iou"], 4)
    for processes in (0, -1, 1.5, True):
        with pytest.raises(XAIError, match="positive number of processes"):
            services.torchrun_command("hard_mnist", "quick", ["gradient"], ["iou"], 4, processes=processes)


def test_the_train_command_and_its_torchrun_form_parse_back():
    from xai_core.cli import build_parser

    plain = commands.train_command("hard_mnist", "quick", ["diet", "meed"], seed=3, model=ModelChoice("manipulated"))
    assert plain == "python -m xai_core train --dataset hard_mnist --preset quick --seed 3 --manipulated --methods diet,meed"
    ranks = commands.train_command("hard_mnist", "quick", ["diet"], processes=4)
    assert ranks == "torchrun --nproc_per_node 4 -m xai_core train --dataset hard_mnist --preset quick --seed 0 --methods diet"
    args = build_parser().parse_args(shlex.split(plain)[3:])
    assert (args.command, args.dataset, args.seed, args.manipulated, args.methods) == (
        "train", "hard_mnist", 3, True, ["diet", "meed"])
    with pytest.raises(XAIError, match="no --model"):
        commands.train_command("hard_mnist", "quick", ["diet"], model=ModelChoice("user", path="m.onnx"))
    with pytest.raises(XAIError, match="positive number of processes"):
        commands.train_command("hard_mnist", "quick", ["diet"], processes=0)
