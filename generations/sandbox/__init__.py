"""An offline simulator of every vendor's API, served by this app at /sandbox/<protocol>/.

Each vendor answers at the paths, with the validation, status names, result shapes,
charges, errors and callbacks its protocol note (docs/vendors/<protocol>.md)
describes; a vendor account's base URL is ``{PUBLIC_BASE_URL}/sandbox/<protocol>``.
Any bearer key that starts with ``sk-sandbox-`` is accepted; a task belongs to its key.
Finished tasks point at real MP4s under ``/sandbox/files/<token>.mp4``.

Faults are injected by prompt markers or per key: see `generations.sandbox.faults`.

Settings (all optional):

    SANDBOX_QUEUE_SECONDS     1.0    a task is queued this long,
    SANDBOX_RUN_SECONDS       3.0    then runs this long (with progress)
    SANDBOX_RENDER_SCALE      0.25   clip size = the vendor's pixel size times this
    SANDBOX_RENDER_FPS        10     clip frame rate
    SANDBOX_RENDER_WORKERS    2      render threads per process
    SANDBOX_RENDER_PROCESSES  0      processes those threads render in (0: on the threads)
    SANDBOX_ROOT              MEDIA_ROOT/sandbox   where clips are written
    SANDBOX_HANG_SECONDS      30     how long [[fault:timeout]] holds the create answer
    SANDBOX_CALLBACK_TIMEOUT  5.0    seconds per callback POST (evolink: its documented 10)
    SANDBOX_AUTOTICK          True   timers tick each task when it ends, so callbacks go
                                     out on time without polling; tests turn it off

Python API (`generations.sandbox.engine`): `sandbox_tick()` does whatever is owed
(renders lost to a restart, due callbacks) and may be called from anywhere;
`backdate(task_or_id, seconds)` moves a task back in time; `wait_for_background()`
waits for renders and callbacks; `reset_process_state()` forgets what this process
holds in memory, as a restart would. Tests capture callbacks by putting an
`httpx.MockTransport` in `generations.sandbox.callbacks.transport`.
"""
