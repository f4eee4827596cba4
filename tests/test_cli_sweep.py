"""Every command-line option of `explain` and `evaluate` fed hostile values (negative, zero, huge,
non-numeric, a directory, /proc, a read-only folder, an empty folder): exit 0 or 2, never a
traceback, and nothing written when it fails. Plus the four edges that used to end in a traceback or
a meaningless number."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from xai_core.cli import main

OPTIONS = {
    "explain": ["--dataset", "--preset", "--device", "--seed", "--index", "--methods", "--out", "--model", "--layer"],
    "evaluate": ["--dataset", "--preset", "--seed", "--methods", "--metrics", "--num-images", "--json", "--units",
                 "--n-e", "--set", "--metric-set", "--model"],
}


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse: usage and one "error:" line
        code = stop.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("hostile")
    (root / "a_dir").mkdir()
    (root / "empty").mkdir()
    read_only = Path("/sys/kernel") if os.geteuid() == 0 else root / "read_only"  # root ignores mode bits
    if os.geteuid() != 0:
        read_only.mkdir(mode=0o555)
    return {"negative": "-5", "zero": "0", "huge": "99999999999999999999", "non-numeric": "abc",
            "directory": str(root / "a_dir"), "proc": "/proc/xai_sweep", "read-only": str(read_only / "xai_out"),
            "empty folder": str(root / "empty")}


def _argv(command: str, out: Path, option: str, value: str) -> list[str]:
    base = {"explain": ["explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0",
                        "--methods", "random", "--out", str(out / "maps")],
            "evaluate": ["evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "random",
                         "--metrics", "iou", "--num-images", "4", "--json", str(out / "r.json")]}[command]
    if option in base:
        i = base.index(option)
        return [*base[:i + 1], value, *base[i + 2:]]
    return [*base, option, value]


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_every_option_takes_hostile_values_without_a_traceback(capsys, tmp_path, hostile, command, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative value (--json abc) is a valid file name: written here, not in the repo
    for option in OPTIONS[command]:
        for what, value in hostile.items():
            out = tmp_path / f"{option.strip('-')}_{what.replace(' ', '_')}"
            out.mkdir()
            code, err = _run(capsys, _argv(command, out, option, value))
            case = f"{command} {option} {what} ({value}): {err[-300:]}"
            assert code in (0, 2), case
            assert "Traceback" not in err, case
            if code == 2:
                assert err.strip().splitlines()[-1].startswith(("error:", "python -m xai_core")), case
                assert not any(out.iterdir()), f"{case}: wrote {list(out.iterdir())}"


def _folder(root: Path, classes: dict[str, int]) -> Path:
    for split in ("train", "test"):
        for name, count in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.new("RGB", (16, 16), (40 * i % 255, 90, 200 if name == "b" else 20)).save(
                    root / split / name / f"{i}.png")
    return root


def test_the_four_edges_are_one_line_each(capsys, tmp_path):
    from model_files import onnx_cnn

    code, err = _run(capsys, ["explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0",
                              "--methods", "random", "--out", "/proc/xai_dir"])
    assert code == 2 and "not a writable folder" in err and err.count("\n") == 1
    code, err = _run(capsys, ["explain", "--dataset", "hard_mnist", "--index", "0", "--methods", "random",
                              "--out", str(tmp_path / "o"), "--seed", "99999999999999999999"])
    assert code == 2 and "--seed" in err and "Traceback" not in err
    one = _folder(tmp_path / "one", {"a": 3})
    code, err = _run(capsys, ["explain", "--dataset", f"imagefolder:{one}", "--preset", "smoke", "--index", "0",
                              "--methods", "random", "--out", str(tmp_path / "o")])
    assert code == 2 and "one class only" in err and err.count("\n") == 1
    flat = tmp_path / "flat" / "a"  # the flat layout (a user model's test images) with one image
    flat.mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 30, 30)).save(flat / "only.png")
    model = tmp_path / "m.onnx"
    model.write_bytes(onnx_cnn(classes=2, channels=3))
    code, err = _run(capsys, ["explain", "--dataset", f"imagefolder:{flat.parent}", "--preset", "smoke", "--index",
                              "0", "--methods", "gradient", "--model", str(model), "--out", str(tmp_path / "o2")])
    assert code == 2 and "one class only" in err and err.count("\n") == 1
