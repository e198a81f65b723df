"""The README's SDK example runs as written against a live server (keeps the README true)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_sdk_example_prints_what_its_comments_say(server: LiveServer) -> None:
    text = README.read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", text, re.S)
    assert example is not None, "the README has no python example"
    code = example.group(1)
    assert 'base_url="http://127.0.0.1:8000/v1"' in code
    code = code.replace("http://127.0.0.1:8000/v1", server.base_url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[:4] == [
        "completed 7",
        "Hello there",
        'requires_action get_weather {"city":"Oslo"}',
        "completed",
    ]
    assert lines[4] == "thread.run.created" and lines[-1] == "thread.run.completed"
    assert "thread.message.delta" in lines


def test_the_readme_file_search_example_prints_what_its_comments_say(server: LiveServer) -> None:
    """The second example (files and file_search) runs after the first, as a reader would."""
    text = README.read_text(encoding="utf-8")
    first, second = re.findall(r"```python\n(.*?)```", text, re.S)[:2]
    assert "upload_and_poll" in second and "file_search" in second
    code = (first + "\n" + second).replace("http://127.0.0.1:8000/v1", server.base_url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[-3:] == [
        "completed 1",
        "High tide in Oslo harbour is at 06:00 and 18:30. 【0:0†tides.md】",
        "file_citation",
    ]
