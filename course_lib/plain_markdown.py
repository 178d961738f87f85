"""Turn the book-only Markdown of a learner notebook into Markdown that plain Jupyter and Colab render.

The book (Jupyter Book, MyST) reads ``chapters/NN_slug/lab.md``; Colab opens its pair ``chapters/NN_slug/lab.ipynb``,
which nothing but this module's output reaches. In that ``.ipynb`` only, the generator (:mod:`course_lib.authoring`)
rewrites every Markdown cell with :func:`plain_notebook`:

- citations, ``{cite}`` / ``{cite:p}`` / ``{cite:t}`` with keys of ``book/references.bib``, become author-year text
  as the book prints them ("(Goodfellow et al., 2014)", "Goodfellow et al. (2014)"), and a "References" cell at the
  end lists the works cited, with their DOI or arXiv links;
- cross-references, ``{doc}``, ``{ref}``, ``{numref}``, ``{eq}``, ``{prf:ref}``, become the text the book shows
  ("Proposition 3", "(2)", "Chapter 4: DCGAN"), a Markdown link to the published page when ``_config.yml`` has
  ``html.baseurl``, plain text otherwise;
- ``{math}`\\alpha``` becomes ``$\\alpha$``; the math macros of ``_config.yml``'s ``mathjax3_config`` (``\\E``,
  ``\\KL``, ``\\pdata`` ...) are expanded in place (Colab renders each cell on its own, so a definition in one cell
  would not reach the others);
- MyST targets ``(label)=`` are dropped and an equation label ``$$ (label)`` is removed.

Anything else of MyST's (an unknown role, a directive, an unknown citation key or label) raises
:class:`PlainMarkdownError`, so that the generator fails loudly instead of shipping raw syntax to Colab.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PlainMarkdownError", "BookIndex", "parse_bibtex", "plain_markdown", "plain_notebook", "ROLE", "MACRO_USE"]


class PlainMarkdownError(ValueError):
    """A Markdown cell uses book syntax that cannot be turned into plain Markdown."""


#: a MyST role: ``{name}`content```
ROLE = re.compile(r"\{(?P<name>[a-z][a-z0-9_-]*(?::[a-z][a-z0-9_-]*)*)\}`(?P<body>[^`]*)`")
#: any use of a macro name (filled in per macro)
MACRO_USE = r"\\{name}(?![A-Za-z])"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_TARGET = re.compile(r"^\([A-Za-z0-9_.:-]+\)=[ \t]*$")
_EQ_LABEL = re.compile(r"\$\$[ \t]*\([A-Za-z0-9_.:-]+\)[ \t]*$")
_CODE_SPAN = re.compile(r"(`+)(?:.*?[^`])?\1(?!`)", re.DOTALL)
_PRF_TYPES = {
    "theorem", "lemma", "definition", "proposition", "corollary", "example", "remark", "algorithm", "conjecture",
    "axiom", "criterion", "property", "observation", "assumption", "notation",
}


# --- the bibliography ------------------------------------------------------------------------------------------------

_ACCENTS = {"'": "\u0301", '"': "\u0308", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304", ".": "\u0307",
            "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "r": "\u030a", "k": "\u0328"}
_LETTERS = {"l": "ł", "L": "Ł", "o": "ø", "O": "Ø", "ss": "ß", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ",
            "i": "ı", "aa": "å", "AA": "Å", "&": "&", "%": "%", "_": "_"}


def _latex_text(value: str) -> str:
    """BibTeX field text as plain Unicode: accents composed, ``\\url``/``\\texttt`` unwrapped, braces dropped."""
    value = re.sub(r"\\(?:url|texttt|emph|textit|textbf)\{([^{}]*)\}", r"\1", value)

    def accent(match: re.Match) -> str:
        letter = match.group(2) or match.group(3)
        return unicodedata.normalize("NFC", letter + _ACCENTS[match.group(1)])

    value = re.sub(r"\\([`'\"^~=.])\s*(?:\{(\w)\}|(\w))", accent, value)
    value = re.sub(r"\\([cvuHrk])(?:\s*\{(\w)\}|\s+(\w))", accent, value)
    value = re.sub(r"\\(ss|ae|AE|oe|OE|aa|AA|[lLoOi&%_])(?![A-Za-z])\s?", lambda m: _LETTERS[m.group(1)], value)
    value = value.replace("--", "\u2013").replace("~", "\u00a0")
    return re.sub(r"\s+", " ", value.replace("{", "").replace("}", "")).strip()


def parse_bibtex(text: str) -> dict[str, dict[str, str]]:
    """``{key: {"type": ..., field: raw value}}`` of every ``@type{key, field = {...} | "..." | number}`` entry."""
    entries: dict[str, dict[str, str]] = {}
    pos = 0
    while (at := text.find("@", pos)) >= 0:
        head = re.compile(r"@(\w+)\s*\{\s*([^,\s]+)\s*,").match(text, at)
        if not head:
            pos = at + 1
            continue
        kind, key = head.group(1).lower(), head.group(2)
        fields: dict[str, str] = {"type": kind}
        pos = head.end()
        while True:
            name = re.compile(r"\s*(\w+)\s*=\s*").match(text, pos)
            if not name:
                break
            pos = name.end()
            if text[pos] == "{":
                depth, start = 0, pos
                while True:
                    depth += {"{": 1, "}": -1}.get(text[pos], 0)
                    pos += 1
                    if depth == 0:
                        break
                    if pos >= len(text):
                        raise PlainMarkdownError(f"references: entry {key!r}: unbalanced braces in {name.group(1)}")
                value = text[start + 1: pos - 1]
            elif text[pos] == '"':
                end = text.index('"', pos + 1)
                value, pos = text[pos + 1: end], end + 1
            else:
                bare = re.compile(r"[^,}\s]+").match(text, pos)
                value, pos = bare.group(0), bare.end()
            fields[name.group(1).lower()] = value
            comma = re.compile(r"\s*,").match(text, pos)
            if not comma:
                break
            pos = comma.end()
        if key in entries:
            raise PlainMarkdownError(f"references: key {key!r} is defined twice")
        entries[key] = fields
    return entries


def _last_names(author_field: str) -> list[str]:
    names = []
    for name in re.split(r"\s+and\s+", author_field.strip()):
        name = name.strip()
        if "," in name:
            last = name.split(",", 1)[0]
        else:  # "First von Last": the von part starts at the first lower-case word
            words = name.split()
            start = next((i for i, w in enumerate(words[:-1]) if w[:1].islower()), len(words) - 1)
            last = " ".join(words[start:])
        names.append(_latex_text(last))
    return names


def _authors_short(entry: dict[str, str]) -> str:
    names = _last_names(entry.get("author") or entry.get("editor") or entry.get("organization") or "Anonymous")
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


def _entry_link(entry: dict[str, str]) -> str | None:
    if entry.get("doi"):
        return "https://doi.org/" + entry["doi"].strip()
    if entry.get("url"):
        return _latex_text(entry["url"])
    if entry.get("eprint"):
        return "https://arxiv.org/abs/" + entry["eprint"].strip()
    found = re.search(r"https?://[^\s},]+", entry.get("howpublished", ""))
    return found.group(0) if found else None


def _entry_full(entry: dict[str, str]) -> str:
    """One line of the References cell: authors (year). *Title*. Venue. link."""
    authors = ", ".join(
        _latex_text(" ".join(reversed([p.strip() for p in a.split(",", 1)])) if "," in a else a)
        for a in re.split(r"\s+and\s+", (entry.get("author") or entry.get("editor") or "").strip()) if a
    )
    venue = entry.get("journal") or entry.get("booktitle") or entry.get("publisher") or entry.get("institution")
    venue = venue or entry.get("howpublished", "")
    parts = [f"{authors} ({entry.get('year', 'n.d.')}).", f"*{_latex_text(entry.get('title', ''))}*."]
    if venue:
        parts.append(_latex_text(re.sub(r"\\url\{[^}]*\}", "", venue)).strip(" ,") + ".")
    link = _entry_link(entry)
    if link:
        parts.append(f"<{link}>")
    return " ".join(p for p in parts if p.strip(". "))


# --- the book's labels -----------------------------------------------------------------------------------------------


@dataclass
class Target:
    doc: str  # the page, relative to the root, no suffix: "chapters/04_dcgan/theory"
    text: str  # what a reference prints: "Proposition 3", "(2)", "Results on a GPU"
    anchor: str  # the HTML id on the page


@dataclass
class BookIndex:
    """What the book's roles point to: citation keys, page titles, labels; and the math macros and base URL."""

    root: Path
    bib: dict[str, dict[str, str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    labels: dict[tuple[str, str], Target] = field(default_factory=dict)  # (namespace, label): prf, eq or std
    macros: dict[str, tuple[str, int]] = field(default_factory=dict)
    baseurl: str | None = None

    @classmethod
    def load(cls, root: Path) -> "BookIndex":
        import yaml

        root = Path(root)
        index = cls(root=root)
        config = yaml.safe_load((root / "_config.yml").read_text()) or {}
        index.baseurl = ((config.get("html") or {}).get("baseurl") or "").rstrip("/") or None
        tex = (((config.get("sphinx") or {}).get("config") or {}).get("mathjax3_config") or {}).get("tex") or {}
        for name, value in (tex.get("macros") or {}).items():
            body, nargs = (value, 0) if isinstance(value, str) else (value[0], int(value[1]))
            index.macros[name] = (body, nargs)
        for bibfile in config.get("bibtex_bibfiles") or []:
            index.bib.update(parse_bibtex((root / bibfile).read_text(encoding="utf-8")))
        for page in sorted(root.glob("book/*.md")) + sorted(root.glob("chapters/*/*.md")):
            index._scan(page)
        return index

    def _scan(self, page: Path) -> None:
        doc = page.relative_to(self.root).with_suffix("").as_posix()
        counts: dict[str, int] = {}
        lines = page.read_text(encoding="utf-8").split("\n")
        pending_target = None
        for number, line in enumerate(lines):
            heading = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
            if heading:
                self.titles.setdefault(doc, heading.group(2))
                if pending_target:
                    self.labels[("std", pending_target)] = Target(doc, heading.group(2), pending_target)
                    pending_target = None
                continue
            if _TARGET.match(line):
                pending_target = line.strip()[1:-2]
                continue
            eq = re.search(r"\$\$[ \t]*\(([A-Za-z0-9_.:-]+)\)[ \t]*$", line)
            directive = re.match(r"^\s*(?:`{3,}|:{3,})\{(?P<kind>[a-z:-]+)\}\s*(?P<title>.*)$", line)
            label = None
            if directive:
                options = []
                for following in lines[number + 1:]:
                    if not re.match(r"^\s*:[a-z-]+:", following):
                        break
                    options.append(following.strip())
                label = next((o.split(":", 2)[2].strip() for o in options if o.startswith(":label:")), None)
            if eq:
                counts["equation"] = counts.get("equation", 0) + 1
                self.labels[("eq", eq.group(1))] = Target(doc, f"({counts['equation']})", f"equation-{eq.group(1)}")
            elif directive and directive.group("kind") == "math" and label:
                counts["equation"] = counts.get("equation", 0) + 1
                self.labels[("eq", label)] = Target(doc, f"({counts['equation']})", f"equation-{label}")
            elif directive and (directive.group("kind").removeprefix("prf:") in _PRF_TYPES or
                                directive.group("kind") == "exercise"):
                kind = directive.group("kind").removeprefix("prf:")
                nonumber = any(o.startswith(":nonumber:") for o in options)
                if not nonumber:
                    counts[kind] = counts.get(kind, 0) + 1
                if label:
                    text = kind.capitalize() + ("" if nonumber else f" {counts[kind]}")
                    if nonumber and directive.group("title").strip():
                        text += f" ({directive.group('title').strip()})"
                    self.labels[("std" if kind == "exercise" else "prf", label)] = Target(doc, text, label)

    # what a role prints --------------------------------------------------------------------------------------------

    def _link(self, text: str, doc: str, anchor: str = "") -> str:
        if self.baseurl:
            return f"[{text}]({self.baseurl.rstrip('/')}/{doc}.html{'#' + anchor if anchor else ''})"
        return text

    def _where(self, doc: str, here: str) -> str:
        """" of the theory page" / " of *Chapter 3: ...*" for a target on another page than ``here``."""
        if doc == here:
            return ""
        if Path(doc).parent == Path(here).parent and Path(doc).name == "theory":
            return " of the theory page"
        return f" of *{self.titles.get(doc, doc)}*"

    def cite(self, keys: str, style: str, where: str) -> tuple[str, list[str]]:
        found = [k.strip() for k in keys.split(",") if k.strip()]
        missing = [k for k in found if k not in self.bib]
        if missing or not found:
            raise PlainMarkdownError(f"{where}: unknown citation key(s) {missing or keys!r} (not in the bibliography)")
        if style == "t":
            text = ", ".join(f"{_authors_short(self.bib[k])} ({self.bib[k].get('year', 'n.d.')})" for k in found)
        else:
            text = "(" + "; ".join(f"{_authors_short(self.bib[k])}, {self.bib[k].get('year', 'n.d.')}"
                                   for k in found) + ")"
        return text, found

    def doc(self, body: str, here: str, where: str) -> str:
        text, target = _explicit(body)
        target = target.removesuffix(".md").removesuffix(".ipynb")
        doc = (target.lstrip("/") if target.startswith("/")
               else (Path(here).parent / target).as_posix())
        doc = _normalise(doc)
        if doc not in self.titles:
            raise PlainMarkdownError(f"{where}: {{doc}} `{body}` names no page of the book ({doc}.md)")
        title = text or self.titles[doc]
        return self._link(title, doc) if self.baseurl else f"*{title}*"

    def ref(self, body: str, here: str, where: str, follow: str, namespace: str = "std") -> str:
        text, label = _explicit(body)
        target = next((self.labels[(ns, label)] for ns in (namespace, "std", "prf", "eq") if (ns, label) in self.labels),
                      None)
        if target is None:
            raise PlainMarkdownError(f"{where}: unknown label {label!r}")
        shown = text or target.text
        said = " ".join(follow[:80].split())[:40]  # the sentence already says where: "... on the theory page"
        suffix = "" if text or "the theory" in said else self._where(target.doc, here)
        return self._link(shown, target.doc, target.anchor) + suffix


def _explicit(body: str) -> tuple[str | None, str]:
    """``"text <target>"`` -> ``("text", "target")``; ``"target"`` -> ``(None, "target")``."""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", body, re.DOTALL)
    return (match.group(1), match.group(2).strip()) if match and match.group(1) else (None, body.strip())


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


# --- cells and notebooks ---------------------------------------------------------------------------------------------


def _expand_macros(text: str, macros: dict[str, tuple[str, int]], where: str) -> str:
    for name, (body, nargs) in macros.items():
        pattern = re.compile(MACRO_USE.format(name=re.escape(name)))
        while (match := pattern.search(text)) is not None:
            pos, args = match.end(), []
            for _ in range(nargs):
                while pos < len(text) and text[pos] == " ":
                    pos += 1
                if pos < len(text) and text[pos] == "{":
                    depth, start = 0, pos
                    while pos < len(text):
                        depth += {"{": 1, "}": -1}.get(text[pos], 0)
                        pos += 1
                        if depth == 0:
                            break
                    args.append(text[start + 1: pos - 1])
                elif pos < len(text):
                    args.append(text[pos])
                    pos += 1
                else:
                    raise PlainMarkdownError(f"{where}: \\{name} needs {nargs} argument(s)")
            expansion = body
            for i, arg in enumerate(args, start=1):
                expansion = expansion.replace(f"#{i}", arg)
            # braces keep "\E_x" and "\pdata^2" meaning what they meant with the macro
            text = text[: match.start()] + "{" + expansion + "}" + text[pos:]
    return text


def plain_markdown(source: str, index: BookIndex, here: str, where: str = "cell") -> tuple[str, list[str]]:
    """``(markdown, cited keys)``: one Markdown cell of the page ``here`` (e.g. ``chapters/04_dcgan/lab``) made plain."""
    cited: list[str] = []
    out: list[str] = []
    fence = None
    lines = source.split("\n")
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.append(_plain_prose("\n".join(prose), index, here, where, cited))
            prose.clear()

    for line in lines:
        match = _FENCE.match(line)
        if fence is None and match:
            if match.group("fence")[0] == ":" or re.match(r"\s*\{", match.group("info")):
                raise PlainMarkdownError(
                    f"{where}: the MyST directive {line.strip()!r} has no plain-Markdown form: write it as Markdown "
                    "(a > quote for a note) in a lab"
                )
            flush()
            fence = match.group("fence")
            out.append(line)
        elif fence is not None:
            out.append(line)
            if match and match.group("fence").startswith(fence) and not match.group("info").strip():
                fence = None
        elif _TARGET.match(line):
            continue
        else:
            prose.append(_EQ_LABEL.sub("$$", line))
    flush()
    return "\n".join(out), cited


def _plain_prose(text: str, index: BookIndex, here: str, where: str, cited: list[str]) -> str:
    def role(match: re.Match) -> str:
        name, body = match.group("name"), match.group("body")
        follow = text[match.end():]
        if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
            rendered, keys = index.cite(body, "t" if name.startswith("cite:t") else "p", where)
            cited.extend(k for k in keys if k not in cited)
            return rendered
        if name == "doc":
            return index.doc(body, here, where)
        if name in ("ref", "numref", "prf:ref", "eq"):
            namespace = {"prf:ref": "prf", "eq": "eq"}.get(name, "std")
            return index.ref(body, here, where, follow, namespace)
        if name == "math":
            return f"${body}$"
        raise PlainMarkdownError(f"{where}: the MyST role {{{name}}} has no plain-Markdown form here")

    text = ROLE.sub(role, text)
    # macros: everywhere but inside code spans
    pieces, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(_expand_macros(text[last: span.start()], index.macros, where))
        pieces.append(span.group(0))
        last = span.end()
    pieces.append(_expand_macros(text[last:], index.macros, where))
    return "".join(pieces)


def plain_notebook(nb, index: BookIndex, here: str, where: str = "notebook"):
    """A copy of ``nb`` whose Markdown cells plain Jupyter and Colab render, with a References cell when it cites."""
    import nbformat

    nb = copy.deepcopy(nb)
    cited: list[str] = []
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source, keys = plain_markdown(cell.source, index, here, f"{where}, cell {number}")
            cited.extend(k for k in keys if k not in cited)
    if cited:
        entries = sorted(cited, key=lambda k: (_authors_short(index.bib[k]).lower(), index.bib[k].get("year", "")))
        lines = ["## References", "", "The works this notebook cites (the book's bibliography lists them all):", ""]
        lines += [f"- {_entry_full(index.bib[k])}" for k in entries]
        nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines), metadata={"tags": ["references"]}))
    return nb
