#!/usr/bin/env bash
# tuwen's one entry point for users.
#   ./run_pipeline.sh                      set up .venv (first time), then the demo on the bundled sample corpus:
#                                          clean it, train the tiny model on it, calibrate, clean again with it
#   ./run_pipeline.sh --input 'crawl/*.jsonl' --output out/ [options]   the same as `tuwen run ...`
#   ./run_pipeline.sh --setup-only         only create/refresh .venv
# Set-up: a virtual environment in .venv with the pinned versions of requirements.txt, installed with pip, and the
# project itself installed editable. It is redone only when requirements.txt or setup.py change.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
py="${PYTHON:-python3}"

quiet_pip() {  # pip prints one warning per package for the machine's local indexes; keep real errors.
  "$venv/bin/python" -m pip "$@" 2> >(grep -v -e 'is ignored: it is neither' -e '^$' >&2)
}

ensure_venv() {
  local stamp="$venv/.tuwen-setup" want
  want="$(cat "$here/requirements.txt" "$here/setup.py" "$here/run_pipeline.sh" "$here/deploy/no-deps.txt" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/tuwen" ]; then
    return 0
  fi
  echo "tuwen: setting up $venv (pinned dependencies; the first time takes a few minutes)..." >&2
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  quiet_pip install -q --disable-pip-version-check -r "$here/requirements.txt"
  # cn_clip and rapidocr-onnxruntime without their dependencies (why: deploy/no-deps.txt)
  quiet_pip install -q --disable-pip-version-check --no-deps -r "$here/deploy/no-deps.txt"
  quiet_pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$here"
  echo "$want" > "$stamp"
}

ensure_venv
export PYTHONUNBUFFERED=1

if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

if [ $# -eq 0 ]; then
  # The demo: clean the sample, train the tiny dual encoder on it, calibrate it, rerun with it as the scorer
  # (out/sample/, out/sample-model/, out/sample-scored/). See pipeline/demo.py.
  exec "$venv/bin/python" -m tuwen.pipeline.demo --sample "$here/sample" --out "$here/out"
fi

exec "$venv/bin/tuwen" run "$@"
