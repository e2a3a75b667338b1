"""Stored media on either backend: files under MEDIA_ROOT, or an S3-compatible bucket.

Django's storage API covers saving and deleting. What it does not cover well for a
bucket is done here: reading a byte range or a whole object as a stream (the storage's
own file object reads the whole object into memory first), and handing a member a
presigned URL that neither outlives the keys that signed it nor is silently unsigned.
"""

import logging
import shutil
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils.http import content_disposition_header

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
# A presigned URL must still work this long after we hand it out (a slow player's
# first request); with less credential lifetime left, the web process streams instead.
MIN_URL_SECONDS = 30


def is_bucket(storage) -> bool:
    """True for django-storages' S3 backend (anything with a boto3 bucket)."""
    return hasattr(storage, "bucket") and hasattr(storage, "connection")


def open_range(storage, name: str, start: int, end: int):
    """An iterable of the bytes start..end (inclusive) of a stored file, and its closer."""
    if end < start:  # an empty file
        return iter(()), lambda: None
    if is_bucket(storage):
        body = storage.bucket.Object(name).get(Range=f"bytes={start}-{end}")["Body"]
        return body.iter_chunks(CHUNK), body.close
    handle = storage.open(name, "rb")
    if start:
        handle.seek(start)
    return _read(handle, end - start + 1), handle.close


def _read(handle, remaining):
    while remaining > 0:
        chunk = handle.read(min(CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


class StorageFailed(Exception):
    """The media storage refused a file or did not answer. Its words reach members (a
    job's error, an export's status), so they name no endpoint, bucket or key: those are
    in the cause, which the log keeps."""


@contextmanager
def storage_errors(doing: str):
    try:
        yield
    except Exception as exc:
        raise StorageFailed(
            f"The media storage failed while {doing} ({type(exc).__name__})."
        ) from exc


def copy_to_file(storage, name: str, out) -> None:
    """Stream a stored file into the open binary file `out`, never whole in memory."""
    with storage_errors("reading a clip"):
        if is_bucket(storage):
            storage.bucket.download_fileobj(name, out, Config=storage.transfer_config)
            return
        with storage.open(name, "rb") as source:
            shutil.copyfileobj(source, out, CHUNK)


def save_file(storage, name: str, path) -> str:
    """Store the local file at `path` under `name`; returns the stored name.

    A bucket gets it by boto3's managed upload, read from the file part by part
    (multipart past 8 MB), and the object appears only when the last part is in: a
    failed upload is aborted and leaves nothing behind.
    """
    with open(path, "rb") as handle, storage_errors("storing a file"):
        return storage.save(name, File(handle, name=name))


def save_bytes(storage, name: str, data: bytes) -> str:
    """Store `data` under `name`; returns the stored name."""
    with storage_errors("storing a file"):
        return storage.save(name, ContentFile(data))


def credential_seconds_left(storage) -> float | None:
    """Seconds until the keys that sign this storage's URLs expire; None if they do not.

    Keys from an instance or task role (and AWS_SESSION_TOKEN) expire: a URL they signed
    stops working then, whatever its X-Amz-Expires says.
    """
    client = storage.connection.meta.client
    credentials = getattr(client._request_signer, "_credentials", None)
    expiry = getattr(credentials, "_expiry_time", None)
    if expiry is None:
        return None
    if credentials.refresh_needed():
        credentials.get_frozen_credentials()  # refreshes them, as signing would
        expiry = getattr(credentials, "_expiry_time", None)
    return expiry.timestamp() - time.time()


def presigned_url(storage, name: str, *, filename: str, content_type: str, download: bool):
    """A short-lived signed GET URL for a stored object, or None where the caller must
    stream it itself (filesystem storage, redirects turned off, keys about to expire)."""
    if not is_bucket(storage) or not settings.MEDIA_REDIRECT_ENABLED:
        return None
    expire = settings.AWS_QUERYSTRING_EXPIRE
    left = credential_seconds_left(storage)
    if left is not None:
        if left < MIN_URL_SECONDS + 5:
            log.warning("Signing keys expire in %.0f s: streaming %s instead", left, name)
            return None
        expire = min(expire, int(left) - 5)
    url = storage.url(
        name,
        parameters={
            "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition_header(download, filename),
        },
        expire=expire,
    )
    if "X-Amz-Signature=" not in url:
        # An unsigned URL would be refused by a private bucket, or work for anyone.
        log.error("The storage gave an unsigned URL for %s: streaming instead", name)
        return None
    return url
