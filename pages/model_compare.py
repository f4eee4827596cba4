"""Explore's "Compare with another model" section (not a page of its own): the chosen methods' maps
on the same sample for the sidebar's model and a second one (e.g. the honest vs the gradient-
manipulated black box), one labelled row each with that model's prediction. A second model not
trained yet is offered as a background job (pages.ui.readiness.model_ready); nothing trains in the page
run. Thin: widgets and calls into pages.ui / xai_core only."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from pages.ui import caches, helpers, readiness, sidebar
from xai_core import services, viz
from xai_core.errors import XAIError


def others(selection: sidebar.Selection, ctx: services.Context) -> list[services.ModelChoice]:
    """The models the sidebar offers for this dataset besides the one chosen (no user files: the
    sidebar takes one at a time), the manipulated black box first: the demo worth seeing."""
    choices = [c for c in services.model_choices(ctx.info) if c != selection.model and c.kind != "user"]
    return sorted(choices, key=lambda c: c.kind != "manipulated")


def section(selection: sidebar.Selection, ctx: services.Context, x: Any, image: np.ndarray, mask: np.ndarray | None,
            methods: list[str], configs: dict[str, dict], explain: Callable[..., dict],
            display: tuple[str, str, float], columns: int) -> None:
    """The selector and, once a model is chosen and trained, the two labelled rows of maps.
    ``explain(method, bar, config, model)`` is Explore's (same sample, same class); ``display`` is
    (colour scale, sign, clip percentile); ``mask`` the outline drawn on the maps (None: none)."""
    options = [None, *others(selection, ctx)]
    if len(options) < 2:
        return
    sidebar.valid_choice("explore_compare", options)
    other = st.selectbox("Compare with another model", options, key="explore_compare",
                         format_func=lambda c: "—" if c is None else c.label,
                         help="the same sample's maps for a second model, one row per model with its "
                              "prediction; e.g. the black box trained with gradient manipulation (DiET §5.4), "
                              "whose gradient maps point at a corner while it classifies as well")
    if other is None:
        return
    if not readiness.model_ready(selection.dataset, selection.preset, other, " to compare with it"):
        return
    try:
        other_ctx = caches.context(selection.dataset, selection.preset, other)
    except XAIError as err:
        st.error(str(err))
        return
    ready = readiness.training_notice(other_ctx, methods, configs)  # trained methods: their own fit per model
    maps = {selection.model: {}, other: {}}
    with st.spinner(f"Explaining with {other.label} …"):
        for model in maps:
            for m in ready:
                bar = helpers.ProgressBar()
                try:
                    maps[model][m] = explain(m, bar, tuple(sorted(configs.get(m, {}).items())), model)["scores"]
                except XAIError as err:
                    st.warning(f"{m} on {model.label}: {err}")
                bar.close()
    shown = [m for m in ready if all(m in maps[model] for model in maps)]
    if not shown:
        return
    mode, sign, clip = display
    stack = np.stack([maps[model][m] for model in maps for m in shown])
    heat, _ = viz.render_heatmaps(stack, mode=mode, sign=sign, clip_percentile=clip)
    legend = viz.colour_legend(stack, [f"{model.label}: {m}" for model in maps for m in shown], mode=mode,
                               sign=sign, clip_percentile=clip)
    for row, (model, model_ctx) in enumerate(((selection.model, ctx), (other, other_ctx))):
        with helpers.work_slot():  # a forward pass on that model
            (name, p), = services.top_k(model_ctx, x, k=1)
        st.markdown(f"**{model.label}** · prediction: **{name}** ({p:.1%})")
        cells = helpers.grid(1 + len(shown), columns)
        cells[0].image(image, caption=f"image · {model.label}", width="stretch")
        for i, (col, m) in enumerate(zip(cells[1:], shown)):
            h = heat[row * len(shown) + i]
            col.image(viz.contour_overlay(h, mask) if mask is not None else h, caption=f"{m} · {model.label}",
                      width="stretch")
            col.caption(legend.captions[row * len(shown) + i])
    st.image(legend.bar, caption=f"colour scale ({mode.replace('_', '-')}), both rows", width=320)
    st.caption(legend.note + " Both rows explain the same class (label-free methods: each model's own behaviour).")
