"""What a user's model file may contain, checked before anything in it runs, and how each format
becomes a ``torch.nn.Module``.

A model file is a program. We accept three formats and refuse everything else:

- **ONNX** (``.onnx``, recommended): parsed as protobuf (no code runs), then every node must be a
  standard-domain operator on :data:`ONNX_OPS` (no custom domains, no model-local functions, no
  control flow, no tensors stored in external files), then converted by ``onnx2torch`` into an
  ordinary ``torch.fx`` module, so gradient methods work;
- **torch.export** (``.pt2``, recommended): the archive may hold no pickled payloads (``torch.export``
  would unpickle them with ``weights_only=False``, which runs code); its graph is deserialised
  and every call must be an ATen operator on :data:`ATEN_OPS` (no higher-order operators, no
  custom operators);
- **TorchScript** (``.pt``/``.ts``, CLI only): the archive's code may define no ``__setstate__``
  (it runs while loading); once loaded, every node of ``forward``'s inlined graph must be an
  ATen operator on :data:`ATEN_OPS` or a structural ``prim::`` node on :data:`PRIM_OPS`
  (``torch.from_file`` and other file, process or network operators are not on the lists).

This module imports nothing from ``xai_core``: it is also run as a script, the sandbox child of
:mod:`.user_model`, which loads and validates a model under a time, memory and system-call limit
before the server loads it. (Over 300 lines on purpose: the allow-lists, the checks and the sandbox
entry point must travel together as one self-contained script.)
"""
from __future__ import annotations

import ast
import io
import json
import zipfile
from typing import Any

#: ATen operators a classifier may use (base names; in-place ``op_`` variants are allowed too).
#: Pure tensor maths only: nothing here reads or writes files, starts processes or opens sockets.
ATEN_OPS = frozenset("""
conv1d conv2d conv3d _convolution convolution conv_transpose1d conv_transpose2d conv_transpose3d
linear addmm mm bmm matmul einsum t transpose permute baddbmm
batch_norm _native_batch_norm_legit_no_training _native_batch_norm_legit native_batch_norm layer_norm
native_layer_norm group_norm native_group_norm instance_norm
relu relu6 leaky_relu gelu silu sigmoid tanh hardtanh hardswish hardsigmoid elu selu celu softplus mish prelu
clamp clamp_min clamp_max threshold glu logsigmoid
max_pool1d max_pool2d max_pool3d max_pool2d_with_indices avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d
adaptive_avg_pool2d _adaptive_avg_pool2d adaptive_max_pool1d adaptive_max_pool2d
mean amax amin max min sum prod std var norm logsumexp argmax argmin
view reshape _unsafe_view flatten unflatten squeeze unsqueeze expand expand_as contiguous clone cat concat
concatenate stack split split_with_sizes chunk unbind narrow slice select index_select gather __getitem__ size
sym_size numel dim len repeat pad constant_pad_nd reflection_pad2d replication_pad2d upsample_bilinear2d
upsample_nearest2d interpolate alias detach type_as to _to_copy lift_fresh_copy
add sub rsub mul div neg abs exp log log2 sqrt rsqrt pow softmax log_softmax _softmax _log_softmax erf
dropout feature_dropout alpha_dropout native_dropout eq ne gt lt ge le where floor ceil round sign reciprocal
zeros_like ones_like full_like zeros ones full arange scalar_tensor masked_fill bitwise_and bitwise_or
bitwise_not logical_and logical_or logical_not floordiv remainder Int Float Bool ScalarImplicit item format
warn copy channel_shuffle pixel_shuffle roll flip cumsum topk sort
""".split())

#: TorchScript's structural nodes: constants, attributes, tuples and lists, control flow.
PRIM_OPS = frozenset("""
Constant GetAttr ListConstruct ListUnpack TupleConstruct TupleUnpack TupleIndex If Loop RaiseException
NumToTensor dtype device shape unchecked_cast Uninitialized min max data layout is_cuda
""".split())

#: Standard-domain ONNX operators (no control flow: If, Loop and Scan are refused).
ONNX_OPS = frozenset("""
Conv ConvTranspose Gemm MatMul Add Sub Mul Div Neg Abs Exp Log Sqrt Pow Reciprocal Erf Relu LeakyRelu PRelu
Sigmoid HardSigmoid HardSwish Tanh Elu Selu Celu Softplus Gelu Mish Clip Softmax LogSoftmax MaxPool AveragePool
GlobalAveragePool GlobalMaxPool BatchNormalization InstanceNormalization LayerNormalization GroupNormalization
Flatten Reshape Transpose Squeeze Unsqueeze Concat Split Slice Gather Shape Size Constant ConstantOfShape
Identity Dropout Pad Resize Upsample ReduceMean ReduceMax ReduceMin ReduceSum ReduceProd ReduceL2 Cast Expand
Where Equal Greater Less GreaterOrEqual LessOrEqual Not And Or Max Min Sum Mean Tile Floor Ceil Round Sign
ArgMax ArgMin DepthToSpace SpaceToDepth
""".split())

#: ``torch.fx`` call targets that are plain Python operators (shape arithmetic in exported graphs).
PY_OPS = frozenset({"getitem", "add", "sub", "mul", "floordiv", "truediv", "neg", "eq", "ne", "lt", "le",
                    "gt", "ge", "sym_size", "sym_int", "sym_float", "sym_max", "sym_min"})

FORMATS = {".onnx": "onnx", ".pt2": "export", ".pt": "torchscript", ".ts": "torchscript", ".pth": "torchscript"}


class Refused(Exception):
    """A model file we will not run; ``str()`` is one line naming the cause."""


def aten_base(name: str) -> str:
    """``aten::add_`` / ``aten.add_.Tensor`` / ``add_`` → ``add`` (in-place variants share the name)."""
    name = name.split("::")[-1].removeprefix("aten.").split(".")[0]
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


# -- checks before anything runs -------------------------------------------------------------
def precheck(data: bytes, fmt: str) -> None:
    """Refuse what cannot be loaded without running untrusted code (no model code runs here)."""
    if fmt == "onnx":
        _check_onnx(_parse_onnx(data))
    elif fmt == "export":
        _check_pt2_archive(data)
    elif fmt == "torchscript":
        _check_torchscript_archive(data)
    else:
        raise Refused(f"unknown model format {fmt!r}")


def _parse_onnx(data: bytes):
    import onnx

    try:
        return onnx.load_model_from_string(data)
    except Exception:
        raise Refused("not an ONNX model (the protobuf does not parse)") from None


def _check_onnx(model) -> None:
    from onnx import TensorProto

    graph = model.graph
    if len(graph.node) == 0:
        raise Refused("the ONNX graph is empty")
    if model.functions:
        raise Refused(f"the ONNX model defines its own functions ({model.functions[0].name}); "
                      "only standard operators are accepted")
    for opset in model.opset_import:
        if opset.domain not in ("", "ai.onnx"):
            raise Refused(f"the ONNX model imports the custom operator domain {opset.domain!r}")
    tensors = list(graph.initializer)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise Refused(f"operator {node.domain}.{node.op_type} is not a standard ONNX operator")
        if node.op_type not in ONNX_OPS:
            raise Refused(f"ONNX operator {node.op_type} is not allowed (control flow, I/O and custom "
                          "operators are refused)")
        for attr in node.attribute:
            if attr.g.node or attr.graphs:
                raise Refused(f"operator {node.op_type} carries a subgraph, which is not allowed")
            if attr.HasField("t"):
                tensors.append(attr.t)
            tensors.extend(attr.tensors)
    for t in tensors:
        if t.data_location == TensorProto.EXTERNAL or t.external_data:
            raise Refused(f"tensor {t.name!r} points at an external data file; embed the weights in the .onnx file")
    if len(graph.input) < 1 or len(graph.output) < 1:
        raise Refused("the ONNX graph needs one image input and one logits output")


def _check_pt2_archive(data: bytes) -> None:
    """A ``torch.export.save`` archive whose weights and constants are raw bytes (no pickles)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Refused("not a torch.export archive (not a zip file)") from None
    bases = {n.rsplit("/", 1)[-1] for n in names}
    if "archive_format" not in bases or not any(n.endswith(".json") and "/models/" in f"/{n}" for n in names):
        raise Refused("not a torch.export archive (no archive_format or models/*.json); save it with "
                      "torch.export.save")
    if "version" in names or bases & {"serialized_exported_program.json", "serialized_state_dict.json"}:
        raise Refused("the archive is in the pre-2.7 torch.export format, which loads by unpickling; re-export it")
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if "/sample_inputs/" in f"/{name}":  # torch.export retries these with weights_only=False
            _check_plain_tensors(zf.read(name), base)
        if "/aotinductor/" in f"/{name}" or base.endswith((".so", ".cpp", ".pkl", ".pickle")):
            raise Refused(f"the archive holds {base}, which would run as code; export with torch.export.save only")
        if base.startswith(("custom_obj", "opaque_obj")):
            raise Refused(f"the archive holds a custom or opaque object ({base}), which loads by unpickling")
        if base.endswith("_config.json"):
            config = _read_json(zf, name)
            metas = config.get("config", config) if isinstance(config, dict) else None
            if not isinstance(metas, dict):
                raise Refused(f"{base} in the archive is not a weights/constants table")
            for key, meta in metas.items():
                if not isinstance(meta, dict) or meta.get("use_pickle", True):
                    raise Refused(f"{key} in the archive is pickled (torch.export would unpickle it, which runs "
                                  "code); export plain tensors")


def _check_plain_tensors(blob: bytes, base: str) -> None:
    import torch

    try:
        torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception:
        raise Refused(f"{base} in the archive is not plain tensors (it would be unpickled)") from None


def _read_json(zf: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(zf.read(name))
    except Exception:
        raise Refused(f"{name} in the archive is not valid JSON") from None


def _check_torchscript_archive(data: bytes) -> None:
    """A ``torch.jit.save`` zip with code and no ``__setstate__`` (which runs while loading)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Refused("not a TorchScript model (save it with torch.jit.save(torch.jit.script(model), path); "
                      "plain pickles and state dicts are not loaded)") from None
    code = [n for n in names if "/code/" in f"/{n}" and n.endswith(".py")]
    if not code:
        raise Refused("not a TorchScript model (no code/ folder; torch.save archives are not loaded)")
    for name in code:
        try:
            tree = ast.parse(zf.read(name).decode("utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            raise Refused(f"{name.rsplit('/', 1)[-1]} in the archive is not TorchScript code") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "__setstate__":
                raise Refused(f"the model defines {node.name}, which runs while loading; script a plain "
                              "nn.Module without custom state hooks")


# -- building a module -----------------------------------------------------------------------
def build(data: bytes, fmt: str):
    """The model as a ``torch.nn.Module`` in eval mode, after :func:`precheck` passed; refuses
    graphs with operators outside the allow-lists before running them."""
    import torch

    if fmt == "onnx":
        from onnx2torch import convert

        try:
            net = convert(_parse_onnx(data))
        except Exception as err:
            raise Refused(f"onnx2torch cannot convert it: {_line(err)}") from None
    elif fmt == "export":
        try:
            net = torch.export.load(io.BytesIO(data))
        except Exception as err:
            raise Refused(f"torch.export.load failed: {_line(err)}") from None
        _check_fx_graph(net.graph)
        net = net.module()
        for fixed in ("train", "eval"):  # torch.export's module() forbids them; its graph is fixed anyway
            net.__dict__.pop(fixed, None)
    else:
        try:
            net = torch.jit.load(io.BytesIO(data), map_location="cpu")
        except Exception as err:
            raise Refused(f"it could not be loaded as TorchScript: {_line(err)}") from None
        _check_script_graph(net.inlined_graph)
    return net.eval()


def _check_fx_graph(graph) -> None:
    import torch

    for node in graph.nodes:
        if node.op != "call_function":
            continue
        target = node.target
        if isinstance(target, torch._ops.OpOverload) and target.namespace == "aten":
            if aten_base(target.name()) not in ATEN_OPS:
                raise Refused(f"operator {target.name()} is not allowed")
        elif not (getattr(target, "__module__", None) in ("_operator", "operator", "torch")
                  and getattr(target, "__name__", "") in PY_OPS):
            raise Refused(f"operator {getattr(target, '__name__', target)} is not allowed "
                          "(only ATen operators; no custom or higher-order operators)")


def _check_script_graph(graph) -> None:
    for node in _script_nodes(graph.nodes()):
        kind = node.kind()
        ns, _, name = kind.partition("::")
        if (ns == "aten" and aten_base(name) in ATEN_OPS) or (ns == "prim" and name in PRIM_OPS):
            continue
        raise Refused(f"operator {kind} is not allowed (file, process and network operators are refused)")


def _script_nodes(nodes):
    for node in nodes:
        yield node
        for block in node.blocks():
            yield from _script_nodes(block.nodes())


def _reason(err: BaseException) -> str:
    """Why a forward pass failed, in one line (memory exhaustion named as such)."""
    text = str(err).lower()
    if isinstance(err, MemoryError) or "can't allocate memory" in text or "out of memory" in text:
        return "it ran out of its memory limit"
    return _line(err)


def _line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:200]


# -- validation ------------------------------------------------------------------------------
def validate(net, images, num_classes: int) -> None:
    """B = 1 and B = 4 give the same logits, outputs are finite float (B, num_classes) logits on the
    dataset's own images; raises :class:`Refused` otherwise. ``images``: 4×C×H×W in [0, 1]."""
    import torch

    with torch.no_grad():
        try:
            one = net(images[:1])
        except Exception as err:
            raise Refused(f"it failed on a 1×{'×'.join(map(str, images.shape[1:]))} image: {_reason(err)}") from None
        _check_logits(one, 1, num_classes)
        try:
            four = net(images)
        except Exception as err:
            raise Refused(f"it failed on a batch of {len(images)} images (export it with a dynamic batch "
                          f"dimension): {_reason(err)}") from None
        _check_logits(four, len(images), num_classes)
    if not torch.isfinite(four).all() or not torch.isfinite(one).all():
        raise Refused("it returned NaN or infinite logits on the dataset's images")
    if not torch.allclose(one[0], four[0], rtol=1e-3, atol=1e-4):
        raise Refused("the same image gives different logits alone and in a batch of 4")


def _check_logits(out: Any, b: int, k: int) -> None:
    import torch

    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or tuple(out.shape) != (b, k):
        got = f"{tuple(out.shape)} {str(out.dtype).removeprefix('torch.')}" if isinstance(out, torch.Tensor) \
            else type(out).__name__
        raise Refused(f"it returned {got} for {b} image(s); expected ({b}, {k}) float logits")


# -- the sandbox child -----------------------------------------------------------------------
def _sandbox_main() -> None:  # pragma: no cover - runs in a child process (tested through user_model)
    """Read ``{fmt, classes, memory}`` + model bytes + images from stdin, then load and validate
    with no way to open files, start programs or use the network; print one JSON line."""
    import os
    import resource
    import sys

    import numpy as np
    import torch

    torch.set_num_threads(1)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    header = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read(header["model_bytes"])
    images = torch.from_numpy(np.load(io.BytesIO(sys.stdin.buffer.read(header["image_bytes"]))))
    _warm_up(header["fmt"], images)  # lazy imports and kernels, while files can still be opened
    vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
    limit = vm + int(header["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _deny_system_calls()
    try:
        precheck(data, header["fmt"])
        validate(build(data, header["fmt"]), images, header["classes"])
        result = {"ok": True}
    except Refused as err:
        result = {"ok": False, "reason": str(err)}
    except Exception as err:  # the model's own failure, in one line
        result = {"ok": False, "reason": _reason(err)}
    out.write(json.dumps(result) + "\n")
    out.flush()
    os._exit(0)


def _warm_up(fmt: str, images) -> None:  # pragma: no cover - child only
    """Load and run a tiny model of the same format, so nothing is imported after the filter."""
    import torch

    x = images[:2]
    net = torch.nn.Sequential(torch.nn.Conv2d(x.shape[1], 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.LazyLinear(2)).eval()
    net(x)
    buf = io.BytesIO()
    if fmt == "export":
        torch.export.save(torch.export.export(net, (x,)), buf)
    elif fmt == "torchscript":
        torch.jit.save(torch.jit.trace(net, x), buf)
    else:
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "warm_up",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])])
        buf.write(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
        torch.onnx.is_in_onnx_export()  # onnx2torch's modules ask this in forward
    build(buf.getvalue(), fmt)(x if fmt != "onnx" else torch.ones(2, 4))


def _deny_system_calls() -> None:  # pragma: no cover - child only
    """seccomp: from here on, opening files, creating or renaming paths, starting programs or
    processes and network calls fail with EPERM (threads are still allowed)."""
    import errno

    import pyseccomp as sc

    f = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in ("open", "openat", "openat2", "creat", "truncate", "ftruncate", "unlink", "unlinkat", "rename",
                 "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "symlink", "symlinkat", "link", "linkat",
                 "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "execve", "execveat", "fork", "vfork",
                 "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg",
                 "ptrace", "mount", "memfd_create", "process_vm_writev", "kill", "tkill", "pidfd_open"):
        f.add_rule(sc.ERRNO(errno.EPERM), name)
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc falls back to clone(), filtered below
    clone_thread = 0x00010000
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, clone_thread, 0))  # a new process
    f.load()


if __name__ == "__main__":  # pragma: no cover
    _sandbox_main()
