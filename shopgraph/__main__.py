import sys

from shopgraph.cli import main

sys.exit(main())
