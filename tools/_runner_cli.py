"""What tools/train.py and tools/test.py share: their common options, the config they load from them, and
the checked, guarded start of the runner, with every error one line (exit 2) before any work is lost."""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
import backbones  # noqa: E402,F401  (first: registers the backbones and makes torchvision importable on CPU)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from backbones.checkpoint import UnsafeCheckpointError  # noqa: E402
from backbones.fault_tolerance import exit_with_message, guard_run  # noqa: E402
from backbones.preflight import InputError, check_data, merge_cfg_options  # noqa: E402
from backbones.runtime import close_distributed, init_distributed  # noqa: E402


def make_parser(description: str, positionals, work_dir_help: str) -> argparse.ArgumentParser:
    """The positionals (``(name, help)`` pairs) and ``--work-dir``; the tool adds its own options next."""
    parser = argparse.ArgumentParser(description=description)
    for name, help_text in positionals:
        parser.add_argument(name, help=help_text)
    parser.add_argument('--work-dir', help=work_dir_help)
    return parser


def parse_args(parser: argparse.ArgumentParser, cfg_options_example: str, argv=None) -> argparse.Namespace:
    """Add ``--cfg-options``, ``--launcher`` and ``--local_rank`` last, then parse."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config entries, e.g. {cfg_options_example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(args, tool: str, files) -> Config:
    """``args.config`` with ``--cfg-options``, the launcher and the work dir (default work_dirs/<config name>),
    once every ``(path, what)`` in ``files`` exists."""
    for path, what in files:
        if not osp.isfile(path):
            exit_with_message(f'{tool}: error: {what} {path} does not exist')
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def run(tool: str, args, build_config, splits, method: str, hold_work_dir: bool = True):
    """Build and check the config (data of ``splits`` included), guard the run (it dies with its launcher,
    quiet Ctrl-C; ``hold_work_dir``: one run per work dir, atomic saves, resume past damage), then call the
    runner's ``method``, close the process group and return what the method returned."""
    try:
        cfg = build_config(args)
        check_data(cfg, splits)
    except InputError as err:
        exit_with_message(f'{tool}: error: {err}')
    guard_run(cfg, tool, hold_work_dir=hold_work_dir)
    init_distributed(args.launcher)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    try:
        result = getattr(runner, method)()
    except (UnsafeCheckpointError, FileNotFoundError) as err:
        exit_with_message(f'{tool}: error: {err}')
    close_distributed()
    return result
