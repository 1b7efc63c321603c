"""The Qt (PySide6) studio: windows, widgets and Qt threads on top of :mod:`engine`.

Everything that computes lives in ``engine``; this package only shows frames, collects
user input and drives engine objects from worker threads that talk to widgets through
Qt signals.
"""
