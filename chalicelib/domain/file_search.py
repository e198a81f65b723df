"""file_search as the model sees it, and what it leaves in a run: pure functions, no I/O.

The server runs the tool itself. The model is offered an ordinary function, `file_search`
(FUNCTION), taking `queries`; when it calls it, the worker searches the run's vector stores and
gives the results back as the call's output, each result headed by a citation marker
`【{call}:{rank}†{filename}】` (`call`: the ordinal of the file_search call in the run, from 0;
`rank`: the result's place in that call's results, from 0). Markers the final text carries
become `file_citation` annotations on the message.
"""

from __future__ import annotations

import json
import re
from typing import Any

FUNCTION = "file_search"
INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
TOOL = {
    "name": FUNCTION,
    "description": (
        "Search the files the user made available (their vector stores) and return the most "
        "relevant passages. Use it whenever the answer may be in those files."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "queries": {
                "type": "array",
                "items": {"type": "string"},
                "description": "One or more search queries, each a short self-contained text.",
            }
        },
        "required": ["queries"],
    },
}
CITE_HINT = (
    "Results of file_search. When you use a result, cite it by writing its marker (for "
    "example {example}) right after the statement it supports."
)
NO_RESULTS = "file_search found no results."
DEFAULT_MAX_RESULTS = 20
GPT35_MAX_RESULTS = 5
# The hosted API reported the ranker it used; `auto` resolved to this one.
DEFAULT_RANKER = "default_2024_08_21"
MARKER = re.compile(r"【(\d+):(\d+)†([^】\n]*)】")


def file_search_tool(tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((t for t in tools if t.get("type") == "file_search"), None)


def max_num_results(tool: dict[str, Any], model: str) -> int:
    """The tool's max_num_results, or the documented default: 5 for gpt-3.5-turbo, else 20."""
    given = (tool.get("file_search") or {}).get("max_num_results")
    if given is not None:
        return int(given)
    return GPT35_MAX_RESULTS if model.startswith("gpt-3.5") else DEFAULT_MAX_RESULTS


def ranking_options(tool: dict[str, Any]) -> dict[str, Any]:
    """As the step reports them: the ranker used and the threshold (0 when none was given)."""
    given = (tool.get("file_search") or {}).get("ranking_options") or {}
    ranker = given.get("ranker") or "auto"
    return {
        "ranker": DEFAULT_RANKER if ranker == "auto" else ranker,
        "score_threshold": given.get("score_threshold", 0.0),
    }


def queries_of(arguments: str, fallback: str) -> list[str]:
    """The queries a call asks for (`queries`, or a lone `query`); `fallback` if none parse."""
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        value = {}
    found: list[str] = []
    if isinstance(value, dict):
        raw = value.get("queries")
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, list):
            found = [q for q in raw if isinstance(q, str) and q.strip()]
        if not found and isinstance(value.get("query"), str) and value["query"].strip():
            found = [value["query"]]
    return found or ([fallback] if fallback.strip() else [])


def result_text(result: dict[str, Any]) -> str:
    return "\n".join(
        part.get("text", "") for part in result.get("content") or [] if part.get("type") == "text"
    )


def marker(call: int, rank: int, filename: str) -> str:
    return f"【{call}:{rank}†{filename}】"


def output_for_model(call: int, results: list[dict[str, Any]]) -> str:
    """The tool output the model reads: a hint, then each result under its marker."""
    if not results:
        return NO_RESULTS
    blocks = [CITE_HINT.format(example=marker(call, 0, results[0]["file_name"]))]
    blocks += [
        f"{marker(call, rank, r['file_name'])}\n{result_text(r)}" for rank, r in enumerate(results)
    ]
    return "\n\n".join(blocks)


def parse_output(output: str) -> list[tuple[str, str]]:
    """(marker, text) of each result in an `output_for_model` text, in order."""
    found = []
    pattern = re.compile(r"^(【\d+:\d+†[^】\n]*】)\n(.*?)(?=\n\n【\d+:\d+†|\Z)", re.M | re.S)
    for match in pattern.finditer(output):
        found.append((match.group(1), match.group(2)))
    return found


def citations(text: str, sources: dict[tuple[int, int], str]) -> list[dict[str, Any]]:
    """`file_citation` annotations for the markers in `text` that name a known result.

    Indices are character offsets into `text` (end exclusive), as the hosted API gave them.
    """
    annotations = []
    for match in MARKER.finditer(text):
        file_id = sources.get((int(match.group(1)), int(match.group(2))))
        if file_id is None:
            continue
        annotations.append(
            {
                "type": "file_citation",
                "text": match.group(0),
                "start_index": match.start(),
                "end_index": match.end(),
                "file_citation": {"file_id": file_id},
            }
        )
    return annotations


def step_calls(step: dict[str, Any]) -> list[dict[str, Any]]:
    return list((step.get("step_details") or {}).get("tool_calls") or [])


def without_content(details: dict[str, Any]) -> dict[str, Any]:
    """A step's details with file_search results' `content` removed (unless include[] asks)."""
    calls = details.get("tool_calls")
    if not calls or not any(c.get("type") == "file_search" for c in calls):
        return details
    stripped = []
    for call in calls:
        if call.get("type") == "file_search":
            search = dict(call.get("file_search") or {})
            if "results" in search:
                search["results"] = [
                    {k: v for k, v in r.items() if k != "content"} for r in search["results"]
                ]
            call = {**call, "file_search": search}
        stripped.append(call)
    return {**details, "tool_calls": stripped}
