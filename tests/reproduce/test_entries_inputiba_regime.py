"""InputIBA's claims in the paper's regime (issue 26): the paper's method settings in every measurement,
sensitivity-n on `natural` with the authors' filter (target probability ≥ 0.6) and log grid of n."""
from __future__ import annotations

from xai_core import reproduce
from xai_core.methods import METHODS
from xai_core.metrics import METRICS
from xai_core.reproduce import CLAIMS, Verdict
from xai_core.reproduce.entries import inputiba


def test_every_inputiba_measurement_runs_the_papers_method_settings():
    for m in (inputiba.NATURAL, inputiba.LOCALISATION, inputiba.SANITY):
        configs = m.params["configs"]
        assert configs["input_iba"] == {"samples": 10, "input_steps": 60, "input_samples": 10}
        assert configs["iba"] == {"samples": 10}
        assert set(configs) <= set(m.params["methods"])  # settings only for the methods measured
        for preset in ("quick", "paper"):  # the settings exist, and match the paper preset's own values
            for method, config in configs.items():
                resolved = METHODS.get(method).Config.for_preset(preset, method, **config)
                paper = METHODS.get(method).Config.for_preset("paper", method)
                assert all(getattr(resolved, k) == getattr(paper, k) == v for k, v in config.items())
    assert inputiba.NATURAL.params["configs"]["integrated_gradients"] == {"steps": 50}  # Appendix D


def test_sensitivity_claim_runs_on_natural_with_the_authors_filter_and_grid():
    claim = CLAIMS.get("inputiba.sensitivity_n")
    assert claim.measurement is inputiba.NATURAL and claim.measurement.dataset == "natural"
    settings = claim.measurement.params["metric_settings"]["sensitivity_n"]
    assert settings["min_probability"] == 0.6 and settings["counts"] in ("paper", "paper_coarse")
    METRICS.get("sensitivity_n").resolve(**settings)  # parameters that exist
    command = claim.measurement.command("quick")
    assert "sensitivity_n.min_probability=0.6" in command and "input_iba.input_steps=60" in command
    assert "sensitivity_n" not in inputiba.SANITY.params["metrics"]  # one place only: natural
    assert len(reproduce.measurements(reproduce.select(["inputiba"], "quick"))) == 3


def test_sensitivity_claim_reads_the_auc_from_a_filtered_result():
    aucs = {"input_iba": 0.30, "iba": 0.25, "gradcam": 0.20, "gradient": 0.10, "integrated_gradients": 0.05}
    x = [n / 50176 for n in (1, 3, 10, 31, 100, 316, 1000, 3162, 10000, 31622)]
    result = {"dataset": "natural", "preset": "quick", "n": 32, "results": {
        m: {"sensitivity_n": {"x": x, "y": [a] * len(x), "auc": a, "n": 16, "passed": [0.5] * len(x),
                              "passed_auc": 0.5}} for m, a in aucs.items()}}
    v = Verdict.of(CLAIMS.get("inputiba.sensitivity_n"), result)
    assert v.holds is True and v.ours["IG"] == 0.05
    result["results"]["integrated_gradients"]["sensitivity_n"].update(auc=0.4)
    assert Verdict.of(CLAIMS.get("inputiba.sensitivity_n"), result).holds is False


def test_deletion_note_no_longer_blames_igs_baseline():
    note = CLAIMS.get("inputiba.deletion").note
    assert "not measured" in note and "the very colour deletion fills with" not in note
