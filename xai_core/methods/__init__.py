"""Attribution methods, one module each, all behind :class:`Explainer` and the ``METHODS`` registry.

Import order is the order methods are listed (references first, then the post-hoc baselines)."""
# isort: off
from . import ground_truth, random_map  # noqa: F401  (importing registers)
from . import gradient, input_x_gradient, smoothgrad, integrated_gradients, gradcam, fullgrad, lime  # noqa: F401
from . import diet, dorar, comet, meed  # noqa: F401
from . import iba, input_iba  # noqa: F401
# isort: on
from .base import METHODS, SIMPLIFIED, Capabilities, Explainer, Explanation, create
from .config import MethodConfig
from .trained import Stage, TrainedConfig, TrainedExplainer

__all__ = ["METHODS", "SIMPLIFIED", "Capabilities", "Explainer", "Explanation", "MethodConfig", "Stage", "TrainedConfig",
           "TrainedExplainer", "create"]
