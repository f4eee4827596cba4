"""The CLI as one torchrun rank, with the fault named by ``XAI_TEST_FAULT`` injected into rank 1:
``code`` (it reports another source hash), ``shard`` (its evaluation raises), ``fit`` (its training
raises in the second epoch). Test code only: the package has no fault hooks."""
from __future__ import annotations

import os
import sys

from xai_core import cli, distributed
from xai_core.methods import trained
from xai_core.services import distributed_evaluation

FAULT = os.environ.get("XAI_TEST_FAULT", "")


def _fail(*_args, **_kwargs):
    raise RuntimeError("injected failure")


if int(os.environ.get("RANK", "0")) == 1:
    if FAULT == "code":
        distributed.source_hash = lambda: "0123456789abcdef"
    elif FAULT == "shard":
        distributed_evaluation.run_shard = _fail
    elif FAULT == "fit":
        original = trained.fit

        def failing_fit(method, data, store, progress=trained.no_progress):
            def epoch_once(stage, run, idx):  # fails in this rank's second epoch
                if run.epoch > 1:
                    _fail()
                return type(method).train_step(method, stage, run, idx)

            method.train_step = epoch_once
            return original(method, data, store, progress)

        trained.fit = failing_fit

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
