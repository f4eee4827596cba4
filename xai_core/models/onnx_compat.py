"""ONNX graphs as today's exporters write them, made convertible by ``onnx2torch`` 1.5.

``torch.onnx.export`` in the pinned torch writes opset 20, both with the TorchScript exporter
(``dynamo=False``) and the default dynamo one; onnx2torch implements operators up to about opset 17.
Where a newer operator version changed only the types it accepts, its converter is the older
version's (:data:`SAME_AS`); where the change is in form, the graph is rewritten first
(:func:`prepare`): reductions at opset 18+ take their axes as an input (moved back to the
attribute when constant), ``Reshape(allowzero=1)`` with a constant shape holding no zero is a plain
reshape, ``Identity`` nodes are bypassed (onnx2torch loses the name of an initializer behind one), and
``Gelu`` (new in opset 20) gets a converter. Anything else an exporter writes that onnx2torch cannot
convert is still refused in one line. Runs in the jailed worker only; imports nothing from xai_core.
"""
from __future__ import annotations

#: (operator, since-version) -> the since-version whose converter it shares (type-list changes only)
SAME_AS = {
    **{(op, v): old for op, old in (("Identity", 16), ("Shape", 15), ("Reshape", 14), ("Cast", 13), ("Constant", 13),
                                    ("Pad", 18), ("Size", 13), ("Squeeze", 13), ("Unsqueeze", 13),
                                    ("Flatten", 13), ("Transpose", 13), ("ConstantOfShape", 9))
       for v in (19, 20, 21, 23, 24) if v > old},
    ("Equal", 19): 13,
    ("Split", 18): 13,  # adds ``num_outputs``: onnx2torch splits evenly into as many outputs as the node has
    ("AveragePool", 19): 11,  # adds ``dilations``; refused in prepare() unless all 1
    **{(op, v): 13 for op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1",
                              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare") for v in (18, 20)},
}
#: reductions whose axes moved from an attribute to an input at opset 18
REDUCE = frozenset(op for op, _ in SAME_AS if op.startswith("Reduce"))

_registered = False


def register() -> None:
    """Add the aliases and the Gelu converter to onnx2torch's registry (once per process)."""
    global _registered
    if _registered:
        return
    import onnx.numpy_helper  # noqa: F401 - everything prepare() and the converters import, imported now:
    import onnx2torch.utils.common  # noqa: F401 - in the jail no module can be read from disk
    from onnx2torch.node_converters import registry
    from onnx2torch.node_converters.registry import OperationDescription as Op

    table = registry._CONVERTER_REGISTRY
    for (op, version), old in SAME_AS.items():
        if Op("", op, version) not in table and Op("", op, old) in table:
            table[Op("", op, version)] = table[Op("", op, old)]
    if Op("", "Gelu", 20) not in table:
        registry.add_converter(operation_type="Gelu", version=20)(_gelu)
    _registered = True


def _gelu(node, graph):
    import torch
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    del graph
    approximate = node.attributes.get("approximate", "none")
    return OperationConverterResult(torch_module=torch.nn.GELU(approximate=approximate),
                                    onnx_mapping=onnx_mapping_from_node(node=node))


def prepare(model):
    """``model`` rewritten in place into forms onnx2torch converts (see the module docstring)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    keep = []
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        if node.op_type == "Identity" and node.output[0] not in outputs:
            rename[node.output[0]] = node.input[0]
            continue
        if node.op_type in REDUCE and len(node.input) > 1 and node.input[1] in consts:
            axes = [int(a) for a in consts[node.input[1]].reshape(-1)]
            del node.input[1:]
            if axes:
                node.attribute.append(helper.make_attribute("axes", axes))
        if node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in consts:
            if not (consts[node.input[1]] == 0).any():
                _drop_attribute(node, "allowzero")
        if node.op_type == "AveragePool":
            dilations = next((list(a.ints) for a in node.attribute if a.name == "dilations"), [])
            if all(d == 1 for d in dilations):
                _drop_attribute(node, "dilations")
        keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    return model


def _drop_attribute(node, name: str) -> None:
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
