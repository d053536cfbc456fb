"""Rows inserted with the values they hold, in one statement per batch.

An import keeps the file's times: `bulk_create` would stamp `auto_now`/`auto_now_add` fields
with the present, and writing the file's times back afterwards wrote every message twice
(issue #20). Nothing here runs a model's save() or signals, as with bulk_create.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models

MAX_ROWS_PER_INSERT = 1000


def rows_insert(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """INSERTs `rows` as they are (primary keys set by the caller), in as few statements as the
    database's parameter limit allows."""
    if not rows:
        return
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    batch = max(1, min(MAX_ROWS_PER_INSERT, connection.ops.bulk_batch_size(fields, rows)))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            params = [f.get_db_prep_save(getattr(row, f.attname), connection)
                      for row in chunk for f in fields]
            cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
                           + ", ".join([one_row] * len(chunk)), params)
