"""modules/paths.py (from paths_internal): the WebUI's folders; tests set them."""

script_path = "."  # the webui folder
data_path = "."  # --data-dir
models_path = "./models"  # --models-dir or <data_path>/models
