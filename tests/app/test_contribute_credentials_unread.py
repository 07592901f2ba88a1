"""A media file whose C2PA manifest cannot be read at all still contributes every hash: the
reason is a note, not a refusal (nothing of the file was held back, so the command succeeds)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from node.app.contribute import Sources, collect
from node.errors import MediaError
from node.model.provenance import ContentCredentials
from tests.support.media import render_image


def _too_large(path: Path) -> ContentCredentials | None:
    raise MediaError(f"{path.name} is over the 512 MiB C2PA read limit")


def test_an_unreadable_manifest_is_a_note_and_every_hash_is_still_contributed(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    render_image(seed=3, size=(320, 240)).save(photo, quality=90)

    collected = collect(
        Sources(files=(photo,)),
        content_type=None,
        valid_until=None,
        now=datetime.now(UTC),
        credentials=_too_large,
    )

    assert collected.refused == []
    assert collected.unread == [(str(photo), "photo.jpg is over the 512 MiB C2PA read limit")]
    assert sorted(item.signal.type.value for item in collected.items) == ["md5", "pdq", "sha256"]
    assert all(item.note is None for item in collected.items)  # no reading is recorded
