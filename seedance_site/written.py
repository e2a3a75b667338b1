"""Model instances from a written query: for the few reads on every request.

Building a query through the ORM costs a millisecond or more of Python per request for a
join the database answers in a tenth of that. A query read on every signed-in request
(the session, the user with their teams) is written once instead; its rows still become
ordinary model instances, their values converted as the ORM converts them (a uuid, a
date and a flag read from SQLite are text and integers until then).
"""

from contextlib import contextmanager
from datetime import UTC
from functools import cache
from uuid import UUID

from django.db import connection
from django.utils.dateparse import parse_datetime


def columns(model, alias: str) -> str:
    """The SELECT list of every stored field of `model` in table `alias`, in field order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def stored_time(value):
    """A stored time read by a cursor, as the ORM gives it: SQLite's comes back without a
    time zone (or, as an expression's value, as text); Django keeps it in UTC there."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def stored_uuid(value):
    """A stored uuid read by a cursor, as the ORM gives it: SQLite keeps 32 hex digits."""
    return value if value is None or isinstance(value, UUID) else UUID(value)


def one_value(sql: str, params, default=None):
    """The first column of the first row `sql` reads, or `default` when it reads none."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else default


def instances(sql: str, params, *models) -> list[tuple]:
    """Run `sql`, whose columns are each of `models`' columns() in turn, and return a tuple
    with one instance of each model per row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _built(cursor.fetchall(), models)


def instances_together(*reads) -> list[list[tuple]]:
    """`instances(sql, params, *models)` of each (sql, params, models) read, the reads
    sent together (pipelined: one round trip on PostgreSQL)."""
    cursors = [connection.cursor() for _ in reads]
    try:
        with pipelined():
            for cursor, (sql, params, _) in zip(cursors, reads, strict=True):
                cursor.execute(sql, params)
        return [
            _built(cursor.fetchall(), models)
            for cursor, (_, _, models) in zip(cursors, reads, strict=True)
        ]
    finally:
        for cursor in cursors:
            cursor.close()


def _built(rows, models) -> list[tuple]:
    widths = [len(model._meta.concrete_fields) for model in models]
    built = []
    for row in rows:
        start, one = 0, []
        for model, width in zip(models, widths, strict=True):
            one.append(instance(model, row[start : start + width]))
            start += width
        built.append(tuple(one))
    return built


def instance(model, values):
    """`model` from its columns() values, as the ORM reads it; None when its primary key is
    NULL (a LEFT JOIN that found no row)."""
    names, converters, pk = _reader(model, connection.vendor)
    values = list(values)
    if values[pk] is None:
        return None
    for index, convert in converters:
        values[index] = convert(values[index])
    return model.from_db(connection.alias, names, values)


@cache
def _reader(model, vendor):
    """The attribute names of `model`'s stored fields, and what converts which of them,
    as the ORM's compiler would on this database (vendor: one set per backend)."""
    del vendor  # part of the cache key only
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        steps = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if steps:
            converters.append((index, _chain(steps, column)))
    return [f.attname for f in fields], converters, fields.index(model._meta.pk)


def _chain(steps, column):
    def convert(value):
        for step in steps:
            value = step(value, column, connection)
        return value

    return convert


@contextmanager
def pipelined():
    """Statements executed inside go to PostgreSQL without waiting for each answer (with
    the transaction's BEGIN, when they open one): one round trip where each was one. The
    server still runs them in order, each after the one before has finished. Only the
    last result of a cursor can be read, once the block is left; an error in any of them
    is raised there, as the error Django's own cursor would have raised. Elsewhere the
    statements run as usual."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
