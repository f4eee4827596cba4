"""The jailed worker: the only process that ever reads, parses, loads or runs a user's model file.

The server forks it from a fork server (:func:`zygote`, ``python -I jail.py zygote``) that
imported torch and warmed up every format's loader once, so a worker starts in milliseconds
(:class:`~.user_model.ModelWorker`); it talks to the worker over a socket on the worker's stdin and
stdout in :mod:`.wire` messages (plain float32 tensors):

1. ``ready`` (torch imported and every format's loader warmed up on a model of our own, so no
   lazy import needs a file later: done once in the fork server);
2. ``load {path, fmt, memory, max_bytes, root}``: read the file (nothing of it parsed yet), then
   :func:`enter_jail`, and only then check (:func:`.user_formats.precheck`) and build the model;
3. ``forward`` (x → logits, optionally keeping the graph) and ``vjp`` (x, ∂L/∂logits → ∂L/∂x) until
   stdin closes.

The jail (:func:`enter_jail`): address-space, file-size, core and open-file rlimits; an empty root
(``chroot`` into an empty folder and the ``nobody`` user when started as root, else a new user and
mount namespace where the kernel allows one); ``no_new_privs``; and a seccomp **allow-list**
(:data:`ALLOWED_SYSCALLS`, measured with ``strace`` by ``scripts/measure_jail_syscalls.py``): every
other system call fails with EPERM — no ``open`` or ``stat``, no ``exec``/``fork``/``clone``, no
sockets, no signals, no ``mknod``/``chown``/``utime``/``xattr``; it computes in one thread. The
server never trusts a reply: it checks every tensor it gets back and decides acceptance itself
(:mod:`.user_model`).

Runs as a script (``python -I jail.py``), so it imports nothing from ``xai_core``:
:mod:`.user_formats`, :mod:`.onnx_compat` and :mod:`.wire` are imported as sibling modules.
"""
from __future__ import annotations

import errno
import io
import os
import resource
import warnings

#: system calls a jailed worker may make: those ``scripts/measure_jail_syscalls.py`` saw after the
#: jail while a corpus of ONNX, .pt2 and TorchScript models (a small CNN, resnet18) was checked and
#: explained, plus ``exit``/``exit_group``. ``read`` only on stdin, ``write`` only on stdout, ``mmap``
#: only of anonymous memory.
ALLOWED_SYSCALLS = ("read", "write", "mmap", "munmap", "mprotect", "madvise", "brk", "futex", "getpid", "exit",
                    "exit_group")
NOBODY = 65534
MAP_ANONYMOUS = 0x20


def enter_jail(memory: int, root: str) -> str:
    """From here on this process can compute and talk on stdin/stdout, nothing else; returns how
    the user was confined ("nobody + chroot", "user namespace + chroot" or "same user")."""
    import ctypes  # noqa: F401 - everything the jail itself needs is imported before the chroot
    import signal  # noqa: F401

    import pyseccomp  # noqa: F401

    vm = int(next(line for line in open("/proc/self/status") if line.startswith("VmSize")).split()[1]) * 1024
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # nothing inherited stays open but the socket
    for limit, value in ((resource.RLIMIT_AS, vm + memory), (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_NOFILE, 16)):
        resource.setrlimit(limit, (value, value))
    confined = _confine(root)
    _parent_death_kills_me()  # after the credential change, which clears it
    _allow_only(ALLOWED_SYSCALLS)
    return confined


def _confine(root: str) -> str:
    """An empty, unwritable root and no privileges."""
    os.chdir(root)
    if os.geteuid() == 0:
        os.chroot(root)
        os.chdir("/")
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        return "nobody + chroot"
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newuser, clone_newns = 0x10000000, 0x00020000
    if libc.unshare(clone_newuser | clone_newns) == 0:
        try:
            os.chroot(root)
            os.chdir("/")
            return "user namespace + chroot"
        except OSError:
            pass
    return "same user"


def _parent_death_kills_me() -> None:
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the server died before the call
        os._exit(1)


def _allow_only(names: tuple[str, ...]) -> None:
    """seccomp allow-list for every thread of the process (TSYNC); libseccomp sets no_new_privs
    before loading it."""
    import pyseccomp as sc

    f = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    f.set_attr(sc.Attr.CTL_TSYNC, 1)
    for name in names:
        if name == "read":
            f.add_rule(sc.ALLOW, name, sc.Arg(0, sc.EQ, 0))
        elif name == "write":
            f.add_rule(sc.ALLOW, name, sc.Arg(0, sc.EQ, 1))
        elif name == "mmap":  # anonymous memory only: no mapping of a file, even one left open
            f.add_rule(sc.ALLOW, name, sc.Arg(3, sc.MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS))
        else:
            f.add_rule(sc.ALLOW, name)
    f.load()


# -- the worker ----------------------------------------------------------------------------------
def _read_exact(n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(0, min(left, 1 << 20))
        if not chunk:
            os._exit(0)  # the server closed the pipe
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send(header: dict, tensors=()) -> None:
    import wire

    view = memoryview(wire.encode(header, tensors))
    while view:
        view = view[os.write(1, view):]


def _receive():
    import wire

    return wire.decode(_read_exact, max_bytes=1 << 40)  # the server is trusted


def _read_model(path: str, max_bytes: int) -> bytes:
    """The file's bytes (read before the jail; nothing parses them until after it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)
    finally:
        os.close(fd)


#: formats whose loader ran in this process (a forked worker inherits the fork server's)
_warm: set[str] = set()


def _warm_up(fmt: str) -> None:
    """Load and run a tiny model of our own in the same format, so the loader's lazy imports and
    kernels are in memory before the jail (which forbids opening files)."""
    if fmt in _warm:
        return
    import encodings.cp437  # noqa: F401 - zipfile decodes member names without the UTF-8 flag with it
    import encodings.utf_8  # noqa: F401

    import torch
    from user_formats import build

    x = torch.rand(2, 1, 8, 8)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(2, 2)).eval()
    buf = io.BytesIO()
    if fmt == "export":
        torch.export.save(torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("b")},)), buf)
    elif fmt == "torchscript":
        torch.jit.save(torch.jit.trace(net, x), buf)
    else:
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "warm_up",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])])
        buf.write(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
        torch.onnx.is_in_onnx_export()  # onnx2torch's modules ask this in forward
        x = torch.ones(2, 4)
    model = build(buf.getvalue(), fmt)
    x.requires_grad_(True)
    torch.autograd.grad(model(x).sum(), x)
    _warm.add(fmt)


def _serve(net) -> None:
    """Answer forward / vjp requests until the server closes the pipe."""
    import numpy as np
    import torch
    from user_formats import reason

    kept: tuple | None = None  # (token, x, y) of the last forward that a backward may follow
    while True:
        header, arrays = _receive()
        try:
            x = torch.from_numpy(arrays[0])
            if header.get("op") == "forward":
                kept = None
                if header.get("token") is not None:
                    x.requires_grad_(True)
                    with torch.enable_grad():
                        y = net(x)
                    kept = (header["token"], x, y)
                else:
                    with torch.no_grad():
                        y = net(x)
                if not isinstance(y, torch.Tensor):
                    raise TypeError(f"it returned {type(y).__name__}, not a tensor")
                _send({"ok": True, "dtype": str(y.dtype).removeprefix("torch."), "shape": list(y.shape)},
                      [y.detach().float().numpy()] if y.is_floating_point() else [])
            else:  # vjp
                if kept is not None and kept[0] == header.get("token"):
                    _, x, y = kept
                else:
                    x.requires_grad_(True)
                    with torch.enable_grad():
                        y = net(x)
                kept = None
                (gx,) = torch.autograd.grad(y, x, torch.from_numpy(arrays[1]), allow_unused=True)
                gx = torch.zeros_like(x) if gx is None else gx
                _send({"ok": True}, [np.asarray(gx.detach().float().numpy())])
        except Exception as err:  # noqa: BLE001 - the model's own failure, in one line
            kept = None
            _send({"ok": False, "error": reason(err)})


def main() -> None:  # pragma: no cover - runs in the worker process (tested through user_model)
    import torch

    import user_formats  # noqa: F401 - imported before the jail
    import wire  # noqa: F401

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # a warning's source line would be looked up on disk
    for fmt in ("onnx", "export", "torchscript"):  # done already in a worker forked from the zygote
        _warm_up(fmt)
    _send({"ok": True, "ready": True})
    header, _ = _receive()
    try:
        data = _read_model(header["path"], header["max_bytes"])
    except OSError as err:
        _send({"ok": False, "error": f"the model file cannot be read ({err.strerror})"})
        return
    confined = enter_jail(header["memory"], header["root"])
    try:
        user_formats.precheck(data, header["fmt"])
        net = user_formats.build(data, header["fmt"])
    except user_formats.Refused as err:
        _send({"ok": False, "error": str(err)})
        return
    except Exception as err:  # noqa: BLE001 - the model's own failure, in one line
        _send({"ok": False, "error": user_formats.reason(err)})
        return
    _send({"ok": True, "jail": confined})
    del data
    _serve(net)


def zygote(control: int) -> None:  # pragma: no cover - the fork server process
    """The fork server: import and warm up once, then fork one worker per request. A request on
    the ``control`` socket carries the worker's end of a socket pair (SCM_RIGHTS); the worker gets it
    as stdin and stdout and runs :func:`main`; the reply is its pid. Exits when the server does."""
    import signal
    import socket

    import torch

    import user_formats  # noqa: F401
    import wire  # noqa: F401

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    for fmt in ("onnx", "export", "torchscript"):
        _warm_up(fmt)
    _parent_death_kills_me()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    ctrl = socket.socket(fileno=control)
    ctrl.sendall(b"R")
    while True:
        _, fds, _, _ = socket.recv_fds(ctrl, 1, 1)
        if not fds:
            os._exit(0)  # the server closed the control socket
        pid = os.fork()
        if pid == 0:
            ctrl.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(fds[0], 0)
            os.dup2(fds[0], 1)
            os.close(fds[0])
            _run(main)
        os.close(fds[0])
        ctrl.sendall(pid.to_bytes(8, "big"))


def _run(entry) -> None:  # pragma: no cover
    try:
        entry()
    except BaseException:  # noqa: BLE001 - stderr is /dev/null; the server sees the worker end
        import traceback

        traceback.print_exc()
        os._exit(3)
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's folder out
    if sys.argv[1:2] == ["zygote"]:
        _run(lambda: zygote(int(sys.argv[2])))
    _run(main)
