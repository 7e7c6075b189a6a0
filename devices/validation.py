"""Turning pydantic and YAML errors into `Problem`s with readable field paths (`windows.W01.services[1]`).

Shared by every loader of user-written files (gateway config, scenarios, vendor mappings, rules), so that every
file a person writes is reported the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from devices.errors import ConfigError, Problem


def field_path(loc: tuple[int | str, ...]) -> str:
    """('windows', 'W01', 'services', 1) → 'windows.W01.services[1]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the docs for the allowed keys)"
        problems.append(Problem(field_path(loc), msg))
    return problems


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that names a key twice. PyYAML keeps the last silently, so two
    `staff: {s1: …}` entries or a pasted-over `threshold:` would change the file's meaning without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the constructor says so below
                continue
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} is given twice (first on line {first.line + 1})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> object:
    """Parse a YAML file; a missing file or bad syntax is a ConfigError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [Problem("", f"{where}YAML syntax error: {problem}")]) from None


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of the YAML node a problem path names (`rules[2].when.metric`), or of its nearest parent
    that exists; None when the text does not parse. Lets an editor show each problem beside its line."""
    try:
        node: yaml.Node | None = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key, index in _SEGMENT.findall(path):
        child: yaml.Node | None = None
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
        elif key and isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    child, line = v, k.start_mark.line + 1
                    break
            else:
                return line
            node = child
            continue
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line


__all__ = ["UniqueKeyLoader", "field_path", "line_of", "problems_from", "read_yaml"]
