"""The dashboard's server: Streamlit's app (``app.py``) behind a Host-header check.

A browser page on another site can reach a loopback-only server by DNS rebinding (its name
resolves to 127.0.0.1), so every HTTP and WebSocket request whose ``Host`` is not a name this
server answers to is refused with 400 before Streamlit sees it — the health endpoint (which
hands out the XSRF cookie) included. Allowed: the loopback names, the address the server is bound
to, and ``XAI_ALLOWED_HOSTS`` (comma-separated names, for an operator serving a network; with a
wildcard bind and no list, this machine's host names). ``bash scripts/dev.sh app`` runs
``streamlit run serve.py``, which serves this ``app`` (Starlette's ``TrustedHostMiddleware``).
"""
import streamlit
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from streamlit.starlette import App

from xai_core.hosts import allowed_hosts

HOSTS = allowed_hosts(streamlit.get_option("server.address") or "")
app = App("app.py", middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=HOSTS, www_redirect=False)])
