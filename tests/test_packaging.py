"""The built wheel, installed in a clean virtual environment, from the repository root: what a cluster worker (or a
PortableRunner worker started from the checkout) imports is the installed package, with its lexicons as package
data, and nothing in the checkout shadows it."""
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory):
    """A venv holding only the tuwen wheel; the dependencies come from this environment's site-packages through a
    path line (a .pth of the clean venv), which does not run this environment's editable-install hook."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(base / "dist"), str(REPO)], check=True, capture_output=True)
    (wheel,) = (base / "dist").glob("tuwen-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_tuwen_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return wheel, venv, site


def test_the_wheel_holds_the_packages_and_their_data_and_no_checkout_folder(clean_venv):
    wheel, _, _ = clean_venv
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("tuwen/__init__.py", "tuwen/cli.py", "tuwen/pipeline/run.py", "tuwen/pipeline/nightly.py",
                 "tuwen/transforms/text.py", "tuwen/trainer/configs/tiny.json"):
        assert want in names
    assert any(n.startswith("tuwen/lexicons/") and n.endswith(".txt") for n in names)
    assert not any(n.startswith(("app/", "tests/", "pipeline/", "transforms/", "bench/")) for n in names)


def test_python_started_in_the_repository_root_imports_the_installed_package(clean_venv):
    _, venv, site = clean_venv
    probe = ("import json, tuwen, tuwen.transforms.text, tuwen.pipeline.run, tuwen.lexicons; "
             "print(json.dumps([tuwen.__file__, tuwen.transforms.text.__file__]))")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path in json.loads(done.stdout):
        assert path.startswith(site), path
    # the console script, from the root: tuwen text masks with the lexicons and the name model the wheel carries
    line = json.dumps({"text": "王小明说他去赌场了"}, ensure_ascii=False)
    done = subprocess.run([str(venv / "bin" / "tuwen"), "text", "--steps", "names,sensitive"], cwd=REPO,
                          input=line + "\n", capture_output=True, text=True, env={**os.environ, "TUWEN_CACHE_DIR": ""})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["text"] == "<人名>说他去**了"
