"""Runs that survive faults, for ``tools/train.py`` and ``tools/test.py`` (one call: :func:`guard_run`).

* **The job is one unit.** torchrun starts every rank in a session of its own, so a signal to the
  launcher's process group never reaches the ranks: killing ``tools/dist_train.sh`` used to leave them
  training, re-parented to PID 1. Each rank now asks the kernel to kill it when the torchrun agent that
  started it dies (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a watchdog thread polls the parent). A
  crashing rank still ends the job: torchrun then stops the others.
* **One run per work dir.** Rank 0 of a training run holds ``<work_dir>/.vitzoo-run.lock`` (PID, host,
  start time); a second run into that dir is refused in one line naming the holder, a lock whose holder is
  gone is taken over with a note.
* **Atomic checkpoints.** The ``CheckpointHook`` writes through :class:`AtomicLocalBackend` (a temporary
  file in the same folder, flushed, fsynced and renamed over the target), so no kill or full disk leaves a
  half-written ``epoch_N.pth``, and ``last_checkpoint``, which the hook writes after the file, never names
  one. A save that fails stops the run with one line; the previous checkpoint stays valid.
* **Resume past a damaged file.** ``--resume`` without a path takes the newest checkpoint of the work dir
  that reads back whole, naming in one line the damaged ones it skips; mmengine then restores the
  optimizer, schedulers and iteration count from it as from any checkpoint.
* **Quiet ends.** Ctrl-C prints one line per job (what was saved last and how to continue) instead of a
  traceback per rank; ``tools/_torchrun.py`` keeps the torchrun agent quiet too.
"""
import atexit
import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import zipfile
from typing import List, Optional, Tuple

from mmengine.config import Config
from mmengine.fileio import LocalBackend, register_backend

__all__ = ['guard_run', 'AtomicLocalBackend', 'CheckpointSaveError', 'WorkDirLock', 'write_atomically',
           'checkpoint_problem', 'choose_resume_checkpoint', 'EXIT_REPORTED']

LOCK_NAME = '.vitzoo-run.lock'
ATOMIC_BACKEND = 'vitzoo_atomic_local'
#: exit status of a rank that printed its one-line reason (tools/_torchrun.py then adds no failure report)
EXIT_REPORTED = 2
CHECKPOINT_NAME = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')
TEMP_NAME = re.compile(r'^\..+\.(\d+)\.tmp$')
PR_SET_PDEATHSIG = 1


def _rank() -> int:
    """This process's global rank, before mmengine initialises the process group (torchrun, slurm, MPI)."""
    for key in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def exit_with_message(message: str, code: int = EXIT_REPORTED) -> None:
    """Print ``message`` (one line) and exit. Every rank meets the same reasons: rank 0 says it, the others
    wait for the launcher to stop them (and speak only if it does not, i.e. the reason was theirs alone)."""
    if _rank() != 0:
        time.sleep(5)
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


# ------------------------------------------------------------------------------------- one job, one unit
def die_with_launcher() -> None:
    """Under torchrun, end this process as soon as the agent that started it dies, even by ``kill -9``.

    SIGKILL rather than a catchable signal: a rank blocked in a collective runs no Python handler, and
    would otherwise wait out the process group's timeout. Runs without torchrun are left alone, so that
    ``nohup python tools/train.py ...`` still outlives its shell.
    """
    if 'TORCHELASTIC_RUN_ID' not in os.environ:
        return
    launcher = int(os.environ.get('VITZOO_LAUNCHER_PID', os.getppid()))
    if sys.platform.startswith('linux'):
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            # The agent may have died before the request was made: then nobody would signal us.
            if os.getppid() != launcher:
                os.kill(os.getpid(), signal.SIGKILL)
            return
    threading.Thread(target=_watch_parent, args=(launcher, ), name='vitzoo-launcher-watchdog', daemon=True).start()


def _watch_parent(parent: int, interval: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


# ---------------------------------------------------------------------------------- one run per work dir
def _process_start(pid: int) -> Optional[Tuple[str, str]]:
    """``(state, start time)`` of a process from ``/proc`` (Linux), or None where that is not available."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: Optional[str]) -> bool:
    """Whether ``pid`` is still the process that wrote a record with start time ``started``."""
    if pid <= 0:  # not a process (and os.kill would address a whole group)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    stat = _process_start(pid)
    if stat is None:
        return True
    state, start = stat
    # A zombie has finished; another start time means the PID was reused by an unrelated process.
    return state != 'Z' and (started is None or start == started)


class WorkDirLock:
    """``<work_dir>/.vitzoo-run.lock``: which process runs in a work dir, so a second run is refused.

    The record (JSON: pid, host, start time, command) is written to a temporary file and linked into
    place, so the lock file is never seen half-written and only one of two racing runs gets it.
    """

    def __init__(self, work_dir: str, tool: str = 'train.py'):
        self.work_dir = work_dir
        self.path = os.path.join(work_dir, LOCK_NAME)
        self.tool = tool
        self.held = False

    def read(self) -> Optional[dict]:
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        """Take the lock or exit with one line naming the live holder."""
        os.makedirs(self.work_dir, exist_ok=True)
        stat = _process_start(os.getpid())
        record = dict(pid=os.getpid(), host=socket.gethostname(), started=stat and stat[1],
                      command=' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:2]))
        temp = f'{self.path}.{os.getpid()}.tmp'
        with open(temp, 'w') as f:
            json.dump(record, f)
        try:
            for _ in range(3):
                try:
                    os.link(temp, self.path)
                    self.held = True
                    return
                except FileExistsError:
                    pass
                holder = self.read()
                if holder is None and not os.path.exists(self.path):  # its run just ended: try again
                    continue
                holder = holder or {}  # unreadable: not written by a live run (records are linked in whole)
                self._refuse_if_alive(holder)
                who = f'PID {holder["pid"]} on {holder.get("host")}' if 'pid' in holder else 'its lock is unreadable'
                print(f'{self.tool}: note: taking over {self.work_dir} from a run that is gone ({who}); it left a '
                      'stale lock', file=sys.stderr, flush=True)
                os.replace(temp, self.path)
                self.held = (self.read() or {}).get('pid') == os.getpid()  # a racing run may have replaced it too
                if self.held:
                    return
                break
            holder = self.read() or {}
            exit_with_message(f'{self.tool}: error: {self.work_dir} is in use by another run (PID {holder.get("pid")} '
                              f'on {holder.get("host")}); pass another --work-dir')
        finally:
            with contextlib.suppress(OSError):
                os.remove(temp)

    def _refuse_if_alive(self, holder: dict) -> None:
        pid, host = int(holder.get('pid', -1)), holder.get('host', socket.gethostname())
        if host != socket.gethostname():
            exit_with_message(f'{self.tool}: error: {self.work_dir} is held by PID {pid} on {host}, which this machine '
                              f'cannot check; if that run is gone, delete {self.path}')
        if _alive(pid, holder.get('started')):
            exit_with_message(f'{self.tool}: error: {self.work_dir} is in use by a live run (PID {pid} on {host}: '
                              f'{holder.get("command", "?")}); wait for it or stop it, or pass another --work-dir')

    def release(self) -> None:
        if self.held and (self.read() or {}).get('pid') == os.getpid():
            with contextlib.suppress(OSError):
                os.remove(self.path)
        self.held = False


def remove_stale_temporaries(folder: str) -> None:
    """Delete the temporary files of :func:`write_atomically` left by processes that are gone (killed
    mid-save)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            match = TEMP_NAME.match(name)
            if match and not _alive(int(match.group(1)), None):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))


# ------------------------------------------------------------------------------------ atomic checkpoints
class CheckpointSaveError(OSError):
    """A checkpoint could not be written; the file it was to replace is untouched."""


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either its old content or all of ``data``.

    Raises:
        CheckpointSaveError: the write failed (full disk, permissions, ...); nothing is left behind.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or '.'
    temp = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    try:
        os.makedirs(folder, exist_ok=True)
        with open(temp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise CheckpointSaveError(err.errno, f'could not write {path} ({err.strerror or err})') from err
    # Make the rename itself durable (a power cut after it must not bring back the old entry).
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic writes (:func:`write_atomically`).

    Select it with ``backend_args=dict(backend='vitzoo_atomic_local')``; :func:`use_atomic_checkpoints` does
    that for the config's ``CheckpointHook``.
    """

    def put(self, obj: bytes, filepath) -> None:
        write_atomically(filepath, obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        write_atomically(filepath, obj.encode(encoding))


def use_atomic_checkpoints(cfg: Config) -> None:
    """Make the config's ``CheckpointHook`` save through :class:`AtomicLocalBackend` (local dirs only; a
    hook configured for another storage backend is left as it is)."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not hook or hook.get('backend_args') or hook.get('file_client_args') or '://' in str(hook.get('out_dir', '')):
        return
    hook['backend_args'] = dict(backend=ATOMIC_BACKEND)


# ---------------------------------------------------------------------------------------------- resume
def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, in a few words, or None if it reads back whole.

    torch checkpoints are zip archives: a truncated one has no central directory, a damaged one fails
    the CRC of a member. Checking that reads the file once but unpickles nothing.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except FileNotFoundError:
        return 'it does not exist'
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as err:
        return f'truncated or not a torch checkpoint: {err}'
    return f'damaged member {damaged}' if damaged else None


def _resume_candidates(work_dir: str) -> List[str]:
    """Checkpoints of a run, newest first: the one ``last_checkpoint`` names, then ``epoch_N``/``iter_N``."""
    latest = None
    with contextlib.suppress(OSError):
        with open(os.path.join(work_dir, 'last_checkpoint')) as f:
            latest = f.read().strip() or None
    folders = {work_dir} | ({os.path.dirname(latest)} if latest else set())
    found = []
    for folder in folders:
        with contextlib.suppress(OSError):
            for name in os.listdir(folder or '.'):
                match = CHECKPOINT_NAME.match(name)
                if match:
                    path = os.path.join(folder, name)
                    found.append((int(match.group(1)), os.path.getmtime(path), path))
    ordered = [path for _, _, path in sorted(found, reverse=True)]
    if latest:
        ordered = [latest] + [p for p in ordered if os.path.realpath(p) != os.path.realpath(latest)]
    return ordered


def choose_resume_checkpoint(cfg: Config, tool: str = 'train.py') -> None:
    """For ``--resume``: check an explicit checkpoint, or point ``cfg.load_from`` at the newest readable one.

    With nothing saved yet in the work dir the run starts afresh, as mmengine does.
    """
    if not cfg.get('resume'):
        return
    explicit = cfg.get('load_from')
    if explicit:
        problem = checkpoint_problem(explicit) if '://' not in explicit else None
        if problem:
            exit_with_message(f'{tool}: error: cannot resume from {explicit}: {problem}')
        return
    skipped = []
    for path in _resume_candidates(cfg.work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            if skipped and _rank() == 0:
                newest, why = skipped[0]
                more = f' (and {len(skipped) - 1} more)' if len(skipped) > 1 else ''
                print(f'{tool}: warning: {newest} is unreadable ({why}){more}; resuming from {path}, the newest '
                      'readable checkpoint', file=sys.stderr, flush=True)
            cfg.load_from = path
            return
        skipped.append((path, problem))
    if skipped:
        newest, why = skipped[0]
        exit_with_message(f'{tool}: error: no readable checkpoint to resume from in {cfg.work_dir} ({newest}: {why}); '
                          'move the damaged files away to start afresh')


# ------------------------------------------------------------------------------------------ quiet ends
def last_saved(work_dir: str) -> Optional[str]:
    """The checkpoint ``last_checkpoint`` names, if it exists."""
    with contextlib.suppress(OSError):
        with open(os.path.join(work_dir, 'last_checkpoint')) as f:
            path = f.read().strip()
        if path and os.path.isfile(path):
            return path
    return None


class _Guard:
    """What :func:`guard_run` installs: the work dir lock and the one-line reports of how a run ended."""

    def __init__(self, tool: str, work_dir: str, lock: Optional[WorkDirLock]):
        self.tool, self.work_dir, self.lock = tool, work_dir, lock
        self.interrupted = False
        self.previous_hook = sys.excepthook

    def on_interrupt(self, signum, frame) -> None:
        self.interrupted = True
        raise KeyboardInterrupt

    def excepthook(self, kind, value, traceback) -> None:
        """Report Ctrl-C and a failed save in one line; anything else keeps its traceback."""
        if issubclass(kind, KeyboardInterrupt) or self.interrupted:
            # A rank interrupted while it waited for its peers may fail in the collective instead.
            if _rank() == 0:
                print(f'{self.tool}: interrupted; {self.saved_summary()}', file=sys.stderr, flush=True)
            return
        if issubclass(kind, CheckpointSaveError):
            print(f'{self.tool}: error: {value.strerror}; the previous checkpoint is kept '
                  f'({last_saved(self.work_dir) or "none yet"}); fix that and continue with --resume',
                  file=sys.stderr, flush=True)
            if self.lock:
                self.lock.release()
            # An excepthook cannot set the exit status otherwise; peers waiting in a collective are then
            # stopped by the launcher.
            os._exit(EXIT_REPORTED)
        self.previous_hook(kind, value, traceback)

    def saved_summary(self) -> str:
        if self.tool != 'train.py':
            return 'nothing was written'
        path = last_saved(self.work_dir)
        if path is None:
            return 'nothing was saved yet; run the same command again to start over'
        return f'last checkpoint {path}; continue from it with the same command plus --resume'


def guard_run(cfg: Config, tool: str, hold_work_dir: bool = True) -> None:
    """Everything above, for one run of ``tool`` (``'train.py'``/``'test.py'``) with config ``cfg``.

    Call it after the config is built and before the runner: the rank dies with its launcher, rank 0
    holds the work dir (training only: a test may read the checkpoints of a live run), checkpoints are
    written atomically, ``--resume`` takes the newest readable checkpoint, and Ctrl-C or a failed save
    end the run with one line.
    """
    die_with_launcher()
    lock = None
    if hold_work_dir and _rank() == 0:
        lock = WorkDirLock(cfg.work_dir, tool)
        lock.acquire()
        atexit.register(lock.release)
        remove_stale_temporaries(cfg.work_dir)
    use_atomic_checkpoints(cfg)
    choose_resume_checkpoint(cfg, tool)
    guard = _Guard(tool, cfg.work_dir, lock)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, guard.on_interrupt)
    sys.excepthook = guard.excepthook
