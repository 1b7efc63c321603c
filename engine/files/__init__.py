"""File handling shared by every writer: atomic replacement of targets, image files."""
