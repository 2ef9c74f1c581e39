"""An Airflow DAG for the nightly refresh: at 03:00 UTC, ``tuwen nightly`` over the crawl folder, through the Beam
provider's BeamRunPythonPipelineOperator (apache-airflow-providers-apache-beam). Copy this file and nightly_main.py
into your DAG folder and set the paths below.

tuwen nightly's exit status: 0 also when there is nothing new; 3 when another refresh still holds the lock (the task
fails and Airflow retries it); 1 when the run failed (nothing was published: the next try picks the files up again).
The options are passed as ``--key=value`` (``True`` as a bare ``--key``), exactly as on the command line; the
operator adds ``--runner``.
"""
import os
from datetime import datetime, timedelta

from airflow import models
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

CRAWL_ROOT = "/data/crawl"               # what the crawler fills (local, or gs://... with tuwen[gcp])
OUTPUT_ROOT = "/data/corpus"             # runs/, ledger.json, latest, manifest.txt (a local or mounted folder)
SCORER = "/models/tuwen-scorer/final"    # a checkpoint of tuwen train (or cn_clip:/path/to/ViT-B-16.pt)
THRESHOLD = 0.3                          # tuwen calibrate's proposal for that scorer: thresholds do not carry across

# The tuwen nightly options the task runs with (tests/test_examples.py checks that tuwen nightly accepts them).
PIPELINE_OPTIONS = {
    "crawl-root": CRAWL_ROOT,
    "output-root": OUTPUT_ROOT,
    "scorer": SCORER,
    "similarity-threshold": THRESHOLD,
    "image-safety": "nsfw,ocr",
    "direct_num_workers": 4,
    "direct_running_mode": "multi_processing",
}

with models.DAG(
    "tuwen_nightly",
    schedule="0 3 * * *",
    start_date=datetime(2026, 12, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=20)},
    tags=["tuwen"],
) as dag:
    BeamRunPythonPipelineOperator(
        task_id="tuwen_nightly",
        py_file=os.path.join(os.path.dirname(__file__), "nightly_main.py"),
        runner="DirectRunner",
        pipeline_options=PIPELINE_OPTIONS,
        py_interpreter="/opt/tuwen/.venv/bin/python",  # a Python with tuwen installed (./run_pipeline.sh --setup-only)
    )
