#!/usr/bin/env bash
# Set up .venv (idempotent) and then: `app` starts the dashboard, `test` runs the whole test suite.
# Usage: bash scripts/dev.sh app|test [extra args for streamlit/pytest]
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-app}"; shift || true

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
echo "==> installing Python packages (requirements-dev.txt)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
# foolbox ships 20 labelled ImageNet photos for the `natural` dataset; we read its data files only.
.venv/bin/python -m pip install -q --no-deps foolbox==3.3.4

# Optional Debian packages: Fashion-MNIST data, and (for `test`) Chromium for the real-browser tests,
# which Playwright drives as a system browser (no browser download).
debs=(dataset-fashion-mnist libseccomp2)
[ "$mode" = test ] && debs+=(chromium chromium-driver fonts-noto-color-emoji)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "note: could not install ${missing[*]}; the features that need them are skipped"
  else
    echo "note: optional Debian packages missing (run as root to install): ${missing[*]}"
    echo "      without dataset-fashion-mnist the fashion_mnist dataset is unavailable; without chromium the"
    echo "      real-browser tests are skipped; the rest works."
  fi
fi

case "$mode" in
  app)
    # loopback by default; XAI_SERVER_ADDRESS=0.0.0.0 (or one interface's address) serves a network
    # serve.py: app.py behind a Host-header check (DNS rebinding); XAI_ALLOWED_HOSTS names more hosts
    exec .venv/bin/streamlit run serve.py --server.headless=true --browser.gatherUsageStats=false \
      --server.address="${XAI_SERVER_ADDRESS:-127.0.0.1}" "$@" ;;
  test)
    exec .venv/bin/python -m pytest -n 2 --timeout 900 "$@" ;;
  setup) ;;
  *) echo "usage: bash scripts/dev.sh app|test|setup" >&2; exit 2 ;;
esac
