"""Model files for tests, built from ONNX's own helpers (no exporter needed)."""
from __future__ import annotations

import io
import zipfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def onnx_graph(nodes, inits, *, classes: int = 10, channels: int = 1, opsets=(("", 17),)) -> bytes:
    """A serialized ONNX model: input ``x`` (N×channels×H×W, any size), output ``y`` (N×classes)."""
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", classes])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets]).SerializeToString()


def onnx_cnn(classes: int = 10, channels: int = 1, **kw) -> bytes:
    """conv 3×3 → ReLU → global average pool → linear, seeded weights."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, channels, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
             numpy_helper.from_array(rng.normal(size=(classes, 4)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(classes, np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1)]
    return onnx_graph(nodes, inits, classes=classes, channels=channels, **kw)


def rewrite_zip(data: bytes, edit, extra: dict[str, bytes] | None = None) -> bytes:
    """A copy of a zip with ``edit(name, bytes) -> bytes | None`` applied (None drops the entry) and
    ``extra`` members added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            blob = edit(name, src.read(name))
            if blob is not None:
                dst.writestr(name, blob)
        for name, blob in (extra or {}).items():
            dst.writestr(name, blob)
    return out.getvalue()
