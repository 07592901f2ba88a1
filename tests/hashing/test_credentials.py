"""C2PA content credentials read with c2pa-python (issue 15): real files signed in the test
with a certificate made in the test; valid, trusted, AI-declared, tampered and stripped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from node.errors import MediaError
from node.hashing.credentials import UNREADABLE, load_trust_anchors, read_credentials
from tests.support.credentials import AI_SOURCE, make_signer, strip, tamper
from tests.support.media import render_image


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    render_image(seed=seed, size=(160, 120)).save(out, format="PNG")
    return out.getvalue()


def test_a_signed_file_is_valid_and_trusted_only_under_its_anchor() -> None:
    signer = make_signer("Newsroom Photo Desk")
    signed = signer.sign(_png(1), generator="Newsroom CMS")
    untrusted = read_credentials(signed)
    assert untrusted is not None
    assert (untrusted.valid, untrusted.trusted, untrusted.ai_generated) == (True, False, False)
    assert untrusted.signer == "Newsroom Photo Desk" and untrusted.issuer == "Test Newsroom"
    assert untrusted.claim_generator == "Newsroom CMS 1.0" and untrusted.actions == ("c2pa.created",)
    trusted = read_credentials(signed, trust_anchors=signer.ca_pem)
    assert trusted is not None and trusted.valid and trusted.trusted
    other = make_signer()
    elsewhere = read_credentials(signed, trust_anchors=other.ca_pem)
    assert elsewhere is not None and elsewhere.valid and not elsewhere.trusted


def test_an_ai_generated_declaration_is_reported() -> None:
    found = read_credentials(make_signer().sign(_png(2), source_type=AI_SOURCE))
    assert found is not None and found.ai_generated
    assert "declares itself AI-generated" in found.summary()


def test_a_tampered_file_is_invalid_and_never_trusted() -> None:
    signer = make_signer()
    found = read_credentials(tamper(signer.sign(_png(3))), trust_anchors=signer.ca_pem)
    assert found is not None
    assert (found.valid, found.trusted) == (False, False) and found.validation_state in (
        "Invalid",
        UNREADABLE,
    )
    assert "INVALID" in found.summary()


def test_a_stripped_or_unsigned_file_has_no_credentials(tmp_path: Path) -> None:
    stripped = strip(make_signer().sign(_png(4)), tmp_path / "stripped.png")
    assert read_credentials(stripped.read_bytes()) is None
    assert read_credentials(_png(5)) is None
    assert read_credentials(b"not media at all") is None or not read_credentials(b"not media at all").valid


def test_hostile_texts_in_a_manifest_are_cleaned() -> None:
    found = read_credentials(make_signer("Evil\x1b[2J Signer").sign(_png(6), generator="gen\u202e\x07"))
    assert found is not None
    assert "\x1b" not in (found.signer or "") and "\u202e" not in (found.claim_generator or "")


def test_trust_anchor_files_are_checked(tmp_path: Path) -> None:
    empty = tmp_path / "anchors.pem"
    empty.write_text("nothing here")
    with pytest.raises(MediaError, match="holds no PEM certificate"):
        load_trust_anchors(empty)
    with pytest.raises(MediaError, match="cannot read"):
        load_trust_anchors(tmp_path / "missing.pem")
