"""The runner matrix: one corpus (the bundled sample) through the FnApiRunner, the DirectRunner with 2 worker
processes, and the PortableRunner against Beam's local job service with its workers in a clean virtual environment
made by deploy/install_worker.sh (the tuwen wheel and its dependencies, nothing else) and started from the
repository root. Every runner writes the same shards. Also what that wheel holds, and that nothing in the checkout
shadows it.

Dataflow: the pipeline translated for it offline (--dry_run), not submitted. Not here: Beam 2.77's DaskRunner (it
feeds every tagged output of a multi-output ParDo to the main output's consumers; see the README) and Flink (its
job server is a download)."""
import glob
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tuwen.pipeline.sample import generate

REPO = Path(__file__).resolve().parent.parent
TUWEN = os.path.join(os.path.dirname(sys.executable), "tuwen")
pytestmark = pytest.mark.slow
RUN_TIMEOUT = 600  # a portable run whose workers died waits for gRPC deadlines: a failure, not a hang


@pytest.fixture(scope="module")
def worker_venv(tmp_path_factory):
    """(wheel, venv, its site-packages): the wheel built from this checkout, installed by deploy/install_worker.sh
    with the gcp extra (Beam's GCS filesystem and Dataflow runner)."""
    base = tmp_path_factory.mktemp("worker")
    script, env = str(REPO / "deploy" / "install_worker.sh"), {**os.environ, "PYTHON": sys.executable}
    subprocess.run([script, "--build-wheel", str(base / "dist")], check=True, capture_output=True, env=env)
    (wheel,) = (base / "dist").glob("tuwen-*.whl")
    venv = base / "venv"
    done = subprocess.run([script, "--venv", str(venv), "--wheel", str(wheel), "--extras", "gcp"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "tuwen worker ready" in done.stdout
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    return wheel, venv, site


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    generate(str(d))
    return [f"--input={d}/*.jsonl", f"--input={d}/*.parquet", f"--input={d}/*.tar"]


def run_cli(args, cwd=None):
    done = subprocess.run([TUWEN, "run", *args, "--progress-seconds=0", "--shard-size=40"], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def shard_bytes(out):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(f"{out}/shards/*"))}


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("fnapi") / "out"
    run_cli([*corpus, f"--output={out}", "--runner=FnApiRunner"])
    return out


def test_the_wheel_holds_the_packages_and_their_data_and_no_checkout_folder(worker_venv):
    wheel, _, _ = worker_venv
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("tuwen/__init__.py", "tuwen/cli.py", "tuwen/pipeline/run.py", "tuwen/pipeline/nightly.py",
                 "tuwen/transforms/text.py", "tuwen/trainer/configs/tiny.json", "tuwen/lexicons/name_tagger.npz"):
        assert want in names
    assert any(n.startswith("tuwen/lexicons/") and n.endswith(".txt") for n in names)
    assert not any(n.startswith(("app/", "tests/", "pipeline/", "transforms/", "bench/")) for n in names)


def test_python_started_in_the_repository_root_imports_the_installed_package(worker_venv):
    _, venv, site = worker_venv
    probe = ("import json, tuwen, tuwen.transforms.text, tuwen.pipeline.run, tuwen.lexicons; "
             "print(json.dumps([tuwen.__file__, tuwen.transforms.text.__file__]))")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path in json.loads(done.stdout):
        assert path.startswith(site), path
    # the console script, from the root: tuwen text masks with the lexicons and the name model the wheel carries
    line = json.dumps({"text": "王小明说他去赌场了"}, ensure_ascii=False)
    done = subprocess.run([str(venv / "bin" / "tuwen"), "text", "--text-steps", "names,sensitive"], cwd=REPO,
                          input=line + "\n", capture_output=True, text=True, env={**os.environ, "TUWEN_CACHE_DIR": ""})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["text"] == "<人名>说他去**了"


def test_two_direct_runner_worker_processes_write_the_same_shards(corpus, reference, tmp_path):
    out = tmp_path / "multi"
    run_cli([*corpus, f"--output={out}", "--runner=DirectRunner", "--direct_num_workers=2",
             "--direct_running_mode=multi_processing"])
    assert shard_bytes(out) == shard_bytes(reference)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port, proc, what):
    deadline = time.monotonic() + 90
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, f"{what} exited: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.2)


def test_the_portable_runner_with_workers_in_a_clean_venv_writes_the_same_shards(corpus, reference, worker_venv,
                                                                                  tmp_path):
    """The job service is Beam's own (the launcher's environment); the SDK workers are started by a worker pool
    running in the clean venv, from the repository root, so a module that is not installed, state in __main__, a
    DoFn that does not pickle or a lexicon that is not package data fails here."""
    _, venv, _ = worker_venv
    job_port, pool_port = _free_port(), _free_port()
    service = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                                f"--port={job_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # the pool starts each worker as `python -c ...`: the clean venv's python, first on PATH
    pool = subprocess.Popen([str(venv / "bin" / "python"), "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={pool_port}"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    try:
        _wait_listening(job_port, service, "the job service")
        _wait_listening(pool_port, pool, "the worker pool")
        out = tmp_path / "portable"
        run_cli([*corpus, f"--output={out}", "--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
                 "--environment_type=EXTERNAL", f"--environment_config=localhost:{pool_port}"])
    finally:
        for proc in (pool, service):
            proc.terminate()
            proc.wait(timeout=30)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["read"] == stats["kept"] + stats["rejected"] and stats["kept"] > 300
    assert shard_bytes(out) == shard_bytes(reference)


def test_the_pipeline_translates_for_dataflow_offline_with_the_worker_image_and_gs_paths(corpus, worker_venv):
    """--dry_run: the whole DAG translated for Dataflow (runner v2, the custom container, the setup_file's sdist
    staged) without submitting it; gs:// paths reach Beam's GCS filesystem, which the gcp extra installs."""
    _, venv, _ = worker_venv
    image = "registry.example/tuwen-worker:0.1.0"
    done = subprocess.run([str(venv / "bin" / "tuwen"), "run", corpus[0], "--output=gs://tuwen-bucket/corpus",
                           "--runner=DataflowRunner", "--project=tuwen-test", "--region=us-central1",
                           "--temp_location=gs://tuwen-bucket/tmp", "--no_auth", "--dry_run=True",
                           f"--setup_file={REPO / 'setup.py'}", f"--sdk_container_image={image}"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "translated for Dataflow, not submitted" in done.stdout
    for stage in ("ReadPairs", "CheckAndStage", "ResolveDuplicates", "WriteShards", "WriteRejects", "Finalize"):
        assert stage in done.stdout
    assert f"beam:env:docker:v1 {image}" in done.stdout and "workflow.tar.gz" in done.stdout
    probe = ("from apache_beam.io.filesystems import FileSystems; "
             "print(type(FileSystems.get_filesystem('gs://tuwen-bucket/corpus')).__name__)")
    fs = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True)
    assert fs.stdout.strip() == "GCSFileSystem"
