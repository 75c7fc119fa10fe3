"""torchrun for tools/dist_train.sh and tools/dist_test.sh: the same agent, minus its reports of ends that the
ranks already explained in one line.

* Ctrl-C / SIGTERM / SIGHUP: the agent passes the signal to the ranks (rank 0 prints what was saved last)
  and exits with 128 + the signal number instead of a traceback of its ``SignalException``.
* A rank that exits with status 2 has printed its one-line reason (``backbones.fault_tolerance``): no
  ``ChildFailedError`` table follows. Any other failure keeps torchrun's full report.

It also tells the ranks its PID (``VITZOO_LAUNCHER_PID``), so that a rank whose agent died before the rank
could ask to die with it notices (see ``backbones.fault_tolerance.die_with_launcher``).
"""
import logging
import os
import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main

EXIT_REPORTED = 2  # backbones.fault_tolerance.EXIT_REPORTED (not imported: the agent stays light)
# What the agent logs while it passes a signal on; the ranks report that end themselves.
SHUTDOWN_MESSAGES = ('death signal, shutting down workers', 'Sending process', 'closing signal')


class _DropShutdownNoise(logging.Filter):

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in str(record.msg) for text in SHUTDOWN_MESSAGES)


def _quiet_shutdown_logs() -> None:
    for name in ('torch.distributed.elastic.agent.server.api', 'torch.distributed.elastic.multiprocessing.api'):
        logging.getLogger(name).addFilter(_DropShutdownNoise())


if __name__ == '__main__':
    os.environ['VITZOO_LAUNCHER_PID'] = str(os.getpid())
    _quiet_shutdown_logs()
    try:
        main()
    except SignalException as err:
        sys.exit(128 + int(err.sigval))
    except ChildFailedError as err:
        if all(failure.exitcode == EXIT_REPORTED for failure in err.failures.values()):
            sys.exit(EXIT_REPORTED)
        raise
