"""Pytest setup: the repository root on sys.path and ``backbones`` imported first.

mmsegmentation installs a top-level ``tests`` package into site-packages; this suite runs with
``--import-mode=importlib`` (see pyproject.toml) so that name never matters, and its helpers are imported
as ``contract`` from this folder.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import backbones  # noqa: E402,F401  (before torchvision: see backbones/_compat.py)
import torch  # noqa: E402

# Two cores here: tools/run_tests.sh runs two pytest-xdist workers, one intra-op thread each (many tests are
# Python-bound or spawn single-threaded tools, so two workers finish sooner than one worker with two threads);
# a plain pytest run keeps both threads.
_DEFAULT_THREADS = '1' if os.environ.get('PYTEST_XDIST_WORKER') else '2'
torch.set_num_threads(int(os.environ.get('VITZOO_TEST_THREADS', _DEFAULT_THREADS)))

import pytest  # noqa: E402


# The three longest files (the demo alone is about 12 minutes here) start first, so that on two xdist workers
# the short files fill in around them instead of one long file finishing alone at the end.
LONGEST_FIRST = ('test_demo.py', 'test_end_to_end.py', 'test_compile_export.py')


def pytest_collection_modifyitems(items):
    def rank(item):
        name = os.path.basename(str(item.path))
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: the order within each file is kept


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """A test that calls ``init_default_scope`` (mmdet, mmseg, ...) must not hand that scope to the next
    test: registry lookups of later tests would silently search the wrong toolbox."""
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    for name in [n for n in DefaultScope._instance_dict if n not in before]:
        del DefaultScope._instance_dict[name]


@pytest.fixture(scope='session')
def data_root(tmp_path_factory):
    """The embedded ImageNet, COCO and ADE20K sets, written once per test session (tests only read them or
    add files of their own names)."""
    out = tmp_path_factory.mktemp('embedded')
    subprocess.run([sys.executable, 'tools/misc/make_embedded_data.py', '--out', str(out), '--tasks', 'imagenet',
                    'coco', 'ade20k'], cwd=ROOT, check=True, capture_output=True)
    return out
