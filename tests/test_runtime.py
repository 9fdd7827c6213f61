import os
import subprocess
import sys

import pytest

from graphlottery.runtime import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_allocator_tuning():
    assert keep_freed_memory()
    code = ("from graphlottery.runtime import reexec_with_huge_pages; reexec_with_huge_pages(); "
            "import os; print(os.environ['GLIBC_TUNABLES'])")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "GRAPHLOTTERY_NO_REEXEC")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "glibc.malloc.hugetlb=1"
