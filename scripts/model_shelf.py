"""A1111/Forge/SD.Next glue. Registers nothing yet beyond making the core importable.

(No ``scripts/__init__.py``: it would break ``import scripts.x`` for every extension.)
"""

import modelshelf  # noqa: F401  (the extension folder is on sys.path while this loads)
