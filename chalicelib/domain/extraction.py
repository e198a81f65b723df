"""Text out of an uploaded file, by its extension: what ingestion indexes.

Text-like files (plain text, Markdown, JSON, CSV, HTML, source code) are decoded as UTF-8 (a
byte-order mark is dropped); HTML loses its tags, scripts and styles. Anything else, and PDF (no
small pure-Python extractor does it well), is refused with the hosted API's `unsupported_file`;
bytes that are not text are `invalid_file`.
"""

from __future__ import annotations

import codecs
from html.parser import HTMLParser

PLAIN_EXTENSIONS = frozenset(
    {
        # documents and data
        "txt", "text", "md", "markdown", "rst", "json", "jsonl", "csv", "tsv", "xml", "yaml",
        "yml", "toml", "ini", "log", "tex",
        # source code
        "c", "h", "cc", "cpp", "cxx", "hpp", "cs", "css", "go", "java", "js", "mjs", "cjs",
        "jsx", "ts", "tsx", "php", "py", "rb", "sh", "bash", "zsh", "rs", "kt", "swift",
        "scala", "sql", "lua", "pl", "r", "m", "dart", "ex", "exs", "erl", "hs", "clj",
        "vue", "svelte", "scss", "less", "proto", "graphql",
    }
)  # fmt: skip
HTML_EXTENSIONS = frozenset({"html", "htm", "xhtml"})
SUPPORTED_EXTENSIONS = PLAIN_EXTENSIONS | HTML_EXTENSIONS


class ExtractionError(Exception):
    """A file that cannot be indexed: `code` is the vector store file's `last_error.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def extension_of(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.strip(".") else ""


def extract_text(filename: str, data: bytes) -> str:
    """The file's text; raises ExtractionError for what cannot be indexed."""
    extension = extension_of(filename)
    if extension not in SUPPORTED_EXTENSIONS:
        shown = f"'.{extension}'" if extension else "no extension"
        raise ExtractionError(
            "unsupported_file",
            f"The file type of {filename[:200]!r} ({shown}) is not supported for retrieval. "
            "Supported: text, Markdown, JSON, CSV, HTML and source code files.",
        )
    text = _decode(filename, data)
    if extension in HTML_EXTENSIONS:
        text = html_text(text)
    return text


def _decode(filename: str, data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExtractionError(
            "invalid_file",
            f"The file {filename[:200]!r} is not valid UTF-8 text (byte {error.start}).",
        ) from None
    if "\x00" in text:
        raise ExtractionError(
            "invalid_file", f"The file {filename[:200]!r} holds binary data (NUL bytes), not text."
        )
    return text


class _TextOfHtml(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
         "pre", "blockquote", "table", "ul", "ol", "title", "header", "footer", "td", "th"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIPPED:
            self._skipping += 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIPPED and self._skipping:
            self._skipping -= 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML page (its title first), whitespace tidied per line."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    body = "\n".join(line for line in lines if line)
    title = " ".join("".join(parser._title).split())
    return f"{title}\n{body}" if title and body else title or body
