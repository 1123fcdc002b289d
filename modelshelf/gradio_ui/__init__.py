"""The one Gradio UI of Model Shelf: the A1111/Forge tab and ``modelshelf ui``.

Importing this package imports Gradio; the core never does (ruff enforces it).
"""

from .app import build_ui, standalone_blocks
from .context import UIContext

__all__ = ["UIContext", "build_ui", "standalone_blocks"]
