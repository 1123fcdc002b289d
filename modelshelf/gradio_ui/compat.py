"""The one place where Gradio 3.41 (A1111) and Gradio 4.x (Forge, standalone) differ.

Everything else in the UI is written once against the API both share: ``gr.update(...)``
(never ``gr.X.update``), ``gr.Group`` (never ``gr.Box``), no ``.style()``.

- JavaScript on an event is ``_js=`` in 3.41 and ``js=`` in 4.x: :func:`js_event`.
- Periodic work is a ``gr.Timer`` in 4.40+ and an ``every=`` loop (stopped with
  ``cancels=``) in 3.41: :func:`poll`.
- Light handlers skip the queue in 4.x (``queue=False``); 3.41's ``every=`` needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

__all__ = ["GRADIO_MAJOR", "HAS_TIMER", "blocks_kwargs", "js_event", "light", "poll"]


def _major(version: str) -> int:
    try:
        return int(version.split(".", 1)[0])
    except ValueError:
        return 4


GRADIO_MAJOR = _major(getattr(gr, "__version__", "4"))
HAS_TIMER = hasattr(gr, "Timer")


def js_event(listener: Callable[..., Any], js: str, inputs: Any = None, outputs: Any = None):
    """Run ``js`` in the browser on ``listener`` (e.g. ``box.change``), no Python call."""
    key = "js" if GRADIO_MAJOR >= 4 else "_js"
    return listener(None, inputs, outputs, **{key: js})


def light() -> dict[str, Any]:
    """Event options for a short handler: straight to Python, no queue round trips.

    (4.x: one POST instead of a queue join and an event stream; 3.41: the same ``/run/predict``
    A1111 uses for its own light events.)
    """
    return {"queue": False}


def local_theme():
    """Gradio's default theme with system fonts: the page asks nothing of any other host."""
    return gr.themes.Default(
        font=("ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=("ui-monospace", "SFMono-Regular", "monospace"),
    )


def blocks_kwargs(*, title: str, css: str | None, head: str | None) -> dict[str, Any]:
    """Keyword arguments of ``gr.Blocks`` for a page of our own (standalone)."""
    kwargs: dict[str, Any] = {"title": title, "analytics_enabled": False, "theme": local_theme()}
    if css:
        kwargs["css"] = css
    if head and GRADIO_MAJOR >= 4:
        kwargs["head"] = head
    return kwargs


def poll(
    fn: Callable[[Any], tuple[dict[str, Any], Any]],
    state: gr.State,
    shown: Any,
    *,
    interval: float,
    start: gr.Button,
    stop: gr.Button,
    before: Callable[[Any], tuple[dict[str, Any], Any]] | None = None,
) -> None:
    """Call ``fn(state) -> (state, value for shown)`` again ``interval`` seconds after it
    answered, between a click on ``start`` and one on ``stop``.

    ``fn`` may wait (a long-poll): 4.x's Timer does not tick while a tick is pending, 3.41's
    ``every=`` loop waits for the call. ``before`` (same signature) runs once on ``start``
    first (a full refresh). Nothing runs while stopped: the page switches polling off when
    the UI is not visible. ``shown`` should have no status tracker (a Button, a State): a
    pending output with one keeps the page animating its timer for as long as the wait lasts.
    """
    outputs = [state, shown]
    quiet: dict[str, Any] = {"show_progress": "hidden", "api_name": False}
    if HAS_TIMER:
        timer = gr.Timer(interval, active=False)
        timer.tick(fn, state, outputs, queue=False, **quiet)
        on = start.click(lambda: gr.update(active=True), None, timer, queue=False)
        on.then(before or fn, state, outputs, queue=False, **quiet)
        stop.click(lambda: gr.update(active=False), None, timer, queue=False)
        return
    loop = start.click(before or fn, state, outputs, **quiet).then(
        fn, state, outputs, every=interval, **quiet
    )
    stop.click(None, None, None, cancels=[loop], queue=False)
