"""The file Airflow's BeamRunPythonPipelineOperator runs (its py_file): ``tuwen nightly`` with the options the
operator passes (see airflow_tuwen_nightly.py). Deploy it beside the DAG file; tuwen must be installed in the Python
the operator uses (py_interpreter, or py_requirements=["tuwen"])."""
import sys

from tuwen.pipeline.nightly import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
