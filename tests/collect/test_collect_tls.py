"""`collect --mqtt mqtts://` against a real mosquitto with TLS: a password login and a client-certificate login
(files from the environment), the report arrives; what retrying cannot fix (wrong password, missing or foreign
client certificate, untrusted broker) is a clear exit 3 naming what to fix; unusable TLS files are exit 2 before
any connection; no password or file content appears anywhere."""

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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    work: Path

    @property
    def ca(self) -> Path:
        return self.work / "ca.pem"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, issuer_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer.subject if issuer else _name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
    )  # fmt: skip
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(work: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (work / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (work / f"{stem}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _pki(work: Path) -> None:
    """One test CA signing the broker's certificate and the collector's client certificate; a stranger CA that
    signed neither (ca.pem, server.*, client.*, stranger-ca.pem, stranger-client.*)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, None, ca_key)
    (work / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for stem, cn in (("server", "127.0.0.1"), ("client", "collector")):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_pair(work, stem, _cert(cn, key, ca, ca_key), key)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _cert("stranger CA", stranger_key, None, stranger_key)
    (work / "stranger-ca.pem").write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    _write_pair(work, "stranger-client", _cert("collector", key, stranger, stranger_key), key)


def _mosquitto() -> str:
    binary = os.environ.get("CREDWARDEN_TEST_MQTT_BIN") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not (Path(binary).is_file() and Path(passwd).is_file()):
        pytest.skip("mosquitto / mosquitto_passwd not installed (scripts/with-mosquitto.sh installs them)")
    return binary


@contextmanager
def _tls_broker(*, client_certificates: bool) -> Iterator[TlsBroker]:
    """mosquitto on a loopback TLS listener: a password login, or (client_certificates) a client certificate
    signed by the test CA as the login (`use_identity_as_username`)."""
    binary = _mosquitto()
    # not under pytest's tmp dir: its parents are private to root, and mosquitto runs as its own user
    work = Path(tempfile.mkdtemp(prefix="credwarden-tls-broker-"))
    _pki(work)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if client_certificates:
        login = "require_certificate true\nuse_identity_as_username true\n"
    else:
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([passwd, "-b", "-c", str(work / "passwd"), USER, PASSWORD], check=True, capture_output=True)
        login = f"password_file {work}/passwd\n"
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\ncafile {work}/ca.pem\ncertfile {work}/server.pem\nkeyfile {work}/server.key\n"
        f"{login}allow_anonymous false\npersistence false\npid_file {work}/pid\nlog_dest file {work}/log\n"
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
        yield TlsBroker(f"mqtts://127.0.0.1:{port}", port, work)
    finally:
        pid = (work / "pid").read_text().strip() if (work / "pid").exists() else ""
        if pid:
            os.kill(int(pid), signal.SIGTERM)
            time.sleep(0.2)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def tls_broker() -> Iterator[TlsBroker]:
    with _tls_broker(client_certificates=False) as broker:
        yield broker


@pytest.fixture(scope="module")
def mtls_broker() -> Iterator[TlsBroker]:
    with _tls_broker(client_certificates=True) as broker:
        yield broker


def _collector(
    broker: TlsBroker, db: str, tmp_path: Path, password: str | None, *, url: str | None = None, **files: str
) -> subprocess.Popen[str]:
    """`credwarden collect` in a process; `files` are CA / CERT / KEY / KEY_PASSWORD (file names in broker.work)."""
    env = dict(os.environ, CREDWARDEN_MQTT_CA=str(broker.ca), CREDWARDEN_STATE_DIR=str(tmp_path / "state"))
    if password is not None:
        env.update(CREDWARDEN_MQTT_USERNAME=USER, CREDWARDEN_MQTT_PASSWORD=password)
    for name, value in files.items():
        env[f"CREDWARDEN_MQTT_{name.upper()}"] = value if name == "key_password" else str(broker.work / value)
    return subprocess.Popen(
        [sys.executable, "-m", "credwarden", "collect", "--mqtt", url or broker.url, "--client-id", "tls-test",
         "--db", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _publisher(broker: TlsBroker, *, client_certificate: bool) -> mqtt.Client:
    publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if client_certificate:
        publisher.tls_set(
            ca_certs=str(broker.ca), certfile=str(broker.work / "client.pem"), keyfile=str(broker.work / "client.key")
        )
    else:
        publisher.username_pw_set(USER, PASSWORD)
        publisher.tls_set(ca_certs=str(broker.ca))
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    return publisher


def _stored_reports(proc: subprocess.Popen[str], broker: TlsBroker, db: str, *, client_certificate: bool) -> int:
    """Publish until the collector stores a report (it may not be subscribed yet); then stop it."""
    try:
        publisher = _publisher(broker, client_certificate=client_certificate)
        inv = Inventory.open(db)
        deadline = time.monotonic() + 30
        seq = 0
        while time.monotonic() < deadline and proc.poll() is None and count(inv, "SELECT COUNT(*) FROM reports") == 0:
            seq += 1
            publisher.publish(f"cw/v1/{IMEI}/report", cw1(seq, [(42, 0, sha(1))]), qos=1).wait_for_publish(10)
            time.sleep(0.3)
        stored = count(inv, "SELECT COUNT(*) FROM reports")
        inv.close()
        publisher.disconnect()
        publisher.loop_stop()
        return stored
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def _finished(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_mqtts_with_login_from_the_environment(tls_broker: TlsBroker, tmp_path: Path) -> None:
    db = str(tmp_path / "inv.db")
    proc = _collector(tls_broker, db, tmp_path, PASSWORD)
    stored = _stored_reports(proc, tls_broker, db, client_certificate=False)
    out, err = _finished(proc)
    assert stored >= 1, err
    assert proc.returncode == 0, err
    assert f"connected to {tls_broker.url}" in err
    assert PASSWORD not in out + err


def test_wrong_password_exits_3_without_showing_it(tls_broker: TlsBroker, tmp_path: Path) -> None:
    wrong = "wrong-" + PASSWORD
    proc = _collector(tls_broker, str(tmp_path / "inv.db"), tmp_path, wrong)
    out, err = _finished(proc)
    assert proc.returncode == 3, err
    assert "refused the connection" in err and wrong not in out + err and PASSWORD not in out + err


# -- a broker that logs in by client certificate (require_certificate, use_identity_as_username) -------------------


def test_client_certificate_login(mtls_broker: TlsBroker, tmp_path: Path) -> None:
    db = str(tmp_path / "inv.db")
    proc = _collector(mtls_broker, db, tmp_path, None, cert="client.pem", key="client.key")
    stored = _stored_reports(proc, mtls_broker, db, client_certificate=True)
    _, err = _finished(proc)
    assert stored >= 1, err
    assert proc.returncode == 0, err
    assert f"connected to {mtls_broker.url}" in err


@pytest.mark.parametrize(
    "files,words",
    [
        ({}, "a certificate is required and none is set"),
        ({"cert": "stranger-client.pem", "key": "stranger-client.key"}, "a certificate was refused"),
        ({"ca": "stranger-ca.pem", "cert": "client.pem", "key": "client.key"}, "certificate is not trusted"),
    ],
    ids=["no-client-certificate", "certificate-of-another-ca", "broker-not-trusted"],
)
def test_tls_refusals_exit_3_and_say_which_file_to_fix(
    mtls_broker: TlsBroker, tmp_path: Path, files: dict[str, str], words: str
) -> None:
    """Retrying cannot fix these: the collector says why at once and exits 3 instead of retrying in silence."""
    proc = _collector(mtls_broker, str(tmp_path / "inv.db"), tmp_path, None, **files)
    out, err = _finished(proc)
    assert proc.returncode == 3, err
    assert words in err and "$CREDWARDEN_MQTT_" in err
    assert "BEGIN" not in out + err  # no file content in a message


def test_plain_mqtt_on_a_tls_port_says_so_and_keeps_retrying(mtls_broker: TlsBroker, tmp_path: Path) -> None:
    url = mtls_broker.url.replace("mqtts://", "mqtt://")
    env = dict(os.environ, CREDWARDEN_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "credwarden", "collect", "--mqtt", url, "--db", str(tmp_path / "inv.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("needs mqtts://" in line for line in list(lines)):
        time.sleep(0.1)
    time.sleep(2.5)  # at least one more retry (backoff 1 s, then 2 s) that must not repeat the message
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, lines
    reader.join(timeout=10)
    assert any("closed before the broker answered" in line and "needs mqtts://" in line for line in lines), lines
    assert sum("needs mqtts://" in line for line in lines) == 1, lines  # once per cause, not once per retry


# -- TLS files that cannot work: exit 2 before any connection --------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    _pki(tmp_path)
    key = serialization.load_pem_private_key((tmp_path / "client.key").read_bytes(), None)
    (tmp_path / "client-encrypted.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-pass-never-shown"),
        )
    )
    return tmp_path


@pytest.mark.parametrize(
    "files,words",
    [
        ({"CA": "client.key"}, "holds no usable CA certificate"),
        ({"CERT": "client.pem", "KEY": "server.key"}, "key values mismatch"),
        ({"CERT": "client.pem", "KEY": "client-encrypted.key"}, "put its password in $CREDWARDEN_MQTT_KEY_PASSWORD"),
        ({"CERT": "client.pem", "KEY": "client-encrypted.key", "KEY_PASSWORD": "wrong"}, "wrong password"),
        ({"CERT": "ca.pem", "KEY": "missing.key"}, "not a readable file"),
        ({"KEY_PASSWORD": "x"}, "$CREDWARDEN_MQTT_KEY is not"),
    ],
    ids=["key-as-ca", "mismatched-pair", "encrypted-key-no-password", "wrong-key-password", "missing-key", "lone-pw"],
)
def test_unusable_tls_files_exit_2_before_connecting(pki: Path, files: dict[str, str], words: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDWARDEN_MQTT_")}
    for name, value in files.items():
        env[f"CREDWARDEN_MQTT_{name}"] = value if name == "KEY_PASSWORD" else str(pki / value)
    result = subprocess.run(
        [sys.executable, "-m", "credwarden", "collect", "--mqtt", "mqtts://127.0.0.1:1", "--db", str(pki / "i.db")],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "key-pass-never-shown" not in result.stderr and "BEGIN" not in result.stderr


def test_simulated_device_reports_with_its_client_certificate(mtls_broker: TlsBroker, tmp_path: Path) -> None:
    """`credwarden sim --report-mqtt mqtts://` takes the same TLS files as the collector: its reports arrive."""
    db = str(tmp_path / "inv.db")
    collector = _collector(mtls_broker, db, tmp_path, None, cert="client.pem", key="client.key")
    env = dict(os.environ, CREDWARDEN_STATE_DIR=str(tmp_path / "sim-state"))
    env.update(
        CREDWARDEN_MQTT_CA=str(mtls_broker.ca),
        CREDWARDEN_MQTT_CERT=str(mtls_broker.work / "client.pem"),
        CREDWARDEN_MQTT_KEY=str(mtls_broker.work / "client.key"),
    )
    device = subprocess.Popen(
        [sys.executable, "-m", "credwarden", "sim", "--fast", "--report-mqtt", mtls_broker.url,
         "--report-interval", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        inv = Inventory.open(db)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and collector.poll() is None and device.poll() is None:
            if count(inv, "SELECT COUNT(*) FROM reports") >= 2:
                break
            time.sleep(0.2)
        stored = count(inv, "SELECT COUNT(*) FROM reports")
        inv.close()
    finally:
        for proc in (device, collector):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
    _, device_err = _finished(device)
    _, collector_err = _finished(collector)
    assert stored >= 2, device_err + collector_err
    assert collector.returncode == 0, collector_err


def test_simulated_device_with_an_encrypted_key_and_no_password_exits_2(pki: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDWARDEN_MQTT_")}
    env.update(CREDWARDEN_MQTT_CERT=str(pki / "client.pem"), CREDWARDEN_MQTT_KEY=str(pki / "client-encrypted.key"))
    result = subprocess.run(
        [sys.executable, "-m", "credwarden", "sim", "--fast", "--report-mqtt", "mqtts://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "put its password in $CREDWARDEN_MQTT_KEY_PASSWORD" in result.stderr
