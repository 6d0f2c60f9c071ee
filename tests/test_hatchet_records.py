"""When Hatchet's run details are complete enough to read (engine records written asynchronously)."""

from datetime import datetime, timezone
from types import SimpleNamespace as NS

from harness.platforms.hatchet import records_settled

T = datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc)


def _task(i: int, status="COMPLETED", started=T, finished=T):
    return NS(display_name=f"t{i}-1796318263732", status=NS(value=status), started_at=started, finished_at=finished)


def _details(tasks, status="COMPLETED", finished=T):
    return NS(run=NS(status=NS(value=status), finished_at=finished), tasks=tasks)


def test_a_final_run_whose_tasks_all_started_and_finished_is_settled():
    assert records_settled(_details([_task(i) for i in range(3)]), 3)


def test_a_completed_task_still_lacking_its_start_keeps_the_details_unsettled():
    # seen on a real engine: the run already final, a task's STARTED event not yet written
    assert not records_settled(_details([_task(0), _task(1, started=None), _task(2)]), 3)


def test_a_running_run_or_a_missing_task_keeps_the_details_unsettled():
    assert not records_settled(_details([_task(i) for i in range(3)], status="RUNNING", finished=None), 3)
    assert not records_settled(_details([_task(0), _task(2)]), 3)
    assert not records_settled(_details([_task(0), _task(1, finished=None, status="RUNNING"), _task(2)]), 3)


def test_a_task_cancelled_before_it_started_needs_no_start():
    tasks = [_task(0), _task(1, status="CANCELLED", started=None)]
    assert records_settled(_details(tasks, status="CANCELLED"), 2)
