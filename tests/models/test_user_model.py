"""User models (ONNX, torch.export, TorchScript): a fuzz corpus of model files, each either loaded
correctly or refused with one clear line — never a traceback, a hang, a file touched or a silent
wrong number. Every file is generated here (the formats depend on the installed torch/onnx)."""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.data.base import DatasetInfo
from xai_core.errors import InvalidInputError
from xai_core.models import is_user_model, load_user_model
from xai_core.models.user_model import model_format

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

onnx = pytest.importorskip("onnx")
from model_files import onnx_cnn, onnx_graph, rewrite_zip  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

INFO = DatasetInfo("synthetic", "smoke", 28, 1, 10, tuple("0123456789"), (0.2,), (0.3,), False)
#: four "real" images: dark background with a white stroke, as MNIST digits (pixels exactly 1.0)
IMAGES = torch.zeros(4, 1, 28, 28)
for _i in range(4):
    IMAGES[_i, 0, 6 + _i : 22, 12 + _i] = 1.0
    IMAGES[_i, 0, 10, 8:20] = 0.6


class Tiny(nn.Module):
    def __init__(self, channels: int = 1, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.fc = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x)

    def base(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class FromFile(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # returns /etc/passwd's bytes as logits
        t = torch.from_file("/etc/passwd", shared=False, size=10, dtype=torch.uint8)
        return self.base(x) + t.float()


class WritesFile(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # maps a file writable and scribbles on it
        t = torch.from_file("/tmp/xai-user-model-marker", shared=True, size=4, dtype=torch.uint8)
        return self.base(x) + t.fill_(65).float().sum() * 0.0


MARKER = Path("/tmp/xai-user-model-marker")  # the file the models above attack (scripted code needs a literal)
TOUCHED = Path("/tmp/xai-user-model-touched")  # the file the pickles below would create


@torch.jit.script
class _Loader:
    def __init__(self) -> None:
        self.n = 1

    def __getstate__(self) -> int:
        return self.n

    def __setstate__(self, n: int) -> None:  # runs inside torch.jit.load
        self.n = n
        torch.from_file("/tmp/xai-user-model-marker", shared=True, size=4, dtype=torch.uint8).fill_(66)


class SetState(Tiny):
    def __init__(self) -> None:
        super().__init__()
        self.loader = _Loader()


class Forever(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        i = 0
        while i >= 0:
            i = (i + 1) % 1000
        return self.base(x)


class NaNOut(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) * float("nan")


class NaNOnRealData(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # fine on a grey probe, NaN on real digits
        return self.base(x) + torch.log(1.0 - x.amax((1, 2, 3)))[:, None] * 0.0


class BatchOfOne(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x).view(1, 10)


class BatchDependent(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # batch norm with batch statistics
        out = self.base(x)
        return out - out.mean(0, keepdim=True)


class Branches(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # torch.cond: a higher-order operator
        return torch.cond(x.sum() > 0, lambda v: self.base(v), lambda v: self.base(v) * 2.0, (x,))


class IntOut(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x).long()


class Hog(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # 64 GB
        return self.base(x) + torch.ones(17179869184).sum()


def _script(module: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module.eval()), buf)
    return buf.getvalue()


def _export(module: nn.Module, dynamic: bool = True) -> bytes:
    x = IMAGES[:2]
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    x = x if dynamic else x[:1]
    buf = io.BytesIO()
    torch.export.save(torch.export.export(module.eval(), (x,), dynamic_shapes=shapes), buf)
    return buf.getvalue()


def _pickled_weights(data: bytes) -> bytes:
    def edit(name: str, blob: bytes) -> bytes:
        if name.endswith("model_weights_config.json"):
            cfg = json.loads(blob)
            for meta in cfg["config"].values():
                meta["use_pickle"] = True
            return json.dumps(cfg).encode()
        return blob
    return rewrite_zip(data, edit)


def _evil_sample_inputs(data: bytes) -> bytes:
    """torch.export retries sample inputs with weights_only=False: a pickle there would run."""
    return rewrite_zip(data, lambda name, blob: pickle.dumps(_Touch()) if "sample_inputs" in name else blob)


class _Touch:
    def __reduce__(self):
        return (Path.touch, (TOUCHED,))


def _onnx_external() -> bytes:
    model = onnx.load_model_from_string(onnx_cnn())
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="../../../etc/passwd")
    return model.SerializeToString()


def _onnx_custom_domain() -> bytes:
    nodes = [helper.make_node("ReadFile", ["x"], ["y"], domain="com.evil")]
    return onnx_graph(nodes, [], opsets=(("", 17), ("com.evil", 1)))


def _onnx_loop() -> bytes:
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["cond_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])])
    nodes = [helper.make_node("Constant", [], ["t"], value=helper.make_tensor("t", TensorProto.BOOL, [], [True])),
             helper.make_node("Loop", ["", "t"], [], body=body),
             helper.make_node("Identity", ["x"], ["y"])]
    return onnx_graph(nodes, [])


def _state_dict() -> bytes:
    buf = io.BytesIO()
    torch.save(Tiny().state_dict(), buf)
    return buf.getvalue()


def _tiny() -> Tiny:
    torch.manual_seed(0)
    return Tiny()


#: name -> (bytes maker, None when it must load, else a substring of its one-line refusal)
CORPUS = {
    "good.onnx": (onnx_cnn, None),
    "good.pt2": (lambda: _export(_tiny()), None),
    "good.pt": (lambda: _script(_tiny()), None),
    "from_file.pt": (lambda: _script(FromFile()), "aten::from_file is not allowed"),
    "writes_file.pt": (lambda: _script(WritesFile()), "aten::from_file is not allowed"),
    "setstate.pt": (lambda: _script(SetState()), "__setstate__"),
    "forever.pt": (lambda: _script(Forever()), "s of CPU time"),
    "nan.pt": (lambda: _script(NaNOut()), "NaN"),
    "nan_on_real_data.pt2": (lambda: _export(NaNOnRealData()), "NaN"),
    "higher_order_op.pt2": (lambda: _export(Branches()), "no custom or higher-order operators"),
    "batch_of_one.pt": (lambda: _script(BatchOfOne()), "batch of 4"),
    "static_batch.pt2": (lambda: _export(_tiny(), dynamic=False), "dynamic batch dimension"),
    "batch_dependent.pt": (lambda: _script(BatchDependent()), "alone and in a batch"),
    "int_output.pt": (lambda: _script(IntOut()), "float logits"),
    "hog.pt": (lambda: _script(Hog()), "memory"),
    "five_classes.onnx": (lambda: onnx_cnn(classes=5), "expected (1, 10) float logits"),
    "rgb_input.onnx": (lambda: onnx_cnn(channels=3), "failed on a 1×1×28×28 image"),
    "external_data.onnx": (_onnx_external, "external data"),
    "custom_domain.onnx": (_onnx_custom_domain, "custom operator domain"),
    "loop.onnx": (_onnx_loop, "Loop is not allowed"),
    "random_bytes.onnx": (lambda: np.random.default_rng(1).bytes(4096), "does not parse"),
    "empty_graph.onnx": (lambda: onnx_graph([], []), "empty"),
    "pickled_weights.pt2": (lambda: _pickled_weights(_export(_tiny())), "pickled"),
    "evil_sample_inputs.pt2": (lambda: _evil_sample_inputs(_export(_tiny())), "not plain tensors"),
    "state_dict.pt": (_state_dict, "not a TorchScript model"),
    "pickle.pt": (lambda: pickle.dumps(_Touch()), "not a TorchScript model"),
    "text.pt2": (lambda: b"hello, I am not a model\n", "not a torch.export archive"),
    "empty.onnx": (lambda: b"", "empty"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for name, (make, _) in CORPUS.items():
        (folder / name).write_bytes(make())
    return folder


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_model_file_loads_correctly_or_is_refused_in_one_line(corpus, name):
    MARKER.write_bytes(b"safe")
    TOUCHED.unlink(missing_ok=True)
    expected = CORPUS[name][1]
    if expected is None:
        model = load_user_model(corpus / name, INFO, IMAGES)
        assert is_user_model(model) and model.cam_layer is None
        x = torch.rand(3, 1, 28, 28, requires_grad=True)
        logits = model(x)
        assert logits.shape == (3, 10) and torch.isfinite(logits).all()
        logits[:, 3].sum().backward()  # gradient methods need a differentiable model
        assert x.grad is not None and x.grad.abs().sum() > 0
    else:
        with pytest.raises(InvalidInputError) as err:
            load_user_model(corpus / name, INFO, IMAGES, cpu_limit=4.0)
        message = str(err.value)
        assert expected in message, message
        assert "\n" not in message and "Traceback" not in message and str(corpus) not in message
        assert message.startswith(name)
    assert MARKER.read_bytes() == b"safe" and not TOUCHED.exists(), "the model file touched the file system"


def test_loaded_models_compute_what_they_were_exported_from(corpus):
    net = _tiny().eval()
    x = torch.rand(5, 1, 28, 28)
    for name in ("good.pt", "good.pt2"):
        model = load_user_model(corpus / name, INFO, IMAGES)
        with torch.no_grad():
            assert torch.allclose(model(x), net(x), atol=1e-5), name
    normed = load_user_model(corpus / "good.pt2", INFO, IMAGES, normalized_input=True)
    with torch.no_grad():
        assert torch.allclose(normed(x), net((x - 0.2) / 0.3), atol=1e-5)


def test_messages_name_the_upload_not_the_server_path(corpus):
    with pytest.raises(InvalidInputError) as err:
        load_user_model(corpus / "state_dict.pt", INFO, IMAGES, name="my model.pt")
    assert str(err.value).startswith("my model.pt") and str(corpus) not in str(err.value)
    with pytest.raises(InvalidInputError, match="unknown model format"):
        model_format("weights.bin")
    with pytest.raises(InvalidInputError, match="not found: gone.onnx"):
        load_user_model(corpus / "gone.onnx", INFO, IMAGES)


def test_one_validation_image_is_enough(corpus):
    """A dataset with a single test image: the check batches copies of it (batch 1 vs 4 still tested)."""
    model = load_user_model(corpus / "good.onnx", INFO, IMAGES[:1])
    assert model(IMAGES).shape == (4, 10)
