"""Re-encrypt every vendor API key with the newest key of FIELD_ENCRYPTION_KEYS.

To rotate: put a new key first in FIELD_ENCRYPTION_KEYS and keep the old ones after
it, deploy, run this, and only then drop the old keys. Rows go in batches, each in one
transaction with its rows locked, so a key an operator sets in the admin meanwhile is
not overwritten with a re-encryption of the one it replaced. A row already under the
newest key is left alone, so running this twice changes nothing the second time.

A row that no configured key decrypts is named and left as it is, and the command
exits non-zero: the old key it needs must not be dropped yet.
"""

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from generations.models import VendorAccount
from generations.operators import crypto


class Command(BaseCommand):
    help = "Re-encrypt every vendor API key with the first (newest) key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=100, help="Rows per transaction (default 100)."
        )

    # Long on purpose: one pass that re-encrypts, counts and reports, under one lock per
    # batch; split up, the batch's transaction would be spread over several functions.
    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if not settings.FIELD_ENCRYPTION_KEYS:
            raise CommandError(
                "FIELD_ENCRYPTION_KEYS is empty, so there is no newest key to rotate to."
            )
        crypto.fernet()  # refuses keys that are not Fernet keys, naming the setting
        newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0])
        rotated, current, unreadable = 0, 0, []
        after = 0
        while True:
            with transaction.atomic():
                batch = list(
                    VendorAccount.objects.select_for_update()
                    .filter(pk__gt=after)
                    .order_by("pk")
                    .only("pk", "uuid", "label", "api_key_encrypted")[:batch_size]
                )
                for account in batch:
                    token = account.api_key_encrypted
                    try:
                        newest.decrypt(token.encode())
                    except InvalidToken:
                        pass
                    else:
                        current += 1
                        continue
                    try:
                        token = crypto.rotate(token)
                    except InvalidToken:
                        unreadable.append(account)
                        continue
                    VendorAccount.objects.filter(pk=account.pk).update(api_key_encrypted=token)
                    rotated += 1
            if len(batch) < batch_size:
                break
            after = batch[-1].pk

        self.stdout.write(
            f"Rotated {rotated} vendor key(s) to the newest key; "
            f"{current} already used it; {len(unreadable)} could not be read."
        )
        if unreadable:
            for account in unreadable:
                self.stderr.write(
                    f"  ✗ vendor account {account.pk} “{account.label}” ({account.uuid})"
                )
            ids = ", ".join(str(account.pk) for account in unreadable)
            raise CommandError(
                f"Vendor account(s) {ids} can't be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS and were left as they were. Put back the key they were "
                "encrypted with (after the newest), or set their API keys again in the admin; "
                "do not drop an old key until this command succeeds."
            )
        self.stdout.write(self.style.SUCCESS("Every vendor key uses the newest key."))
