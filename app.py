"""Attribution Explorer — Streamlit entry point: navigation and the shared sidebar."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Attribution Explorer", page_icon="🔍", layout="wide")

pages = [
    st.Page("pages/explore.py", title="Explore", icon="🔍", default=True),
    st.Page("pages/gallery.py", title="Gallery", icon="🖼️"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="📈"),
    st.Page("pages/ablations.py", title="Ablations", icon="🧪"),
    st.Page("pages/signal_distractor.py", title="Signal vs Distractor", icon="🎯"),
    st.Page("pages/reproduction.py", title="Reproduction", icon="📜"),
    st.Page("pages/about.py", title="About", icon="📖"),
]
st.navigation(pages).run()
