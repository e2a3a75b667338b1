"""The S3 storage class named in settings when AWS_STORAGE_BUCKET_NAME is set.

Its own module, so boto3 is imported only by processes that use a bucket.
"""

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from storages.backends.s3 import S3Storage

PART_BYTES = 8 * 2**20
PARTS_IN_FLIGHT = 4
# A readiness probe's look at the bucket: one try, seconds each way. botocore's defaults
# (60 s to connect, 60 s to read, retried) would hold a web worker for minutes on a bucket
# that does not answer, and anyone may ask /readyz.
PROBE_CONFIG = Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 1})


class BucketStorage(S3Storage):
    """django-storages' S3 backend with uploads that hold a bounded amount in memory.

    boto3's managed upload reads a file part by part; by default up to ten 8 MB parts
    wait in memory at once per upload. Four keeps a worker at about 32 MB per clip
    whatever the clip's size.
    """

    def __init__(self, **settings):
        super().__init__(**settings)
        self.transfer_config = TransferConfig(
            multipart_threshold=PART_BYTES,
            multipart_chunksize=PART_BYTES,
            max_concurrency=PARTS_IN_FLIGHT,
        )
        # s3transfer's own limits, which boto3's TransferConfig does not take as arguments.
        self.transfer_config.max_in_memory_upload_chunks = PARTS_IN_FLIGHT
        self.transfer_config.max_in_memory_download_chunks = PARTS_IN_FLIGHT
        self._probe_client = None

    def reachable(self) -> None:
        """Raise unless the bucket answers a HEAD within a few seconds."""
        # Made once (a client costs tens of milliseconds); botocore's clients are thread-safe.
        if self._probe_client is None:
            self._probe_client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                use_ssl=self.use_ssl,
                endpoint_url=self.endpoint_url,
                config=self.client_config.merge(PROBE_CONFIG),
                verify=self.verify,
            )
        self._probe_client.head_bucket(Bucket=self.bucket_name)
