"""``python -m nachfass_bot`` runs the command line."""

import sys

from nachfass_bot.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
