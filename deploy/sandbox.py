"""Run a command with the sandboxing of a systemd unit that needs no systemd.

    python3 deploy/sandbox.py deploy/myapp.service -- COMMAND [ARG...]

deploy/rehearsal.sh starts uWSGI through this, so the rehearsal proves the service
runs under its unit's hardening where systemd is not the init (containers, CI):
the unit's ``UMask=``, no new privileges, and its system call filter
(``SystemCallFilter=`` lines, their ``@groups`` expanded by ``systemd-analyze
syscall-filter`` as systemd expands them; ``SystemCallErrorNumber=`` for what is
refused; ``SystemCallArchitectures=native``), loaded with libseccomp (Debian's
libseccomp2, which systemd itself needs) through ctypes. What needs systemd's
mount and user namespaces (ProtectSystem=, PrivateUsers=, ...) is left to it.
"""

import ctypes
import ctypes.util
import errno
import os
import subprocess
import sys

PR_SET_NO_NEW_PRIVS = 38
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000


def SCMP_ACT_ERRNO(number):  # noqa: N802 (libseccomp's name)
    return 0x00050000 | (number & 0xFFFF)


def unit_values(unit, name):
    """Every value of ``name=`` in the unit's [Service] section, in order."""
    values, section = [], None
    with open(unit) as lines:
        for line in lines:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.startswith(f"{name}="):
                values.append(line.split("=", 1)[1].strip())
    return values


def expand(names, seen=None):
    """System call names, with each @group replaced by its members."""
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if not name.startswith("@"):
            calls.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        listing = subprocess.run(
            ["systemd-analyze", "syscall-filter", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        members = [
            entry.strip()
            for entry in listing[1:]
            if entry.strip() and not entry.strip().startswith("#")
        ]
        calls |= expand(members, seen)
    return calls


def allowed_calls(filters):
    """systemd's reading: the first line allows, each ``~`` line takes away."""
    allowed = None
    for line in filters:
        negated = line.startswith("~")
        names = line.lstrip("~").split()
        if allowed is None:
            if negated:
                raise SystemExit("sandbox: a deny-list filter is not supported")
            allowed = expand(names)
        elif negated:
            allowed -= expand(names)
        else:
            allowed |= expand(names)
    return allowed


def load_filter(allowed, refusal):
    library = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
    library.seccomp_init.restype = ctypes.c_void_p
    library.seccomp_init.argtypes = [ctypes.c_uint32]
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    library.seccomp_rule_add.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
    ]
    library.seccomp_load.argtypes = [ctypes.c_void_p]
    context = library.seccomp_init(refusal)
    if not context:
        raise SystemExit("sandbox: seccomp_init failed")
    for name in sorted(allowed):
        number = library.seccomp_syscall_resolve_name(name.encode())
        if number < 0:  # not a call of this architecture
            continue
        if library.seccomp_rule_add(context, SCMP_ACT_ALLOW, number, 0) < 0:
            raise SystemExit(f"sandbox: cannot allow {name}")
    if library.seccomp_load(context) < 0:
        raise SystemExit("sandbox: seccomp_load failed")


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        raise SystemExit(__doc__.split("\n\n")[1])
    unit, command = argv[1], argv[3:]
    for umask in unit_values(unit, "UMask")[-1:]:
        os.umask(int(umask, 8))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("sandbox: cannot set no_new_privs")
    filters = unit_values(unit, "SystemCallFilter")
    if filters:
        if unit_values(unit, "SystemCallArchitectures") not in ([], ["native"]):
            raise SystemExit("sandbox: only SystemCallArchitectures=native is known")
        refusal = SCMP_ACT_KILL_PROCESS
        for name in unit_values(unit, "SystemCallErrorNumber")[-1:]:
            refusal = SCMP_ACT_ERRNO(getattr(errno, name))
        load_filter(allowed_calls(filters), refusal)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
