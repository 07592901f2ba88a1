"""Bulk contribution, curation, safelist, export for HMA/pytx and ``accord scan``, through the CLI.

In-process with click's runner against real homes, real generated images and real files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stix2

from node.app import AccordNode
from node.model import Signal
from tests.support.cli import run
from tests.support.feeds import md5_signal, pdq_signal
from tests.support.media import make_flat_image, make_image, make_variant


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    return path


def held(home: Path) -> dict[str, dict[str, object]]:
    """Our indicators by signal, as the store holds their newest versions."""
    node = AccordNode.open(home)
    try:
        return {
            str(ind.signal): {
                "category": ind.category,
                "revoked": ind.revoked,
                "valid_until": ind.valid_until,
            }
            for ind in node.store.iter_indicators(include_revoked=True)
        }
    finally:
        node.close()


@pytest.mark.parametrize("command", [["expire"], ["relabel"], ["scan"]], ids=" ".join)
def test_new_commands_document_themselves(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "--home" in result.output


# --- bulk contribution --------------------------------------------------------------------


def test_directory_import_is_recursive_restartable_and_summarised(home: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    for n in range(4):
        make_image(media / f"batch{n % 2}" / "deeper" / f"img{n}.png", seed=40 + n)
    make_flat_image(media / "flat.png")
    (media / ".hidden.png").write_bytes(b"not walked")

    first = run("contribute", "--home", home, media, "--category", "csam")
    assert first.exit_code == 2  # the flat image's pdq is refused by name; the rest is published
    assert "flat.png" in first.stderr and "quality" in first.stderr
    assert "14 added, 0 relabelled, 0 duplicates, 1 refused" in first.stdout  # 4x3 + md5/sha256 of flat
    assert len(held(home)) == 14

    again = run("contribute", "--home", home, media, "--category", "csam")
    assert "0 added, 0 relabelled, 14 duplicates" in again.stdout
    assert "nothing changed" in again.stdout
    assert len(held(home)) == 14


def test_per_item_refusals_name_file_and_line_and_never_abort(home: Path, tmp_path: Path) -> None:
    good, bad = md5_signal(1), pdq_signal(2)
    hash_list = tmp_path / "list.txt"
    hash_list.write_text(f"md5 {good.value}\npdq {bad.value[:10]}\nsha3 abc\nmd5 {good.value}\n")
    result = run("contribute", "--home", home, "--list", hash_list, "--category", "ncii")
    assert result.exit_code == 2
    assert f"{hash_list}:2" in result.stderr and "64 hex characters" in result.stderr
    assert f"{hash_list}:3" in result.stderr and "unknown signal type" in result.stderr
    assert bad.value[:10] not in result.stderr  # reasons never echo the value
    assert "1 added, 0 relabelled, 1 duplicates, 2 refused" in result.stdout
    # Counted like partners' refused input, and the messages kept name lines, not values.
    revoke_list = tmp_path / "revoke.txt"
    revoke_list.write_text(f"md5 {good.value}\nmd5 {bad.value[:7]}\n")
    revoked = run("revoke", "--home", home, "--list", revoke_list)
    assert revoked.exit_code == 2 and "revoked 1 indicator(s)" in revoked.stdout
    node = AccordNode.open(home)
    try:
        assert node.store.rejection_counts() == {"local_input_refused": 3}
        messages = [r[0] for r in node.store.reader.execute("SELECT message FROM rejections")]
    finally:
        node.close()
    assert sorted(m.split(": ")[0] for m in messages) == [
        f"{hash_list}:2",
        f"{hash_list}:3",
        f"{revoke_list}:2",
    ]
    assert not any(bad.value[:7] in m for m in messages)
    status = run("status", "--home", home)
    assert "local_input_refused" in status.stdout


def test_large_import_is_split_into_entries_within_the_object_limit(home: Path, tmp_path: Path) -> None:
    (home / "accord.toml").write_text("[limits]\nmax_objects_per_entry = 58\n")  # 50 indicators + 8
    hash_list = tmp_path / "many.txt"
    hash_list.write_text("".join(f"md5 {md5_signal(n).value}\n" for n in range(120)))
    result = run("contribute", "--home", home, "--list", hash_list, "--category", "tvec")
    assert result.exit_code == 0, result.output
    assert "published entry seq 1, 2, 3" in result.stdout and "120 added" in result.stdout


def test_third_party_stix_bundle_is_imported_with_stix2(home: Path, tmp_path: Path) -> None:
    md5, sha256 = md5_signal(7), Signal.parse("sha256:" + "ab" * 32)
    common = {"pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
    bundle = stix2.Bundle(
        stix2.Indicator(pattern=f"[file:hashes.MD5 = '{md5.value}']", labels=["tvec"], **common),
        stix2.Indicator(
            pattern=f"[file:hashes.'SHA-256' = '{sha256.value}' OR file:name = 'x.jpg']", **common
        ),
        stix2.Indicator(pattern="[ipv4-addr:value = '198.51.100.1']", **common),
        stix2.Malware(name="not an indicator", is_family=False),
    )
    data = json.loads(bundle.serialize())
    # An object the library itself refuses (a malformed MD5), written around the library.
    bad = dict(data["objects"][0], id="indicator--6b5d2c1a-7c55-4a4e-9d3c-2a3f1f9b8d11")
    data["objects"].insert(3, bad | {"pattern": "[file:hashes.MD5 = '0123']"})
    path = tmp_path / "third-party.json"
    path.write_text(json.dumps(data))
    result = run("contribute", "--home", home, "--stix", path, "--category", "csam")
    assert result.exit_code == 2
    assert f"{path}:object 2" in result.stderr and "no md5, sha1, sha256 or pdq" in result.stderr
    assert f"{path}:object 3" in result.stderr and "stix2 library refused" in result.stderr
    assert "2 added" in result.stdout
    labels = held(home)
    assert labels[str(md5)]["category"] == "tvec"  # a known category among the labels wins
    assert labels[str(sha256)]["category"] == "csam"

    not_stix = tmp_path / "not.json"
    not_stix.write_text('{"type": "report"}')
    refused = run("contribute", "--home", home, "--stix", not_stix, "--category", "csam")
    assert refused.exit_code == 2 and "is not a STIX bundle" in refused.stderr


# --- HMA and python-threatexchange formats --------------------------------------------------


def test_hma_csv_and_pytx_exports_read_back_through_the_import_path(home: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png", seed=3)
    assert run("contribute", "--home", home, image, "--category", "ncii").exit_code == 0
    red = run(
        "contribute",
        "--home",
        home,
        "--signal",
        str(md5_signal(9)),
        "--category",
        "csam",
        "--tlp",
        "red",
        "--to",
        "nobody",
    )
    assert red.exit_code == 3  # no such partner: nothing published

    hma, pytx = tmp_path / "bank.csv", tmp_path / "signals.txt"
    assert run("export", "--home", home, "--format", "hma-csv", "--out", hma).exit_code == 0
    assert run("export", "--home", home, "--format", "pytx", "--out", pytx).exit_code == 0
    rows = hma.read_text().splitlines()
    assert rows[0] == "bank,content_id,signal_type,signal_value,category,origin,tlp"
    assert len(rows) == 4 and all(r.startswith("Example NGO-ncii,indicator--") for r in rows[1:])
    [line] = pytx.read_text().splitlines()
    assert line.startswith("pdq ") and len(line.split()[1]) == 64

    other = tmp_path / "platform"
    assert run("init", "--home", other, "--name", "Platform").exit_code == 0
    imported = run("contribute", "--home", other, "--list", hma, "--list", pytx, "--category", "tvec")
    assert imported.exit_code == 0, imported.output
    assert "3 added" in imported.stdout and "1 duplicates" in imported.stdout
    categories = {v["category"] for v in held(other).values()}
    assert categories <= {"ncii", "tvec"}


# --- curation -----------------------------------------------------------------------------


def test_bulk_revoke_expire_and_relabel_publish_new_versions(home: Path, tmp_path: Path) -> None:
    signals = [md5_signal(n) for n in range(6)]
    listed = tmp_path / "all.txt"
    listed.write_text("".join(f"{s}\n" for s in signals))
    assert run("contribute", "--home", home, "--list", listed, "--category", "csam").exit_code == 0

    to_revoke = tmp_path / "revoke.txt"
    to_revoke.write_text(f"{signals[0]}\n{signals[1]}\nmd5 nothex\n")
    revoked = run("revoke", "--home", home, "--list", to_revoke)
    assert revoked.exit_code == 2 and f"{to_revoke}:3" in revoked.stderr
    assert "revoked 2 indicator(s) in entry seq 2" in revoked.stdout

    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    expired = run("expire", "--home", home, str(signals[2]), "--at", at.isoformat())
    assert expired.exit_code == 0 and "set valid_until on 1" in expired.stdout
    relabelled = run("relabel", "--home", home, str(signals[3]), str(signals[4]), "--category", "aig-csam")
    assert relabelled.exit_code == 0 and "relabelled 2" in relabelled.stdout

    state = held(home)
    assert [state[str(s)]["revoked"] for s in signals[:3]] == [True, True, False]
    assert state[str(signals[2])]["valid_until"] == at
    assert [state[str(s)]["category"] for s in signals[3:]] == ["aig-csam", "aig-csam", "csam"]

    unknown = run("relabel", "--home", home, str(md5_signal(99)), "--category", "tvec")
    assert unknown.exit_code == 3 and md5_signal(99).value not in unknown.stderr
    past = run("expire", "--home", home, str(signals[5]), "--at", "2001-01-01T00:00:00Z")
    assert past.exit_code == 2 and "--at must be later" in past.stderr
    assert held(home)[str(signals[5])]["valid_until"] is None  # nothing half-written


def test_expired_indicators_stop_matching(home: Path) -> None:
    signal = md5_signal(5)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    assert (
        run(
            "contribute",
            "--home",
            home,
            "--signal",
            str(signal),
            "--category",
            "csam",
            "--valid-until",
            soon.isoformat(),
        ).exit_code
        == 0
    )
    assert run("match", "--home", home, "--offline", "--signal", str(signal)).exit_code == 0
    node = AccordNode.open(home)
    try:
        node.load_lists()
        later = soon + timedelta(seconds=1)
        node.matcher.clock = lambda: later  # an injected clock: the expiry has passed
        assert node.matcher.match([signal])[0].matches == ()
    finally:
        node.close()
    past = run(
        "contribute",
        "--home",
        home,
        "--signal",
        str(md5_signal(6)),
        "--category",
        "csam",
        "--valid-until",
        "2001-01-01",
    )
    assert past.exit_code == 2 and "future" in past.stderr


# --- safelist -----------------------------------------------------------------------------


def test_local_safelist_suppresses_matches_and_guards_contributions(home: Path, tmp_path: Path) -> None:
    meme = make_image(tmp_path / "meme.png", seed=21)
    resized = make_variant(meme, tmp_path / "meme-small.jpg", scale=0.6, quality=80)
    harmful = make_image(tmp_path / "harmful.png", seed=22)
    hashed = json.loads(run("hash", resized, "--json").stdout)[0]
    (home / "safelist.txt").write_text(f"{hashed['pdq']}\n")  # TYPE:VALUE
    (home / "accord.toml").write_text('[match]\nsafelist = "safelist.txt"\n')

    refused = run("contribute", "--home", home, meme, harmful, "--category", "csam")
    assert refused.exit_code == 2
    assert "on the safelist" in refused.stderr and "--force" in refused.stderr
    assert hashed["pdq"][4:] not in refused.stderr, refused.stderr
    assert (
        "5 added" in refused.stdout and "1 refused" in refused.stdout
    )  # only the pdq of meme.png is refused

    forced = run("contribute", "--home", home, meme, "--category", "csam", "--force")
    assert (
        forced.exit_code == 0
        and "warning:" in forced.stderr
        and "contributed because of --force" in forced.stderr
    )

    out = run("match", "--home", home, "--offline", "--json", meme)
    results = json.loads(out.stdout)
    pdq = next(r for r in results if r["signal_type"] == "pdq")
    assert pdq["matches"] == [] and pdq["safelisted"] is True and len(pdq["suppressed"]) == 1
    assert run("match", "--home", home, "--offline", harmful).exit_code == 0


# --- scan ---------------------------------------------------------------------------------


def _contributed(home: Path, tmp_path: Path) -> tuple[Signal, Signal]:
    listed, pdq = md5_signal(1000), pdq_signal(1000)
    assert (
        run(
            "contribute", "--home", home, "--signal", str(listed), "--signal", str(pdq), "--category", "csam"
        ).exit_code
        == 0
    )
    return listed, pdq


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_scan_reads_each_manifest_format_and_reports_matches(home: Path, tmp_path: Path, suffix: str) -> None:
    listed, pdq = _contributed(home, tmp_path)
    near = f"{int(pdq.value, 16) ^ 0b111:064x}"  # 3 bits away
    rows = [
        {"id": "clean", "md5": md5_signal(1).value, "sha256": "", "pdq": ""},
        {"id": "listed-md5", "md5": listed.value, "sha256": "", "pdq": ""},
        {"id": "near-pdq", "md5": "", "sha256": "", "pdq": near},
        {"id": "broken", "md5": "xyz", "sha256": "", "pdq": ""},
    ]
    manifest = tmp_path / f"manifest{suffix}"
    _write_manifest(manifest, rows)
    out = tmp_path / "report.jsonl"
    result = run("scan", "--home", home, manifest, "--out", out)
    assert result.exit_code == 0, result.output
    assert "scanned 4 item(s): 2 matched, 1 without a usable signal" in result.stdout
    assert "items/s" in result.stdout
    report = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in report] == ["listed-md5", "near-pdq"]
    assert report[1]["matches"][0]["distance"] == 3 and report[1]["matches"][0]["category"] == "csam"
    assert pdq.value not in out.read_text() and listed.value not in out.read_text()


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    if path.suffix == ".csv":
        path.write_text("id,md5,sha256,pdq\n" + "".join(",".join(r.values()) + "\n" for r in rows))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if v}) + "\n" for r in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)


def test_scan_of_a_media_directory_writes_csv(home: Path, tmp_path: Path) -> None:
    original = make_image(tmp_path / "orig.png", seed=77)
    assert run("contribute", "--home", home, original, "--category", "csam").exit_code == 0
    data = tmp_path / "dataset"
    make_variant(original, data / "a" / "copy.jpg", scale=0.5, quality=75)
    make_image(data / "b" / "other.png", seed=78)
    out = tmp_path / "report.csv"
    result = run("scan", "--home", home, data, "--out", out)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,signal_type,indicator_id")
    assert len(lines) == 2 and lines[1].startswith("a/copy.jpg,pdq,indicator--")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("scan", "--home", home, empty, "--out", tmp_path / "none.jsonl").exit_code == 1


def test_scan_refuses_a_manifest_without_an_id_column(home: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("name,md5\nx,00\n")
    result = run("scan", "--home", home, manifest, "--out", tmp_path / "r.jsonl")
    assert result.exit_code == 2 and "'id' column" in result.stderr


def test_progress_bar_goes_to_stderr_only_when_asked(home: Path, tmp_path: Path) -> None:
    hash_list = tmp_path / "list.txt"
    hash_list.write_text("".join(f"md5 {md5_signal(n).value}\n" for n in range(30)))
    shown = run("contribute", "--home", home, "--list", hash_list, "--category", "csam", "--progress")
    assert shown.exit_code == 0 and "importing" in shown.stderr and "importing" not in shown.stdout
    quiet = run("scan", "--home", home, hash_list.with_suffix(".csv"), "--out", tmp_path / "r.jsonl")
    assert quiet.exit_code == 2  # no such manifest (click checks existence)
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,md5\n" + "".join(f"i{n},{md5_signal(n).value}\n" for n in range(30)))
    scanned = run("scan", "--home", home, manifest, "--out", tmp_path / "r.jsonl")
    assert scanned.exit_code == 0 and "scanning" not in scanned.stderr
    assert "scanned 30 item(s): 30 matched" in scanned.stdout
