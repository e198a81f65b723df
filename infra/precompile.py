"""Add compiled bytecode to a `chalice package` deployment zip, and drop what is never imported.

    python infra/precompile.py build/package/deployment.zip

Lambda's code directory is read-only, so without `__pycache__` in the zip every cold start
compiles pydantic and chalicelib from source (bench/cold_start.py: about a third of `import app`).
The bytecode is written as unchecked-hash .pyc: Python uses it without comparing the source's
timestamp, which a zip does not keep reliably. It must be compiled by the same Python minor
version as the Lambda runtime (chalice chooses the runtime from the packaging interpreter, so
running this with that interpreter keeps them equal; the check below refuses a mismatch).
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import sys
import zipfile
from pathlib import Path

_TAG = sys.implementation.cache_tag  # e.g. cpython-311
# Shipped by the wheels but never imported by the app (pydantic's v1 compatibility package).
UNUSED_PREFIXES = ("pydantic/v1/",)


def _runtime_matches(zip_path: Path) -> None:
    template = zip_path.parent / "sam.json"
    if not template.exists():
        return
    resources = json.loads(template.read_text())["Resources"]
    runtimes = {
        r["Properties"]["Runtime"]
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    wanted = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtimes != {wanted}:
        raise SystemExit(f"bytecode for {wanted} but the functions run {sorted(runtimes)}")


def precompile(zip_path: Path) -> int:
    """Rewrite the zip with a .pyc beside every .py; returns how many were added."""
    _runtime_matches(zip_path)
    with zipfile.ZipFile(zip_path) as source:
        entries = [
            (info, source.read(info))
            for info in source.infolist()
            if not info.filename.startswith(UNUSED_PREFIXES)
        ]
    names = {info.filename for info, _ in entries}
    added = 0
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            target.writestr(info, data)
        for info, data in entries:
            if not info.filename.endswith(".py"):
                continue
            folder, _, module = info.filename.rpartition("/")
            pyc = f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.{_TAG}.pyc"
            if pyc in names:
                continue
            try:
                code = compile(data, info.filename, "exec", dont_inherit=True)
            except SyntaxError:
                continue  # never imported on this Python (e.g. another version's shim)
            bytecode = importlib.util.MAGIC_NUMBER + b"\x01\x00\x00\x00"  # unchecked hash
            bytecode += importlib.util.source_hash(data) + marshal.dumps(code)
            entry = zipfile.ZipInfo(pyc, date_time=info.date_time)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, bytecode)
            added += 1
    return added


if __name__ == "__main__":
    path = Path(sys.argv[1])
    print(f"{path}: {precompile(path)} .pyc files added")
