"""A table as the admin's analytics pages show it and as `?format=csv&table=<name>` exports it.

Every chart on those pages is drawn from the same data as the table under it
(charts.py), and what a table shows is exactly what it exports. A chart over time
spans every bucket of the range on its dated axis; its table lists only the
buckets with something in them (no rows of zeros).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from django.http import HttpResponse
from django.template.response import TemplateResponse


@dataclass
class Table:
    """A table as shown and as exported: the same header and cells."""

    name: str
    title: str
    header: list[str]
    rows: list[list]

    def csv_response(self, filename: str) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}-{self.name}.csv"'
        writer = csv.writer(response)
        writer.writerow(self.header)
        writer.writerows([[cell(value) for value in row] for row in self.rows])
        return response


def cell(value) -> str:
    """A value as a cell shows it and as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def tables_response(request, template: str, context: dict, tables: list[Table], filename: str):
    """The page with its tables, or with `?format=csv&table=<name>` that one table as a CSV file."""
    if request.GET.get("format") == "csv":
        wanted = request.GET.get("table") or tables[0].name
        for table in tables:
            if table.name == wanted:
                return table.csv_response(filename)
        return HttpResponse(f"No table named {wanted!r}.", status=400, content_type="text/plain")
    for table in tables:
        table.display_rows = [[cell(value) for value in row] for row in table.rows]
    return TemplateResponse(request, template, {**context, "tables": {t.name: t for t in tables}})
