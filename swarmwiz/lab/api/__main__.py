"""`python -m swarmwiz.lab.api --dir LAB_DIR`: run the lab API daemon."""

import sys

from swarmwiz.lab.api.server import main

sys.exit(main())
