"""``accord serve`` saves its indexes on SIGTERM and the next start resumes from them."""

from __future__ import annotations

from pathlib import Path

from node.rpc.client import LocalClient
from tests.support.feeds import pdq_signal
from tests.support.processes import ServeProcess, accord, free_port


def serve(home: Path, log: Path) -> ServeProcess:
    return ServeProcess(home, listen=free_port(), local=free_port(), log=log)


def listed(node: ServeProcess, signal: str) -> bool:
    client = LocalClient(f"127.0.0.1:{node.local}", timeout=10)
    try:
        return bool(client.match([signal]).results[0].matches)
    finally:
        client.close()


def test_restart_resumes_from_the_index_saved_at_shutdown(tmp_path: Path) -> None:
    home = tmp_path / "node"
    kept, revoked, added = (str(pdq_signal(n)) for n in (1, 2, 3))
    assert accord("init", "--home", home, "--name", "NGO").returncode == 0
    assert (
        accord(
            "contribute", "--home", home, "--signal", kept, "--signal", revoked, "--category", "csam"
        ).returncode
        == 0
    )

    first = serve(home, tmp_path / "first.log")
    assert "loaded from database (2 indicators)" in first.log.read_text()
    assert first.stop() == 0
    assert "match indexes saved" in first.log.read_text()

    # While it is down, the CLI revokes one indicator and adds another.
    assert accord("revoke", "--home", home, revoked).returncode == 0
    assert accord("contribute", "--home", home, "--signal", added, "--category", "csam").returncode == 0

    second = serve(home, tmp_path / "second.log")
    assert "loaded from saved index + changes since (2 indicators)" in second.log.read_text()
    assert listed(second, kept) and listed(second, added) and not listed(second, revoked)
    assert second.stop() == 0
