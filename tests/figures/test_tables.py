"""Tables and CSV over an evaluate() result: each metric's cells by its kind, ↑/↓ labels, numeric CSV."""
from __future__ import annotations

import csv
import io

from xai_core.figures import tables
from xai_core.metrics import EvaluationResult

from .samples import A1A2, FIDELITY, GROUP, RESULT, fidelity


def test_table_and_curves_csv():
    rows = tables.scalar_rows(RESULT)
    assert rows[0] == {"method": "a", "iou": "0.5000 ± 0.1000", "deletion AUC": 0.475, "ms / image": 1.0}
    parsed = list(csv.DictReader(io.StringIO(tables.curves_csv(RESULT))))
    assert len(parsed) == 6 and parsed[4] == {"method": "b", "metric": "deletion", "x": "0.5", "y": "0.8"}
    parsed = list(csv.DictReader(io.StringIO(tables.rows_csv(rows))))
    assert parsed[1]["method"] == "b" and parsed[1]["deletion AUC"] == "0.7"


def test_tables_take_the_typed_result_or_its_json():
    typed = EvaluationResult.from_json(GROUP)
    assert tables.scalar_rows(typed) == tables.scalar_rows(GROUP)
    assert tables.curves_csv(typed) == tables.curves_csv(GROUP)


def test_scalar_rows_show_seeded_metrics_as_mean_and_std():
    rows = tables.scalar_rows(A1A2)
    assert rows[0] == {"method": "dorar", "iou": "0.4000", "a1a2 a1": "0.9000 ± 0.0500",
                       "a1a2 a2": "0.2000 ± 0.1000", "ms / image": 3.0}
    assert rows[1]["a1a2 a2"] == "0.8000" and tables.curve_metrics(A1A2) == []
    assert "a1a2" not in tables.curves_csv(A1A2) and tables.rows_csv(rows).count("\n") == 3


def test_a1a2_table_one_row_per_method():
    assert tables.seeded_metrics(A1A2) == ["a1a2"] and tables.seeded_metrics(RESULT) == []
    rows = tables.a1a2_rows(A1A2)
    assert [r["method"] for r in rows] == ["dorar", "random"]
    assert rows[0]["a1 (higher is better)"] == "0.9000 ± 0.0500" and rows[0]["seeds"] == 2 and rows[0]["n"] == 4


def test_the_kind_comes_from_the_metric_not_from_the_keys():
    """An a1a2 value without its counts is still seeded (the keys once made it a group); a robustness value
    with an "x" score is still a group (the keys once made it a curve)."""
    bare = {"a1": 0.9, "a1_std": 0.1, "a1_seeds": [0.9], "a2": 0.2, "a2_std": 0.0, "a2_seeds": [0.2]}
    odd = {"x": 0.5, "x_std": 0.1, "x_n": 3, "n": 3}
    result = {**RESULT, "results": {"m": {"a1a2": bare, "robustness": odd}}}
    assert tables.seeded_metrics(result) == ["a1a2"] and tables.group_metrics(result) == ["robustness"]
    assert tables.curve_metrics(result) == [] and "robustness" not in tables.curves_csv(result)
    assert tables.scalar_rows(result)[0]["robustness x"] == "0.5000 ± 0.1000"


def test_group_metrics_get_a_column_per_score_and_their_own_table():
    (row,) = tables.scalar_rows(GROUP)
    assert row == {"method": "gradient", "iou": "n/a", "deletion AUC": 0.5, "robustness pxap_clean": "0.6000 ± 0.1000",
                   "robustness pxap_noisy": "0.5000 ± 0.2000", "robustness pxap_background": None, "ms / image": 1.0}
    assert tables.group_metrics(GROUP) == ["robustness"] and tables.group_metrics(RESULT) == []
    assert tables.group_metrics(A1A2) == [] and tables.seeded_metrics(GROUP) == []
    assert tables.curve_metrics(GROUP) == ["deletion"] and "robustness" not in tables.curves_csv(GROUP)
    assert tables.group_rows(GROUP, "robustness") == [{"method": "gradient", "pxap_clean": "0.6000 ± 0.1000",
                                                       "pxap_noisy": "0.5000 ± 0.2000", "pxap_background": None,
                                                       "n": 4}]


def test_unscored_curves_have_no_auc():
    result = {**RESULT, "results": {**RESULT["results"],
                                    "c": {"deletion": {"x": [0, 0.5, 1], "y": [None] * 3, "auc": None, "n": 0}}}}
    assert tables.scalar_rows(result)[-1]["deletion AUC"] is None


def test_table_columns_are_marked_with_the_better_direction():
    assert tables.table_labels(tables.scalar_rows(RESULT)) == {"iou": "iou ↑", "deletion AUC": "deletion AUC ↓"}
    assert tables.table_labels(tables.scalar_rows(A1A2)) == {"iou": "iou ↑", "a1a2 a1": "a1a2 a1 ↑",
                                                            "a1a2 a2": "a1a2 a2 ↓"}
    labels = tables.table_labels(tables.scalar_rows(GROUP))
    assert labels["robustness pxap_noisy"] == "robustness pxap_noisy ↑"
    assert labels["deletion AUC"] == "deletion AUC ↓"
    assert labels["iou"] == "iou ↑" and "ms / image" not in labels and "method" not in labels
    assert tables.group_labels(GROUP, "robustness") == {k: f"{k} ↑" for k in ("pxap_clean", "pxap_noisy",
                                                                              "pxap_background")}


def test_table_csv_has_numeric_mean_and_std_columns():
    for result in (RESULT, A1A2, GROUP):
        text = tables.rows_csv(tables.numeric_rows(result))
        assert "±" not in text
        for row in csv.DictReader(io.StringIO(text)):
            assert all(v == "" or float(v) == float(v) for k, v in row.items() if k != "method")
    (a, b) = csv.DictReader(io.StringIO(tables.rows_csv(tables.numeric_rows(RESULT))))
    assert float(a["iou mean"]) == 0.5 and float(a["iou std"]) == 0.1 and float(b["deletion AUC mean"]) == 0.7
    assert b["deletion AUC std"] == "" and float(b["ms / image"]) == 2.0
    dorar, random = tables.numeric_rows(A1A2)
    assert (dorar["a1a2 a2 mean"], dorar["a1a2 a2 std"], random["a1a2 a2 std"]) == (0.2, 0.1, None)
    (row,) = tables.numeric_rows(GROUP)
    assert row["iou mean"] is None and row["robustness pxap_noisy mean"] == 0.5  # n/a: an empty cell


def test_fidelity_table_in_the_papers_layout_with_directions():
    assert tables.has_fidelity(FIDELITY) and not tables.has_fidelity(RESULT)
    rows = tables.fidelity_rows(FIDELITY)
    assert rows[0] == {"method": "meed", "FS-M": 0.99, "FU-M": 0.75, "FS-A": 0.98, "FU-A": 0.6, "SEN": 6.1,
                       "ms / image": 0.12}
    assert rows[2]["SEN"] == 139.1235
    assert tables.fidelity_labels(rows) == {"FS-M": "FS-M ↑", "FU-M": "FU-M ↓", "FS-A": "FS-A ↑",
                                            "FU-A": "FU-A ↓", "SEN": "SEN ↓"}
    # approximators off, sen not run: FS-M and FU-M only
    only_m = {**FIDELITY, "results": {"meed": {"fs_fu": fidelity(0.9, 0.1)}}}
    assert list(tables.fidelity_rows(only_m)[0]) == ["method", "FS-M", "FU-M", "ms / image"]
    sen_only = {**FIDELITY, "results": {"meed": {"sen": 1.0}, "gradient": {"sen": 2.0}}}
    assert tables.has_fidelity(sen_only)
    unscored = {**FIDELITY, "results": {"meed": {"sen": None}}, "spread": {"meed": {"sen": {"mean": None, "std": None,
                                                                                          "n": 0}}}}
    assert not tables.has_fidelity(unscored)  # sen ran but no image counted


def test_component_rows_name_what_each_variant_changes():
    result = {**FIDELITY, "results": {"meed": FIDELITY["results"]["meed"],
                                      "meed (w/o AIL)": FIDELITY["results"]["l2x"]},
              "ms_per_image": {"meed": 0.1, "meed (w/o AIL)": 0.1},
              "ablation": {"meed": {}, "meed (w/o AIL)": {"ail": False}}}
    rows = tables.component_rows(result)
    assert [r["method"] for r in rows] == ["meed", "meed (w/o AIL)"]
    assert rows[0]["settings changed"] == "— (the full method)" and rows[1]["settings changed"] == "ail = False"
    assert list(rows[1])[:4] == ["method", "settings changed", "FS-M", "FU-M"] and rows[1]["FU-M"] == 0.91
    plain = {**RESULT, "ablation": {"a": {}, "b": {"u": 2}}}
    assert tables.component_rows(plain)[1]["iou"] == "0.2500 ± 0.0500"


def test_masking_rows_one_per_model_and_region():
    result = {"fractions": [0.2, 0.5], "models": {"black box": {"signal": [0.91234, 0.5], "distractor": [0.9, 0.8]}}}
    assert tables.masking_rows(result)[0] == {"model": "black box", "masked": "signal", "20%": 0.912, "50%": 0.5}


WITH_CI = {**RESULT, "results": {
    "a": {"iou": 0.5, "deletion": {"x": [0, 1], "y": [1, 0], "auc": 0.475, "auc_ci95": [0.45, 0.5]}},
    "b": {"iou": 0.25, "deletion": {"x": [0, 1], "y": [1, 0], "auc": 0.7}}},
    "spread": {"a": {"iou": {"mean": 0.5, "std": 0.1, "n": 3, "ci95": [0.4, 0.6]}},
               "b": {"iou": {"mean": 0.25, "std": 0.05, "n": 3}}}}


def test_tables_show_the_interval_beside_each_mean_and_csv_has_its_bounds():
    a, b = tables.scalar_rows(WITH_CI)
    assert a["iou"] == "0.5000 ± 0.1000 [0.4000, 0.6000]" and a["deletion AUC"] == "0.4750 [0.4500, 0.5000]"
    assert b["iou"] == "0.2500 ± 0.0500" and b["deletion AUC"] == 0.7  # no interval written: as before
    a, b = tables.numeric_rows(WITH_CI)
    assert (a["iou ci95 low"], a["iou ci95 high"], a["deletion AUC ci95 high"]) == (0.4, 0.6, 0.5)
    assert "iou ci95 low" not in b
    (parsed, _) = csv.DictReader(io.StringIO(tables.rows_csv(tables.numeric_rows(WITH_CI))))
    assert float(parsed["deletion AUC ci95 low"]) == 0.45
    group = {**GROUP, "results": {"gradient": {**GROUP["results"]["gradient"], "robustness": {
        **GROUP["results"]["gradient"]["robustness"], "pxap_noisy_ci95": [0.4, 0.6]}}}}
    assert tables.group_rows(group, "robustness")[0]["pxap_noisy"] == "0.5000 ± 0.2000 [0.4000, 0.6000]"
