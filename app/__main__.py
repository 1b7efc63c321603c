"""``python -m app [SOURCE] [--screenshot PNG --after N]``: the studio without installing.
(``python -m app.cli_demo`` runs ``lowlight demo``.)"""

import sys

from app.cli_studio import main

sys.exit(main())
