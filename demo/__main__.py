"""Entry point of ``python -m demo`` (what ``make demo`` runs from the repository root)."""

import sys

from demo.workflow import main

sys.exit(main())
