"""What a node, a certificate or a file says reaches the terminal shown, never obeyed."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console
from typer.testing import CliRunner

from lbdeploy.cli.app import app
from lbdeploy.cli.common import print_json
from lbdeploy.cli.display import print_recap, print_step
from lbdeploy.cli.progress import StepPrinter
from lbdeploy.cli.terminal import escape_controls
from lbdeploy.core.report import NodeReport, Report, StepResult
from lbdeploy.errors import RemoteError
from lbdeploy.ops.events import Event
from tests.tlsutil import cert_pem, key_pem, make_ca

DATA = Path(__file__).parent / "data"
TITLE = "\x1b]0;owned\x07"  # sets the terminal's title
FORGED = "\x1b[2K\rafrodita     configs    ok"  # erases the line, writes another
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


@pytest.mark.parametrize(
    ("text", "lines", "shown"),
    [
        ("plain text, [red]markup[/red] too", False, "plain text, [red]markup[/red] too"),
        (TITLE + "x", False, "\\x1b]0;owned\\x07x"),
        ("a\nb\tc", False, "a\\x0ab\\x09c"),
        ("a\nb\tc", True, "a\nb\tc"),
        ("nul\x00 del\x7f csi\x9b1m", True, "nul\\x00 del\\x7f csi\\x9b1m"),
        ("cr\r\n", True, "cr\\x0d\n"),
        ("moc.\u202eevil", False, "moc.\\u202eevil"),
        ("ünïcödé ✓ 証明書", False, "ünïcödé ✓ 証明書"),
    ],
)
def test_control_characters_are_shown_as_escapes(text: str, lines: bool, shown: str) -> None:
    assert escape_controls(text, lines) == shown


def rendered(write: object) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, color_system=None, width=200)
    write(console)  # type: ignore[operator]
    return out.getvalue()


def test_hostile_remote_stderr_is_shown_not_obeyed() -> None:
    stderr = f"E: {TITLE}dpkg was interrupted\nline two{FORGED}\n"
    error = RemoteError("hera", "packages", "apt-get install -y haproxy", 100, stderr)
    node = NodeReport("hera", steps=[StepResult("packages", "failed", stderr)], error=str(error))
    report = Report("up", {"hera": node}, notes=[f"note {TITLE}"])

    text = rendered(lambda c: print_recap(c, report, stats=False))
    assert not any(raw in text for raw in RAW), repr(text)
    assert "E: \\x1b]0;owned\\x07dpkg was interrupted\n" in text  # the tail keeps its lines
    assert "line two\\x1b[2K\n" in text  # its CR made a line break of the tail (splitlines)

    line = rendered(lambda c: print_step(c, "hera", node.steps[0]))
    assert line.count("\n") == 1 and "\\x0aline two" in line  # one step, one line
    assert not any(raw in line for raw in RAW)

    printer = StepPrinter(Console(file=io.StringIO(), force_terminal=True, color_system=None))
    printer("hera", StepResult("packages", "running", f"apt {TITLE}\n{FORGED}"))
    (live,) = printer.lines(time.monotonic())
    printer.close()
    assert "\n" not in live.plain and not any(raw in live.plain for raw in RAW)


def test_the_json_report_keeps_the_raw_text_and_stays_valid_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stderr = f"{TITLE}{FORGED}\x00\ud800"
    node = NodeReport("hera", steps=[StepResult("packages", "failed", stderr)], error=stderr)
    data = Report("up", {"hera": node}).to_json()
    print_json(data)
    out = capsys.readouterr().out
    assert not any(raw in out for raw in (*RAW, "\x00"))
    assert json.loads(out) == data  # the data itself, unchanged


def hostile_certificate(directory: Path, days: int) -> None:
    """A certificate whose subject and issuer carry escape sequences (a CN may hold any text)."""
    ca_cert, ca_key = make_ca(f"Evil CA {TITLE}")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"shop{FORGED}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("shop.example.org")]), False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir()
    (directory / "shop.crt").write_text(cert_pem(cert, ca_cert))
    (directory / "shop.key").write_text(key_pem(key))
    (directory / "shop.key").chmod(0o600)


def test_a_hostile_certificate_subject_is_shown_not_obeyed(tmp_path: Path) -> None:
    hostile_certificate(tmp_path / "certs", days=5)  # soon: the expiry warning names it too
    lab = (DATA / "render" / "lab" / "inventory.yaml").read_text()
    service = (
        "  - name: shop\n    port: 443\n    tls: {cert: certs/shop.crt, key: certs/shop.key}\n"
        "    servers:\n      - {name: web1, address: 172.29.150.21, port: 8080}\n"
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(lab[: lab.index("services:")] + "services:\n" + service)
    result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert not any(raw in result.output for raw in RAW), repr(result.output)
    assert "Evil CA \\x1b]0\\;owned\\x07" in result.output  # the issuer (RFC 4514 escapes ;)
    assert "warning: " in result.output and "shop\\x1b[2K\\x0dafrodita" in result.output


def test_a_hostile_journal_line_is_shown_not_obeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    import lbdeploy.cli.incident
    import lbdeploy.ops.events

    found = [Event(1764090000.0, "hera", "vrrp", f"state=MASTER{TITLE}\n{FORGED}")]
    errors = [f"afrodita: step events failed\n{TITLE}"]
    monkeypatch.setattr(lbdeploy.cli.incident, "load", lambda path, **_: None)
    monkeypatch.setattr(lbdeploy.ops.events, "gather_events", lambda *a: (found, [], errors))
    result = CliRunner().invoke(app, ["events", "inventory.yaml"], env={"COLUMNS": "300"})
    assert result.exit_code == 3, result.output
    assert not any(raw in result.output for raw in RAW), repr(result.output)
    assert "state=MASTER\\x1b]0;owned\\x07" in result.output


def test_an_error_quoting_a_hostile_stderr_is_shown_not_obeyed(capsys) -> None:  # type: ignore[no-untyped-def]
    import typer

    from lbdeploy.cli.common import guard
    from lbdeploy.errors import RemoteError

    def fail() -> None:
        raise RemoteError("hera", "configs", "x", 1, "bad\x1b]0;owned\x07 line")

    from types import SimpleNamespace

    ctx = SimpleNamespace(obj={})
    try:
        guard(ctx, fail)  # type: ignore[arg-type]
    except typer.Exit as exit_:
        assert exit_.exit_code == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;owned\\x07" in err
