import sys

from optaxlr.cli import main

sys.exit(main())
