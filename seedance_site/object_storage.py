"""Object storage from the environment: django-storages' S3 backend, configured with its
own variable names, when AWS_STORAGE_BUCKET_NAME is set (settings.py reads it here).

Each setting that would only fail at the first clip (a missing region, half a key pair,
an endpoint without a scheme, a custom domain that drops signatures) stops the process at
start-up instead, naming the variable.
"""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from seedance_site.env import envstr

# botocore's test for a bucket it may address by virtual host (botocore.utils.check_dns_name).
BUCKET_DNS_LABEL = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def object_storage_from_env(expire: int) -> tuple[dict | None, str]:
    """The S3 storage entry and the origin its URLs point at, or (None, "") for files."""
    bucket = envstr("AWS_STORAGE_BUCKET_NAME")
    if not bucket:
        return None, ""
    region = envstr("AWS_S3_REGION_NAME")
    endpoint = envstr("AWS_S3_ENDPOINT_URL").rstrip("/")
    # Path style for S3-compatible servers (one host, no wildcard DNS), virtual for AWS.
    style = envstr("AWS_S3_ADDRESSING_STYLE", "path" if endpoint else "virtual")
    if not region:
        # Signature v4 signs the region: a URL signed for another one is refused.
        raise ImproperlyConfigured("AWS_S3_REGION_NAME must be set with AWS_STORAGE_BUCKET_NAME")
    if envstr("AWS_S3_CUSTOM_DOMAIN"):
        # django-storages hands out unsigned URLs under a custom domain: private clips
        # would be readable by anyone, or refused to everyone.
        raise ImproperlyConfigured("AWS_S3_CUSTOM_DOMAIN is not supported: media URLs are signed")
    if style not in ("path", "virtual"):
        raise ImproperlyConfigured("AWS_S3_ADDRESSING_STYLE must be path or virtual")
    if not BUCKET_DNS_LABEL.fullmatch(bucket):
        # botocore addresses such a bucket (dots, capitals) by path whatever we ask: say
        # so, or the CSP would name a host its URLs never point at.
        style = "path"
    access_key = envstr("AWS_ACCESS_KEY_ID")
    secret_key = envstr("AWS_SECRET_ACCESS_KEY")
    if bool(access_key) != bool(secret_key):
        raise ImproperlyConfigured(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, "
            "for boto3's own credentials)"
        )
    # An explicit regional endpoint, so boto3 signs for and points at that region.
    endpoint = endpoint or f"https://s3.{region}.amazonaws.com"
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            f"AWS_S3_ENDPOINT_URL must be an http:// or https:// URL (got {endpoint!r})"
        )
    host = f"{bucket}.{parts.netloc}" if style == "virtual" else parts.netloc
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": region,
        # Empty means boto3's own chain (an instance or task role, whose keys expire).
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "signature_version": "s3v4",
        "addressing_style": style,
        "querystring_auth": True,
        "querystring_expire": expire,
        "default_acl": None,
        "file_overwrite": True,
        "custom_domain": None,
        # Reads through the storage's own file object spill to disk past 8 MB.
        "max_memory_size": 8 * 2**20,
    }
    return {"BACKEND": "generations.media.bucket.BucketStorage", "OPTIONS": options}, (
        f"{parts.scheme}://{host}"
    )
