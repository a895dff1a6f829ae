"""JSON Schema of store documents and whole-store validation (``hmtools validate``).

The schema (``annotations/schema/video.schema.json``, shipped as ``hmtools/schema/video.schema.json``)
says what :func:`~hmtools.store.doc_to_json` writes. Validation of a document is three checks, each
reported as one line naming the file: it parses as JSON, it matches the schema, and it passes
:func:`~hmtools.store.doc_from_json` (runs summing to H*W, stored areas matching the RLEs, object
ids known, one entry per frame) -- the things a schema cannot say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmtools.errors import HMError, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from hmtools.store.store import MaskStore

SCHEMA_NAME = "video.schema.json"


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The document JSON Schema (draft 2020-12) from the installed package."""
    return json.loads(resources.files("hmtools").joinpath("schema", SCHEMA_NAME).read_text("utf-8"))


@lru_cache(maxsize=1)
def _validator():
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        raise StoreError("validating documents needs the 'jsonschema' package: pip install jsonschema") from None
    return jsonschema.Draft202012Validator(_inline_refs(load_schema()))


def _inline_refs(schema: dict) -> dict:
    """The schema with every local ``{"$ref": "#/$defs/<name>"}`` replaced by its definition.

    Same meaning (the schema is not recursive), twice as fast to validate with: jsonschema
    resolves a ``$ref`` through its registry on every use.
    """
    defs = schema.get("$defs", {})

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
                return walk(defs[ref[len("#/$defs/"):]])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def schema_errors(data: Any, *, limit: int = 1) -> list[str]:
    """Schema violations of one JSON document as ``"$.path: message"`` strings (at most ``limit``)."""
    out = []
    for err in _validator().iter_errors(data):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        msg = err.message if len(err.message) <= 160 else err.message[:157] + "..."
        out.append(f"{path}: {msg}")
        if len(out) >= limit:
            break
    return out


def validate_doc_file(path: Path) -> str | None:
    """The first problem of one document file as one line naming it, or ``None`` if it is valid."""
    from hmtools.store.doc_json import doc_from_json

    try:
        data = json.loads(Path(path).read_bytes())
    except OSError as err:
        return f"{path}: cannot read ({err.strerror})"
    except ValueError as err:
        return f"{path}: corrupt or truncated JSON ({err})"
    errors = schema_errors(data)
    if errors:
        return f"{path}: schema: {errors[0]}"
    try:
        doc = doc_from_json(data, str(path))
    except HMError as err:
        return str(err)
    if doc.video_id != Path(path).stem:
        return f"{path}: holds video_id {doc.video_id!r} but the file is named {Path(path).name}"
    return None


@dataclass
class ValidationReport:
    """Result of :func:`validate_store`: documents checked, one line per bad file, leftovers."""

    n_docs: int = 0
    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_store(store: "MaskStore", *, workers: int | None = None, progress: bool = True) -> ValidationReport:
    """Check every document of a store (JSON, schema, RLEs); collects every bad file, stops at none.

    Leftover temporary files of interrupted writes (``.<id>.json.*.tmp``) are listed separately:
    they are harmless (the document itself is intact) and safe to delete.

    Args:
        workers: processes (``None`` = up to 2). jsonschema is pure Python, about 25 ms for a
            100-frame document, so a 3,000-document store takes a minute on one core.
    """
    import contextlib
    import os

    from tqdm import tqdm

    from hmtools.workers import process_pool

    report = ValidationReport()
    paths = sorted(p for p in store.videos_dir.iterdir() if p.is_file())
    docs = [p for p in paths if p.suffix == ".json" and not p.name.startswith(".")]
    report.leftovers = [str(p) for p in paths if p.name.startswith(".") and p.name.endswith(".tmp")]
    others = [p for p in paths if p not in docs and str(p) not in report.leftovers]
    report.problems += [f"{p}: not a store document (expected <video_id>.json)" for p in others]
    report.n_docs = len(docs)
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(docs) // 16))
    with contextlib.ExitStack() as stack:
        if n_workers > 1:
            pool = stack.enter_context(process_pool(n_workers))
            results = pool.map(validate_doc_file, docs, chunksize=8)
        else:
            results = map(validate_doc_file, docs)
        for problem in tqdm(results, total=len(docs), unit="doc", desc="validate", disable=not progress):
            if problem:
                report.problems.append(problem)
    return report
