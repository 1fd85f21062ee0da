"""python -m harness.cli: the afalg-conform command."""

import sys

from harness.cli import main

sys.exit(main())
