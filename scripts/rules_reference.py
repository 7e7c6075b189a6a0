"""Write the metric catalogue and the built-in rule pack tables of docs/rules.md from the code (so they stay true).

.venv/bin/python scripts/rules_reference.py          # rewrite the generated part of docs/rules.md
.venv/bin/python scripts/rules_reference.py --check  # exit 1 if the document is stale (the tests run this)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from generated_section import update  # noqa: E402

from rules.language import Condition, Rule, builtin_rules  # noqa: E402
from rules.metrics import METRICS  # noqa: E402

DOC = ROOT / "docs" / "rules.md"
BEGIN, END = "<!-- BEGIN generated: scripts/rules_reference.py -->", "<!-- END generated -->"


def _cond(c: Condition) -> str:
    if c.metric is not None:
        value = c.value
        shown = (
            f"by {value.by}: "
            + ", ".join(f"{k} {v}" for k, v in value.values.items())
            + (f", else {value.default}" if value.default is not None else "")
            if hasattr(value, "by")
            else str(value)
        )
        where = f" [{', '.join(f'{k}={v}' for k, v in c.where.items())}]" if c.where else ""
        return f"`{c.metric}` {c.op} {shown}{where}"
    if c.all is not None:
        return " and ".join(_cond(x) for x in c.all)
    if c.any is not None:
        return "(" + " or ".join(_cond(x) for x in c.any) + ")"
    assert c.not_ is not None
    return f"not ({_cond(c.not_)})"


def _trigger(r: Rule) -> str:
    if r.on is not None:
        where = ", ".join(f"{k} {v}" for k, v in r.on.where.items())
        return f"event `{r.on.event}`" + (f" where {where}" if where else "")
    assert r.when is not None
    return _cond(r.when)


def _actions(r: Rule) -> str:
    out = []
    for a in r.then:
        if a.alert is not None:
            out.append("alert " + "+".join(a.alert.to))
        elif a.ticket is not None:
            out.append(f"ticket ({a.ticket.kind}, {a.ticket.priority})")
        elif a.command is not None:
            target = f" → {a.command.target}" if a.command.target != "subject" else ""
            out.append(f"command {a.command.type}{target}")
        else:
            out.append(f"recommend {a.recommend}")
    for e in r.escalate:
        out.append(f"escalate after {int(e.after.total_seconds() // 60)} min → {'+'.join(e.to)}")
    return "; ".join(out)


def _minutes(td: object) -> str:
    seconds = int(td.total_seconds())  # type: ignore[attr-defined]
    return "—" if not seconds else f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def render() -> str:
    lines = [BEGIN, "", "### Metrics", "", "| metric | subject | unit | meaning |", "|---|---|---|---|"]
    for m in METRICS.values():
        lines.append(f"| `{m.name}` | {m.subject} | {m.unit or (', '.join(m.choices) or m.kind)} | {m.description} |")
    pack = builtin_rules()
    lines += [
        "",
        "### The built-in pack",
        "",
        "| rule | severity | when | for | during | then | what for |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in pack.rules:
        off = " (off)" if not r.enabled else ""
        lines.append(
            f"| `{r.id}`{off} | {r.severity} | {_trigger(r)} | {_minutes(r.for_)} | {r.during or 'always'} "
            f"| {_actions(r)} | {r.description} |"
        )
    lines += [
        "",
        "Inhibitions: "
        + "; ".join(
            f"`{i.source}` mutes `{i.target}`" + (f" (same {', '.join(i.equal)})" if i.equal else "")
            for i in pack.inhibit
        )
        + ".",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> int:
    return update(DOC, BEGIN, END, render, "scripts/rules_reference.py")


if __name__ == "__main__":
    raise SystemExit(main())
