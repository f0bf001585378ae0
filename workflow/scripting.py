"""Set-up shared by the rule scripts in ``scripts/``: logging into the rule's log file.

A rule script calls ``log = rule_logging(snakemake)`` first; with ``capture_fds=True`` the
process's stdout and stderr (file descriptors 1 and 2) go to the log file as well, which
catches the output of compiled code (NEURON, nrnivmodl, Brian2's compiler).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def rule_logging(smk: Any, capture_fds: bool = False) -> logging.Logger:
    """Send logging (and optionally stdout/stderr) to ``smk.log[0]``; return the rule's logger.

    Args:
        smk: The ``snakemake`` object of a rule script (needs ``log`` and ``rule``).
        capture_fds: Redirect file descriptors 1 and 2 into the log file too.
    """
    if not smk.log:
        raise ValueError(f"rule {smk.rule} declares no log file")
    path = str(smk.log[0])
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    stream = open(path, "a", buffering=1)  # noqa: SIM115 (held open for the whole job)
    if capture_fds:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
    logging.basicConfig(stream=stream, level=logging.INFO, format=FORMAT, force=True)
    return logging.getLogger(smk.rule)
