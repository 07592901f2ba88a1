"""Generate node/rpc/pb from proto/, or check (--check) that the checked-in code is current.

The .proto tree mirrors the Python package (proto/node/rpc/pb/x.proto -> node/rpc/pb/x_pb2.py),
so generated imports need no rewriting. Generated code and .pyi stubs are checked in; CI runs
--check, which regenerates into a temporary directory and fails on any difference.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("node/rpc/pb")


def generate(out: Path) -> list[Path]:
    """Run protoc (with mypy-protobuf stubs) into ``out``; return the generated files."""
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    plugins = Path(sys.executable).parent  # mypy-protobuf installs its plugins beside python
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    return sorted(p for p in (out / PACKAGE).iterdir() if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the checked-in code is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(Path(tmp))
        stale = [
            p.name
            for p in generated
            if not (ROOT / PACKAGE / p.name).exists()
            or not filecmp.cmp(p, ROOT / PACKAGE / p.name, shallow=False)
        ]
        if check:
            if stale:
                print("proto drift: regenerate with 'make proto':", ", ".join(stale))
                return 1
            print(f"proto check: {len(generated)} generated files are current")
            return 0
        (ROOT / PACKAGE).mkdir(parents=True, exist_ok=True)
        for path in generated:
            (ROOT / PACKAGE / path.name).write_bytes(path.read_bytes())
        print(f"generated {len(generated)} files into {PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
