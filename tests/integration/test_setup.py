"""`hallops setup` on real folders, then the hall it set up, for real: the shipped broker configuration
(deploy/mosquitto/hallops.conf, only its ports and the `/etc/mosquitto/` folder moved) starts on the files setup wrote
(the password file, the ACL, the CA's copy, the broker's certificate and key), the gateway signs in to it as
`hallops-gateway` with the password setup put in `mqtt-password`, and the administrator setup made signs in to the
gateway's API. Run again, setup changes nothing. Bad input stops it with a sentence and an exit status.
"""

from __future__ import annotations

import getpass
import re
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from edge.broker import MosquittoProcess, free_port, wait_for_port
from tests.integration.conftest import ROOT, GatewayProcess

PASSWORD = "Hall-Setup-Check-2026!"
HALL = "county-07"


def setup(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "setup", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def broker_config(broker_etc: Path, data: Path, plain: int, tls: int) -> str:
    """The shipped file, with the test's folders for /etc/mosquitto and /var/lib/hallops-mosquitto, free loopback
    ports."""
    text = (ROOT / "deploy" / "mosquitto" / "hallops.conf").read_text(encoding="utf-8")
    text = text.replace("/etc/mosquitto/", f"{broker_etc}/").replace("/var/lib/hallops-mosquitto/", f"{data}/")
    text, n = re.subn(r"^listener 1883 127\.0\.0\.1$", f"listener {plain} 127.0.0.1", text, flags=re.MULTILINE)
    assert n == 1
    text, n = re.subn(r"^listener 8883$", f"listener {tls} 127.0.0.1", text, flags=re.MULTILINE)
    assert n == 1
    return text + "log_dest stderr\n"


def test_setup_makes_a_hall_whose_broker_gateway_and_administrator_work(tmp_path: Path) -> None:
    password_file = tmp_path / "admin-password"
    password_file.write_text(PASSWORD + "\n")
    broker = MosquittoProcess()  # not started yet; its folder is open to the mosquitto user, as /etc/mosquitto is
    try:
        broker_etc, etc, data = broker.dir / "mosquitto", tmp_path / "etc", tmp_path / "data"
        common = ["--etc", str(etc), "--data", str(data), "--broker-etc", str(broker_etc), "--user", getpass.getuser()]
        done = setup("--hall", HALL, *common, "--admin-password-file", str(password_file), "--min-free-gb", "0.001")
        assert done.returncode == 0, done.stderr
        for line in ("python", "disk", "time", "port 8080"):
            assert re.search(rf"^  (ok 正常|warning 注意) +{line}: ", done.stderr, re.MULTILINE), done.stderr

        config = yaml.safe_load((etc / "gateway.yaml").read_text())
        assert config["hall"]["id"] == HALL and config["mqtt"]["client_id"] == f"hallops-{HALL}"
        assert config["mqtt"]["username"] == "hallops-gateway"
        assert config["mqtt"]["password_file"] == str(etc / "mqtt-password")
        assert config["storage"]["path"] == str(data / "hallops.db")
        assert stat.S_IMODE(etc.stat().st_mode) == 0o750 and stat.S_IMODE(data.stat().st_mode) == 0o750
        for private in (etc / "mqtt-password", etc / "ca" / "ca.key", data / "hallops.db"):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
        assert f"topic readwrite hall/{HALL}/#" in (broker_etc / "hallops.acl").read_text()
        made = {p: p.read_bytes() for p in [etc / "gateway.yaml", etc / "mqtt-password", broker_etc / "hallops.passwd"]}
        made |= {p: p.read_bytes() for p in (broker_etc / "certs").iterdir()}

        plain, tls = free_port(), free_port()
        (broker.dir / "data").mkdir(mode=0o777)
        (broker.dir / "data").chmod(0o777)
        broker.port = plain
        broker.config.write_text(broker_config(broker_etc, broker.dir / "data", plain, tls))
        broker.start()
        wait_for_port(tls)

        # the TLS listener presents the broker's certificate, signed by the hall's CA setup made
        context = ssl.create_default_context(cafile=str(etc / "ca" / "ca.crt"))
        with (
            socket.create_connection(("127.0.0.1", tls), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as wrapped,
        ):
            assert wrapped.version() is not None

        # the gateway on setup's configuration and database: it connects only with setup's broker user and password
        gateway = GatewayProcess(data, broker.url, "--config", str(etc / "gateway.yaml"), hall=HALL, name="hallops")
        try:
            gateway.start()  # returns once /api/health says the broker is connected
            signed_in = httpx.post(f"{gateway.url}/api/session", json={"user": "admin", "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            wrong = httpx.post(f"{gateway.url}/api/session", json={"user": "admin", "password": PASSWORD + "x"})
            assert wrong.status_code == 401
        finally:
            gateway.close()

        again = setup(*common, stdin="")  # no --hall, no password: everything is there already
        assert again.returncode == 0, again.stderr
        assert "administrator  admin: there already" in again.stderr
        assert {p: p.read_bytes() for p in made} == made
    finally:
        broker.__exit__()


def test_setup_refuses_bad_input_with_a_sentence(tmp_path: Path) -> None:
    common = ["--etc", str(tmp_path / "etc"), "--data", str(tmp_path / "data")]
    common += ["--broker-etc", str(tmp_path / "mosquitto"), "--user", getpass.getuser(), "--min-free-gb", "0.001"]

    no_hall = setup(*common)
    assert no_hall.returncode == 2 and "hallops setup --hall ID" in no_hall.stderr
    assert not (tmp_path / "etc" / "gateway.yaml").exists()

    bad_hall = setup("--hall", "hall/../x", *common)
    assert bad_hall.returncode == 2 and "--hall 'hall/../x'" in bad_hall.stderr

    nobody = setup("--hall", HALL, *common[:-4], "--user", "no-such-user-hallops")
    assert nobody.returncode == 2 and "no user 'no-such-user-hallops'" in nobody.stderr

    weak = tmp_path / "weak"
    weak.write_text("password\n")
    refused = setup("--hall", HALL, *common, "--admin-password-file", str(weak))
    assert refused.returncode == 1 and "the administrator admin:" in refused.stderr
    assert "not finished" in refused.stderr

    empty = tmp_path / "empty"
    empty.write_text("\n")
    nothing = setup(*common, "--admin-password-file", str(empty))
    assert nothing.returncode == 1 and "its first line is empty" in nothing.stderr

    missing = setup(*common, "--admin-password-file", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "cannot be read" in missing.stderr

    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    blocked = setup("--hall", HALL, *common[:2], "--data", str(in_the_way / "data"), *common[4:])
    assert blocked.returncode == 1 and f"{in_the_way / 'data'}: Not a directory" in blocked.stderr, blocked.stderr
    assert "Traceback" not in blocked.stderr


def test_setup_keeps_an_existing_configuration_of_another_hall(tmp_path: Path) -> None:
    hall_in_file = "county-01"
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "gateway.yaml").write_text(f"hall:\n  id: {hall_in_file}\n")
    done = setup(
        "--hall", "county-99", "--etc", str(etc), "--data", str(tmp_path / "data"),
        "--broker-etc", str(tmp_path / "mosquitto"), "--user", getpass.getuser(),
    )  # fmt: skip
    assert done.returncode == 2 and f"is for hall {hall_in_file}, not county-99" in done.stderr
    assert (etc / "gateway.yaml").read_text() == f"hall:\n  id: {hall_in_file}\n"


def test_setup_leaves_the_admins_own_broker_files_alone_and_refuses_what_it_did_not_make(tmp_path: Path) -> None:
    from edge.certificates import issued_by, make_broker, make_ca  # noqa: PLC0415

    etc, data, broker_etc = tmp_path / "etc", tmp_path / "data", tmp_path / "mosquitto"
    certs = broker_etc / "certs"
    certs.mkdir(parents=True)
    mine = {certs / name: f"the admin's own {name}\n".encode() for name in ("ca.crt", "broker.crt", "broker.key")}
    for path, body in mine.items():
        path.write_bytes(body)
    password_file = tmp_path / "admin-password"
    password_file.write_text(PASSWORD + "\n")
    common = ["--etc", str(etc), "--data", str(data), "--broker-etc", str(broker_etc), "--user", getpass.getuser()]
    common += ["--min-free-gb", "0.001"]

    done = setup("--hall", HALL, *common, "--admin-password-file", str(password_file))
    assert done.returncode == 0, done.stderr
    assert {p: p.read_bytes() for p in mine} == mine  # the admin's files: untouched
    assert (certs / "hallops-ca.crt").read_bytes() == (etc / "ca" / "ca.crt").read_bytes()
    assert issued_by(certs / "hallops-broker.crt", etc / "ca" / "ca.crt")
    shipped = (ROOT / "deploy" / "mosquitto" / "hallops.conf").read_text()
    for name in ("hallops-ca.crt", "hallops-broker.crt", "hallops-broker.key"):
        assert f"/etc/mosquitto/certs/{name}" in shipped, name  # what the broker reads is what setup wrote

    # a broker certificate another CA signed: not kept quietly, not replaced without --renew-broker-cert
    other = make_ca(tmp_path / "other-ca", "county-99")
    stranger = make_broker(tmp_path / "other-ca", tmp_path / "stranger", ["localhost"], ["127.0.0.1"])
    (certs / "hallops-broker.crt").write_bytes(stranger.certificate.read_bytes())
    refused = setup(*common)
    assert refused.returncode == 1, refused.stderr
    assert f"{certs / 'hallops-broker.crt'} was not signed by the hall's CA" in refused.stderr
    assert "not finished" in refused.stderr and "done." not in refused.stderr
    assert (certs / "hallops-broker.crt").read_bytes() == stranger.certificate.read_bytes()
    renewed = setup(*common, "--renew-broker-cert")
    assert renewed.returncode == 0, renewed.stderr
    assert issued_by(certs / "hallops-broker.crt", etc / "ca" / "ca.crt")

    # a hallops-ca.crt that is not the hall's CA: left as it is, with a sentence and exit 1
    (certs / "hallops-ca.crt").write_bytes(other.certificate.read_bytes())
    different = setup(*common)
    assert different.returncode == 1, different.stderr
    assert f"{certs / 'hallops-ca.crt'} is there and is not the hall's CA" in different.stderr
    assert (certs / "hallops-ca.crt").read_bytes() == other.certificate.read_bytes()
    assert {p: p.read_bytes() for p in mine} == mine


def test_the_password_prompt_states_the_policy_it_enforces(tmp_path: Path) -> None:
    from edge.passwords import MIN_PASSWORD_CHARS  # noqa: PLC0415

    common = ["--hall", HALL, "--etc", str(tmp_path / "etc"), "--data", str(tmp_path / "data")]
    common += ["--broker-etc", str(tmp_path / "mosquitto"), "--user", getpass.getuser(), "--min-free-gb", "0.001"]
    shortest = "Kq7#vLm2Xp"[:MIN_PASSWORD_CHARS]  # as long as the prompt says is enough, no longer
    done = setup(*common, stdin=shortest + "\n")
    assert f"at least {MIN_PASSWORD_CHARS} characters" in done.stderr, done.stderr
    assert done.returncode == 0 and "administrator  admin: added" in done.stderr, done.stderr


def test_setup_after_an_upgrade_keeps_the_broker_certificate_the_devices_know(tmp_path: Path) -> None:
    """A box set up by a release that named the broker's files certs/broker.crt and broker.key: its certificate (for
    the names the devices dial) is copied under hallops' names, not made again for this box's host name."""
    from edge.certificates import make_broker, make_ca  # noqa: PLC0415

    etc, data, broker_etc = tmp_path / "etc", tmp_path / "data", tmp_path / "mosquitto"
    make_ca(etc / "ca", HALL)
    earlier = make_broker(etc / "ca", broker_etc / "certs", ["hall-box.lan"], ["10.0.0.2"])
    before = {p: p.read_bytes() for p in (earlier.certificate, earlier.key)}
    password_file = tmp_path / "admin-password"
    password_file.write_text(PASSWORD + "\n")
    done = setup(
        "--hall", HALL, "--etc", str(etc), "--data", str(data), "--broker-etc", str(broker_etc),
        "--user", getpass.getuser(), "--min-free-gb", "0.001", "--admin-password-file", str(password_file),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    certs = broker_etc / "certs"
    assert (certs / "hallops-broker.crt").read_bytes() == before[earlier.certificate]
    assert (certs / "hallops-broker.key").read_bytes() == before[earlier.key]
    assert stat.S_IMODE((certs / "hallops-broker.key").stat().st_mode) in (0o600, 0o640)
    assert {p: p.read_bytes() for p in before} == before
    assert "copied from" in done.stderr and "made for" not in done.stderr
