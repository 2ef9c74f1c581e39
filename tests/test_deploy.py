"""What deploy/ promises that can be checked without a container engine or a cloud: the worker image's base is the
pinned Beam version, the Flex Template metadata says what the options say today, the worker script's usage."""
import json
import re
import subprocess
from pathlib import Path

import apache_beam

from tuwen.pipeline import flex_template
from tuwen.pipeline.nightly import REFUSED

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_the_worker_image_is_beams_python_3_11_sdk_image_of_the_pinned_version():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG BEAM_VERSION=(\S+)$", text, re.M).group(1) == apache_beam.__version__
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in text
    assert "deploy/install_worker.sh --python" in text and "train,ocr" in text
    pins = (DEPLOY.parent / "requirements.txt").read_text()
    assert f"apache-beam=={apache_beam.__version__}" in pins


def test_the_flex_template_metadata_is_what_the_options_say(tmp_path):
    flex_template.write(str(tmp_path))
    for name in ("run-metadata.json", "nightly-metadata.json"):
        assert (tmp_path / name).read_text() == (DEPLOY / "flex-template" / name).read_text(), \
            f"deploy/flex-template/{name} is stale: python -m tuwen.pipeline.flex_template deploy/flex-template"
    run = json.loads((DEPLOY / "flex-template" / "run-metadata.json").read_text())
    names = {p["name"]: p for p in run["parameters"]}
    assert not names["input"]["isOptional"] and names["min-side"]["isOptional"]
    assert "default: 256" in names["min-side"]["helpText"] and all(p["helpText"] for p in run["parameters"])
    assert "--overwrite" in run["description"]
    nightly = {p["name"] for p in json.loads((DEPLOY / "flex-template" / "nightly-metadata.json").read_text())
               ["parameters"]}
    assert {"crawl-root", "output-root", "scorer", "min-side"} <= nightly
    assert not {r.lstrip("-") for r in REFUSED} & nightly


def test_the_worker_script_says_how_to_use_it_and_refuses_what_it_does_not_know():
    script = str(DEPLOY / "install_worker.sh")
    done = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--venv DIR" in done.stdout and "--build-wheel DIR" in done.stdout
    for argv in ([], ["--bogus"], ["--venv", "a", "--python", "b"]):
        done = subprocess.run([script, *argv], capture_output=True, text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1
