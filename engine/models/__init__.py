"""Enhancement methods. Importing this package registers every method in
:mod:`engine.registry`: learned (SCI, Zero-DCE, Zero-DCE++) and classical references."""

import os

# Before PyTorch loads OpenMP: idle OpenMP workers sleep instead of spinning. On shared
# cores spinning workers starved each other (SCI's stage: 25-125 ms instead of 1 ms,
# measured with six processes on two cores). A user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from engine.models import classical, sci, zerodce  # noqa: E402,F401
