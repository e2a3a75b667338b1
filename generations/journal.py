"""Every event appended to a job's story is also one log line, naming the job: with
LOG_FORMAT=json, one JSON object per step with its generation id, kind and worker."""

import logging

log = logging.getLogger("generations.steps")


def log_event(sender, instance, created, **kwargs) -> None:
    if not created:
        return
    data = instance.data if isinstance(instance.data, dict) else {}
    log.info(
        instance.message,
        extra={
            "generation": str(instance.generation.uuid),
            "event": instance.kind,
            "worker": data.get("worker"),
        },
    )
