"""`collect --mqtt mqtts://` against a real mosquitto with TLS and a password file: the login and CA come from the
environment, the report arrives, a wrong password is a clear exit 3, and the password never appears anywhere."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import IMEI, cw1, sha
from paho.mqtt.enums import CallbackAPIVersion
from running import count

from credwarden.inventory import Inventory

PASSWORD = "pa55-w0rd-never-shown"
USER = "collector"


@dataclass(frozen=True)
class TlsBroker:
    url: str
    port: int
    ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pki(work: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (work / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (work / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (work / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture
def tls_broker() -> Iterator[TlsBroker]:
    binary = os.environ.get("CREDWARDEN_TEST_MQTT_BIN") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not (Path(binary).is_file() and Path(passwd).is_file()):
        pytest.skip("mosquitto / mosquitto_passwd not installed (scripts/with-mosquitto.sh installs them)")
    # not under pytest's tmp dir: its parents are private to root, and mosquitto runs as its own user
    work = Path(tempfile.mkdtemp(prefix="credwarden-tls-broker-"))
    _pki(work)
    subprocess.run([passwd, "-b", "-c", str(work / "passwd"), USER, PASSWORD], check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\ncafile {work}/ca.pem\ncertfile {work}/server.pem\nkeyfile {work}/server.key\n"
        f"password_file {work}/passwd\nallow_anonymous false\npersistence false\npid_file {work}/pid\n"
        f"log_dest file {work}/log\n"
    )
    if os.geteuid() == 0:  # mosquitto drops root for its own user: let it read the files
        os.chmod(work, 0o755)
        try:
            owner = pwd.getpwnam("mosquitto")
            for path in [work, *work.iterdir()]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        except KeyError:
            pass
    subprocess.run([binary, "-c", str(work / "mosquitto.conf"), "-d"], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield TlsBroker(f"mqtts://127.0.0.1:{port}", port, work / "ca.pem")
    finally:
        pid = (work / "pid").read_text().strip() if (work / "pid").exists() else ""
        if pid:
            os.kill(int(pid), signal.SIGTERM)
            time.sleep(0.2)
        shutil.rmtree(work, ignore_errors=True)


def _collector(broker: TlsBroker, db: str, tmp_path: Path, password: str) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        CREDWARDEN_MQTT_USERNAME=USER,
        CREDWARDEN_MQTT_PASSWORD=password,
        CREDWARDEN_MQTT_CA=str(broker.ca),
        CREDWARDEN_STATE_DIR=str(tmp_path / "state"),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "credwarden", "collect", "--mqtt", broker.url, "--client-id", "tls-test", "--db", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def test_mqtts_with_login_from_the_environment(tls_broker: TlsBroker, tmp_path: Path) -> None:
    db = str(tmp_path / "inv.db")
    proc = _collector(tls_broker, db, tmp_path, PASSWORD)
    try:
        publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.username_pw_set(USER, PASSWORD)
        publisher.tls_set(ca_certs=str(tls_broker.ca))
        publisher.connect("127.0.0.1", tls_broker.port)
        publisher.loop_start()
        inv = Inventory.open(db)
        deadline = time.monotonic() + 30
        seq = 0
        while time.monotonic() < deadline and count(inv, "SELECT COUNT(*) FROM reports") == 0:
            seq += 1  # the collector may not be subscribed yet: publish again until one is stored
            publisher.publish(f"cw/v1/{IMEI}/report", cw1(seq, [(42, 0, sha(1))]), qos=1).wait_for_publish(10)
            time.sleep(0.3)
        stored = count(inv, "SELECT COUNT(*) FROM reports")
        inv.close()
        publisher.disconnect()
        publisher.loop_stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert stored >= 1, err
    assert proc.returncode == 0, err
    assert f"connected to {tls_broker.url}" in err
    assert PASSWORD not in out + err


def test_wrong_password_exits_3_without_showing_it(tls_broker: TlsBroker, tmp_path: Path) -> None:
    wrong = "wrong-" + PASSWORD
    proc = _collector(tls_broker, str(tmp_path / "inv.db"), tmp_path, wrong)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "refused the connection" in err and wrong not in out + err and PASSWORD not in out + err
