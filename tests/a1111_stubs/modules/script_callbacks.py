"""modules/script_callbacks.py: the registration functions and the runners the WebUI calls."""

from __future__ import annotations

from collections import namedtuple

ScriptCallback = namedtuple("ScriptCallback", ["script", "callback", "name"])
callback_map = {
    "callbacks_app_started": [],
    "callbacks_ui_tabs": [],
    "callbacks_ui_settings": [],
    "callbacks_script_unloaded": [],
}


def add_callback(callbacks, fun, *, name=None, category=None, filename=None):
    callbacks.append(ScriptCallback(filename or "scripts/model_shelf.py", fun, name))


def clear_callbacks():
    for callback_list in callback_map.values():
        callback_list.clear()


def on_app_started(callback, *, name=None):
    add_callback(callback_map["callbacks_app_started"], callback, name=name)


def on_ui_tabs(callback, *, name=None):
    add_callback(callback_map["callbacks_ui_tabs"], callback, name=name)


def on_ui_settings(callback, *, name=None):
    add_callback(callback_map["callbacks_ui_settings"], callback, name=name)


def on_script_unloaded(callback, *, name=None):
    add_callback(callback_map["callbacks_script_unloaded"], callback, name=name)


def ui_tabs_callback():
    res = []
    for c in callback_map["callbacks_ui_tabs"]:
        res += c.callback() or []
    return res


def ui_settings_callback():
    for c in callback_map["callbacks_ui_settings"]:
        c.callback()


def script_unloaded_callback():
    for c in reversed(callback_map["callbacks_script_unloaded"]):
        c.callback()
