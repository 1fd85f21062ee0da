"""python -m afalg_conformance.harness.cli: the afalg-conform command."""

import sys

from afalg_conformance.harness.cli import main

sys.exit(main())
