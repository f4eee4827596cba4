"""Starting a torchrun job: the checks every rank makes before any work."""
from __future__ import annotations

import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from tests.torchrun import ROOT, errors, torchrun
from xai_core import cli, distributed


def _evaluate(json_path) -> list[str]:
    return ["evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "gradient", "--metrics", "iou",
            "--num-images", "4", "--json", str(json_path)]


def test_ranks_running_different_code_stop_before_any_work(tmp_path):
    proc = torchrun(_evaluate(tmp_path / "out.json"), fault="code")
    assert proc.returncode != 0
    lines = errors(proc)
    assert len(lines) == 1 and "ranks run different versions of xai_core" in lines[0], proc.stderr[-2000:]
    assert f"rank 0: {distributed.source_hash()}" in lines[0] and "rank 1: 0123456789abcdef" in lines[0]
    assert not (tmp_path / "out.json").exists()


def test_bad_arguments_are_one_line_from_rank_zero(tmp_path):
    args = _evaluate(tmp_path / "out.json")
    args[args.index("gradient")] = "no_such_method"
    proc = torchrun(args)
    assert proc.returncode != 0
    lines = errors(proc)
    assert len(lines) == 1 and "no_such_method" in lines[0] and "rank" not in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "out.json").exists()


def test_a_rank_without_a_rendezvous_endpoint_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "WORLD_SIZE": "2", "RANK": "0",
           "XAI_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "xai_core", *_evaluate(tmp_path / "out.json")], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: a distributed run (WORLD_SIZE=2) without a rendezvous endpoint (MASTER_ADDR, MASTER_PORT not set): "
        "launch with torchrun, and on several machines pass --rdzv-endpoint HOST:PORT (or set MASTER_ADDR and "
        "MASTER_PORT)"]
    assert not (tmp_path / "out.json").exists()


def test_only_evaluate_and_train_run_under_torchrun(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert cli.main(["explain", "--dataset", "hard_mnist", "--index", "0", "--methods", "gradient",
                     "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == "error: under torchrun only evaluate and train run; run explain as one process"


def test_one_process_is_rank_zero_of_one():
    assert not distributed.active()
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    assert distributed.broadcast("x") == "x" and distributed.gather(3) == [3]
    assert distributed.main_first(lambda: 5) == 5


def test_the_launcher_refuses_several_machines_without_an_endpoint(capsys):
    from xai_core import launch

    argv = ["--nnodes", "2", "--nproc_per_node", "1", "-m", "xai_core", "evaluate"]
    assert launch.main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --nnodes 2 needs a rendezvous endpoint every machine can reach: pass --rdzv-backend c10d "
        "--rdzv-endpoint HOST:PORT (HOST: one of the machines)")
    assert launch.missing_endpoint([*argv[:4], "--rdzv-backend", "c10d", "--rdzv-endpoint", "h:29500", *argv[4:]]) is None
    assert launch.missing_endpoint(["--nproc_per_node", "2", *argv[4:]]) is None  # one machine


def _collectives(rank: int, world: int, init: str, out: str) -> None:
    """One rank: a data-parallel gradient step, a per-image state merge and a weighted mean."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 2), torch.randn(8, 4), torch.randn(8, 2)
    ((model(x.tensor_split(world)[rank]) - y.tensor_split(world)[rank]) ** 2).mean().backward()
    unused = nn.Parameter(torch.ones(3))  # no rank has a gradient for it
    distributed.average_gradients([*model.parameters(), unused])
    before = torch.zeros(6, 2)
    after = before.clone()
    after[rank::world] = rank + 1.0  # each rank updates its own images' rows
    merged = distributed.merge_rows(before, after)
    mean = distributed.mean_over_ranks({"loss": float(rank), "acc": 1.0}, weight=rank + 1)
    torch.save({"grads": [p.grad for p in model.parameters()], "unused": unused.grad, "merged": merged,
                "mean": mean}, f"{out}.{rank}")
    dist.destroy_process_group()


def test_collectives_on_two_processes_match_one_process(tmp_path):
    """Averaged gradients of the two halves = the gradient of the whole batch (the data-parallel
    identity); merged rows take the rank that changed them; means are weighted by each rank's images."""
    out = str(tmp_path / "rank")
    mp.spawn(_collectives, args=(2, f"file://{tmp_path / 'rendezvous'}", out), nprocs=2)
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 2), torch.randn(8, 4), torch.randn(8, 2)
    ((model(x) - y) ** 2).mean().backward()
    for rank in (0, 1):
        got = torch.load(f"{out}.{rank}", weights_only=True)
        for mine, whole in zip(got["grads"], model.parameters()):
            assert torch.allclose(mine, whole.grad, atol=1e-6)
        assert got["unused"] is None
        assert got["merged"][:, 0].tolist() == [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
        assert got["mean"] == {"loss": 2 / 3, "acc": 1.0} and list(got["mean"]) == ["loss", "acc"]
