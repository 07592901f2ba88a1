"""The ecosystem bridges, composed: TAXII server pieces, analyst accounts, TAXII and MISP imports.

:class:`AccordNode` owns one :class:`Bridges`; the CLI and ``serve`` call it. Pulling a TAXII
source takes the same per-name lock as pulling a partner, so the scheduler and ``accord sync``
never read one source at the same time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from node.app.locks import partner_lock
from node.config import NodeConfig
from node.errors import InvalidInput, NotFound, PeerError
from node.http.server import ConnectionLimits, HttpServer, TlsFiles
from node.http.taxii import TaxiiSettings, build_taxii_app
from node.model import KeyId, Tlp, parse_category
from node.model.clock import utc_now
from node.model.sources import Source, SourceKind, Trust
from node.model.viewers import Viewer
from node.stix.foreign import indicators_from_foreign_stix
from node.stix.markings import marking_tlps
from node.store import Store
from node.store.bridges import AnalystRecord, staged_counts
from node.sync import analysts, sources
from node.sync.catalogue import Catalogue
from node.sync.misp import DEFAULT_TAG_CATEGORIES, MispRules, event_uuids, read_event
from node.sync.sources import ImportReport, ItemRefusal
from node.taxii import Deadline, TaxiiClient, fetch_url

log = logging.getLogger(__name__)

SECRETS_DIR = "source-secrets"  # one 0600 file per source that has a password or token
DEFAULT_SOURCE_CATEGORY = "unspecified"  # for third-party objects that name no category we know
DEFAULT_SOURCE_TLP = Tlp.AMBER  # unmarked data from another tool is treated as restricted


class Bridges:
    """TAXII, MISP and analyst accounts for one node."""

    def __init__(
        self,
        *,
        root: Path,
        config: Callable[[], NodeConfig],
        store: Store,
        key_id: KeyId,
        names: Callable[[], Mapping[KeyId, str]],
        after_import: Callable[[], object],
    ) -> None:
        self._root = root
        self._config = config
        self._store = store
        self._key_id = key_id
        self._names = names
        self._after_import = after_import
        self.catalogue = Catalogue(store=store, server=key_id, names=names)

    # --- the TAXII server and its accounts -------------------------------------------------

    def taxii_server(self, address: str, *, tls: TlsFiles | None = None) -> HttpServer:
        """A bound (not yet started) TAXII server for this node: the HTTP API's uvicorn machinery,
        so plaintext only on loopback (unless network.insecure_plaintext), else ``tls``."""
        config = self._config()
        settings = TaxiiSettings(
            title=f"Accord node {config.node.name}",
            default_limit=config.taxii.page_size,
            max_limit=config.taxii.max_page_size,
            rate_per_second=config.http.rate_per_second,
            rate_burst=config.http.rate_burst,
            anonymous_rate_per_second=config.http.anonymous_rate_per_second,
            anonymous_rate_burst=config.http.anonymous_rate_burst,
        )
        return HttpServer(
            build_taxii_app(self.catalogue, self.viewer, settings),
            address=address,
            tls=tls,
            allow_plaintext=config.network.insecure_plaintext,
            grace_seconds=config.network.grace_seconds,
            max_concurrency=config.network.max_concurrent_rpcs,
            name="TAXII server",
            limits=ConnectionLimits(
                request_seconds=config.http.request_seconds,
                max_per_address=config.http.max_connections_per_address,
            ),
        )

    def viewer(self, token: str, username: str | None) -> Viewer:
        """The reader a token belongs to (Unauthenticated otherwise)."""
        ceiling = Tlp.parse(self._config().taxii.analyst_max_tlp)
        return analysts.authenticate(self._store, token, username=username, default_max_tlp=ceiling)

    def add_analyst(self, name: str, *, max_tlp: Tlp | None, partner: str | None) -> analysts.NewAccount:
        """Create an account; its token is returned once."""
        return analysts.add_account(self._store, name, max_tlp=max_tlp, partner=partner)

    def remove_analyst(self, name: str) -> None:
        """Delete an account."""
        analysts.remove_account(self._store, name)

    def analysts(self) -> list[AnalystRecord]:
        """Every account."""
        return analysts.list_accounts(self._store)

    # --- unsigned sources ------------------------------------------------------------------

    def add_taxii_source(
        self,
        name: str,
        *,
        url: str,
        collection: str,
        username: str | None,
        secret: str | None,
        trust: Trust,
        category: str | None,
    ) -> Source:
        """Register a TAXII collection to pull on the partners' schedule."""
        source = Source(
            name=name,
            kind=SourceKind.TAXII,
            url=url,
            trust=trust,
            collection=collection,
            username=username,
            secret=secret,
            category=None if category is None else parse_category(category),
        )
        registered = sources.register_source(self._store, replace(source, secret=None))
        if secret is not None:
            self._write_secret(source.name, secret)
        return registered

    def _secret_path(self, name: str) -> Path:
        return self._root / SECRETS_DIR / name

    def _write_secret(self, name: str, secret: str) -> None:
        """Keep a source's password or token in a file only the node's user can read (mode 0600)."""
        directory = self._root / SECRETS_DIR
        directory.mkdir(mode=0o700, exist_ok=True)
        path = self._secret_path(name)
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secret)

    def _read_secret(self, name: str) -> str | None:
        path = self._secret_path(name)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def sources(self) -> list[Source]:
        """Every unsigned source."""
        return sources.list_sources(self._store)

    def staged_counts(self) -> dict[str, int]:
        """Indicators each source holds aside (observe trust; earlier versions staged review too)."""
        return staged_counts(self._store)

    def remove_source(self, name: str) -> None:
        """Forget a source and its secret."""
        sources.delete_source(self._store, name)
        self._secret_path(name).unlink(missing_ok=True)

    def accept_source(self, name: str) -> int:
        """Move what a source staged into matching; an observe source becomes review."""
        accepted = sources.accept_staged(self._store, name)
        self._after_import()
        return accepted

    def taxii_source_names(self) -> list[str]:
        """Names of the TAXII sources the scheduler pulls."""
        return [s.name for s in self.sources() if s.kind is SourceKind.TAXII]

    def pull_source(self, name: str) -> ImportReport:
        """Read a TAXII source from its cursor to the end, unless another process is reading it."""
        source = sources.find_source(self._store, name)
        if source.kind is not SourceKind.TAXII or source.collection is None:
            raise InvalidInput(f"{name!r} is not a TAXII source")
        with partner_lock(self._root, source.name) as held:
            if not held:
                return ImportReport(source.name, 0, 0, 0, error=None)
            try:
                report = self._pull_taxii(source)
            except PeerError as exc:
                report = ImportReport(source.name, 0, 0, 0, error=str(exc))
            sources.record_import(self._store, report)
        self._after_import()
        return report

    def _pull_taxii(self, source: Source) -> ImportReport:
        imports = self._config().imports
        client = TaxiiClient(
            source.url,
            source.collection or "",
            username=source.username,
            secret=self._read_secret(source.name),
            stall_seconds=imports.timeout_seconds,
            deadline_seconds=imports.deadline_seconds,
            max_bytes=imports.max_response_bytes,
        )
        total = ImportReport(source.name, 0, 0, 0)
        newest = source.added_after
        # Each page commits on its own; the cursor moves only once the last page is in, so a
        # pull cut short re-reads from the old cursor and the deterministic ids dedupe it.
        markings: dict[str, Tlp] = {}  # TLP marking-definitions met on earlier pages of this pull
        for page in client.pages(added_after=source.added_after):
            if page.date_added_last is not None and (newest is None or page.date_added_last > newest):
                newest = page.date_added_last
            markings = marking_tlps(page.objects, known=markings)
            batch = indicators_from_foreign_stix(
                page.objects,
                origin=source.origin,
                default_category=source.category or DEFAULT_SOURCE_CATEGORY,
                default_tlp=DEFAULT_SOURCE_TLP,
                now=utc_now(),
                markings=markings,
            )
            refused = [ItemRefusal(r.object_id, r.reason) for r in batch.refused]
            last = not page.more or page.next is None
            report = sources.import_indicators(
                self._store,
                source,
                batch.indicators,
                refused=refused,
                skipped=batch.skipped,
                cursor=newest if last else None,
            )
            total = _add(total, report)
        return total

    def import_misp(self, location: str, *, name: str, trust: Trust, category: str | None) -> ImportReport:
        """Import a MISP feed from a directory or an http(s) URL (manifest.json + event files)."""
        kind_url = location if location.startswith(("http://", "https://")) else str(Path(location).resolve())
        source = sources.source_for_import(
            self._store, name=name, kind=SourceKind.MISP, url=kind_url, trust=trust
        )
        config = self._config()
        rules = MispRules(
            tag_categories={**DEFAULT_TAG_CATEGORIES, **config.imports.tag_categories},
            default_category=None if category is None else parse_category(category),
        )
        read = self._misp_reader(location)
        total = ImportReport(source.name, 0, 0, 0)
        for uuid in event_uuids(read("manifest.json")):
            try:
                event = read_event(read(f"{uuid}.json"), uuid=uuid, origin=source.origin, rules=rules)
            except (InvalidInput, NotFound, PeerError) as exc:  # one bad event file; the others go on
                total = _add(
                    total, ImportReport(source.name, 0, 0, 0, (ItemRefusal(f"event {uuid}", str(exc)),))
                )
                continue
            report = sources.import_indicators(
                self._store, source, event.indicators, refused=event.refused, skipped=event.skipped
            )
            total = _add(total, report)
        sources.record_import(self._store, total)
        self._after_import()
        return total

    def _misp_reader(self, location: str) -> Callable[[str], bytes]:
        imports = self._config().imports
        if location.startswith(("http://", "https://")):
            base = location if location.endswith("/") else location + "/"
            deadline = Deadline(imports.deadline_seconds)  # one for the whole feed
            return lambda file: fetch_url(
                base + file,
                max_bytes=imports.max_response_bytes,
                stall_seconds=imports.timeout_seconds,
                deadline=deadline,
            )
        directory = Path(location)
        if not (directory / "manifest.json").is_file():
            raise NotFound(f"{location} holds no manifest.json (a MISP feed directory has one)")

        def read(file: str) -> bytes:
            path = directory / file
            try:
                if path.stat().st_size > imports.max_response_bytes:
                    raise InvalidInput(f"{file} is larger than imports.max_response_bytes")
                return path.read_bytes()
            except FileNotFoundError as exc:
                raise NotFound(f"the manifest lists {file}, which the feed directory does not hold") from exc

        return read


def _add(total: ImportReport, report: ImportReport) -> ImportReport:
    return ImportReport(
        total.source,
        total.added + report.added,
        total.staged + report.staged,
        total.unchanged + report.unchanged,
        total.refused + report.refused,
        total.skipped + report.skipped,
    )
