"""modules/options.py: OptionInfo and Options, as A1111 1.10 defines what the adapter uses."""

from __future__ import annotations

import json


class OptionInfo:
    def __init__(
        self,
        default=None,
        label="",
        component=None,
        component_args=None,
        onchange=None,
        section=None,
        refresh=None,
        comment_before="",
        comment_after="",
        infotext=None,
        restrict_api=False,
        category_id=None,
    ):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.category_id = category_id
        self.comment_after = comment_after

    def info(self, info):
        self.comment_after += f"<span class='info'>({info})</span>"
        return self


class Options:
    def __init__(self, data_labels=None, restricted_opts=None):
        self.data_labels = dict(data_labels or {})
        self.data = {k: v.default for k, v in self.data_labels.items()}

    def __getattr__(self, item):
        data = self.__dict__.get("data", {})
        if item in data:
            return data[item]
        labels = self.__dict__.get("data_labels", {})
        if item in labels:
            return labels[item].default
        raise AttributeError(item)

    def add_option(self, key, info):
        self.data_labels[key] = info
        if key not in self.data:
            self.data[key] = info.default

    def set(self, key, value, is_api=False, run_callbacks=True):
        """As 1.10: store, then run the option's onchange (undo on error)."""
        oldval = self.data.get(key, None)
        if oldval == value:
            return False
        self.data[key] = value
        try:
            if run_callbacks and self.data_labels[key].onchange is not None:
                self.data_labels[key].onchange()
        except Exception:
            self.data[key] = oldval
            raise
        return True

    def save(self, filename):
        with open(filename, "w", encoding="utf8") as file:
            json.dump(self.data, file, indent=4, ensure_ascii=False)
