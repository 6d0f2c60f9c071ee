"""The per-worker records file of a load step (`records-w<w>.npz` in the step's folder).

Written by the Locust master from each worker's message, read by the driver. numpy only: pandas
(which pyarrow's table constructor imports) took 14 s to import on the busy 2-core machine, and
the master must not stall between steps; the driver builds the table (`generator.read_records`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ShareRecords:
    worker: int
    workers: int
    intended_ns: np.ndarray  # int64
    send_ns: np.ndarray  # int64, 0: never sent
    ack_ns: np.ndarray  # int64, 0: no acknowledgement
    http_status: np.ndarray  # int16, 0: no response
    retries: np.ndarray  # int16, answers the target's retry policy sent again
    errors: dict[int, str]  # index in the share -> the exception, one line


def write_share(path: Path, payload: dict) -> None:
    """`payload` as `pacer.ShareRun.payload` builds it: arrays as bytes, errors keyed by str(index)."""
    np.savez(
        path,
        worker=np.int64(payload["worker"]),
        workers=np.int64(payload["workers"]),
        intended_ns=np.frombuffer(payload["intended"], dtype=np.int64),
        send_ns=np.frombuffer(payload["send"], dtype=np.int64),
        ack_ns=np.frombuffer(payload["ack"], dtype=np.int64),
        http_status=np.frombuffer(payload["status"], dtype=np.int16),
        retries=np.frombuffer(payload["retries"], dtype=np.int16),
        errors_json=np.str_(json.dumps(payload["errors"])),
    )


def read_share(path: Path) -> ShareRecords:
    with np.load(path) as z:
        return ShareRecords(
            worker=int(z["worker"]),
            workers=int(z["workers"]),
            intended_ns=z["intended_ns"],
            send_ns=z["send_ns"],
            ack_ns=z["ack_ns"],
            http_status=z["http_status"],
            retries=z["retries"],
            errors={int(k): v for k, v in json.loads(str(z["errors_json"])).items()},
        )
