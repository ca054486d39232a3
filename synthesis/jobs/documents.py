"""
Long texts and uploaded documents (.txt, .md, .epub) as chapters for long-form jobs.

Chapters come from headings: Markdown ATX headings (`# Title` … `###### Title`)
and lines that read like a book's chapter headings ("Chapter 12", "CHAPTER XII.
The Storm", "Prologue", "Part Two"). Text before the first heading is a
chapter of its own. Each chapter's text starts with its title, so the
listener hears it announced, as audiobooks do.

An EPUB's chapters are its spine documents (the reading order), each titled by
its first heading or, failing that, its entry in the table of contents;
documents with nothing to read (the cover, the table of contents) are left out.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

MAX_TITLE = 200
# Markdown ATX heading, or a line that names a chapter/part/book (with an
# optional number in digits, Roman numerals or words, and an optional title).
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBER = r"(?:\d+|[IVXLCDM]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|[a-z]+teen|twenty[\w-]*|thirty[\w-]*)"
_CHAPTER_LINE = re.compile(
    rf"^\s*(?:(?:chapter|part|book)\s+{_NUMBER}\b[.:]?(?:\s+.{{0,120}})?|prologue|epilogue|preface|introduction|afterword)\s*$",
    re.IGNORECASE,
)
# Markdown inline syntax that should not be read aloud.
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_PREFIX = re.compile(r"^\s{0,3}(?:>\s?|[-*+]\s+|\d+[.)]\s+)")
_HTML_TAG = re.compile(r"<[^>]+>")

SUPPORTED = (".txt", ".md", ".markdown", ".epub")


class DocumentError(Exception):
    """An upload that cannot be read; the message is safe to show a client."""

    code = "invalid_document"


class UnsupportedDocument(DocumentError):
    code = "unsupported_document"


@dataclass(frozen=True)
class Chapter:
    title: str
    text: str


def _chapter(title: str, lines: list[str]) -> Chapter | None:
    body = "\n".join(lines).strip()
    title = title.strip()[:MAX_TITLE]
    if not body and not title:
        return None
    text = f"{title}.\n{body}" if title and body else (title or body)
    return Chapter(title=title, text=text.strip())


def chapters_from_text(text: str, *, markdown: bool = False) -> list[Chapter]:
    """Split plain text (or Markdown, stripped of its markup) at its headings."""
    chapters: list[Chapter] = []
    title, lines = "", []
    in_fence = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if markdown and _MD_FENCE.match(raw):
            in_fence = not in_fence
            continue
        if in_fence:
            continue  # code is not read aloud
        heading = _ATX.match(raw)
        if heading or _CHAPTER_LINE.match(raw):
            found = _chapter(title, lines)
            if found:
                chapters.append(found)
            title = _strip_markdown(heading.group(2)) if heading else raw.strip()
            title = title.rstrip(".:")
            lines = []
            continue
        if markdown:
            if _MD_RULE.match(raw):
                continue
            raw = _strip_markdown(_MD_PREFIX.sub("", raw))
        lines.append(raw)
    found = _chapter(title, lines)
    if found:
        chapters.append(found)
    return chapters


def _strip_markdown(line: str) -> str:
    line = _MD_IMAGE.sub(r"\1", line)
    line = _MD_LINK.sub(r"\1", line)
    for _ in range(3):  # nested emphasis: ***a*** and **_a_**
        line = _MD_EMPHASIS.sub(r"\2", line)
    return _HTML_TAG.sub("", line)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue  # only with a byte-order mark: otherwise any even-length bytes "decode"
        return text
    raise DocumentError("The file is not UTF-8 (or UTF-16 with a byte-order mark) text.")


def _html_text(content: bytes) -> tuple[str, str]:
    """(first heading, readable text) of an XHTML document, one block per line."""
    import lxml.html

    try:
        root = lxml.html.fromstring(content)
    except (ValueError, lxml.etree.ParserError):
        return "", ""
    for element in root.iter("script", "style", "head"):
        element.drop_tree()
    heading = next((" ".join(h.text_content().split()) for h in root.iter("h1", "h2", "h3")), "")
    for element in root.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section"):
        element.tail = "\n" + (element.tail or "")
    lines = [" ".join(line.split()) for line in root.text_content().split("\n")]
    return heading, "\n".join(line for line in lines if line)


def chapters_from_epub(data: bytes) -> list[Chapter]:
    import ebooklib
    from ebooklib import epub

    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except (zipfile.BadZipFile, KeyError, epub.EpubException, ValueError, AttributeError) as error:
        raise DocumentError(f"The file is not a readable EPUB ({error.__class__.__name__}).") from None
    toc_titles = {}

    def walk(entries):
        for entry in entries:
            if isinstance(entry, tuple):
                section, children = entry
                if getattr(section, "href", None):
                    toc_titles.setdefault(section.href.split("#")[0], section.title)
                walk(children)
            elif getattr(entry, "href", None):
                toc_titles.setdefault(entry.href.split("#")[0], entry.title)

    walk(book.toc)
    chapters = []
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        heading, text = _html_text(item.get_content())
        if not text.strip():
            continue
        title = (heading or toc_titles.get(item.get_name(), "")).strip()[:MAX_TITLE]
        if heading and text.startswith(heading):
            text = text[len(heading):].lstrip()
        found = _chapter(title, [text])
        if found:
            chapters.append(found)
    return chapters


def chapters_from_upload(name: str, data: bytes) -> list[Chapter]:
    """The chapters of an uploaded .txt, .md or .epub file."""
    lowered = name.lower()
    if lowered.endswith(".epub"):
        return chapters_from_epub(data)
    if lowered.endswith((".md", ".markdown")):
        return chapters_from_text(_decode(data), markdown=True)
    if lowered.endswith(".txt"):
        return chapters_from_text(_decode(data))
    raise UnsupportedDocument(f"Upload a .txt, .md or .epub file; '{name}' is none of these.")


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class DocumentTooLarge(DocumentError):
    code = "payload_too_large"


class EmptyDocument(DocumentError):
    code = "empty_text"


def chapters_from_input(text: str, upload=None) -> list[Chapter]:
    """The chapters of a job's text, or of its uploaded file (size, type and readability checked)."""
    if upload is None:
        return chapters_from_text(text)
    if upload.size > MAX_UPLOAD_BYTES:
        raise DocumentTooLarge("The file is larger than 20 MB.")
    if not upload.name.lower().endswith(SUPPORTED):
        raise UnsupportedDocument(f"Upload a .txt, .md or .epub file; '{upload.name}' is none of these.")
    chapters = chapters_from_upload(upload.name, upload.read())
    if not chapters:
        raise EmptyDocument("The document has no text to read.")
    return chapters
