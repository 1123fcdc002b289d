#!/usr/bin/env bash
# Everything the UI tests need beyond `pip install -e '.[test,ui]'`, idempotent:
#   - Debian's Chromium (Playwright drives it; Playwright's own browser download is not used)
#   - the Playwright Python package
#   - .venvs/gradio3: A1111's Gradio 3.41.2 with the pins it needs today, for the A1111 tests
# Run from anywhere; the A1111 tests under Gradio 3 skip (CI: fail) when the venv is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python}"

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup.sh: chromium is missing and this is not root; the browser tests will skip" >&2
    fi
fi

"$PY" -c "import playwright" 2>/dev/null || "$PY" -m pip install -q "playwright>=1.40"

# Gradio 3.41.2 as A1111 1.10 runs it: fastapi 0.94 / pydantic 1 / httpx 0.24 (A1111's own
# pins) and huggingface_hub < 0.26 (HfFolder was removed later).
VENV="$ROOT/.venvs/gradio3"
if ! "$VENV/bin/python" -c "import gradio, pytest, requests, nh3, blurhash; assert gradio.__version__ == '3.41.2'" 2>/dev/null; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q "gradio==3.41.2" "fastapi==0.94.0" "pydantic<2" "httpx==0.24.1" \
        "huggingface_hub<0.26" pytest -r "$ROOT/requirements.txt"
fi
echo "setup.sh: chromium, playwright and .venvs/gradio3 are ready"
