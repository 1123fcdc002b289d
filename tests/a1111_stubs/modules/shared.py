"""modules/shared.py: cmd_opts (the parsed command line), opts and OptionInfo."""

import argparse

from modules import options

OptionInfo = options.OptionInfo
cmd_opts = argparse.Namespace(
    data_dir=None,
    models_dir=None,
    ckpt_dir=None,
    vae_dir=None,
    embeddings_dir=None,
    hypernetwork_dir=None,
    lora_dir=None,
    skip_install=False,
)
opts = options.Options({})
