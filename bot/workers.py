"""Worker processes: what `commstat serve` and `commstat socket` start next to the front, and
what `commstat worker` is on another host.

The front only stores jobs and acknowledges (bot/slack/jobs.py); each worker process claims jobs
from the database and carries them out one at a time. One of `serve`'s workers also runs the
scheduler's pass every minute (nudges, digests, the outbox), so the front never draws a chart or
calls Slack after an ack. `serve` restarts a worker that dies, and its workers die with it (on
Linux, the kernel sends them SIGTERM when `serve` goes, even by SIGKILL): jobs they held are
claimed again by the next workers (see storage/jobs.py).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

logger = logging.getLogger(__name__)

RESTART_DELAY = 2.0  # seconds before a worker that died is started again (doubling, up to 60)
STOP_TIMEOUT = 30.0  # seconds a worker gets to finish its job on shutdown
WORKER_NICENESS = 10  # workers run at a lower CPU priority than the acknowledging process


def default_count() -> int:
    """One worker per CPU this process may run on (a container's cpuset, not the whole host)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def become_started_worker(parent: int) -> bool:
    """Called first thing by a worker that `serve` started. It yields the CPU to the process that
    acknowledges Slack (a late answer is a nuisance, a late ack is an error in Slack), and on
    Linux it gets SIGTERM when that process ends, however it ends. False when the parent has
    already gone (it ended before this could be set up)."""
    os.nice(WORKER_NICENESS)
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the worker also watches its parent's pid (`--parent`)
    return not parent_gone(parent)


class Supervisor:
    """Starts `count` worker processes, restarts any that dies, stops them all on `stop()`."""

    def __init__(
        self, count: int, *, scheduler: bool, log_level: str, extra: Sequence[str] = ()
    ) -> None:
        self.count = count
        self.scheduler = scheduler
        self.log_level = log_level
        self.extra = list(extra)
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def command(self, index: int) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "bot.cli",
            "--log-level",
            self.log_level,
            "worker",
            "--parent",
            str(os.getpid()),
            "--name",
            f"worker-{index + 1}",
        ]
        if not (self.scheduler and index == 0):
            args.append("--no-scheduler")
        return [*args, *self.extra]

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self.command(index))  # noqa: S603 - our interpreter, our args
        logger.info("worker-%d started (pid %d)", index + 1, process.pid)
        return process

    def start(self) -> Supervisor:
        for index in range(self.count):
            self.processes[index] = self._spawn(index)
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        delays = [RESTART_DELAY] * self.count
        while not self._stopping.wait(0.5):
            for index, process in enumerate(self.processes):
                if process is None or process.poll() is None:
                    continue
                logger.warning(
                    "worker-%d (pid %d) exited with %s; starting it again in %.0f s",
                    index + 1,
                    process.pid,
                    process.returncode,
                    delays[index],
                )
                if self._stopping.wait(delays[index]):
                    return
                delays[index] = min(60.0, delays[index] * 2)
                self.processes[index] = self._spawn(index)

    def alive(self) -> int:
        return sum(1 for p in self.processes if p is not None and p.poll() is None)

    def stop(self) -> None:
        """SIGTERM to every worker (each finishes its job), then wait; SIGKILL after a while."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        running = [p for p in self.processes if p is not None and p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop; killing it", process.pid)
                process.kill()
                process.wait()


def parent_gone(parent: int | None) -> bool:
    """The process that started this worker has ended (we were re-parented)."""
    return parent is not None and os.getppid() != parent
