"""Rows read and written with statements built once: the ledger's holds, captures and
releases (billing.ledger), the job row a submission writes (generations.lifecycle.sending)
and every job event (generations.journal), the reads and writes on every job.

`Model.objects.create()` builds and compiles its INSERT on every call, which was a
large share of the Python time of a hold. `insert` builds the statement once per
model and per row only turns the values into parameters, through each field's own
`get_db_prep_save`, so every database gets what the ORM itself would send.
"""

from functools import cache

from django.db import connection
from django.db.transaction import TransactionManagementError

UPDATE = "update"  # FOR UPDATE
NO_KEY = "no key"  # FOR NO KEY UPDATE: the row changes, its key does not


@cache
def _statement(model, returning: bool, unless_conflict_on: tuple[str, ...]):
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    # Names from the model's own metadata; every value goes in as a parameter.
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608
    if unless_conflict_on:
        sql += f" ON CONFLICT ({', '.join(map(quote, unless_conflict_on))}) DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(model._meta.pk.column)}"
    return sql, fields


def insert(cursor, obj, *, returning=False, unless_conflict_on: tuple[str, ...] = ()):
    """INSERT `obj` (an unsaved model instance); its new pk if `returning`.

    With `unless_conflict_on` (the columns of a unique constraint) a row that would
    break the constraint is skipped instead, and the pk returned is None.
    """
    sql, fields = _statement(type(obj), returning, unless_conflict_on)
    cursor.execute(sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
    if returning:
        row = cursor.fetchone()
        return row[0] if row else None
    return None


@cache
def _select(model, where: str, order_by: str, lock: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {where}"  # noqa: S608
    if order_by:
        sql += f" ORDER BY {order_by}"
    if lock and connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql(no_key=lock == NO_KEY)
    return sql


def select(model, where: str, params, *, order_by: str = "", lock: str = "") -> list:
    """Whole rows of `model` WHERE `where` (fixed SQL; every value a parameter), as
    instances: `Model.objects.raw` converts the values as the ORM does.

    `lock` (UPDATE or NO_KEY) locks them to the end of the transaction on databases
    that can; outside a transaction that lock would end with the SELECT, so it is
    refused, as the ORM's select_for_update refuses it.
    """
    if lock and connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    return list(model.objects.raw(_select(model, where, order_by, lock), params))
