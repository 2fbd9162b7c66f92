"""`python -m controller.config.schemagen DIR` (`make schemas`): write one JSON Schema per kind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from controller.config._schemas import kind_schema, schema_file_name
from controller.config.models import KINDS

__all__ = ["render_schemas", "write_schemas"]


def render_schemas() -> dict[str, str]:
    """File name -> text of every kind's schema, exactly as committed."""
    return {schema_file_name(kind): json.dumps(kind_schema(kind), indent=2, ensure_ascii=False) + "\n"
            for kind in KINDS}


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(f"wrote {path}")
