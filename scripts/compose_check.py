"""Check a Compose file as `docker compose config` would, where no Docker engine (nor its compose plugin) runs.

    .venv/bin/python scripts/compose_check.py [FILE ...]     # default: deploy/compose/compose.yaml; exit 1 on a finding

What it checks, each finding named by its path in the file (`services.gateway.depends_on.mosquito: …`):
- YAML that parses, without a key repeated in a mapping (compose refuses those);
- interpolation as compose does it (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `$VAR`, `$$`)
  from the environment and the `.env` file beside the compose file; a variable neither set nor given a default is a
  finding here (compose would go on with an empty string);
- the Compose Specification's JSON schema (tests/data/compose-spec/compose-spec.json, vendored from the
  compose-spec project; Apache-2.0);
- what compose checks beyond the schema: every service named in `depends_on`, `links`, `volumes_from` or
  `network_mode: service:…` exists and is enabled whenever the service is (profiles); `service_healthy` only on a
  service with a healthcheck; every named volume, network, config and secret a service uses is declared; the files of
  configs, secrets, env_file, bind mounts and the build's context and Dockerfile exist; no host port published twice;
  durations (`healthcheck.interval`, `stop_grace_period`, …) that compose can parse;
- the rules of hallops' own compose file: every image pinned to a version (not `latest`, not untagged), a healthcheck
  on every service (or `x-hallops-no-healthcheck: <why>`), a restart policy and a memory limit on every service.

It is a test tool (jsonschema is in the `test` extra), used by tests/unit/test_compose_file.py.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"
DEFAULT_FILE = ROOT / "deploy" / "compose" / "compose.yaml"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, ${NAME:+alt}, ${NAME+alt}, $NAME, $$
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>\{[^}]*\}?))"
)
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
DURATION_KEYS = ("interval", "timeout", "start_period", "start_interval")
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with the file, at `path` (dotted: `services.gateway.ports.0`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(file)'}: {self.message}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping, as compose does."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice in one mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def check_file(path: Path, environ: Mapping[str, str] | None = None) -> list[Finding]:
    """Everything wrong with the compose file at `path`; relative paths are taken from its folder. `environ`: the
    variables for interpolation (default: this process's), over those of a `.env` file beside it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Finding("", f"cannot read {path}: {exc.strerror}")]
    return check_text(text, path.parent, environ)


def check_text(text: str, base: Path, environ: Mapping[str, str] | None = None) -> list[Finding]:
    """Everything wrong with a compose file's text, its relative paths taken from `base`."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # a safe loader, with the duplicate check
    except yaml.YAMLError as exc:
        return [Finding("", f"not valid YAML: {exc}")]
    if not isinstance(raw, dict):
        return [Finding("", "the file is not a mapping of top-level keys (services, volumes, …)")]
    variables = {**_dotenv(base / ".env"), **(dict(os.environ) if environ is None else dict(environ))}
    findings: list[Finding] = []
    doc = _interpolate(raw, variables, "", findings)
    findings += _schema(doc)
    if findings:  # the checks below assume the shapes the schema guarantees
        return findings
    findings += _references(doc)
    findings += _files(doc, base)
    findings += _ports(doc)
    findings += _durations(doc)
    findings += _policy(doc)
    return findings


# interpolation ---------------------------------------------------------------------------------------------------


def _dotenv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _interpolate(value: object, variables: Mapping[str, str], path: str, findings: list[Finding]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, variables, _join(path, k), findings) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, variables, _join(path, i), findings) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        if m["invalid"] is not None:
            findings.append(Finding(path, f"invalid interpolation {m[0]!r} (write $$ for a literal $)"))
            return m[0]
        name = m["braced"] or m["bare"]
        op, arg = m["op"], m["arg"] or ""
        current = variables.get(name)
        unset_or_empty = current is None or current == ""
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else current is None) else str(current)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else current is None:
                findings.append(Finding(path, f"the variable {name} is required: {arg or 'not set'}"))
                return ""
            return str(current)
        if op in (":+", "+"):
            return "" if (unset_or_empty if op == ":+" else current is None) else arg
        if current is None:
            findings.append(
                Finding(path, f"the variable {name} is not set and has no default (write ${{{name}:-default}})")
            )
            return ""
        return current

    return _VARIABLE.sub(one, value)


# the schema ------------------------------------------------------------------------------------------------------


def _schema(doc: dict[str, Any]) -> list[Finding]:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    findings = []
    for error in validator.iter_errors(doc):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # name the key itself, not the mapping it is in (jsonschema says "… does not match any of the regexes")
            known = error.schema.get("properties", {})
            patterns = error.schema.get("patternProperties", {})
            for key in error.instance:
                if key not in known and not any(re.search(p, key) for p in patterns):
                    findings.append(
                        Finding(_join(path, key), "unknown key (a typing error? see the Compose Specification)")
                    )
            continue
        findings.append(Finding(path, error.message))
    return sorted(findings, key=lambda f: f.path)


# what compose checks beyond the schema --------------------------------------------------------------------------


def _services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return doc.get("services") or {}


def _references(doc: dict[str, Any]) -> Iterator[Finding]:
    services = _services(doc)
    declared = {kind: set((doc.get(kind) or {}).keys()) for kind in ("volumes", "networks", "configs", "secrets")}
    declared["networks"].add("default")
    for name, svc in services.items():
        here = f"services.{name}"
        deps = svc.get("depends_on") or {}
        dep_items = {d: {} for d in deps} if isinstance(deps, list) else deps
        for dep, given in dep_items.items():
            spec = given or {}
            if dep not in services:
                if spec.get("required", True):
                    yield Finding(f"{here}.depends_on.{dep}", f"no service {dep!r} in this file")
                continue
            if spec.get("condition") == "service_healthy" and not _has_healthcheck(services[dep]):
                yield Finding(
                    f"{here}.depends_on.{dep}.condition",
                    f"service_healthy, but {dep!r} has no healthcheck: {name} would never start",
                )
            if spec.get("required", True) and (gap := _profile_gap(svc, services[dep])):
                yield Finding(
                    f"{here}.depends_on.{dep}",
                    f"{dep!r} is off in profile(s) {', '.join(sorted(gap))}, where {name} is on",
                )
        for i, link in enumerate(svc.get("links") or []):
            if link.split(":")[0] not in services:
                yield Finding(f"{here}.links.{i}", f"no service {link.split(':')[0]!r} in this file")
        for i, source in enumerate(svc.get("volumes_from") or []):
            target = source.split(":")[0]
            if not target.startswith("container") and target not in services:
                yield Finding(f"{here}.volumes_from.{i}", f"no service {target!r} in this file")
        mode = svc.get("network_mode", "")
        if mode.startswith("service:") and mode.removeprefix("service:") not in services:
            yield Finding(f"{here}.network_mode", f"no service {mode.removeprefix('service:')!r} in this file")
        networks = svc.get("networks") or []
        for net in networks if isinstance(networks, list) else networks.keys():
            if net not in declared["networks"]:
                yield Finding(f"{here}.networks.{net}", f"the network {net!r} is not declared under networks:")
        for i, volume in enumerate(svc.get("volumes") or []):
            kind, source, _ = _mount(volume)
            if kind == "volume" and source and source not in declared["volumes"]:
                yield Finding(f"{here}.volumes.{i}", f"the volume {source!r} is not declared under volumes:")
        for kind in ("configs", "secrets"):
            for i, ref in enumerate(svc.get(kind) or []):
                source = ref if isinstance(ref, str) else ref.get("source")
                if source not in declared[kind]:
                    yield Finding(f"{here}.{kind}.{i}", f"the {kind[:-1]} {source!r} is not declared under {kind}:")
        if "image" not in svc and "build" not in svc:
            yield Finding(here, "neither image nor build: nothing to run")


def _profile_gap(service: dict[str, Any], dependency: dict[str, Any]) -> set[str]:
    """The profiles in which `service` runs and `dependency` does not (a service without profiles always runs)."""
    theirs = set(dependency.get("profiles") or [])
    if not theirs:
        return set()
    ours = set(service.get("profiles") or [])
    return (ours - theirs) if ours else {"(none: always)"}


def _has_healthcheck(svc: dict[str, Any]) -> bool:
    check = svc.get("healthcheck") or {}
    return bool(check) and not check.get("disable") and check.get("test") not in (None, ["NONE"], "NONE")


def _mount(volume: str | dict[str, Any]) -> tuple[str, str, str]:
    """(type, source, target) of a service's volume entry, short or long syntax."""
    if isinstance(volume, dict):
        return volume.get("type", "volume"), volume.get("source", ""), volume.get("target", "")
    parts = volume.split(":")
    if len(parts) == 1:
        return "volume", "", parts[0]  # an anonymous volume
    source, target = parts[0], parts[1]
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    return kind, source, target


def _files(doc: dict[str, Any], base: Path) -> Iterator[Finding]:
    def missing(path: str) -> bool:
        return not (base / Path(path).expanduser()).exists()

    for kind in ("configs", "secrets"):
        for name, spec in (doc.get(kind) or {}).items():
            if spec and "file" in spec and missing(spec["file"]):
                yield Finding(f"{kind}.{name}.file", f"no such file: {spec['file']} (from {base})")
    for name, svc in _services(doc).items():
        here = f"services.{name}"
        env_files = svc.get("env_file") or []
        for i, entry in enumerate([env_files] if isinstance(env_files, str) else env_files):
            path, required = (entry, True) if isinstance(entry, str) else (entry["path"], entry.get("required", True))
            if required and missing(path):
                yield Finding(f"{here}.env_file.{i}", f"no such file: {path} (from {base})")
        for i, volume in enumerate(svc.get("volumes") or []):
            kind, source, _ = _mount(volume)
            if kind == "bind" and source and missing(source):
                yield Finding(f"{here}.volumes.{i}", f"no such file or folder to bind: {source} (from {base})")
        build = svc.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            if "://" in context:
                continue
            if missing(context):
                yield Finding(f"{here}.build.context", f"no such folder: {context} (from {base})")
            elif (
                isinstance(build, dict) and "dockerfile" in build and missing(str(Path(context) / build["dockerfile"]))
            ):
                yield Finding(f"{here}.build.dockerfile", f"no such file: {build['dockerfile']} in {context}")


def _durations(doc: dict[str, Any]) -> Iterator[Finding]:
    """Compose parses these as Go durations (`1m30s`); the schema takes any string."""
    for name, svc in _services(doc).items():
        fields = [(f"services.{name}.stop_grace_period", svc.get("stop_grace_period"))]
        check = svc.get("healthcheck") or {}
        fields += [(f"services.{name}.healthcheck.{k}", check.get(k)) for k in DURATION_KEYS]
        policy = (svc.get("deploy") or {}).get("restart_policy") or {}
        fields += [(f"services.{name}.deploy.restart_policy.{k}", policy.get(k)) for k in ("delay", "window")]
        for path, value in fields:
            if isinstance(value, str) and not _DURATION.match(value):
                yield Finding(path, f"not a duration: {value!r} (write e.g. 30s, 1m30s, 500ms)")


def _published(port: str | int | dict[str, Any]) -> Iterator[tuple[str, int, str]]:
    """(host address, host port, protocol) for each host port a `ports:` entry publishes."""
    if isinstance(port, dict):
        published = port.get("published")
        if published is None:
            return
        host, protocol, spec = port.get("host_ip", ""), port.get("protocol", "tcp"), str(published)
    else:
        text = str(port)
        text, _, protocol = text.partition("/")
        protocol = protocol or "tcp"
        if text.startswith("["):  # [::1]:8080:80
            host, _, rest = text[1:].partition("]:")
            parts = rest.split(":")
        else:
            parts = text.split(":")
            host = parts.pop(0) if len(parts) == 3 else ""
        if len(parts) < 2 or not parts[0]:
            return  # the container port alone: a random host port
        spec = parts[0]
    low, _, high = spec.partition("-")
    for number in range(int(low), int(high or low) + 1):
        yield host, number, protocol


def _ports(doc: dict[str, Any]) -> Iterator[Finding]:
    taken: dict[tuple[int, str], list[tuple[str, str]]] = {}  # (port, protocol) -> [(host, where)]
    for name, svc in _services(doc).items():
        for i, port in enumerate(svc.get("ports") or []):
            where = f"services.{name}.ports.{i}"
            try:
                published = list(_published(port))
            except ValueError:
                yield Finding(where, f"not a port mapping: {port!r}")
                continue
            for host, number, protocol in published:
                for other_host, other in taken.get((number, protocol), []):
                    if host == other_host or host in _WILDCARD_HOSTS or other_host in _WILDCARD_HOSTS:
                        yield Finding(where, f"host port {number}/{protocol} is already published by {other}")
                taken.setdefault((number, protocol), []).append((host, where))


# hallops' own rules ----------------------------------------------------------------------------------------------


def _policy(doc: dict[str, Any]) -> Iterator[Finding]:
    for name, svc in _services(doc).items():
        here = f"services.{name}"
        image = svc.get("image")
        if image is not None:
            reference = image.rsplit("/", 1)[-1]
            tag = reference.partition(":")[2] if "@" not in reference else "digest"
            if not tag:
                yield Finding(f"{here}.image", f"{image} is not pinned: give it a version tag")
            elif tag == "latest":
                yield Finding(f"{here}.image", f"{image} is not pinned: `latest` changes under you")
        if not _has_healthcheck(svc) and not str(svc.get("x-hallops-no-healthcheck", "")).strip():
            yield Finding(
                f"{here}.healthcheck",
                "missing: give the service a healthcheck, or x-hallops-no-healthcheck: <why it cannot have one>",
            )
        if svc.get("restart") in (None, "no") and not (svc.get("deploy") or {}).get("restart_policy"):
            yield Finding(f"{here}.restart", "missing: a long-running service restarts (unless-stopped, always)")
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if "memory" not in limits and "mem_limit" not in svc:
            yield Finding(f"{here}.deploy.resources.limits.memory", "missing: every service has a memory limit")


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or [DEFAULT_FILE]
    bad = 0
    for path in files:
        findings = check_file(path)
        for finding in findings:
            print(f"{path}: {finding}", file=sys.stderr)
        if findings:
            bad += 1
        else:
            print(f"{path}: ok (schema, references, files, ports, pinned images, healthchecks, limits)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
