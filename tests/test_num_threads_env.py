"""``MINIDL_NUM_THREADS`` (and minidl.json's ``num_threads``) set the threads of minidl's
CPU kernels: checked in fresh processes, where the setting is read at import."""
import json
import os
import subprocess
import sys

import pytest

PROBE = """
import numpy as np, minidl as mdl
print(mdl.config.num_threads())
if mdl.config.cpu_kernels() == "numba":
    import numba
    x = mdl.tensor(np.ones((1, 6, 6, 2), np.float32))
    mdl.functional.depthwise_conv2d(x, np.ones((3, 3, 2, 1), np.float32))
    print(numba.get_num_threads())
else:
    print(mdl.config.num_threads())
"""


def _run(tmp_path, **env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("MINIDL_NUM_THREADS", "MINIDL_HOME")}
    environ.update(MINIDL_HOME=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", PROBE], env=environ, capture_output=True,
                          text=True, timeout=120)


def test_environment_sets_the_kernels_threads(tmp_path):
    done = _run(tmp_path, MINIDL_NUM_THREADS="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def test_environment_overrides_the_config_file(tmp_path):
    (tmp_path / "minidl.json").write_text(json.dumps({"num_threads": 1}))
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "1"
    done = _run(tmp_path, MINIDL_NUM_THREADS="2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "2"


@pytest.mark.parametrize("value", ["0", "two"])
def test_bad_environment_value_is_a_clear_error(tmp_path, value):
    done = _run(tmp_path, MINIDL_NUM_THREADS=value)
    assert done.returncode != 0
    assert f"MINIDL_NUM_THREADS={value!r} must be a positive int" in done.stderr
