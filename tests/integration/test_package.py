"""The .deb as scripts/package.sh builds it (offline, from the wheelhouse scripts/setup.sh test fetched): lintian
clean (each tag it keeps explained in packaging/lintian-overrides), what it carries and where, and that its wheels
install the application with the network cut, as postinst does on a box. Every shell script of the packaging passes
shellcheck. (The real install — dpkg -i, setup, the services, remove and purge — changes the machine, so it is
scripts/install_check.sh, run by hand: docs/install.md.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PINS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
SCRIPTS = ["scripts/package.sh", "scripts/install_check.sh", "packaging/postinst", "packaging/prerm",
           "packaging/postrm", "packaging/offline-install.sh"]  # fmt: skip
UNITS = ["hallops-gateway.service", "hallops-vision.service", "hallops-mosquitto.service", "hallops-backup.service",
         "hallops-backup.timer"]  # fmt: skip
VENV = "/opt/hallops/venv"


def run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The .deb, built with --lint (the build fails on any lintian warning or error), and its files unpacked."""
    out = tmp_path_factory.mktemp("dist")
    done = run("scripts/package.sh", "--deb-only", "--offline", "--lint", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    deb = out / f"hallops_{VERSION}_amd64.deb"
    tree = out / "tree"
    assert run("dpkg-deb", "-x", str(deb), str(tree)).returncode == 0
    yield deb, tree


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck_passes(script: str) -> None:
    done = run("shellcheck", script)
    assert done.returncode == 0, done.stdout


def test_the_package_names_its_version_and_what_it_needs(built: tuple[Path, Path]) -> None:
    deb, _ = built

    def field(name: str) -> str:
        return run("dpkg-deb", "-f", str(deb), name).stdout.strip()

    assert field("Package") == "hallops" and field("Version") == f"{VERSION}-1" and field("Architecture") == "amd64"
    depends = {d.strip() for d in field("Depends").split(",")}
    assert depends == {"python3 (>= 3.11)", "python3-venv", "mosquitto", "adduser"}
    conffiles = run("dpkg-deb", "-I", str(deb), "conffiles").stdout.split()
    assert conffiles == ["/etc/mosquitto/hallops.conf"]


def test_the_package_carries_the_units_and_broker_config_of_deploy(built: tuple[Path, Path]) -> None:
    _, tree = built
    for unit in UNITS:
        shipped = (tree / "lib" / "systemd" / "system" / unit).read_bytes()
        assert shipped == (ROOT / "deploy" / "systemd" / unit).read_bytes(), unit
        exec_start = re.search(rb"^ExecStart=(\S+)", shipped, re.MULTILINE)
        assert (exec_start is None) is unit.endswith(".timer"), unit
        runs = {f"{VENV}/bin/hallops".encode(), b"/usr/sbin/mosquitto"}
        assert exec_start is None or exec_start.group(1) in runs, unit
        broker = re.search(rb"^ExecStart=/usr/sbin/mosquitto -c (\S+)$", shipped, re.MULTILINE)
        if broker is not None:  # the broker's configuration is the package's (the gateway's is hallops setup's)
            assert (tree / broker.group(1).decode().lstrip("/")).is_file(), f"{unit}: no {broker.group(1).decode()}"
        for doc in re.findall(rb"file://(/usr/share/doc/hallops/\S+)", shipped):  # systemctl help UNIT opens it
            assert (tree / doc.decode().lstrip("/")).is_file(), f"{unit}: {doc.decode()} is not in the package"
    assert (tree / "etc/mosquitto/hallops.conf").read_bytes() == (ROOT / "deploy/mosquitto/hallops.conf").read_bytes()
    assert os.readlink(tree / "usr/bin/hallops") == f"{VENV}/bin/hallops"
    assert f"VENV={VENV}\n" in (ROOT / "packaging" / "postinst").read_text()
    assert (tree / "usr/share/hallops/gateway.example.yaml").read_bytes() == (
        ROOT / "deploy/gateway.example.yaml"
    ).read_bytes()


def test_the_wheelhouse_has_every_pinned_dependency(built: tuple[Path, Path]) -> None:
    _, tree = built
    wheels = {w.name for w in (tree / "opt/hallops/wheels").glob("*.whl")}
    assert f"hallops-{VERSION}-py3-none-any.whl" in wheels
    for pin in PINS:
        name, version = re.split(r"(?:\[[^\]]*\])?==", pin)
        stem = re.sub(r"[-_.]+", "_", name).lower()
        assert any(w.lower().startswith(f"{stem}-{version}-") for w in wheels), f"no wheel for {pin}"
    for wheel in wheels:  # for the box: pure Python, or CPython 3.11 (or the stable ABI) on x86-64 Linux
        tags = wheel.removesuffix(".whl").split("-")[-3:]
        assert tags[2] == "any" or ("x86_64" in tags[2] and "linux" in tags[2]), wheel
        assert tags[0].startswith(("py3", "py2.py3", "cp311", "cp37", "cp310")), wheel


def test_the_wheels_install_the_application_without_network(built: tuple[Path, Path], tmp_path: Path) -> None:
    """What postinst does, in a folder of the test's: Debian's python3 makes the venv, pip installs from the wheels
    alone (with the network namespace cut where the test may make one), and the command runs."""
    _, tree = built
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    venv = tmp_path / "venv"
    assert run(python, "-m", "venv", str(venv)).returncode == 0
    wheels = tree / "opt/hallops/wheels"
    install = [str(venv / "bin/pip"), "install", "--no-index", "--find-links", str(wheels), "--no-cache-dir",
               "--disable-pip-version-check", "--quiet", str(next(wheels.glob("hallops-*.whl")))]  # fmt: skip
    offline = ["unshare", "--net"] if os.geteuid() == 0 else []  # no route anywhere: not even a DNS lookup
    done = subprocess.run(
        [*offline, *install], capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PIP_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    shown = run(str(venv / "bin/hallops"), "setup", "--help")
    assert shown.returncode == 0 and "--admin-password-file" in shown.stdout
    imported = run(str(venv / "bin/python"), "-c", "import cv2, onnxruntime, numpy, psycopg, edge.gateway")
    assert imported.returncode == 0, imported.stderr


def test_the_offline_bundle_installs_from_a_folder_with_a_space(tmp_path: Path) -> None:
    """install.sh shows apt-get the bundle it sits in, wherever it was unpacked ("/media/usb disk/…"); --simulate
    makes apt-get only say what it would install. The bundle here: a small .deb named hallops and its index."""
    if os.geteuid() != 0:
        pytest.fail("install.sh runs as root (sudo ./install.sh); run this test as root")
    bundle = tmp_path / "usb disk" / "hallops offline"
    bundle.mkdir(parents=True)
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: hallops\nVersion: 0.0.1-1\nArchitecture: all\nMaintainer: test <test@example.invalid>\n"
        "Description: the offline bundle's test package\n"
    )
    built = run("dpkg-deb", "--build", "--root-owner-group", str(tree), str(bundle / "hallops_0.0.1-1_all.deb"))
    assert built.returncode == 0, built.stderr
    index = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "."], cwd=bundle, capture_output=True, text=True, check=True
    )
    (bundle / "Packages").write_text(index.stdout)
    (bundle / "install.sh").write_bytes((ROOT / "packaging" / "offline-install.sh").read_bytes())
    (bundle / "install.sh").chmod(0o755)

    done = run(str(bundle / "install.sh"), "--simulate", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^Inst hallops \(0\.0\.1-1 ", done.stdout, re.MULTILINE), done.stdout
    assert "nothing was installed" in done.stderr
    wrong = run(str(bundle / "install.sh"), "--yes-please", timeout=120)
    assert wrong.returncode == 1 and "unknown option '--yes-please'" in wrong.stderr


def _wheel(folder: Path, version: str) -> Path:
    """A small hallops wheel whose `hallops` command says its version (pip installs it as it would the real one)."""
    import base64  # noqa: PLC0415
    import hashlib  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    dist = f"hallops-{version}.dist-info"
    files = {
        "hallops_probe.py": f"def main():\n    print('hallops {version}')\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: hallops\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\nhallops = hallops_probe:main\n",
    }
    record = ""
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(text.encode())}\n"
    record += f"{dist}/RECORD,,\n"
    path = folder / f"hallops-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in (*files.items(), (f"{dist}/RECORD", record)):
            z.writestr(name, text)
    return path


def test_postinst_keeps_the_working_application_when_the_new_one_cannot_be_installed(tmp_path: Path) -> None:
    """packaging/postinst on a box of the test's own (a mount namespace: a copy of /etc, /opt and /var/lib of its
    own): an upgrade whose wheels pip cannot install leaves the installed application working and fails with a
    sentence; an upgrade that works replaces it and leaves nothing aside."""
    if os.geteuid() != 0:
        pytest.fail("postinst runs as root; run this test as root")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0.0")
    (tmp_path / "etc").mkdir()
    script = f"""
set -e
mount --make-rprivate /
cp -a /etc/. {tmp_path}/etc/
mount --bind {tmp_path}/etc /etc
mount -t tmpfs none /opt
mount -t tmpfs none /var/lib
mkdir -p /opt/hallops
cp -a {wheels} /opt/hallops/wheels
sh {ROOT}/packaging/postinst configure >/dev/null 2>&1
echo "first: $(/opt/hallops/venv/bin/hallops)"
rm /opt/hallops/wheels/*.whl
echo "not a wheel" > /opt/hallops/wheels/hallops-2.0.0-py3-none-any.whl
if sh {ROOT}/packaging/postinst configure; then echo "broken: 0"; else echo "broken: $?"; fi
echo "after broken: $(/opt/hallops/venv/bin/hallops) aside: $(ls -d /opt/hallops/venv.* 2>/dev/null | wc -l)"
rm /opt/hallops/wheels/*.whl
cp {wheels}/../new/*.whl /opt/hallops/wheels/
sh {ROOT}/packaging/postinst configure >/dev/null 2>&1
echo "after good: $(/opt/hallops/venv/bin/hallops) aside: $(ls -d /opt/hallops/venv.* 2>/dev/null | wc -l)"
"""
    (tmp_path / "new").mkdir()
    _wheel(tmp_path / "new", "2.0.1")
    done = subprocess.run(
        ["unshare", "--mount", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "first: hallops 1.0.0" in done.stdout, done.stdout + done.stderr
    assert "broken: 1" in done.stdout, done.stdout + done.stderr
    assert "the one that was installed is kept in /opt/hallops/venv" in done.stderr, done.stderr
    assert "after broken: hallops 1.0.0 aside: 0" in done.stdout, done.stdout
    assert "after good: hallops 2.0.1 aside: 0" in done.stdout, done.stdout
