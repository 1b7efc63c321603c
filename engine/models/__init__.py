"""Enhancement methods. Importing this package registers every method in
:mod:`engine.registry`: learned (SCI, Zero-DCE, Zero-DCE++) and classical references."""

from engine.models import classical, sci, zerodce  # noqa: F401
