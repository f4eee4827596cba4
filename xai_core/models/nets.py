"""The small networks trained from scratch as black boxes (raw networks, without
normalisation; :mod:`.archs` wraps them in :class:`~.normalize.Normalized`).

All activations are separate, non-inplace modules so that hook-based attribution methods
(Grad-CAM, FullGrad, Captum's DeepLift/guided backprop) can hook every layer safely.
"""
from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """The DoRaR/MEED MNIST black-box shape (the Keras MNIST CNN):
    conv3 32 → ReLU → conv3 64 → ReLU → maxpool 2 → dropout 0.25 → fc 128 → ReLU →
    dropout 0.5 → fc classes.

    At 28×28 the flattened features are 64×12×12 exactly as in the papers; other sizes are
    brought to 12×12 by adaptive average pooling (identity at 28 px), so the same network
    works for any channel count and image size ≥ 6 px.
    """

    def __init__(self, channels: int, num_classes: int, pooled: int = 12) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
        )
        self.pool = nn.Sequential(nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(pooled))
        self.classifier = nn.Sequential(
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(64 * pooled * pooled, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


class CNNLight(nn.Module):
    """A light VGG-style CNN for the coloured/larger quick datasets: four 3×3 conv-BN-ReLU
    stages (widths 16-32-64-128 by default) with 2×2 max pooling between them, then
    **global max pooling** and a linear layer.

    Why this shape (measured on Hard MNIST quick, 64 px, 2 CPU cores, 5 epochs ≈ 1.5 min):
    max pooling keeps the strongest local evidence, so the net finds the one big digit among
    noise bands and smaller distractor digits at any place (translation tolerant); the same
    net with global *average* pooling, and narrow ResNets with strided convolutions, stayed
    far below 95 % test accuracy within the same budget. About 16 M multiply-adds at 64 px.
    """

    def __init__(self, channels: int, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        cin = channels
        for i, c in enumerate(widths):
            layers: list[nn.Module] = [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil: odd sizes (28 → 14 → 7 → 4) keep borders
            stages.append(nn.Sequential(*layers))
            cin = c
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """ResNet basic block (two 3×3 convs + identity/projection shortcut), own ReLU modules."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetLight(nn.Module):
    """A narrow ResNet-10 (one basic block per stage, widths 16-32-64-128) with global
    average pooling, so it tolerates the object appearing anywhere on the canvas.

    The stem is a 3×3 conv with stride 2 for images ≥ 64 px (64×64 → 32×32 features; about
    4× cheaper on CPU) and stride 1 below, so the last stage sees 4×4 features either way
    at 64 and 32 px.

    Kept for users who want a residual net; the quick presets default to :class:`CNNLight`,
    because this net trains much more slowly on Hard MNIST (≈ 20 % test accuracy after 4
    epochs where CNNLight reaches 95 %).
    """

    def __init__(
        self, channels: int, num_classes: int, image_size: int, widths: tuple[int, ...] = (16, 32, 64, 128)
    ) -> None:
        super().__init__()
        stem_stride = 2 if image_size >= 64 else 1
        self.stem = nn.Sequential(
            nn.Conv2d(channels, widths[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        self.layer1 = BasicBlock(widths[0], widths[0], 1)
        self.layer2 = BasicBlock(widths[0], widths[1], 2)
        self.layer3 = BasicBlock(widths[1], widths[2], 2)
        self.layer4 = BasicBlock(widths[2], widths[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in (self.layer1, self.layer2, self.layer3, self.layer4):
            nn.init.zeros_(block.bn2.weight)  # zero-init residual: each block starts as identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def no_inplace(module: nn.Module) -> nn.Module:
    """Turn off ``inplace`` on every activation (torchvision/timm default to inplace ReLU,
    which breaks backward hooks used by attribution methods). Returns ``module``."""
    for m in module.modules():
        if hasattr(m, "inplace") and isinstance(getattr(m, "inplace"), bool):
            m.inplace = False
    return module
