"""The services the CLI and the pages share, one module per concern. Nothing here knows about
Streamlit, and imports only point down (tasks → ablations → evaluation → shards → context;
explaining → catalog → context; everything → methods/metrics/models/data/store, which never
import services):

- :mod:`.context`: the model choice, loading a dataset with its classifier, user-model uploads,
  building explainers;
- :mod:`.catalog`: what pages and the CLI list (method rows, usable metrics) and name checks;
- :mod:`.explaining`: explaining samples and uploads for display, the sample picker;
- :mod:`.shards` and :mod:`.evaluation`: methods × metrics as picklable shards, run and reduced;
- :mod:`.distributed_evaluation`: the same shards dealt out to the ranks of a torchrun job;
- :mod:`.training_maps`: an explainer's maps of the training images, pooled into units and cached (what
  the two protocols below train on);
- :mod:`.reconstruction`: the a1a2 protocol's generators, trained per explainer's unit selections;
- :mod:`.approximators`: the fs_fu protocol's approximators A'_S / A'_U, trained per explainer's top-k
  feature selections;
- :mod:`.masking`: signal vs distractor masking (DiET's Table 6);
- :mod:`.ablations`: the resolution ablation, method-setting sweeps and component ablations;
- :mod:`.tasks`: background jobs and the Train page's rows.

Every public name is re-exported here: ``from xai_core import services; services.evaluate(...)``.
"""
from __future__ import annotations

from ..models.user_model import UPLOAD_FORMATS
from ..models.user_model import prestart_worker as prestart_model_worker
from ..resolution import FACTORS, block_average, downscaled_maps, resolution_factors
from .ablations import component_ablation, component_variants, resolution_ablation, setting_sweep, sweep_curves
from .accuracy import REMOVED, accuracy_measured, explained_accuracy
from .catalog import (
    MethodRow, Offered, Panel, Paper, check_methods, check_metrics, check_sweep, is_ready, method_row, method_rows,
    registered_methods,
    metric_names, unit_configs,
    RANDOM_LABELS, randomization_variants, randomized_configs,
    applicable_metrics, usable, method_defaults, unavailable_methods, offered_methods,
)
from .shipped import PAPER_METHODS, preselected
from .commands import evaluate_arguments, evaluate_command, torchrun_command, train_command
from .context import (
    DEFAULT_MODEL, MAX_USER_MODEL_BYTES, MAX_USER_MODELS, USER_MODEL, Configs, Context, ContextSpec, ModelChoice,
    bottleneck_layers, build_explainer, check_layer, layer_configs, load_context, model_choices, save_user_model,
    targets_for, validation_images,
)
from .distributed_evaluation import evaluate_across_ranks
from .evaluation import Variant, evaluate, plan_shards, planned_images, reduce_shards
from .explaining import (
    GALLERY_SIZES, GALLERY_TARGETS, OUTCOMES, class_choices, evaluation_split, evaluation_splits,
    explain_batch, explain_gallery, explain_images, explain_indices, first_as_arrays, gallery_indices,
    predicted_labels, sample_indices, top_k, without_ground_truth,
)
from .masking import MASKING_FRACTIONS, check_region_masking, region_masking
from .masking import SIGNALS as MASKING_SIGNALS
from .approximators import ApproximatorFitter, Approximators, train_approximators
from .reconstruction import GeneratorFitter
from .shards import Shard, ShardResult, run_shard
from .tasks import black_box_rows, fit_job_key, fit_label, fit_method_job, job_key, sweep_job, train_black_box_job

__all__ = [
    "UPLOAD_FORMATS", "FACTORS", "block_average", "downscaled_maps", "resolution_factors",
    "component_ablation", "component_variants", "resolution_ablation", "setting_sweep", "sweep_curves", "REMOVED",
    "explained_accuracy", "accuracy_measured",
    "MethodRow", "Offered", "Panel", "Paper", "registered_methods",
    "applicable_metrics", "check_methods", "check_metrics", "check_sweep",
    "is_ready", "method_row", "method_rows",
    "metric_names", "unit_configs", "method_defaults", "RANDOM_LABELS", "randomization_variants", "randomized_configs",
    "usable", "unavailable_methods", "offered_methods", "PAPER_METHODS", "preselected",
    "evaluate_arguments", "evaluate_command", "torchrun_command", "train_command",
    "DEFAULT_MODEL", "MAX_USER_MODEL_BYTES", "MAX_USER_MODELS", "USER_MODEL", "Configs", "Context", "ContextSpec",
    "ModelChoice", "bottleneck_layers", "build_explainer", "check_layer", "layer_configs", "load_context",
    "model_choices", "prestart_model_worker", "save_user_model", "targets_for", "validation_images",
    "Variant", "evaluate", "evaluate_across_ranks", "plan_shards", "planned_images", "reduce_shards",
    "GALLERY_SIZES", "GALLERY_TARGETS", "explain_gallery", "gallery_indices",
    "OUTCOMES", "class_choices", "evaluation_split", "evaluation_splits", "explain_batch",
    "explain_images", "explain_indices", "first_as_arrays", "predicted_labels",
    "sample_indices", "top_k", "without_ground_truth",
    "MASKING_FRACTIONS", "MASKING_SIGNALS", "check_region_masking", "region_masking",
    "ApproximatorFitter", "Approximators", "train_approximators", "GeneratorFitter", "Shard", "ShardResult", "run_shard",
    "black_box_rows", "fit_job_key", "fit_label", "fit_method_job", "job_key", "sweep_job", "train_black_box_job",
]
