"""ComfyUI entry point of Model Shelf (A1111 ignores this file).

The node pack registers no nodes yet; ComfyUI logs "IMPORT FAILED" for a pack without
``NODE_CLASS_MAPPINGS``, so the mappings are exported empty.
"""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
WEB_DIRECTORY = "./javascript/comfyui"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
