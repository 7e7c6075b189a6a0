"""deploy/compose/compose.yaml is a file `docker compose` takes and that runs hallops as the package does: checked by
scripts/compose_check.py (the Compose Specification's schema and compose's own checks, since no Docker engine runs
here), each check shown to catch the mistake it is for on a broken copy, and the file's parts held to the files they
adapt (the hardened broker, the systemd units' memory limits, the Grafana datasource, the gateway's configuration)."""

from __future__ import annotations

import configparser
import copy
import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from edge.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
SITE = COMPOSE_DIR / "site.example"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_check", ROOT / "scripts" / "compose_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compose_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


check = _checker()


def _doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _findings(doc: dict[str, Any], environ: dict[str, str] | None = None) -> list[Any]:
    return list(check.check_text(yaml.safe_dump(doc, allow_unicode=True), COMPOSE_DIR, environ or {}))


def test_the_shipped_file_passes() -> None:
    assert [str(f) for f in check.check_file(COMPOSE, {})] == []


def test_the_script_says_ok_or_names_each_finding(tmp_path: Path) -> None:
    script = [sys.executable, "scripts/compose_check.py"]
    ok = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "ok" in ok.stdout, ok.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  web:\n    image: nginx:latest\n    restart: always\n", encoding="utf-8")
    bad = subprocess.run([*script, str(broken)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "services.web.image: nginx:latest is not pinned" in bad.stderr
    assert "services.web.healthcheck: missing" in bad.stderr


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation: set the value at a dotted path (list items by index)."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


# (what goes wrong, the mutation, the path the finding must name, words it must say)
BROKEN = [
    ("a misspelt key", _set("services.gateway.restrat", "always"), "services.gateway.restrat", "unknown key"),
    (
        "a wrong type",
        _set("services.gateway.ports", "127.0.0.1:8080:8080"),
        "services.gateway.ports",
        "not of type 'array'",
    ),
    (
        "a dependency that does not exist",
        _set("services.gateway.depends_on", {"mosquito": {"condition": "service_healthy"}}),
        "services.gateway.depends_on.mosquito",
        "no service 'mosquito'",
    ),
    (
        "a dependency switched off by a profile",
        _set("services.mosquitto.profiles", ["vision"]),
        "services.gateway.depends_on.mosquitto",
        "off in profile",
    ),
    ("an undeclared volume", _drop("volumes.hallops-data"), "services.gateway.volumes.0", "'hallops-data' is not"),
    ("an undeclared network", _drop("networks.metrics"), "services.grafana.networks.metrics", "not declared"),
    ("an undeclared config", _drop("configs.mosquitto_conf"), "services.mosquitto.configs.0", "not declared"),
    (
        "an undeclared secret",
        _set("services.gateway.secrets", ["mqtt_password"]),
        "services.gateway.secrets.0",
        "not declared",
    ),
    (
        "a secret file that is not there",
        _set("secrets", {"mqtt_password": {"file": "./site.example/mqtt-password"}}),
        "secrets.mqtt_password.file",
        "no such file",
    ),
    (
        "a config file that is not there",
        _set("configs.grafana_dashboards.file", "../grafana/dashbords.yaml"),
        "configs.grafana_dashboards.file",
        "no such file",
    ),
    (
        "a bind mount of nothing",
        _set("services.mosquitto.volumes.2", "./site.exmaple/mosquitto-certs:/mosquitto/certs:ro"),
        "services.mosquitto.volumes.2",
        "no such file or folder",
    ),
    (
        "an env_file that is not there",
        _set("services.gateway.env_file", ["gateway.env"]),
        "services.gateway.env_file.0",
        "no such file",
    ),
    (
        "a Dockerfile that is not there",
        _set("services.gateway.build.dockerfile", "Dockerfile.missing"),
        "services.gateway.build.dockerfile",
        "no such file",
    ),
    (
        "two services on one host port",
        _set("services.grafana.ports", ["8080:3000"]),
        "services.grafana.ports.0",
        "8080/tcp is already published by services.gateway.ports.0",
    ),
    (
        "the same host port on one address, long syntax",
        _set("services.victoria-metrics.ports", [{"target": 8428, "published": "3000", "host_ip": "127.0.0.1"}]),
        "",  # grafana's "127.0.0.1:3000:3000" comes after it in the file
        "3000/tcp is already published",
    ),
    (
        "an image at latest",
        _set("services.grafana.image", "grafana/grafana:latest"),
        "services.grafana.image",
        "latest",
    ),
    (
        "an image without a tag",
        _set("services.mosquitto.image", "eclipse-mosquitto"),
        "services.mosquitto.image",
        "not pinned",
    ),
    (
        "no healthcheck",
        _drop("services.victoria-metrics.healthcheck"),
        "services.victoria-metrics.healthcheck",
        "missing",
    ),
    ("no restart policy", _drop("services.gateway.restart"), "services.gateway.restart", "missing"),
    ("no memory limit", _drop("services.gateway.deploy"), "services.gateway.deploy.resources.limits.memory", "missing"),
    (
        "a duration compose cannot parse",
        _set("services.gateway.healthcheck.interval", "30 seconds"),
        "services.gateway.healthcheck.interval",
        "not a duration",
    ),
    ("nothing to run", _drop("services.grafana.image"), "services.grafana", "neither image nor build"),
]


@pytest.mark.parametrize(("what", "mutate", "path", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_copy_fails_naming_the_path(
    what: str, mutate: Callable[[dict[str, Any]], None], path: str, words: str
) -> None:
    doc = copy.deepcopy(_doc())
    mutate(doc)
    findings = _findings(doc)
    assert findings, f"{what}: not caught"
    if path:
        assert any(f.path == path and words in f.message for f in findings), [str(f) for f in findings]
    else:
        assert any(words in f.message for f in findings), [str(f) for f in findings]


def test_waiting_for_health_needs_a_healthcheck() -> None:
    doc = copy.deepcopy(_doc())
    doc["services"]["vision"]["depends_on"]["gateway"] = {"condition": "service_healthy"}
    assert _findings(doc) == []
    del doc["services"]["gateway"]["healthcheck"]
    messages = {f.path: f.message for f in _findings(doc)}
    assert "has no healthcheck: vision would never start" in messages["services.vision.depends_on.gateway.condition"]


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("services:\n  a:\n    image: x:1\n    image: y:2\n", "", "given twice"),
        ("services:\n  a: [\n", "", "not valid YAML"),
        ("- just\n- a list\n", "", "not a mapping"),
        ("services:\n  a:\n    image: x:${TAG}\n", "services.a.image", "TAG is not set and has no default"),
        ("services:\n  a:\n    image: x:${TAG:?say which release}\n", "services.a.image", "say which release"),
        ("services:\n  a:\n    image: x:${TAG\n", "services.a.image", "invalid interpolation"),
    ],
    ids=["repeated key", "not YAML", "not a mapping", "unset variable", "required variable", "bad interpolation"],
)
def test_a_broken_text_fails_naming_the_path(text: str, path: str, words: str) -> None:
    findings = check.check_text(text, COMPOSE_DIR, {})
    assert any(f.path == path and words in f.message for f in findings), [str(f) for f in findings]


def test_the_site_folder_comes_from_the_environment_or_dot_env(tmp_path: Path) -> None:
    """HALLOPS_SITE (or the .env beside the file) moves every site file: a site folder that is not there is named."""
    text = COMPOSE.read_text(encoding="utf-8")
    environ = {"HALLOPS_SITE": str(tmp_path / "no-such-site")}
    missing = {f.path for f in check.check_text(text, COMPOSE_DIR, environ)}
    assert {"services.gateway.volumes.2", "services.vision.volumes.1", "services.mosquitto.volumes.2"} <= missing
    site = tmp_path / "site"
    (site / "models").mkdir(parents=True)
    (site / "mosquitto-certs").mkdir()
    assert check.check_text(text, COMPOSE_DIR, {"HALLOPS_SITE": str(site)}) == []
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(f"HALLOPS_SITE={tmp_path / 'elsewhere'}\n", encoding="utf-8")
    from_dotenv = check.check_text(text.replace("./mosquitto/", f"{COMPOSE_DIR}/mosquitto/"), project, {})
    assert any("elsewhere" in f.message for f in from_dotenv)


# the file's parts against what they adapt ------------------------------------------------------------------------


def _targets(service: str) -> list[str]:
    """Where a service's volumes are mounted in its container."""
    return [re.findall(r":(/[^:]*)", str(v))[0] for v in _doc()["services"][service]["volumes"]]


def _directives(conf: Path) -> list[tuple[str, str]]:
    return [
        (key, value.strip())
        for line in conf.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
        for key, _, value in [line.partition(" ")]
    ]


def test_the_broker_keeps_every_hardened_setting() -> None:
    """The container's mosquitto.conf is deploy/mosquitto/hallops.conf but for paths, the plaintext listener's
    address (another container must reach it) and the log on stdout."""
    box = _directives(ROOT / "deploy" / "mosquitto" / "hallops.conf")
    container = _directives(COMPOSE_DIR / "mosquitto" / "hallops.conf")
    moved = {"persistence_location", "cafile", "certfile", "keyfile", "password_file", "acl_file"}
    assert [(k, v) for k, v in box if k not in moved and k != "listener"] == [
        (k, v) for k, v in container if k not in moved and k not in {"listener", "log_dest"}
    ]
    assert [v for k, v in box if k == "listener"] == ["1883 127.0.0.1", "8883"]
    assert [v for k, v in container if k == "listener"] == ["1883", "8883"]
    paths = dict((k, v) for k, v in container if k in moved)
    mounts = _targets("mosquitto")
    assert all(any(v.startswith(m) for m in mounts) for v in paths.values()), (paths, mounts)


def test_the_plaintext_port_is_never_published() -> None:
    services = _doc()["services"]
    published = {name: [str(p) for p in svc.get("ports", [])] for name, svc in services.items()}
    assert published["mosquitto"] == ["8883:8883"]
    assert not any(re.search(r"(^|:)1883(:|$|/)", p) for ports in published.values() for p in ports)
    # what is not for the LAN is published on the host's loopback only
    for name in ("gateway", "victoria-metrics", "grafana"):
        assert all(p.startswith("127.0.0.1:") for p in published[name]), name


@pytest.mark.parametrize(
    ("service", "unit"),
    [("mosquitto", "hallops-mosquitto"), ("gateway", "hallops-gateway"), ("vision", "hallops-vision")],
)
def test_limits_are_the_systemd_units(service: str, unit: str) -> None:
    """A container gets the memory and CPU the package's unit gives the same process (deploy/systemd)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(ROOT / "deploy" / "systemd" / f"{unit}.service", encoding="utf-8")
    limits = _doc()["services"][service]["deploy"]["resources"]["limits"]
    assert limits["memory"].upper().rstrip("B") == parser["Service"]["MemoryMax"].upper()
    quota = parser["Service"].get("CPUQuota")
    assert quota is not None and float(limits["cpus"]) == int(quota.rstrip("%")) / 100


def test_the_grafana_datasource_is_deploys_at_the_containers_address() -> None:
    ours = yaml.safe_load((COMPOSE_DIR / "grafana" / "datasource.yaml").read_text(encoding="utf-8"))
    theirs = yaml.safe_load((ROOT / "deploy" / "grafana" / "datasource.yaml").read_text(encoding="utf-8"))
    assert ours["datasources"][0].pop("url") == "http://victoria-metrics:8428"
    theirs["datasources"][0].pop("url")
    assert ours == theirs
    assert "-httpListenAddr=:8428" in _doc()["services"]["victoria-metrics"]["command"]


def test_the_example_site_runs_with_the_file() -> None:
    """The gateway's configuration in site.example loads, and points where compose.yaml puts things."""
    cfg = load_config(SITE / "gateway.yaml")
    services = _doc()["services"]
    assert cfg.mqtt.url == "mqtt://mosquitto:1883" and "mosquitto" in services
    targets = _targets("gateway")
    assert any(str(cfg.storage.path).startswith(t + "/") for t in targets if t == "/var/lib/hallops")
    assert str(cfg.mqtt.password_file).startswith("/etc/hallops/") and "/etc/hallops" in targets
    assert services["gateway"]["ports"] == [f"127.0.0.1:{cfg.http.port}:{cfg.http.port}"]
    assert f"127.0.0.1:{cfg.http.port}/api/health" in " ".join(services["gateway"]["healthcheck"]["test"])


def test_the_example_vision_lacks_only_the_sites_own_files() -> None:
    from vision.config import load_config as load_vision  # noqa: PLC0415

    with pytest.raises(Exception) as refused:  # whatever its type, the message is what the user reads
        load_vision(SITE / "vision.yaml")
    problems = [line for line in str(refused.value).splitlines() if line.startswith("  - ")]
    assert problems and all(
        re.match(r"  - (detector\.model|cameras\.CAM-A\.credentials_file|mqtt\.password_dir): ", p)
        and ("/etc/hallops/cameras" in p or "/var/lib/hallops/models/person.onnx" in p)
        for p in problems
    ), problems


def test_the_image_builds_from_the_packages_pyproject_names() -> None:
    """The build context lets in, and the Dockerfile copies, every package the wheel is made of."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    include = re.search(r"\[tool\.setuptools\.packages\.find\]\ninclude = \[(.*)\]", pyproject)
    assert include is not None
    packages = re.findall(r'"(\w+)\*"', include.group(1))
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text(encoding="utf-8")
    ignore = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for package in packages:
        assert f"!{package}/" in ignore and f"COPY {package} ./{package}" in dockerfile, package
    assert re.search(r"^USER hallops$", dockerfile, flags=re.MULTILINE)
    assert "pip install --no-cache-dir --disable-pip-version-check /wheels/*.whl" in dockerfile


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        ("8080:80", "127.0.0.1:8080:80", True),  # every address includes loopback
        ("127.0.0.1:8080:80", "10.0.0.2:8080:80", False),  # two addresses, one port each
        ("8080:80/tcp", "8080:80/udp", False),
        ("8000-8010:8000-8010", "8005:80", True),
        ("[::1]:9000:90", "[::1]:9000:91", True),
        ("80", "80", False),  # the container port alone: Docker picks a free host port for each
        ({"target": 80, "published": "8443", "protocol": "tcp"}, "8443:443", True),
    ],
)
def test_a_host_port_is_taken_once(first: object, second: object, clash: bool) -> None:
    doc = {
        "services": {
            name: {
                "image": "nginx:1.27.3",
                "ports": [port],
                "restart": "always",
                "healthcheck": {"test": ["CMD", "true"]},
                "deploy": {"resources": {"limits": {"memory": "64M"}}},
            }
            for name, port in (("a", first), ("b", second))
        }
    }
    findings = [str(f) for f in _findings(doc)]
    assert bool(findings) == clash, findings
    if clash:
        assert (
            findings == [f"services.b.ports.0: {findings[0].split(': ', 1)[1]}"] and "already published" in findings[0]
        )


def test_the_image_is_tagged_with_the_projects_version() -> None:
    """The image compose builds carries the release it is built from, so `docker compose build` after an upgrade
    makes a new tag and the old one stays to roll back to."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', pyproject, flags=re.MULTILINE)
    assert version is not None
    for service in ("gateway", "vision"):
        assert _doc()["services"][service]["image"] == f"hallops:${{HALLOPS_VERSION:-{version.group(1)}}}"
