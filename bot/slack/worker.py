"""Workers: claim stored jobs (storage/jobs.py) and run each through the worker app.

The worker app has the same listeners as the front; a job is handed to it as a *lazy-only*
request (Bolt's own mechanism for running a lazy function elsewhere, as its AWS Lambda adapter
does), with the job's calls journaled (bot/slack/journal.py). `Worker` is one claimer (a
`commstat worker` process, or a thread); `WorkerThreads` runs a few in this process for the
tests, the demo and the console.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from slack_bolt import App, BoltRequest
from slack_bolt.kwargs_injection import build_required_kwargs
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.util.utils import get_arg_names_of_callable

from bot.bootstrap import Services, system_clock
from bot.core.text import clip, safe
from bot.slack import people
from bot.slack.journal import JOB, ClaimLost, Journaling, Running
from storage import jobs
from storage.models import JobStatus

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # wall-clock claim, renewed every third of it while the job runs
POLL_SECONDS = 0.05  # how often an idle worker looks for work
RETRY_DELAY = 5.0  # seconds before a job that raised is tried again (doubling each time)
KEEP_FINISHED = timedelta(days=2)  # finished jobs (people's words) are forgotten after this


def _this_machine() -> str:
    """This host's name, plus what tells apart two machines (or containers) that share one: the
    kernel's boot id and this process's PID namespace. A claim made here can be judged here
    (is its process alive?) only when this whole string matches."""
    marks = []
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            marks.append(os.readlink(path) if path.endswith("/pid") else Path(path).read_text())
        except OSError:
            marks.append("")
    digest = hashlib.sha256("|".join(m.strip() for m in marks).encode()).hexdigest()[:10]
    return f"{socket.gethostname()[:40]}~{digest}"


HOST = _this_machine()


class RunHere(LazyListenerRunner):
    """The worker app's lazy runner: the job's function runs in this thread, and what it
    raises is kept for the worker (Bolt's own runner would only log it)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        raise RuntimeError("a worker runs one job's listener at a time, never another's")

    def run(self, function: Callable[..., None], request: BoltRequest) -> None:
        running = request.context.get(JOB)
        kwargs = build_required_kwargs(
            logger=self.logger,
            required_arg_names=get_arg_names_of_callable(function),
            request=request,
            response=None,
            this_func=function,
        )
        if isinstance(running, Running):
            running.ran = True
        try:
            function(**kwargs)
        except (Exception, ClaimLost) as error:
            if isinstance(running, Running):
                running.error = error
            else:
                raise


def as_worker(app: App) -> App:
    """The working app: runs stored jobs' lazy functions, journaled."""
    app.listener_runner.lazy_listener_runner = RunHere(app.logger)
    app.use(Journaling())
    return app


class Worker:
    """Claims jobs one at a time and runs them through the working app until `stop` is set."""

    def __init__(
        self,
        services: Services,
        app: App,
        *,
        name: str | None = None,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.services = services
        self.app = app
        self.name = name or f"{HOST}:{os.getpid()}:{threading.get_ident()}"
        self.lease = lease
        self.poll = poll
        self.retry_delay = RETRY_DELAY
        self.busy = False
        self.turn = threading.Lock()
        self._next_housekeeping = 0.0

    def work_once(self) -> bool:
        """Run one ready job; False when there was none."""
        now = system_clock()
        if not jobs.has_work(self.services.sessions, now):
            return False
        self.busy = True
        try:
            job = jobs.claim(self.services.sessions, worker=self.name, now=now, lease=self.lease)
            if job is None:
                return False
            if job.given_up:
                logger.error("job %s (%s): its workers kept dying; given up", job.id, job.listener)
                self._apologise(job)
                return True
            self._run(job)
            return True
        finally:
            self.busy = False

    def serve(self, stop: threading.Event, hold: threading.Event | None = None) -> None:
        """Take jobs until `stop` is set; while `hold` is set, touch nothing (not even a read)."""
        logger.info("worker %s: taking jobs", self.name)
        while not stop.is_set():
            with self.turn:  # `WorkerThreads.held` waits for the pass in progress
                if hold is not None and hold.is_set():
                    found = False
                else:
                    try:
                        self._housekeeping()
                        found = self.work_once()
                    except (Exception, ClaimLost):
                        logger.exception("worker %s: the job queue could not be read", self.name)
                        stop.wait(1.0)
                        continue
            if not found:
                stop.wait(self.poll)
        logger.info("worker %s: stopped", self.name)

    def _housekeeping(self) -> None:
        """Now and then: jobs of dead processes on this host wait again; old jobs go."""
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + 10.0
        now = system_clock()
        released = jobs.release_orphans(self.services.sessions, host=HOST, alive=_alive, now=now)
        if released:
            logger.info("worker %s: %d interrupted job(s) will run again", self.name, released)
        with self.services.sessions.begin() as session:
            jobs.purge(session, before=now - KEEP_FINISHED)

    def _run(self, job: jobs.ClaimedJob) -> None:
        running = Running(self.services, job)
        stop_renewing = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(running, stop_renewing), name=f"lease-{job.id}", daemon=True
        )
        renewer.start()
        started = time.monotonic()
        # A request from a person proves their Slack account works: reminders may reach them.
        people.heard_from(self.services, job.team_id, _sender(job))
        try:
            request = BoltRequest(
                body=job.request.get("body") or {},
                mode="socket_mode",  # already verified by the front; not signed again
                headers={
                    "x-slack-bolt-lazy-only": "1",
                    "x-slack-bolt-lazy-function-name": job.listener,
                },
                context={JOB: running},
            )
            response = self.app.dispatch(request)
        finally:
            stop_renewing.set()
            renewer.join()
        now = system_clock()
        if running.lost or isinstance(running.error, ClaimLost):
            logger.warning("job %s: taken over by another worker; left to it", job.id)
            return
        if running.error is None and response.status >= 500:
            running.error = RuntimeError(f"Bolt answered {response.status}: {response.body}")
        if running.error is None and response.status < 400 and not running.ran:
            # No listener took it (renamed since the job was stored?): not done, and visible.
            running.error = LookupError(f"no listener runs {job.listener!r} for this request")
        if running.error is not None:
            error = running.error
            status = jobs.retry_or_fail(
                self.services.sessions,
                job,
                error=f"{type(error).__name__}: {error}",
                now=now,
                delay=self.retry_delay * 2**job.attempts,
            )
            logger.error(
                "job %s (%s) raised %s (try %d): %s",
                job.id,
                job.listener,
                type(error).__name__,
                job.attempts,
                "given up" if status is JobStatus.FAILED else "will try again",
                exc_info=error,
            )
            if status is JobStatus.FAILED:
                self._apologise(job)
            return
        if response.status >= 400:
            logger.warning("job %s (%s): refused with %s", job.id, job.listener, response.status)
        jobs.finish(self.services.sessions, job, now=now)
        logger.debug("job %s (%s) done in %.3f s", job.id, job.listener, time.monotonic() - started)

    def _apologise(self, job: jobs.ClaimedJob) -> None:
        """A job given up: its person hears so (best effort), rather than waiting for nothing."""
        body = job.request.get("body") or {}
        user = _sender(job)
        if not isinstance(user, str) or not job.team_id:
            return
        asked = body.get("command")
        what = f"`{safe(clip(str(asked), 40))}`" if isinstance(asked, str) else "what you asked"
        try:
            self.services.client_for(job.team_id).chat_postMessage(
                channel=user,
                text=f"Sorry — something went wrong on my side with {what}, and I gave up after "
                "several tries. Please try again; if it keeps happening, tell your admin.",
            )
        except Exception as error:  # the apology is a courtesy; the log has the failure
            logger.warning("job %s: could not tell the person (%s)", job.id, type(error).__name__)

    def _renew(self, running: Running, stop: threading.Event) -> None:
        while not stop.wait(self.lease / 3):
            try:
                if not jobs.renew(
                    self.services.sessions, running.job, now=system_clock(), lease=self.lease
                ):
                    running.lost = True
                    return
            except Exception:
                logger.exception("job %s: could not renew its claim", running.job.id)


def _sender(job: jobs.ClaimedJob) -> object:
    """Who sent the job's request: a command's user, or a click's or a form's."""
    body = job.request.get("body") or {}
    user = body.get("user")
    return body.get("user_id") or (user.get("id") if isinstance(user, dict) else None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerThreads:
    """Workers as threads of this process (tests, the demo, the console, Socket Mode's helper):
    the same claims and journal as worker processes, in one process."""

    def __init__(self, services: Services, app: App, count: int = 2) -> None:
        self.workers = [
            Worker(services, app, name=f"{HOST}:{os.getpid()}:t{i}") for i in range(count)
        ]
        self.stop = threading.Event()
        self.hold = threading.Event()
        self.threads = [
            threading.Thread(
                target=w.serve, args=(self.stop, self.hold), name=f"worker-{i}", daemon=True
            )
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> WorkerThreads:
        for thread in self.threads:
            thread.start()
        return self

    def idle(self) -> bool:
        return not any(w.busy for w in self.workers) and not jobs.has_work(
            self.workers[0].services.sessions, system_clock()
        )

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every stored job has run."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:  # idle twice in a row: a job claimed between the two reads is seen
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs were still running after {timeout} s")
            quiet = quiet + 1 if self.idle() else 0
            time.sleep(0.01)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No worker touches the database inside this block (tests swap the database file)."""
        self.hold.set()
        try:
            for worker in self.workers:  # each finishes the pass it is in; the next one holds
                if not worker.turn.acquire(timeout=60):
                    raise AssertionError(f"worker {worker.name} did not stop within 60 s")
                worker.turn.release()
            yield
        finally:
            self.hold.clear()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
