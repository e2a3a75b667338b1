"""django-q2's database broker (the task queue when there is no Redis), its INSERT
written once per process.

django-q2's own `ORM.enqueue` is `OrmQ.objects.create()`: the ORM builds and compiles
the same three-column INSERT for every task queued, a third of a millisecond of Python
on each submission. This one writes the row the ORM would write (same columns, values
prepared by the fields), with the statement built once, as the ledger writes a hold.
Taking, locking and acknowledging tasks stay django-q2's. The queue lives in the default
database (settings: `"orm": "default"`), as every other row of this project.
"""

from django import db
from django.db import connection, transaction
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from seedance_site import rows


class WrittenORM(ORM):
    def enqueue(self, task):
        if transaction.get_autocommit(using=Conf.ORM):
            db.close_old_connections()  # as django-q2's broker does outside a transaction
        row = OrmQ(key=self.list_key or Conf.CLUSTER_NAME, payload=task, lock=timezone.now())
        with connection.cursor() as cursor:
            return rows.insert(cursor, row, returning=True)
