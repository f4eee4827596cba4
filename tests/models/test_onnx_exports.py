"""ONNX files that today's exporters write are accepted: torchvision and timm architectures
exported by the pinned torch both ways (the TorchScript exporter, ``dynamo=False``, and the default
dynamo one; both write opset 20) load in the jail, explain, and match the original's logits to 1e-4."""
from __future__ import annotations

import io
import warnings

import pytest
import torch

from xai_core.data.base import DatasetInfo
from xai_core.models import load_user_model

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")
pytest.importorskip("onnxscript")  # the dynamo exporter needs it (requirements-dev.txt)

INFO = DatasetInfo("rgb", "smoke", 64, 3, 10, tuple("0123456789"), (0.5,) * 3, (0.25,) * 3, False)


def _architectures() -> dict[str, torch.nn.Module]:
    import timm
    import torchvision

    torch.manual_seed(0)
    return {"resnet18": torchvision.models.resnet18(num_classes=10),
            "mobilenet_v3_small": torchvision.models.mobilenet_v3_small(num_classes=10),
            "efficientnet_b0": torchvision.models.efficientnet_b0(num_classes=10),
            "vit_tiny": timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=10, pretrained=False)}


def _calibrated(net: torch.nn.Module) -> torch.nn.Module:
    """Batch-norm statistics from a few random batches, and the last layer scaled so that the logits
    spread by about 1 (freshly initialised heads give logits near 0: a comparison of nothing)."""
    net.train()
    with torch.no_grad():
        for i in range(3):
            net(torch.rand(16, 3, 64, 64, generator=torch.Generator().manual_seed(i)))
        net.eval()
        head = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
        spread = float(net(torch.rand(16, 3, 64, 64, generator=torch.Generator().manual_seed(5))).std())
        head.weight.mul_(1 / spread)
        head.bias.mul_(1 / spread)
    return net


def _export(net: torch.nn.Module, dynamo: bool) -> bytes:
    x = torch.rand(2, 3, 64, 64)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(net, (x,), dynamo=True, verbose=False,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
            return program.model_proto.SerializeToString()
        torch.onnx.export(net, (x,), buf, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    return buf.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_exports")
    nets = {name: _calibrated(net) for name, net in _architectures().items()}
    for name, net in nets.items():
        for dynamo in (False, True):
            (folder / f"{name}_{'dynamo' if dynamo else 'legacy'}.onnx").write_bytes(_export(net, dynamo))
    return folder, nets


def test_exported_architectures_load_explain_and_match(corpus):
    folder, nets = corpus
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(9))
    for path in sorted(folder.glob("*.onnx")):
        net = nets[path.stem.rsplit("_", 1)[0]]
        model = load_user_model(path, INFO, torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
        with torch.no_grad():
            ours, theirs = model(x), net(x)
        assert theirs.abs().max() > 0.1, path.name  # a real comparison, not of near-zero logits
        assert (ours - theirs).abs().max() < 1e-4, (path.name, float((ours - theirs).abs().max()))
        inp = x.clone().requires_grad_(True)
        model(inp)[:, 4].sum().backward()
        grad = inp.grad
        inp2 = x.clone().requires_grad_(True)
        net(inp2)[:, 4].sum().backward()
        assert torch.allclose(grad, inp2.grad, atol=1e-4, rtol=1e-3), path.name
