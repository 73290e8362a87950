"""Read the tables of a page (the console's indicators page, the committee report) with html.parser."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser


class TableReader(HTMLParser):
    """Every <table data-table="ID">: {ID: [header cells, row cells, ...]} (cell text, whitespace collapsed)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.texts: list[str] = []
        self.svg_titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("data-table"):
            self.current = attrs["data-table"]
            self.tables[self.current] = []
        elif tag == "tr" and self.current:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "title" and attrs.get("id", "").endswith("-title"):
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.current].append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self._in_title:
            self.svg_titles.append(data.strip())
        self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())


def read(html: str) -> TableReader:
    reader = TableReader()
    reader.feed(html)
    reader.close()
    return reader


def read_csv(body: bytes) -> list[list[str]]:
    """A CSV export: UTF-8 with BOM, `;` separated."""
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    return [[" ".join(c.split()) for c in r] for r in rows]
