"""Media bombs against a real ``accord serve`` (issue 13): twenty concurrent uploads of a 170 KB
PNG that decodes to 49 megapixels, plus 100-megapixel ones, must leave the node's peak memory
under 500 MB above its idle size, and ordinary matches must keep being answered meanwhile."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from concurrent import futures
from pathlib import Path

import grpc

from node.rpc.pb import local_pb2, local_pb2_grpc
from tests.support.media import png_bomb, render_image
from tests.support.processes import ServeProcess, accord, free_port

BOMBS = 20


def proc_status_kib(pid: int, field: str) -> int:
    """A memory figure of a process from /proc (VmRSS now, VmHWM its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


def test_twenty_concurrent_bombs_keep_the_node_under_500_mb_and_matching(tmp_path: Path) -> None:
    home = tmp_path / "node"
    assert accord("init", "--home", home, "--name", "bombs").returncode == 0
    node = ServeProcess(
        home, listen=free_port(), local=free_port(), log=tmp_path / "serve.log", ready_timeout=120
    )
    bomb, huge = png_bomb(width=7000, height=7000), png_bomb(width=10_000, height=10_000)
    photo = io.BytesIO()
    render_image(seed=5, size=(640, 480)).save(photo, "PNG")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{node.local}") as channel:
            stub = local_pb2_grpc.LocalStub(channel)
            stub.Match(local_pb2.MatchRequest(media=photo.getvalue()), timeout=30)  # warm: decoders loaded
            idle = proc_status_kib(node.process.pid, "VmRSS")
            outcomes, normal = _storm(stub, [bomb] * BOMBS + [huge] * 4, photo.getvalue())
            peak = proc_status_kib(node.process.pid, "VmHWM")
        growth_mb = (peak - idle) // 1024
        print(f"{BOMBS} x 49 MP + 4 x 100 MP bombs: peak RSS {peak // 1024} MB (+{growth_mb} MB); {outcomes}")
        assert growth_mb < 500, f"peak {peak // 1024} MB, idle {idle // 1024} MB; {outcomes}"
        hashed, busy, refused = outcomes["pdq"], outcomes["RESOURCE_EXHAUSTED"], outcomes["over limit"]
        assert hashed >= 1 and hashed + busy == BOMBS and refused == 4, outcomes
        assert sum(outcomes.values()) == BOMBS + 4, outcomes  # no other failure
        assert normal["ok"] >= 5 and normal["failed"] == 0, normal  # the node kept answering
    finally:
        node.stop()


def _storm(
    stub: local_pb2_grpc.LocalStub, uploads: list[bytes], photo: bytes
) -> tuple[Counter[str], dict[str, int]]:
    """All uploads at once; meanwhile ordinary matches (a signal, a small photo) every 0.5 s."""
    outcomes: Counter[str] = Counter()
    normal = {"ok": 0, "failed": 0}
    done = threading.Event()

    def upload(media: bytes) -> None:
        try:
            response = stub.Match(local_pb2.MatchRequest(media=media), timeout=120)
        except grpc.RpcError as exc:
            busy = exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            clear = "media hashing is at capacity" in (exc.details() or "")
            outcomes["RESOURCE_EXHAUSTED" if busy and clear else f"other: {exc.code()}"] += 1
            return
        notes = " ".join(response.media_notes)
        outcomes["over limit" if "pixel limit" in notes else "pdq"] += 1

    def ordinary() -> None:
        while not done.is_set():
            try:
                stub.Match(local_pb2.MatchRequest(signals=["md5:" + "0" * 32]), timeout=30)
                stub.Match(local_pb2.MatchRequest(media=photo), timeout=30)
                normal["ok"] += 1
            except grpc.RpcError as exc:
                normal["failed"] += 1
                normal[f"{exc.code()}"] = normal.get(f"{exc.code()}", 0) + 1
            time.sleep(0.5)

    watcher = threading.Thread(target=ordinary)
    watcher.start()
    with futures.ThreadPoolExecutor(max_workers=len(uploads)) as pool:
        list(pool.map(upload, uploads))
    done.set()
    watcher.join()
    return outcomes, normal
