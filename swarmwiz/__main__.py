"""`python -m swarmwiz` runs the same entry point as the console script."""

import sys

from swarmwiz.cli import main

sys.exit(main())
