"""`afalg-conform targets` and `bootstrap`: the kernel targets, and installing them."""

from __future__ import annotations

from afalg_conformance.harness.errors import HarnessError
from afalg_conformance.harness.host import vm


def cmd_targets(a) -> int:
    for name, t in sorted(vm.load_targets().items()):
        try:
            r = vm.resolve_target(name)
            where = f"{r.image} ({r.release})"
        except HarnessError:
            where = "not installed (afalg-conform bootstrap " + name + ")"
        print(f"{name:14} {t.get('kind', ''):12} {where}\n{'':28}{t.get('notes', '')}")
    return 0


def cmd_bootstrap(a) -> int:
    return vm.bootstrap(a.targets or ["debian-6.12"], dry_run=a.dry_run, if_missing=a.if_missing)


def add_parser(sub) -> None:
    p = sub.add_parser("targets", help="list kernel targets and whether they are installed")
    p.set_defaults(fn=cmd_targets)

    p = sub.add_parser("bootstrap", help="install qemu and the kernel packages targets need (root)")
    p.add_argument("targets", nargs="*")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.add_argument("--if-missing", action="store_true",
                   help="install only the tools and kernels not installed yet (nothing, not even apt-get update, "
                        "when all are)")
    p.set_defaults(fn=cmd_bootstrap)
