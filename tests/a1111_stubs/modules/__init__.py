"""Stubs of AUTOMATIC1111 WebUI 1.10's ``modules`` package: the names and signatures the
Model Shelf adapter (scripts/model_shelf.py) uses, as the WebUI defines them."""
