"""The fenced code blocks of README.md and docs/*.md, and the shell commands in them.

Used by ``test_doc_examples.py``. A block is what sits between two ```` ``` ```` fence lines; its
info string's first word is the language, the rest are attributes. ```` ```python no-run REASON ````
marks a Python block that is deliberately not executed (a signature, a fragment); the reason is
required and the test counts such blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_RUN = "no-run"
_FENCE = re.compile(r"^```(.*)$")


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str  # first word of the info string ("" for a bare fence)
    attrs: str  # the rest of the info string
    text: str  # the lines between the fences

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def no_run_reason(self) -> str | None:
        """The reason after ``no-run`` ("" when the marker has none), or None when not marked."""
        if not self.attrs.startswith(NO_RUN):
            return None
        return self.attrs[len(NO_RUN):].strip(" :—-")

    def runnable_source(self) -> str:
        """The block as a script whose line numbers are the document's (tracebacks point there)."""
        return "\n" * self.line + self.text + "\n"


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def parse(path: Path, root: Path = ROOT) -> list[Block]:
    """Every fenced block of one Markdown file; an unclosed fence is an error naming its line."""
    rel = str(path.relative_to(root))
    lines = path.read_text("utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        info = m.group(1).strip()
        lang, _, attrs = info.partition(" ")
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{rel}:{i + 1}: fence never closed")
        out.append(Block(rel, i + 1, lang, attrs.strip(), "\n".join(lines[i + 1:end])))
        i = end + 1
    return out


def all_blocks(root: Path = ROOT) -> list[Block]:
    return [b for f in doc_files(root) for b in parse(f, root)]


def commands(block: Block) -> list[tuple[int, str]]:
    """The commands of a shell block: ``(document line, command)``, backslash continuations
    joined, comments and blank lines dropped, a leading ``$ `` prompt removed."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for n, raw in enumerate(block.text.split("\n"), start=block.line + 1):
        line = raw.strip()
        if not pending:
            line = line.removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            start = n
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(_strip_comment(line))
        out.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        out.append((start, " ".join(pending)))
    return out


def _strip_comment(line: str) -> str:
    """Drop a trailing ``# comment`` (outside quotes, preceded by whitespace)."""
    quote = ""
    for i, c in enumerate(line):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line
