"""Write the key reference of docs/configuration.md from the configuration models (so it cannot drift).

.venv/bin/python scripts/config_reference.py          # rewrite the generated part of docs/configuration.md
.venv/bin/python scripts/config_reference.py --check  # exit 1 if the document is stale (the tests run this)
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from generated_section import update  # noqa: E402

from edge.config import GatewayConfig  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- BEGIN generated: scripts/config_reference.py -->", "<!-- END generated -->"


def _type(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else ""
        )
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[0])} → {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):
        return " \\| ".join(f"`{m.value}`" for m in annotation)  # type: ignore[attr-defined]
    return getattr(annotation, "__name__", str(annotation))


def _default(field: typing.Any) -> str:
    if field.default is PydanticUndefined:
        return f"`{field.default_factory()}`" if field.default_factory is not None else "required"
    if isinstance(field.default, BaseModel):
        return ""
    return f"`{field.default}`" if field.default is not None else "—"


def render() -> str:
    lines = [BEGIN, ""]
    top = [(name, f) for name, f in GatewayConfig.model_fields.items()]
    sections = [(n, f) for n, f in top if isinstance(f.default, BaseModel)]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, f in top:
        if (name, f) in sections:
            continue
        lines.append(f"| `{name}` | {_type(f.annotation)} | {_default(f)} | {f.description or ''} |")
    for name, f in sections:
        model = type(f.default)
        lines += ["", f"### `{name}:`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, sub in model.model_fields.items():
            lines.append(f"| `{name}.{key}` | {_type(sub.annotation)} | {_default(sub)} | {sub.description or ''} |")
    from edge.config import (  # noqa: PLC0415
        BundleKey,
        DeviceConfig,
        ServiceConfig,
        StaffConfig,
        Webhook,
        WindowConfig,
        ZoneConfig,
    )

    for label, model in (
        ("services.<code>", ServiceConfig),
        ("windows.<id>", WindowConfig),
        ("devices.<id>", DeviceConfig),
        ("zones.<id>", ZoneConfig),
        ("staff.<id>", StaffConfig),
        ("rules.bundle_keys[]", BundleKey),
        ("notify.webhooks[]", Webhook),
    ):
        lines += ["", f"### `{label}:`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, sub in model.model_fields.items():
            lines.append(f"| `{key}` | {_type(sub.annotation)} | {_default(sub)} | {sub.description or ''} |")
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    return update(DOC, BEGIN, END, render, "scripts/config_reference.py")


if __name__ == "__main__":
    raise SystemExit(main())
