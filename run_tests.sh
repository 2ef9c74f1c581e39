#!/usr/bin/env bash
# Runs the whole test suite (slow tests included) after the same set-up as run_pipeline.sh.
#   ./run_tests.sh            everything
#   ./run_tests.sh -m 'not slow' tests/test_image.py    pytest arguments pass through
# Tests that need ../shared/data skip when it is missing, unless TUWEN_REQUIRE_SHARED=1 (CI sets it): then they fail.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/run_pipeline.sh" --setup-only
cd "$here"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
exec "$here/.venv/bin/python" -m pytest "$@"
