"""``python -m modelshelf``."""

from .cli import main

raise SystemExit(main())
