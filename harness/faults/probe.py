"""A submission made while a fault is in force: one workflow run of a single task, sent a second after
the fault fired, the way a user's client would send it (the platform's HTTP API, the same call the load
generator makes, with the retries the platform's own client makes). What became of it answers the
issue's "were submissions during the fault refused, queued or lost": the answer is read here, the
run's fate afterwards from the engine and the task body's stamp (fault_analysis.probe_verdict).
"""

from __future__ import annotations

import random
import time
from typing import Callable

import httpx
import tenacity

from harness.load.schedule import HttpTarget, RequestTemplate, RetryPolicy
from harness.model.fault_record import SubmissionProbe

PROBE_AFTER_S = 1.0  # after the fault fired: a kill, pause or cut is in force; a restart is under way
ANSWER_TIMEOUT_S = 30.0  # no answer by then is "no-answer" (the client would not know what happened)

# probe -> None: sends the run the probe names and fills in the answer.
Sender = Callable[[SubmissionProbe], None]


def probe_sender(target: HttpTarget, answer_timeout_s: float = ANSWER_TIMEOUT_S) -> Sender:
    """A sender for `target` (its workload already cut to one task by the caller)."""

    def send(probe: SubmissionProbe) -> None:
        prefix, _, index = probe.workflow_id.rpartition("-")
        template = RequestTemplate(target, prefix)
        request = dict(
            method=template.method,
            url=template.path(int(index)),
            content=template.body(int(index)),
            headers=template.headers,
        )
        with httpx.Client(base_url=target.base_url, timeout=answer_timeout_s) as client:
            try:
                answer = _retrying(target.retry, probe)(client.request, **request)
            except httpx.TimeoutException:
                probe.error = f"no answer within {answer_timeout_s:g}s"
                return
            except httpx.HTTPError as err:  # connection refused or reset: the client is told at once
                probe.answered_ns, probe.error = time.time_ns(), f"{type(err).__name__}: {err}"[:200]
                return
            probe.answered_ns, probe.http_status = time.time_ns(), answer.status_code
        if answer.status_code >= 400:
            probe.error = f"HTTP {answer.status_code}: {answer.text.strip()[:160]}"

    return send


def _retrying(policy: RetryPolicy | None, probe: SubmissionProbe) -> tenacity.Retrying:
    """The platform's own client's patience: an answer in policy.statuses is sent again after the policy's
    backoff, at most max_retries times, each retry counted on the probe; the last answer is kept whatever
    it is. A failed connection is never retried (the probe reports it as the client would see it)."""
    if policy is None:
        return tenacity.Retrying(stop=tenacity.stop_after_attempt(1), retry=tenacity.retry_never)

    def counted(state: tenacity.RetryCallState) -> None:
        probe.retries += 1

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_retries + 1),
        wait=lambda state: policy.delay_s(state.attempt_number, random.random()),
        retry=tenacity.retry_if_result(lambda answer: answer.status_code in policy.statuses),
        before_sleep=counted,
        retry_error_callback=lambda state: state.outcome.result(),
    )


def probe_id(first_workflow: str) -> str:
    """The probe's workflow id beside the repetition's own: "<names>-<phase>-probe-0"."""
    return f"{first_workflow.rpartition('-')[0]}-probe-0"
