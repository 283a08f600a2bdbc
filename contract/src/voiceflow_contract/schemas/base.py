"""Shared base for every registry document: unknown fields are errors, not silently dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown fields, so a typo in a JSON document is a clear error."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        """Serialise as indented JSON (the on-disk form of every registry document)."""
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Parse and validate a JSON document; raises pydantic.ValidationError naming the bad field."""
        return cls.model_validate_json(text)

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Read and validate a JSON document from a local path."""
        return cls.from_json(Path(path).read_bytes())

    def write(self, path: str | Path) -> None:
        """Write the document as indented JSON to a local path."""
        Path(path).write_text(self.to_json(), encoding="utf-8")
