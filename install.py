"""A1111/Forge install hook: installs only what the WebUI lacks, with ``launch.run_pip``.

A1111 runs this file in its own process with the WebUI's Python, before loading
extensions; a failure is reported and startup continues.
"""

import launch

# import name -> pip requirement
REQUIREMENTS = {
    "requests": "requests>=2.28",
    "platformdirs": "platformdirs>=3",
    "filelock": "filelock>=3.12",
    "rich": "rich>=13",
    "yaml": "PyYAML>=6",
    "nh3": "nh3>=0.2.14",
    "blurhash": "blurhash>=1.1.4",
}

for module, requirement in REQUIREMENTS.items():
    if not launch.is_installed(module):
        launch.run_pip(f'install "{requirement}"', f"Model Shelf requirement: {requirement}")
