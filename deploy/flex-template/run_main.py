"""The launcher's entry point of the tuwen run Flex Template (FLEX_TEMPLATE_PYTHON_PY_FILE): the template's
parameters arrive as --NAME=VALUE arguments, exactly tuwen run's options."""
import sys

from tuwen.pipeline.run import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
