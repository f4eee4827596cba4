"""The classifier zoo: architectures (all take [0, 1] pixel input and normalise inside),
black-box training and caching, pretrained ImageNet EfficientNet-Lite0, user TorchScript models."""
from __future__ import annotations

from .archs import ARCHS, DEFAULT_ARCHS, PRETRAINED, build_model, default_arch
from .inference import accuracy, predict
from .normalize import Normalized
from .user_model import is_user_model, load_user_model
from .training import (
    MODEL_FORMAT, TRAIN_TABLE, black_box_state, TrainConfig, load_black_box, train_black_box, train_config, write_shipped_black_boxes,
)

__all__ = [
    "ARCHS",
    "DEFAULT_ARCHS",
    "MODEL_FORMAT",
    "PRETRAINED",
    "TRAIN_TABLE",
    "Normalized",
    "TrainConfig",
    "accuracy",
    "black_box_state",
    "build_model",
    "default_arch",
    "load_black_box",
    "is_user_model",
    "load_user_model",
    "predict",
    "train_black_box",
    "train_config",
    "write_shipped_black_boxes",
]
