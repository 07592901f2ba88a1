"""A real OASIS ``medallion`` TAXII 2.1 server (memory backend) in a subprocess on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests
from taxii2client.v21 import Collection

from tests.support.processes import free_port, wait_for

USER, PASSWORD = "admin", "Password0"
COLLECTION_ID = str(uuid.UUID("91a7b528-80eb-42ed-a74d-c6fbd5a26116"))


class Medallion:
    """Start with :meth:`start`; add objects through its own TAXII API with :meth:`add`."""

    def __init__(self, tmp: Path, *, page_size: int = 100) -> None:
        self.port = free_port()
        self.api_root = f"http://127.0.0.1:{self.port}/api1/"
        data = {
            "/discovery": {
                "title": "test TAXII server",
                "description": "medallion, memory backend",
                "default": self.api_root,
                "api_roots": [self.api_root],
            },
            "api1": {
                "information": {
                    "title": "api1",
                    "description": "",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 10_000_000,
                },
                "status": [],
                "collections": [
                    {
                        "id": COLLECTION_ID,
                        "title": "hashes",
                        "description": "",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        (tmp / "medallion-data.json").write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(tmp / "medallion-data.json"),
            },
            "users": {USER: PASSWORD},
            "taxii": {"max_page_size": page_size},
        }
        (tmp / "medallion.json").write_text(json.dumps(config))
        self._config = tmp / "medallion.json"
        self._log = (tmp / "medallion.log").open("w")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Medallion:
        command = [
            sys.executable,
            "-m",
            "medallion.scripts.run",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            [*command, str(self._config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        wait_for(self._answers, timeout=60)
        return self

    def _answers(self) -> bool:
        try:
            response = requests.get(
                self.api_root,
                auth=(USER, PASSWORD),
                timeout=2,
                headers={"Accept": "application/taxii+json;version=2.1"},
            )
        except requests.exceptions.ConnectionError:
            return False
        with response:
            return response.status_code == 200

    def add(self, objects: list[dict[str, Any]]) -> None:
        with Collection(
            f"{self.api_root}collections/{COLLECTION_ID}/", user=USER, password=PASSWORD
        ) as collection:
            status = collection.add_objects({"objects": objects})
        assert status.failure_count == 0, status.failures

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()
