"""`python -m controller.config.schemagen DIR...` (`make schemas`): write one JSON Schema per kind.

`make schemas` writes them to `schemas/` (the published contract) and to the package's copy that
validation reads (``controller.config._schemas.SHIPPED_SCHEMAS``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from controller.config._schemas import generate_schema, schema_file_name
from controller.config.models import KINDS

__all__ = ["render_schemas", "write_schemas"]


def render_schemas() -> dict[str, str]:
    """File name -> text of every kind's schema as generated from the models, exactly as committed."""
    return {schema_file_name(kind): json.dumps(generate_schema(kind), indent=2, ensure_ascii=False) + "\n"
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
    for directory in sys.argv[1:] or ["schemas"]:
        for path in write_schemas(Path(directory)):
            print(f"wrote {path}")
