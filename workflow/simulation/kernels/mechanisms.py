"""NEURON mechanisms of the kernel cells: ``data/mod/*.mod`` compiled once with ``nrnivmodl``
into a per-user cache (see :func:`ensure_mechanisms`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workflow.simulation.kernels.biophysics import MECHANISMS
from workflow.simulation.kernels.reference_network import MOD_DIR

#: every mechanism of data/mod: a process whose loaded build lacks one must load a new build
MECHANISM_NAMES: tuple[str, ...] = ("Exp2SynI", *MECHANISMS)

log = logging.getLogger(__name__)

_CACHE_ENV = "SBI_NRNMECH_DIR"


def _default_build_root() -> Path:
    if os.environ.get(_CACHE_ENV):
        return Path(os.environ[_CACHE_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "sbi-cortical-features" / "nrnmech"


def _nrnivmodl() -> str:
    found = shutil.which("nrnivmodl") or shutil.which("nrnivmodl", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("nrnivmodl not found (neither on PATH nor next to the Python interpreter)")
    return found


def ensure_mechanisms(build_root: str | os.PathLike | None = None) -> Path | None:
    """Load the ``Exp2SynI`` mechanism, compiling ``data/mod/*.mod`` first if needed.

    Nothing happens if NEURON already knows every mechanism (:data:`MECHANISM_NAMES`). Otherwise the
    mod files are compiled
    with ``nrnivmodl`` into ``<build_root>/<hash>``, the hash covering the mod sources, the
    NEURON version and the machine, so a build is reused across runs and rebuilt when any of
    them changes. ``build_root`` defaults to ``$SBI_NRNMECH_DIR`` or
    ``${XDG_CACHE_HOME:-~/.cache}/sbi-cortical-features/nrnmech``. Concurrent callers each
    compile in a private temporary folder and move it into place atomically.

    Returns the build folder, or None if the mechanism was already loaded.
    """
    import neuron

    if all(hasattr(neuron.h, name) for name in MECHANISM_NAMES):
        return None
    mods = sorted(MOD_DIR.glob("*.mod"))
    if not mods:
        raise RuntimeError(f"no .mod files in {MOD_DIR}")
    digest = hashlib.sha256()
    for mod in mods:
        digest.update(mod.name.encode() + b"\0" + mod.read_bytes() + b"\0")
    digest.update(f"{neuron.__version__}|{platform.machine()}|{sys.platform}".encode())
    root = Path(build_root) if build_root is not None else _default_build_root()
    target = root / digest.hexdigest()[:16]
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
        try:
            for mod in mods:
                shutil.copy2(mod, tmp / mod.name)
            log.info("compiling %s with nrnivmodl in %s", [m.name for m in mods], tmp)
            run = subprocess.run([_nrnivmodl(), *[m.name for m in mods]], cwd=tmp, capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"nrnivmodl failed in {tmp}:\n{run.stdout}\n{run.stderr}")
            try:
                os.rename(tmp, target)
            except OSError:
                if not target.is_dir():  # not a lost race: a real failure
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    if not neuron.load_mechanisms(str(target), warn_if_already_loaded=False) or not all(
        hasattr(neuron.h, name) for name in MECHANISM_NAMES
    ):
        raise RuntimeError(f"could not load the NEURON mechanisms built in {target}")
    return target
