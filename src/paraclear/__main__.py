"""``python -m paraclear`` runs the command-line tool."""

import sys

from paraclear.cli import main

sys.exit(main())
