import sys

from dwarflib.cli import main

sys.exit(main())
