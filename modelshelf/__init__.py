"""Model Shelf: browse Civitai and Novita AI, download models where your host looks.

This package is the host-free core. Importing it is cheap (hosts pay it at every start):
heavy modules (requests, sqlite, rich) are imported where they are used.
"""

__version__ = "0.1.0"
