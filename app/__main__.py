import sys

from tuwen.cli import main

sys.exit(main())
