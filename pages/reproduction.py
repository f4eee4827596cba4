"""Reproduction: every paper's headline claims, the paper's numbers beside ours, with the figure behind
each, where our numbers came from, the exact commands, and Run buttons (background jobs). Thin: widgets +
xai_core.reproduce calls."""
from __future__ import annotations

import streamlit as st

from pages.ui import job_ui, sidebar
from xai_core import reproduce
from xai_core.errors import XAIError
from xai_core.jobs import MANAGER
from xai_core.reproduce import charts, committed
from xai_core.reproduce import jobs as repro_jobs
from xai_core.reproduce.render import MARK, MISSING, STALE, ours_text, paper_text, separated_text, tally
from xai_core.store import ArtifactStore

STATUS = {"current": "current", STALE: "stale: older code", MISSING: "not measured"}

sidebar.sidebar()
st.title("Reproduction")
st.markdown("Each paper's headline claims, the paper's numbers beside ours, and whether the claim holds here "
            "(✓ holds, ✗ does not, n/a: a value is missing); ours with their 95 % intervals, and for ordering "
            "claims whether those intervals separate (disjoint: the order is not within noise; the verdict stays the "
            "paper's check). Results are cached per preset and code version: a "
            "result of older code is shown as *stale* until it is rerun. The same tables are in docs/reproduction.md "
            "(`python -m xai_core reproduce --json results/repro_quick.json`, then `python scripts/render_repro.py`).")
preset = st.radio("Claims' preset", ["quick", "paper"], key="repro_preset", horizontal=True,
                  help="quick: CPU-sized (minutes to hours); paper: the papers' settings (GPU recommended)")
store = ArtifactStore()
try:
    claims = reproduce.select(None, preset)
except XAIError as err:
    st.info(str(err))
    st.stop()
try:
    shipped = committed.load(preset)
except XAIError as err:  # a broken results file: said, and the page shows the store alone
    st.warning(f"The repository's committed results are not shown: {err}")
    shipped = None
rows = {row["id"]: row for row in committed.merge(reproduce.report(claims, preset, store)["claims"], shipped)}
from_repo = sum(r["origin"] == committed.COMMITTED for r in rows.values())
if from_repo:
    st.info(f"**{from_repo} of {len(rows)} rows are from the repository's results** (`results/{shipped.path.name}`, "
            f"{shipped.provenance()}), marked *repository's results*: they are shown where this machine has no "
            "current result of its own, and your own runs replace them.")
st.caption(f"At the {preset} preset: {tally(list(rows.values()))}" + (f"; {from_repo} rows from the repository's "
                                                                      "results." if from_repo else "."))


def status_text(row: dict) -> str:
    """The status column: the store's status, or the repository's results (and whether the measurement has
    changed since they were committed)."""
    if row["origin"] != committed.COMMITTED:
        return STATUS[row["status"]]
    return "repository's results" + (" (stale: measurement changed since)" if row["status"] == STALE else "")


def run_button(label: str, chosen: list, key: str, confirm: bool) -> None:
    """A Run button for ``chosen`` claims (off when everything is current), the time note, a confirmation
    for whole-paper runs, and the job's progress with Cancel."""
    job_key = repro_jobs.reproduction_key(store, chosen, preset)
    job = MANAGER.get(job_key)
    pending = reproduce.pending(chosen, preset, store)
    if job is None or not job.active:
        if not pending:
            st.caption("Every measurement behind this is current: nothing to run.")
        else:
            st.caption(f"{len(pending)} measurement{'s' * (len(pending) > 1)} to run; {repro_jobs.time_note(pending)}. "
                       "It runs in the background (you can cancel it; finished measurements stay cached).")
            confirmed = not confirm or st.checkbox("Start it anyway: it may take hours in the background",
                                                   key=f"confirm-{key}")
            if st.button(label, key=key, disabled=not confirmed, type="primary" if confirm else "secondary"):
                repro_jobs.reproduction_job(store, chosen, preset)
                st.rerun()
    job_ui.show_job(job_key)


for paper, title in reproduce.PAPERS.items():
    mine = [c for c in claims if c.paper == paper]
    st.header(title)
    if not mine:
        st.caption(f"No claim registered at the {preset} preset yet.")
        continue
    st.dataframe([{"claim": f"{c.id} ({c.source})", "check": rows[c.id]["check"], "paper": paper_text(rows[c.id]),
                   "ours": ours_text(rows[c.id]), "holds": MARK[rows[c.id]["holds"]],
                   "intervals separate": separated_text(rows[c.id]), "reason": rows[c.id]["reason"],
                   "status": status_text(rows[c.id])} for c in mine], hide_index=True, width="stretch")
    run_button(f"Run all {len(mine)} claims of {paper}", mine, f"run-paper-{paper}-{preset}", confirm=True)
    for c in mine:
        row = rows[c.id]
        with st.expander(f"{MARK[row['holds']]} {c.id} ({c.source}) · {status_text(row)}"):
            st.markdown(f"**{c.claim}**  \nCheck: `{row['check']}` → {MARK[row['holds']]} {row['reason']}")
            if row["status"] == MISSING:
                st.info("Not measured yet at this preset: run it below or with the command.")
            else:
                st.plotly_chart(charts.claim_figure(row), width="stretch", key=f"chart-{c.id}-{preset}")
                stale = " — **stale**: measured by older code; rerun to refresh" if row["status"] == STALE else ""
                origin = (f"from the repository's results (`results/{shipped.path.name}`, code {shipped.code or '?'})"
                          if row["origin"] == committed.COMMITTED else "")
                st.caption(f"Ours: {preset} preset, {origin + ', ' if origin else ''}on {row['machine']}, finished "
                           f"{row['finished']} ({row['seconds'] or 0:,.0f} s){stale}.")
                if origin and row["store_status"] == STALE:
                    st.caption("This machine holds a stale result of its own (older code): the repository's is "
                               "shown instead; run the claim to measure it here.")
            if row["note"]:
                st.caption(row["note"])
            if row.get("missed"):  # the report carries it only while the claim does not hold
                st.markdown(f"**Why ours miss it (measured):** {row['missed']}")
            if row["command"]:
                st.markdown("The measurement as a command:")
                st.code(row["command"], language="bash")
            st.markdown("Rerun this claim:")
            st.code(row["rerun"], language="bash")
            run_button("Run this claim", [c], f"run-claim-{c.id}-{preset}", confirm=False)
