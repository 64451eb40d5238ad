import sys

from laura_core.cli import main

sys.exit(main())
