"""The MQTT broker inside an emulated Bambu printer: a real mosquitto (from the distribution's ``mosquitto``
package) with a TLS listener on 127.0.0.1, the printer's self-signed certificate and a password file holding
``bblp`` / the access code, as the printer's own broker has. Also makes that certificate."""

from __future__ import annotations

import datetime as dt
import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_printer_cert(folder: Path, serial: str) -> tuple[Path, Path]:
    """A self-signed certificate named for the printer, as Bambu printers present. Returns (cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "printer.crt", folder / "printer.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_available() -> str | None:
    return shutil.which("mosquitto") or (("/usr/sbin/mosquitto") if Path("/usr/sbin/mosquitto").exists() else None)


class MosquittoBroker:
    def __init__(self, folder: Path, cert: Path, key: Path, access_code: str, port: int = 0) -> None:
        self.folder = folder
        self.cert = cert
        self.key = key
        self.access_code = access_code
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        binary = mosquitto_available()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.folder.mkdir(parents=True, exist_ok=True)
        passwd = self.folder / "passwd"
        passwd.write_text("")
        passwd.chmod(0o600)
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), "bblp", self.access_code], check=True,
                       capture_output=True)
        conf = self.folder / "mosquitto.conf"
        # run as whoever we are: as root, mosquitto would drop to its own user and not read our private files
        conf.write_text(f"user {getpass.getuser()}\nper_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
                        f"persistence false\nlog_dest stderr\nlog_type error\n"
                        f"listener {self.port} 127.0.0.1\ncertfile {self.cert}\nkeyfile {self.key}\n")
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.folder / "mosquitto.log", "ab"))  # noqa: SIM115
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.folder / 'mosquitto.log').read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
