"""The algif interfaces as modules: their PCs placed at fixed slots after af_alg's text (the
guest's AfalgText and the host's site list agree on a site's address whatever the module's
load address), and fuzz_sequence's module op (decoding, the executor putting back what a
program unloaded, the reproducer's line). No VM; the guest side is measured in campaigns."""

from __future__ import annotations

import errno
import struct
import types

from afalg_conformance.fuzz import covmap, decoders, program
from afalg_conformance.fuzz.program import EncodingSource, Executor, FdpSource, Names, Program
from afalg_conformance.harness.afalg import kcov
from afalg_conformance.vms import build_kernel

CORE = [(0xFFFFFFFF81000000, "af_alg_release"), (0xFFFFFFFF81000100, "hash_release"),
        (0xFFFFFFFF81000200, "foreign_function")]
KASLR = 0x2A000000          # what KCOV subtracts from every PC, module PCs included


def _text(tmp_path, where: dict[str, int], sizes: dict[str, int]) -> kcov.AfalgText:
    for m, real in where.items():
        d = tmp_path / m / "sections"
        d.mkdir(parents=True, exist_ok=True)
        (d / ".text").write_text(f"{real:#x}\n")
    syms = kcov.Symbols.from_pairs(CORE)
    syms.offset = KASLR
    return kcov.AfalgText(syms, modules=sizes, sys_module=tmp_path)


def test_a_module_pc_counts_at_its_slot_wherever_the_module_was_loaded(tmp_path):
    text = _text(tmp_path, {"algif_rng": 0xFFFFFFFFC0201000}, {"algif_rng": 0x100, "algif_aead": 0x200})
    assert text.core == (0xFFFFFFFF81000000, 0xFFFFFFFF81000200)
    slot = text.slot("algif_rng")
    assert slot == 0xFFFFFFFF81010000 + 2 * kcov.MODULE_SLOT       # after the core, in AFALG_MODULES order
    assert text.range == (text.core[0], text.slot("algif_skcipher") + kcov.MODULE_SLOT)
    pc = 0xFFFFFFFFC0201010 - KASLR                                  # as KCOV records it
    assert text.canon(pc) == slot + 0x10
    assert text.canon(0xFFFFFFFFC0201100 - KASLR) is None            # past its .text
    assert text.canon(0xFFFFFFFF81000150) == 0xFFFFFFFF81000150       # core: as it is
    assert text.canon(0xFFFFFFFF81000250) is None                     # foreign text
    # unloaded and loaded again elsewhere: the same site, one move counted
    (tmp_path / "algif_rng" / "sections" / ".text").write_text("0xffffffffc0305000\n")
    assert text.canon(0xFFFFFFFFC0305010 - KASLR) == slot + 0x10 and text.moved == 1
    # a module loaded after the first look is found when its first PC comes
    assert text.canon(0xFFFFFFFFC0400020 - KASLR) is None
    (tmp_path / "algif_aead" / "sections").mkdir(parents=True)
    (tmp_path / "algif_aead" / "sections" / ".text").write_text("0xffffffffc0400000\n")
    assert text.canon(0xFFFFFFFFC0400020 - KASLR) == text.slot("algif_aead") + 0x20


def test_without_interface_modules_the_layout_is_the_core_range(tmp_path):
    text = _text(tmp_path, {}, {})
    assert text.range == text.core
    assert text.canon(0xFFFFFFFFC0201010 - KASLR) is None


def test_slot_names_come_from_the_module_symbols(tmp_path):
    text = _text(tmp_path, {"algif_rng": 0xFFFFFFFFC0201000}, {"algif_rng": 0x100})
    text.symbols.module_text = {"algif_rng": [(0xFFFFFFFFC0201000, "rng_accept_parent"),
                                              (0xFFFFFFFFC0201040, "rng_recvmsg")]}
    c = text.canon(0xFFFFFFFFC0201050 - KASLR)
    assert text.name_of(c) == "rng_recvmsg"
    assert text.name_of(0xFFFFFFFF81000110) == "hash_release"


KO_DUMP = """
algif_rng.ko:     file format elf64-x86-64

Disassembly of section .text:

ffffffff815b0010 <rng_accept_parent>:
ffffffff815b0010:\tendbr64
ffffffff815b0014:\tcall   ffffffff815b0019 <rng_accept_parent+0x9>
\t\t\tffffffff815b0015: R_X86_64_PLT32\t__fentry__-0x4
ffffffff815b0019:\tpush   %r12
ffffffff815b0023:\tcall   ffffffff815b0028 <rng_accept_parent+0x18>
\t\t\tffffffff815b0024: R_X86_64_PLT32\t__sanitizer_cov_trace_pc-0x4
ffffffff815b0028:\tmov    $0xcc0,%edx
ffffffff815b0035:\tcall   ffffffff815b003a <rng_accept_parent+0x2a>
\t\t\tffffffff815b0036: R_X86_64_PLT32\tsock_kmalloc-0x4
ffffffff815b003a:\tret
"""


def test_a_modules_relocated_calls_are_sites_as_in_vmlinux():
    text = build_kernel.resolve_relocations(KO_DUMP)
    assert "R_X86_64" not in text
    sites = covmap.parse_sites(text)
    assert [(s.addr, s.pc) for s in sites] == [(0xFFFFFFFF815B0023, 0xFFFFFFFF815B0028)]
    assert build_kernel.kcov_site_lines(text) == ["ffffffff815b0023"]
    assert covmap.call_returns(text) == {0xFFFFFFFF815B0019, 0xFFFFFFFF815B003A}
    assert covmap._FUNC.findall(text) == [("ffffffff815b0010", "rng_accept_parent")]


def _elf(sections: list[tuple[str, int]]) -> bytes:
    """A relocatable ELF64 with these (name, size) sections and a section name table."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n, _s in sections) + b".shstrtab\0"
    shoff = 0x40 + len(names)
    head = bytearray(b"\x7fELF" + bytes([2, 1, 1]) + bytes(9))
    head += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(sections) + 2,
                        len(sections) + 1)
    shdrs = bytes(64)
    pos = 1
    for n, size in sections:
        shdrs += struct.pack("<IIQQQQIIQQ", pos, 1, 6, 0, 0, size, 0, 0, 16, 0)
        pos += len(n) + 1
    shdrs += struct.pack("<IIQQQQIIQQ", pos, 3, 0, 0, 0x40, len(names), 0, 0, 1, 0)
    return bytes(head) + names + shdrs


def test_the_text_size_is_read_from_the_ko(tmp_path):
    f = tmp_path / "algif_rng.ko"
    f.write_bytes(_elf([(".init.text", 0x2A), (".text", 0x8E9)]))
    assert kcov.elf_text_size(f) == 0x8E9
    f.write_bytes(b"\x28\xb5\x2f\xfd compressed")
    assert kcov.elf_text_size(f) is None
    (tmp_path / "kernel" / "crypto").mkdir(parents=True)
    (tmp_path / "kernel" / "crypto" / "algif_aead.ko.xz").write_bytes(b"xz")
    assert kcov.module_files(tmp_path) == {"algif_aead": tmp_path / "kernel" / "crypto" / "algif_aead.ko.xz"}


def test_the_module_op_decodes_and_prints_as_a_reproducer_line():
    want = {"steps": 1, "seq-op": "module", "module-action": "reload", "module": "algif_skcipher"}
    src = EncodingSource(lambda tag, lo, hi: want.get(tag))
    decoders.decode_sequence(src, Names())
    prog = decoders.decode_sequence(FdpSource(src.data()), Names())
    call = [c for c in prog.calls if c.op == "module"]
    assert [c.args for c in call] == [{"action": "reload", "module": "algif_skcipher"}]
    assert "module_op('reload', 'algif_skcipher')" in prog.to_python()
    assert "module" not in decoders.DECODERS["fuzz_sequence"](FdpSource(b""), Names()).to_python()


def test_a_module_the_program_left_unloaded_is_loaded_at_its_end(monkeypatch):
    log, loaded = [], {"algif_rng", "algif_aead"}

    def unload(m):
        log.append(("unload", m))
        if m == "algif_aead":
            raise OSError(errno.EAGAIN, "busy")
        loaded.discard(m)

    def load(m):
        log.append(("load", m))
        if m in loaded:
            raise OSError(errno.EEXIST, "loaded")
        loaded.add(m)
    monkeypatch.setattr(program, "kmod", types.SimpleNamespace(unload=unload, load=load, reload=None))
    prog = Program("fuzz_sequence")
    prog.add("module", 0, action="unload", module="algif_rng")
    prog.add("module", 0, action="reload", module="algif_aead")
    ex = Executor()
    assert ex.run(prog) == ["ok", "EAGAIN"]
    assert log == [("unload", "algif_rng"), ("unload", "algif_aead"), ("load", "algif_rng")]
    assert loaded == {"algif_rng", "algif_aead"}
    assert ex.outcomes == [("module", "unload:algif_rng", "none", "ok"),
                           ("module", "reload:algif_aead", "none", "EAGAIN")]


def _place(tmp_path, m: str, real: int | None) -> None:
    """The module loaded at real (its .text), or unloaded (None)."""
    f = tmp_path / m / "sections" / ".text"
    if real is None:
        f.unlink()
        return
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(f"{real:#x}\n")


def test_a_module_where_other_text_was_marks_raw_pc_caches_stale(tmp_path):
    text = _text(tmp_path, {"algif_rng": 0xFFFFFFFFC0201000}, {"algif_rng": 0x100, "algif_aead": 0x200})
    assert not text.stale and text.moved == 0
    _place(tmp_path, "algif_rng", None)
    assert text.refresh() and not text.stale                   # gone: nothing means another site yet
    _place(tmp_path, "algif_aead", 0xFFFFFFFFC0201080)          # over rng's old text
    assert text.refresh() and text.stale and text.moved == 0
    text.stale = False
    _place(tmp_path, "algif_aead", None)
    text.refresh()
    _place(tmp_path, "algif_aead", 0xFFFFFFFFC0201080)          # back where it was: the same sites
    assert text.refresh() and not text.stale
    _place(tmp_path, "algif_rng", 0xFFFFFFFFC0305000)           # elsewhere than last time: a move,
    assert text.refresh() and not text.stale and text.moved == 1    # to text no cache knows
    _place(tmp_path, "algif_rng", None)
    text.refresh()
    _place(tmp_path, "algif_rng", 0xFFFFFFFFC0305040)           # over its own old text
    assert text.refresh() and text.stale and text.moved == 2


def test_pcs_traced_before_a_module_moves_count_at_its_old_sites(tmp_path, monkeypatch):
    """One input: a call in algif_rng, rng unloaded and algif_aead loaded where rng was, a call
    in aead at the same raw address. Read at the input's end against the last layout, the first
    PC would count as aead's; the stale raw-PC caches would keep the second as rng's."""
    from afalg_conformance.fuzz import coverage
    rng, aead = 0xFFFFFFFFC0201000, 0xFFFFFFFFC0201000
    text = _text(tmp_path, {"algif_rng": rng}, {"algif_rng": 0x100, "algif_aead": 0x200})
    fb = coverage.Feedback("python")
    fb.symbols, fb.afalg_text = text.symbols, text
    from tests.test_fuzz_coverage import _pc_kcov
    fb.kcov = _pc_kcov(64)

    def moves():
        _place(tmp_path, "algif_rng", None)
        _place(tmp_path, "algif_aead", aead)
    log = []

    class Kmod:
        def unload(self, m):
            log.append(("unload", m))
            moves()

        def load(self, m):
            log.append(("load", m))
    monkeypatch.setattr(program, "kmod", Kmod())

    # the Executor brackets the module op with the tracer's hooks
    calls = []

    class Spy(program.NullTracer):
        def modules_changing(self):
            calls.append("changing")

        def modules_changed(self):
            calls.append("changed")
    prog = Program("fuzz_sequence")
    prog.add("module", 0, action="unload", module="algif_rng")
    Executor(tracer=Spy()).run(prog)
    assert calls == ["changing", "changed", "changing", "changed"]      # the op, the load at the end
    _place(tmp_path, "algif_rng", rng)
    _place(tmp_path, "algif_aead", None)
    text.refresh()
    text.stale = False

    # the feedback, driven as the Executor drives it
    fb.input_begin()
    fb.begin()
    fb.kcov.emit([rng + 0x10 - KASLR])
    fb.end(("bind", "ok"))
    fb.modules_changing()
    fb.begin()
    moves()
    fb.end(("module", "ok"))
    fb.modules_changed()
    fb.begin()
    fb.kcov.emit([aead + 0x10 - KASLR, aead + 0x20 - KASLR])
    fb.end(("recvmsg", "ok"))
    fb.input_end()
    want = {text.slot("algif_rng") + 0x10, text.slot("algif_aead") + 0x10, text.slot("algif_aead") + 0x20}
    assert fb.afalg_pcs == want and fb.stale_drops == 1
    assert fb.snapshot()["afalg_modules"]["caches_dropped"] == 1


def test_a_moved_module_is_named_from_kallsyms_as_it_is_now(tmp_path, monkeypatch):
    old, new = 0xFFFFFFFFC0201000, 0xFFFFFFFFC0305000
    text = _text(tmp_path, {"algif_rng": old}, {"algif_rng": 0x100})
    text.symbols.module_text = {"algif_rng": [(old, "rng_accept_parent"), (old + 0x40, "rng_recvmsg")]}
    _place(tmp_path, "algif_rng", new)
    text.refresh()
    now = types.SimpleNamespace(module_text={"algif_rng": [(new, "rng_accept_parent"), (new + 0x40, "rng_recvmsg")]})
    monkeypatch.setattr(kcov, "Symbols", lambda *a, **k: now)
    slot = text.slot("algif_rng")
    assert text.name_of(slot + 0x50) == "rng_recvmsg" and text.name_of(slot + 0x10) == "rng_accept_parent"
