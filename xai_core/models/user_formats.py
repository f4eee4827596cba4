"""What a user's model file may contain, and how each format becomes a ``torch.nn.Module``.

Everything here runs **only inside the jailed worker** (:mod:`.jail`), never in the server. A
model file is a program; we accept three formats and refuse everything else:

- **ONNX** (``.onnx``, recommended): parsed as protobuf, then every node must be a standard-domain
  operator on :data:`ONNX_OPS` (no custom domains, no model-local functions, no control flow, no
  tensors stored in external files), then converted by ``onnx2torch`` into an ordinary
  ``torch.fx`` module, so gradient methods work;
- **torch.export** (``.pt2``): the archive's members must be on :data:`PT2_MEMBERS` (paths
  normalised first), its weight and constant tables raw tensors (no pickles, no custom or opaque
  objects), its program JSON free of ``guards_code`` (``exec``-ed by torch), with every symbolic
  expression plain shape arithmetic (torch ``sympify``-s them, an ``eval``) and every call an ATen
  operator on :data:`ATEN_OPS`;
- **TorchScript** (``.pt``/``.ts``, CLI only): the archive's code may define no ``__setstate__``
  (it runs while loading); once loaded, every node of ``forward``'s inlined graph must be an
  ATen operator on :data:`ATEN_OPS` or a structural ``prim::`` node on :data:`PRIM_OPS`.

The allow-lists are a first line; the jail is the second: if torch's loaders have a hole the lists
miss, the code that gets through runs with no files, no processes, no network and a CPU and memory
budget. This module imports nothing from ``xai_core`` (the worker imports it as a sibling module).
"""
from __future__ import annotations

import ast
import io
import json
import posixpath
import re
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


#: members of a ``torch.export.save`` archive we read (relative to its one root folder); anything else
#: (AOTInductor code, custom or opaque objects, extra files, the legacy pickled formats) is refused
PT2_MEMBERS = re.compile(r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
                         r"|models/\w+\.json|data/sample_inputs/\w+\.pt"
                         r"|data/weights/\w+_weights_config\.json|data/constants/\w+_constants_config\.json"
                         r"|data/weights/weight_\d+|data/constants/tensor_\d+")
#: a payload table's entries: raw tensor bytes only, named as torch.export.save names them
PT2_PAYLOAD = {"weights": re.compile(r"weight_\d+"), "constants": re.compile(r"tensor_\d+")}
PT2_PAYLOAD_KEYS = frozenset({"path_name", "is_param", "use_pickle", "tensor_meta"})
#: top-level fields of an exported program's JSON (``guards_code`` must be empty: it is ``exec``-ed)
PT2_PROGRAM_KEYS = frozenset({"graph_module", "opset_version", "range_constraints", "schema_version", "verifiers",
                              "torch_version", "guards_code"})
#: names a symbolic shape expression may call (torch.export parses ``expr_str`` with ``sympy.sympify``, an ``eval``)
SYMPY_NAMES = frozenset("""Symbol Integer Add Mul Pow Max Min Abs FloorDiv Mod PythonMod CleanDiv CeilDiv CeilToInt
FloorToInt TruncToInt ModularIndexing IntTrueDiv Eq Ne Lt Le Gt Ge And Or Not True False""".split())
SYMPY_FLAGS = frozenset({"positive", "integer", "nonnegative", "real", "finite"})
#: the largest archive member and the largest total we inflate (a zip bomb is refused from its directory)
MAX_MEMBER_BYTES, MAX_ARCHIVE_BYTES = 2**30, 2 * 2**30


def _check_pt2_archive(data: bytes) -> None:
    """A ``torch.export.save`` archive holding only :data:`PT2_MEMBERS`, raw-bytes weights and
    constants, plain-tensor sample inputs and programs whose JSON passes :func:`_check_pt2_program`."""
    zf = _open_zip(data, "not a torch.export archive (not a zip file)")
    names = zf.namelist()
    roots = {n.split("/", 1)[0] for n in names}
    files = {n.split("/", 1)[1]: n for n in names if "/" in n}
    if len(roots) != 1 or len(files) != len(names) or "archive_format" not in files \
            or not any(PT2_MEMBERS.fullmatch(f) and f.startswith("models/") for f in files):
        if {"version", "data.pkl"} & {n.rsplit("/", 1)[-1] for n in names}:
            raise Refused("the archive is in the pre-2.7 torch.export format, which loads by unpickling; re-export it")
        raise Refused("not a torch.export archive (no archive_format or models/*.json in one folder); save it with "
                      "torch.export.save")
    for rel in files:
        if not PT2_MEMBERS.fullmatch(rel):
            raise Refused(f"the archive holds {rel!r}, which is not part of a plain exported program (no AOTInductor "
                          "code, custom, opaque or pickled objects, or extra files)")
    for rel, name in files.items():
        folder = rel.split("/")[1] if rel.startswith("data/") else ""
        if rel.startswith("data/sample_inputs/"):  # torch.export retries these with weights_only=False
            _check_plain_tensors(zf.read(name), rel)
        elif rel.endswith("_config.json"):
            _check_payload_table(_read_json(zf, name), rel, PT2_PAYLOAD[folder], set(files))
        elif rel.startswith("models/"):
            _check_pt2_program(_read_json(zf, name), rel)


def _open_zip(data: bytes, not_zip: str) -> zipfile.ZipFile:
    """The archive, once its directory is sane: member names normalised (no absolute paths, ``..``,
    backslashes or duplicates) and sizes within :data:`MAX_MEMBER_BYTES` / :data:`MAX_ARCHIVE_BYTES`."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise Refused(not_zip) from None
    names = [i.filename for i in infos]
    for name in names:
        if "\\" in name or name.startswith("/") or posixpath.normpath(name) != name or "\0" in name:
            raise Refused(f"the archive holds a member with an unsafe path ({name[:80]!r})")
    if len(set(names)) != len(names):
        raise Refused("the archive holds two members with the same name")
    if any(i.file_size > MAX_MEMBER_BYTES for i in infos) or sum(i.file_size for i in infos) > MAX_ARCHIVE_BYTES:
        raise Refused(f"the archive inflates to more than {MAX_ARCHIVE_BYTES >> 30} GB (a zip bomb?)")
    return zf


def _check_payload_table(config: Any, rel: str, path_name: re.Pattern, files: set[str]) -> None:
    metas = config.get("config") if isinstance(config, dict) and set(config) == {"config"} else None
    if not isinstance(metas, dict):
        raise Refused(f"{rel} in the archive is not a weights/constants table")
    folder = rel.rsplit("/", 1)[0]
    for key, meta in metas.items():
        if not isinstance(meta, dict) or meta.get("use_pickle", True) is not False:
            raise Refused(f"{key} in the archive is pickled (torch.export would unpickle it, which runs code); "
                          "export plain tensors")
        if not set(meta) <= PT2_PAYLOAD_KEYS or not isinstance(meta.get("path_name"), str) \
                or not path_name.fullmatch(meta["path_name"]) or f"{folder}/{meta['path_name']}" not in files:
            raise Refused(f"{key} in the archive is not a plain tensor stored in the archive "
                          "(custom and opaque objects are refused)")


def _check_pt2_program(program: Any, rel: str) -> None:
    """An exported program's JSON: known fields only, no guard code, no custom objects, every call an
    allow-listed operator and every symbolic expression plain arithmetic on shape symbols."""
    if not isinstance(program, dict) or not set(program) <= PT2_PROGRAM_KEYS:
        extra = sorted(set(program) - PT2_PROGRAM_KEYS) if isinstance(program, dict) else ["?"]
        raise Refused(f"{rel} in the archive has fields outside the allow-list ({', '.join(extra)[:80]})")
    if program.get("guards_code"):
        raise Refused("the archive carries guards_code, which torch would run as Python code")
    graph = program.get("graph_module", {}).get("graph", {}) if isinstance(program.get("graph_module"), dict) else {}
    if not isinstance(graph, dict) or graph.get("custom_obj_values"):
        raise Refused("the archive's graph holds custom objects, which load by unpickling")
    for node in graph.get("nodes", []):
        target = node.get("target") if isinstance(node, dict) else None
        if not isinstance(target, str) or not _allowed_target(target):
            raise Refused(f"operator {str(target)[:80]} is not allowed (only ATen operators; no custom or "
                          "higher-order operators)")
    for expr in [*_find_key(program, "expr_str"), *program.get("range_constraints", {})]:
        if not isinstance(expr, str) or not _plain_expr(expr):
            raise Refused(f"the archive holds a symbolic expression that is not plain shape arithmetic "
                          f"({str(expr)[:60]!r}); torch would evaluate it as Python")


def _allowed_target(target: str) -> bool:
    if target.startswith("torch.ops.aten."):
        return aten_base(target.removeprefix("torch.ops.aten.")) in ATEN_OPS
    module, _, name = target.rpartition(".")
    return module in ("_operator", "torch") and name in PY_OPS


def _find_key(obj: Any, key: str):
    """Every value stored under ``key`` anywhere in a JSON document."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                yield item[key]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _plain_expr(text: str) -> bool:
    """Whether a sympy expression string is arithmetic over shape symbols (``s77``), integers and
    :data:`SYMPY_NAMES` calls: no attributes, subscripts, lambdas or other names."""
    if len(text) > 2000:
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return False
    symbol = re.compile(r"[a-z]+\d+")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Load,
                             ast.Compare, ast.cmpop, ast.BoolOp, ast.boolop)):
            continue
        if isinstance(node, ast.Constant) and (type(node.value) in (int, bool, float)
                                               or (isinstance(node.value, str) and symbol.fullmatch(node.value))):
            continue
        if isinstance(node, ast.Name) and (node.id in SYMPY_NAMES or symbol.fullmatch(node.id)):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SYMPY_NAMES:
            continue
        if isinstance(node, ast.keyword) and node.arg in SYMPY_FLAGS and isinstance(node.value, ast.Constant) \
                and type(node.value.value) is bool:
            continue
        return False
    return True


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
    zf = _open_zip(data, "not a TorchScript model (save it with torch.jit.save(torch.jit.script(model), path); "
                         "plain pickles and state dicts are not loaded)")
    names = zf.namelist()
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

        compat = _sibling("onnx_compat")
        compat.register()
        try:
            net = convert(compat.prepare(_parse_onnx(data)))
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


def _sibling(name: str):
    """A module beside this one, whether this runs as ``xai_core.models.user_formats`` or as the
    worker's top-level ``user_formats``."""
    import importlib

    return importlib.import_module(f"{__package__}.{name}" if __package__ else name)


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


def reason(err: BaseException) -> str:
    """Why a forward pass failed, in one line (memory exhaustion named as such)."""
    text = str(err).lower()
    if isinstance(err, MemoryError) or "can't allocate memory" in text or "out of memory" in text:
        return "it ran out of its memory limit"
    return _line(err)


def _line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:200]
