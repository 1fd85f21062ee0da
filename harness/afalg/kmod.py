"""Loading and unloading the algif interface modules from the calling task (guests only).

A module's init and exit run in the task that calls finit_module / delete_module, so the
type registration they do (af_alg_register_type, af_alg_unregister_type) is traced by that
task's KCOV; a bind of an unloaded type loads it through request_module instead, in a
usermode-helper modprobe no fuzzer traces. The fuzzers' module op (fuzz/decoders.py) and its
reproducers call these. Never on the host: the callers run in a guest only.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from afalg_conformance.harness.afalg.kcov import module_files
from afalg_conformance.harness.afalg.libc import libc

NR_FINIT_MODULE = 313          # x86-64
NR_DELETE_MODULE = 176
MODULE_INIT_COMPRESSED_FILE = 4    # the kernel decompresses (CONFIG_MODULE_DECOMPRESS)
O_NONBLOCK = os.O_NONBLOCK         # delete_module: fail, never wait for the last reference


def _raise(what: str) -> None:
    e = ctypes.get_errno()
    raise OSError(e, f"{what}: {os.strerror(e)}")


def module_file(name: str, release: str | None = None) -> Path:
    """The running kernel's .ko of an interface; OSError(ENOENT) when it is not a module."""
    f = module_files(Path("/lib/modules") / (release or os.uname().release)).get(name)
    if f is None:
        raise OSError(errno.ENOENT, f"{name}: not built as a module")
    return f


def load(name: str) -> None:
    """finit_module of the interface's .ko (EEXIST when loaded already)."""
    f = module_file(name)
    flags = MODULE_INIT_COMPRESSED_FILE if f.suffix != ".ko" else 0
    fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.syscall(ctypes.c_long(NR_FINIT_MODULE), ctypes.c_long(fd), ctypes.c_char_p(b""),
                        ctypes.c_long(flags)) < 0:
            _raise(f"finit_module {name}")
    finally:
        os.close(fd)


def unload(name: str) -> None:
    """delete_module without waiting (EAGAIN, i.e. EWOULDBLOCK, while a socket of the type holds
    a reference: try_stop_module in kernel/module/main.c; ENOENT when not loaded or built in)."""
    if libc.syscall(ctypes.c_long(NR_DELETE_MODULE), ctypes.c_char_p(name.encode()),
                    ctypes.c_long(O_NONBLOCK)) < 0:
        _raise(f"delete_module {name}")


def reload(name: str) -> None:
    """unload then load: the type is registered again in this task."""
    unload(name)
    load(name)
