"""gradstep's benchmarks (not tests): ``python -m benchmarks.engine`` from the repository root.

See ``benchmarks/README.md``. Importing this package makes numpy's OpenBLAS single-threaded
(unless ``OPENBLAS_NUM_THREADS`` is already set), so that numpy, gradstep and PyTorch (which the
engine benchmark sets to one thread) all run on one core: on a shared 2-core machine a threaded
GEMM waiting for a busy second core makes timings erratic. It only works if numpy was not
imported before this package.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
