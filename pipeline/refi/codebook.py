"""Codebooks in REFI-QDA form: the `.qdc` file and the CodeBook of a `.qdpx`, to and from codebook.yaml.

Export nests themes under their groups (groups are not codable) and writes each theme's definition,
include/exclude notes and examples into its Description, ending with a `qualcode id:` line so a round trip
keeps ids exactly; ToR questions become Sets of the themes that inform them. Import reads any tool's code
tree: top-level codes with children become groups, every codable code a theme (rules empty, for the user).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline import __version__
from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import ID_PATTERN, TOR_ID_PATTERN, Codebook, Theme
from pipeline.core.errors import ExchangeError
from pipeline.core.files import atomic_write_bytes, atomic_write_text
from pipeline.refi.xml import (
    CODEBOOK_NS,
    CODEBOOK_NS_PREFIX,
    CODEBOOK_SCHEMA_LOCATION,
    MAX_ARCHIVE_BYTES,
    MAX_CODE_DEPTH,
    PROJECT_NS_PREFIX,
    XSI_NS,
    SafeArchive,
    child_text,
    children,
    guid_key,
    parse_xml,
    read_bounded,
    split_tag,
    stable_guid,
    xml_text,
)

ORIGIN = f"qualcode {__version__}"
UNGROUPED = "ungrouped"
# Paragraph labels in a Description; `qualcode ...` lines carry ids REFI-QDA has no slot for.
_LABELS = {
    "Include": "include",
    "Exclude": "exclude",
    "Examples": "positive",
    "Near misses": "near_miss",
    "qualcode id": "id",
    "qualcode group id": "group_id",
    "qualcode ToR id": "tor_id",
}
_FIELD = re.compile(r"(?:\A|\n\n)(" + "|".join(map(re.escape, _LABELS)) + r"):(?: |\n|$)")
_TRANSLITERATE = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "Th",
        "œ": "oe",
        "Œ": "OE",
    }
)


# --- ids and descriptions --------------------------------------------------------------------


def snake_id(name: str, *, prefix: str = "code") -> str:
    """A codebook id (`^[a-z][a-z0-9_]*$`) from a code's name: accents dropped, runs of other characters `_`."""
    ascii_name = unicodedata.normalize("NFKD", name.translate(_TRANSLITERATE)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if not slug:
        slug = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    if not slug[0].isalpha():
        slug = f"{prefix}_{slug}"
    return slug[:60].rstrip("_")


def unique_id(base: str, taken: set[str]) -> str:
    """`base`, or `base_2`, `base_3`... whichever is not taken yet; the result is added to `taken`."""
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}_{number}"
    taken.add(candidate)
    return candidate


def compose_description(text: str, fields: Iterable[tuple[str, str | list[str]]]) -> str:
    """A Description: free text, then one `Label: value` paragraph per non-empty field (lists as `- ` lines)."""
    parts = [text.strip()] if text.strip() else []
    for label, value in fields:
        if isinstance(value, list):
            if value:
                parts.append(f"{label}:\n" + "\n".join("- " + " ".join(item.split()) for item in value))
        elif value.strip():
            parts.append(f"{label}: {value.strip()}")
    return "\n\n".join(parts)


def parse_description(description: str) -> tuple[str, dict[str, Any]]:
    """(free text, fields) of a Description written by `compose_description`; other tools' text is all free text."""
    text = description.replace("\r\n", "\n").strip()
    matches = list(_FIELD.finditer(text))
    free = text[: matches[0].start()].strip() if matches else text
    fields: dict[str, Any] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value = text[match.end() : end].strip()
        key = _LABELS[match.group(1)]
        if key in ("positive", "near_miss"):
            fields[key] = [
                line[2:].strip() for line in value.splitlines() if line.startswith("- ") and line[2:].strip()
            ]
        else:
            fields[key] = value
    return free, fields


# --- export ----------------------------------------------------------------------------------


def code_guid(codebook: Codebook, kind: str, item_id: str) -> str:
    """Deterministic GUID of a group, theme or ToR set: codebook hash + id."""
    return stable_guid(kind, codebook.hash, item_id)


def append_codes(parent: ET.Element, codebook: Codebook, *, namespace: str) -> dict[str, str]:
    """Add `<Codes>` (groups as non-codable codes with their themes inside) to `parent`; returns theme id -> GUID."""
    q = lambda name: f"{{{namespace}}}{name}"  # noqa: E731
    codes = ET.SubElement(parent, q("Codes"))
    groups = {g.id: (g.label, g.description) for g in codebook.groups}
    for theme in codebook.themes:
        if theme.group:
            groups.setdefault(theme.group, (theme.group, ""))
    guids: dict[str, str] = {}

    def append_theme(parent_code: ET.Element, theme: Theme) -> None:
        guids[theme.id] = code_guid(codebook, "theme", theme.id)
        code = ET.SubElement(parent_code, q("Code"), guid=guids[theme.id], name=xml_text(theme.label), isCodable="true")
        ET.SubElement(code, q("Description")).text = xml_text(
            compose_description(
                theme.definition,
                [
                    ("Include", theme.include),
                    ("Exclude", theme.exclude),
                    ("Examples", list(theme.examples.positive)),
                    ("Near misses", list(theme.examples.near_miss)),
                    ("qualcode id", theme.id),
                ],
            )
        )

    for group_id, (label, description) in groups.items():
        group = ET.SubElement(
            codes, q("Code"), guid=code_guid(codebook, "group", group_id), name=xml_text(label), isCodable="false"
        )
        ET.SubElement(group, q("Description")).text = xml_text(
            compose_description(description, [("qualcode group id", group_id)])
        )
        for theme in codebook.themes:
            if theme.group == group_id:
                append_theme(group, theme)
    for theme in codebook.themes:  # themes without a group are top-level codes
        if not theme.group:
            append_theme(codes, theme)
    if not guids:
        raise ExchangeError("the codebook has no themes to export", path=codebook.path or None)
    return guids


def append_tor_sets(
    parent: ET.Element, codebook: Codebook, guids: dict[str, str], *, namespace: str, member_attribute: str
) -> None:
    """Add `<Sets>`: one Set per ToR question with the themes that inform it (skipped without ToR questions)."""
    if not codebook.tor_questions:
        return
    q = lambda name: f"{{{namespace}}}{name}"  # noqa: E731
    sets = ET.SubElement(parent, q("Sets"))
    for question in codebook.tor_questions:
        element = ET.SubElement(
            sets, q("Set"), guid=code_guid(codebook, "tor", question.id), name=xml_text(question.label)
        )
        ET.SubElement(element, q("Description")).text = xml_text(
            compose_description(question.text, [("qualcode ToR id", question.id)])
        )
        for theme in codebook.themes_for(question.id):
            ET.SubElement(element, q("MemberCode"), {member_attribute: guids[theme.id]})


def qdc_bytes(codebook: Codebook) -> bytes:
    """The codebook as a REFI-QDA `.qdc` document (namespace urn:QDA-XML:codebook:1.0)."""
    ET.register_namespace("", CODEBOOK_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(
        f"{{{CODEBOOK_NS}}}CodeBook", {"origin": ORIGIN, f"{{{XSI_NS}}}schemaLocation": CODEBOOK_SCHEMA_LOCATION}
    )
    guids = append_codes(root, codebook, namespace=CODEBOOK_NS)
    append_tor_sets(root, codebook, guids, namespace=CODEBOOK_NS, member_attribute="guid")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def export_qdc(*, codebook_path: Path, out: Path) -> Path:
    """Write the codebook at `codebook_path` as a `.qdc` file."""
    return atomic_write_bytes(out, qdc_bytes(load_codebook(codebook_path)))


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefiCode:
    """One Code of a REFI-QDA code tree, flattened: `top` is the GUID of its top-level ancestor (or its own)."""

    guid: str
    name: str
    codable: bool
    description: str
    parent: str | None
    top: str
    depth: int
    has_children: bool


@dataclass(frozen=True)
class RefiSet:
    """A Set of codes (qualcode writes one per ToR question)."""

    guid: str
    name: str
    description: str
    members: tuple[str, ...]


@dataclass
class ImportedCodebook:
    """A codebook rebuilt from a REFI-QDA code tree: the codebook, which theme (or group) id each code became,
    and notes on what was assumed or left out."""

    codebook: Codebook
    code_ids: dict[str, str]
    codes: list[RefiCode]
    notes: list[str] = field(default_factory=list)

    @property
    def code_names(self) -> dict[str, str]:
        return {code.guid: code.name for code in self.codes}


def read_codes(codes_element: ET.Element | None, namespace: str, *, where: str) -> list[RefiCode]:
    """Every Code under `<Codes>`, in document order, with its parent and top-level ancestor."""
    if codes_element is None:
        return []
    found: list[RefiCode] = []
    stack = [(element, None, None, 0) for element in reversed(list(children(codes_element, namespace, "Code")))]
    while stack:
        element, parent, top, depth = stack.pop()
        if depth > MAX_CODE_DEPTH:
            raise ExchangeError(f"codes nested more than {MAX_CODE_DEPTH} deep", path=where)
        guid = guid_key(element.get("guid")) or stable_guid("unnamed-code", len(found))
        subcodes = list(children(element, namespace, "Code"))
        found.append(
            RefiCode(
                guid=guid,
                name=(element.get("name") or "").strip() or f"code {len(found) + 1}",
                codable=(element.get("isCodable") or "true").strip().lower() not in ("false", "0"),
                description=child_text(element, namespace, "Description"),
                parent=parent,
                top=top or guid,
                depth=depth,
                has_children=bool(subcodes),
            )
        )
        stack.extend((sub, guid, top or guid, depth + 1) for sub in reversed(subcodes))
    return found


def read_sets(sets_element: ET.Element | None, namespace: str) -> list[RefiSet]:
    """Every Set with the GUIDs of its member codes (`targetGUID` in projects, `guid` in codebooks)."""
    if sets_element is None:
        return []
    return [
        RefiSet(
            guid=guid_key(element.get("guid")),
            name=element.get("name") or "",
            description=child_text(element, namespace, "Description"),
            members=tuple(
                guid_key(m.get("targetGUID") or m.get("guid")) for m in children(element, namespace, "MemberCode")
            ),
        )
        for element in children(sets_element, namespace, "Set")
    ]


def _valid_id(value: str | None, pattern: str) -> str | None:
    return value if value and re.fullmatch(pattern, value) else None


def codebook_from_refi(codes: list[RefiCode], sets: list[RefiSet], *, name: str, origin: str) -> ImportedCodebook:
    """Rebuild a codebook from a code tree: groups from top-level codes with children (or ATLAS.ti `A::B` names),
    a theme for every codable code, ToR questions from qualcode's Sets; ids kept from `qualcode id:` lines."""
    parsed = {code.guid: parse_description(code.description) for code in codes}
    by_guid = {code.guid: code for code in codes}
    notes: list[str] = []
    prefixes = {c.name.split("::", 1)[0].strip() for c in codes if c.depth == 0 and "::" in c.name}

    def group_key(code: RefiCode) -> str:
        top = by_guid[code.top]
        if top.has_children or not top.codable or "group_id" in parsed[top.guid][1]:
            return "code:" + top.guid
        prefix = top.name.split("::", 1)[0].strip()
        return "prefix:" + prefix if "::" in top.name or top.name in prefixes else UNGROUPED

    group_ids: dict[str, str] = {}
    taken_groups: set[str] = set()
    for code in codes:  # explicit qualcode group ids first, so derived ids never take them
        explicit = _valid_id(parsed[code.guid][1].get("group_id"), ID_PATTERN) if code.depth == 0 else None
        if explicit and explicit not in taken_groups:
            group_ids["code:" + code.guid] = unique_id(explicit, taken_groups)
    groups: dict[str, dict[str, str]] = {}
    for code in codes:
        key = group_key(code)
        if key in groups:
            continue
        if key.startswith("code:"):
            top = by_guid[key[5:]]
            label, description = top.name, parsed[top.guid][0]
        elif key.startswith("prefix:"):
            label, description = key[7:], ""
        else:
            label, description = "Ungrouped codes", "Top-level codes without a parent in the imported file."
        if key not in group_ids:
            group_ids[key] = unique_id(UNGROUPED if key == UNGROUPED else snake_id(label, prefix="group"), taken_groups)
        groups[key] = {"id": group_ids[key], "label": label, "description": description}

    pure_groups = {c.guid for c in codes if c.depth == 0 and (not c.codable or "group_id" in parsed[c.guid][1])}
    theme_codes = [c for c in codes if c.codable and c.guid not in pure_groups]
    taken_themes: set[str] = set()
    theme_ids: dict[str, str] = {}
    for code in theme_codes:
        explicit = _valid_id(parsed[code.guid][1].get("id"), ID_PATTERN)
        if explicit and explicit not in taken_themes:
            theme_ids[code.guid] = unique_id(explicit, taken_themes)
    for code in theme_codes:
        if code.guid not in theme_ids:
            theme_ids[code.guid] = unique_id(snake_id(code.name), taken_themes)
    label_counts: dict[str, int] = {}
    for code in theme_codes:
        label_counts[code.name] = label_counts.get(code.name, 0) + 1

    tor_questions, tor_of = [], {}
    taken_tor: set[str] = set()
    foreign_sets = 0
    for refi_set in sets:
        free, fields = parse_description(refi_set.description)
        tor_id = fields.get("tor_id")
        if not tor_id:
            foreign_sets += 1
            continue
        tor_id = unique_id(_valid_id(tor_id, TOR_ID_PATTERN) or snake_id(tor_id, prefix="Q"), taken_tor)
        tor_questions.append({"id": tor_id, "label": refi_set.name or tor_id, "text": free or refi_set.name or tor_id})
        for member in refi_set.members:
            tor_of.setdefault(member, []).append(tor_id)
    if foreign_sets:
        notes.append(f"{foreign_sets} code set(s) not imported (qualcode reads only its own ToR-question sets)")

    themes = []
    for code in theme_codes:
        free, fields = parsed[code.guid]
        label = code.name
        if code.parent and (code.depth >= 2 or label_counts[code.name] > 1):  # keep the flattened level visible
            label = f"{by_guid[code.parent].name} / {code.name}"
        theme: dict[str, Any] = {
            "id": theme_ids[code.guid],
            "label": label,
            "group": group_ids[group_key(code)],
            "definition": free,
            "include": fields.get("include", ""),
            "exclude": fields.get("exclude", ""),
            "examples": {"positive": fields.get("positive", []), "near_miss": fields.get("near_miss", [])},
            "rules": [],
            "tor": tor_of.get(code.guid, []),
        }
        themes.append(theme)
    deep = sum(1 for c in theme_codes if c.depth >= 2)
    if deep:
        notes.append(f"{deep} code(s) nested more than two levels deep were flattened into their top-level group")
    used_groups = {t["group"] for t in themes} | {
        group_ids["code:" + g] for g in pure_groups if "code:" + g in group_ids
    }
    data = {
        "name": name,
        "version": "imported",
        "description": f"Imported from {origin or 'a REFI-QDA file'}. Codes, hierarchy and descriptions come from the "
        "file; every theme's rules are empty.",
        "tor_questions": tor_questions,
        "groups": [group for group in groups.values() if group["id"] in used_groups],
        "themes": themes,
    }
    try:
        codebook = Codebook.model_validate(data)
    except ValidationError as exc:
        raise ExchangeError(f"cannot build a codebook from the file's codes: {exc.errors()[0]['msg']}") from None
    code_ids = dict(theme_ids)
    for code in codes:
        code_ids.setdefault(code.guid, group_ids.get("code:" + code.guid) or snake_id(code.name))
    return ImportedCodebook(codebook=codebook, code_ids=code_ids, codes=codes, notes=notes)


def codebook_yaml(codebook: Codebook, *, source: str) -> str:
    """codebook.yaml text for an imported codebook, with a header saying where it came from and what is missing."""
    data = codebook.model_dump(mode="json", exclude={"hash", "path", "context"})
    for theme in data["themes"]:
        for key in ("include", "exclude"):
            if not theme[key]:
                del theme[key]
        if not any(theme["examples"].values()):
            del theme["examples"]
    header = (
        f"# Made by `qualcode import` from {source}.\n"
        "# The codes, their hierarchy and descriptions come from that file. Every theme's `rules` is empty:\n"
        "# add phrases or token patterns (or train the classifier) before `qualcode run` can tag anything.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True)
class CodebookImport:
    """What `import_qdc` wrote: the codebook file and its counts, and notes on what was assumed or dropped."""

    path: Path
    codebook: Codebook
    notes: list[str]


def _is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def read_refi_codebook(path: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES) -> ImportedCodebook:
    """The codebook of a `.qdc` file, a `.qdpx` project or a bare `project.qde`."""
    path = Path(path)
    if _is_zip(path):
        with SafeArchive(path, max_bytes=max_bytes) as archive:
            member = archive.project_member()
            root = parse_xml(archive.read(member), where=f"{path}:{member}")
    else:
        root = parse_xml(read_bounded(path, max_bytes=max_bytes), where=str(path))
    namespace, local = split_tag(root.tag)
    if local == "CodeBook" and namespace.startswith(CODEBOOK_NS_PREFIX):
        codes_parent, name = root, path.stem
    elif local == "Project" and namespace.startswith(PROJECT_NS_PREFIX):
        codes_parent = root.find(f"{{{namespace}}}CodeBook")
        name = root.get("name") or path.stem
    else:
        raise ExchangeError(
            f"not a REFI-QDA codebook: the root element is <{local}> in namespace {namespace!r}, not "
            "<CodeBook> (urn:QDA-XML:codebook:1.0)",
            path=path,
        )
    codes_element = codes_parent.find(f"{{{namespace}}}Codes") if codes_parent is not None else None
    codes = read_codes(codes_element, namespace, where=str(path))
    if not codes:
        raise ExchangeError("the file has no codes", path=path)
    sets_element = root.find(f"{{{namespace}}}Sets")
    return codebook_from_refi(codes, read_sets(sets_element, namespace), name=name, origin=root.get("origin") or "")


def import_qdc(path: Path, *, out: Path, force: bool = False) -> CodebookImport:
    """Write codebook.yaml from a REFI-QDA codebook (or a project's codebook); refuses to overwrite without force."""
    out = Path(out)
    if out.exists() and not force:
        raise ExchangeError("already exists; choose another --out or pass --force to overwrite", path=out)
    imported = read_refi_codebook(path)
    atomic_write_text(out, codebook_yaml(imported.codebook, source=Path(path).name))
    load_codebook(out)  # what we wrote must load: fail loudly here rather than at the user's next run
    return CodebookImport(path=out, codebook=imported.codebook, notes=imported.notes)
