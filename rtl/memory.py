"""Weight memory: one single-port synchronous RAM, ``SB_SPRAM256KA`` on the iCE40 UP5K,
``amaranth.lib.memory.Memory`` everywhere else (simulation, other FPGAs).

Yosys does not map a generic memory to the UP5K's SPRAM, so on that device the wrapper
instantiates the primitive itself: ``ceil(width / 16)`` blocks side by side, times
``ceil(depth / 16384)`` banks in depth (a UP5K has four blocks; more is refused).

The access contract, which the crossbar, the host loader and (later) the plasticity unit
keep, and which both backends implement identically:

* one access per cycle: ``re`` reads ``addr``, ``we`` writes ``wdata`` to ``addr``
  (``we`` wins when both are set);
* ``rdata`` holds the word read in the previous cycle: read latency exactly 1;
* ``rdata`` is defined only in the cycle right after a read. After a write cycle the
  SPRAM's data output is undefined (the yosys model ``cells_sim.v`` assigns ``16'bx``);
  the generic memory holds its old value instead. No user reads ``rdata`` then, so
  read-during-write and write-first/read-first questions never arise.

How we know the two agree for this pattern: ``tests/test_rtl_core.py::test_spram_matches_memory``
builds both backends side by side under Verilator, with yosys' own ``SB_SPRAM256KA``
simulation model and X values randomised (``--x-assign unique``), drives a random mix of
reads, writes and idle cycles, and checks every read the cycle after it; and the default
neuron-core configuration runs bit-exact against the golden model on the SPRAM backend.
"""
from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from gen.util import ceil_div

from .internals import never_elaborated

__all__ = ["WeightMemory", "block_ram_attrs", "lut_ram_attrs", "LutRamShape", "RomShape",
           "WeightWriteSignature", "WeightPortSignature", "SPRAM_WIDTH", "SPRAM_DEPTH",
           "SPRAM_BLOCKS", "BACKENDS", "WeightBank"]

SPRAM_WIDTH = 16
SPRAM_DEPTH = 16384
SPRAM_BLOCKS = 4          # SB_SPRAM256KA blocks on an iCE40 UP5K
BACKENDS = ("auto", "spram", "memory")
WIDE_CHUNK = 512          # words a memory of 19-36-bit words is split into (WeightMemory)


class WeightWriteSignature(wiring.Signature):
    """A word write, from the writer's side: ``en``, ``addr``, ``data`` (host loader)."""

    def __init__(self, depth: int, width: int):
        super().__init__({
            "en": Out(1),
            "addr": Out(range(max(depth, 2))),
            "data": Out(width),
        })


class WeightPortSignature(wiring.Signature):
    """The weight memory's port from its user's side (the :class:`WeightMemory` contract):
    ``re`` reads ``addr`` (``rdata`` the next cycle), ``we`` writes ``wdata`` (``we`` wins).
    A crossbar or core built with ``external_weights`` has this port, named ``weights``;
    the plasticity unit's ``mem`` is one too."""

    def __init__(self, depth: int, width: int):
        super().__init__({
            "addr": Out(range(max(depth, 2))), "re": Out(1), "we": Out(1),
            "wdata": Out(width), "rdata": In(width),
        })


def _uses_spram(backend, platform) -> bool:
    if backend == "auto":
        device = getattr(platform, "device", "") or ""
        return device.startswith("iCE40UP")
    return backend == "spram"


def block_ram_attrs(platform) -> dict:
    """Memory attributes that keep a small memory in block RAM on the iCE40, which has no
    LUT RAM: yosys' memory_libmap puts one of 64 bits or fewer in flip-flops there (a
    logic cell a bit, and the decoders around them; the inference chip's four 64 x 1
    spike memories took 760 logic cells). Elsewhere nothing: yosys picks LUT RAM or block
    RAM by cost, as gen/build.py ``memory_blocks`` estimates."""
    device = getattr(platform, "device", "") or ""
    return {"ram_style": "block"} if device.startswith("iCE40") else {}


def lut_ram_attrs(platform) -> dict:
    """Memory attributes that put a writable memory other than a weight bank in LUT RAM
    on the ECP5 (``TRELLIS_DPR16X4``), so its block RAM is left for the weights: the
    deep ULX3S chip's state memories (readout, teacher, post terms) took 3 of the 85F's
    208 DP16KD. Elsewhere nothing (the iCE40 has no LUT RAM). Only for a memory whose
    read address comes from a register: LUT RAM reads asynchronously, so the address path
    and the read multiplexer (64:1 for 1,024 words) are one path (the router's tables,
    read at the arbiter's grant and at the index's output, and the traces, read at a
    ROM's output, stay in block RAM: docs/build.md "Large presets"). Its owner lists it
    as a :class:`LutRamShape`, which gen/build.py ``plan_build`` counts as LUT RAM."""
    device = getattr(platform, "device", "") or ""
    return {"ram_style": "distributed"} if device.startswith("LFE5") else {}


class _MarkedShape(tuple):
    """``(depth, width)``: a tuple like any other memory shape, its class a mark that
    gen/build.py ``plan_build`` reads."""

    def __new__(cls, depth: int, width: int):
        return super().__new__(cls, (depth, width))


class RomShape(_MarkedShape):
    """A ROM (contents fixed at elaboration, one read port): yosys packs several narrow
    words into one wide block RAM word (the deep ULX3S chip's 4,352 x 12 row-source table
    took 3 DP16KD of 512 x 36, not 5 of 1,024 x 18), which the plan counts."""


class LutRamShape(_MarkedShape):
    """A memory built with :func:`lut_ram_attrs`: the plan counts LUT RAM on the ECP5."""


class WeightMemory(wiring.Component):
    """``depth`` words of ``width`` bits behind one port (see the module docstring)."""

    def __init__(self, *, width: int, depth: int, backend: str = "auto", init=None):
        for name, value in (("width", width), ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self._width, self._depth, self._backend = width, depth, backend
        # initial contents (memory backend only: SB_SPRAM256KA has no way to take them)
        self._init = [int(w) for w in init] if init is not None else []
        problem = (f"init has {len(self._init)} words for a memory of {depth}"
                   if len(self._init) > depth else
                   "SB_SPRAM256KA cannot take initial contents: load the weights through "
                   "the host link instead" if self._init and backend == "spram" else None)
        if problem:
            never_elaborated(self)              # refused: no "unused" warning
            raise ValueError(problem)
        blocks = self.spram_blocks
        if backend == "spram" and blocks > SPRAM_BLOCKS:
            raise ValueError(f"{depth} words x {width} bits need {blocks} SB_SPRAM256KA "
                             f"blocks; an iCE40 UP5K has {SPRAM_BLOCKS}")
        super().__init__({
            "addr": In(range(max(depth, 2))),
            "re": In(1),
            "we": In(1),
            "wdata": In(width),
            "rdata": Out(width),
        })

    width = property(lambda self: self._width, doc="Bits a word.")
    depth = property(lambda self: self._depth, doc="Words.")

    @property
    def spram_blocks(self) -> int:
        """SB_SPRAM256KA blocks this memory takes on the SPRAM backend."""
        return ceil_div(self._width, SPRAM_WIDTH) * ceil_div(self._depth, SPRAM_DEPTH)

    def elaborate(self, platform):
        if _uses_spram(self._backend, platform):
            if self._init:
                raise ValueError("SB_SPRAM256KA cannot take initial contents: load the "
                                 "weights through the host link instead")
            if self.spram_blocks > SPRAM_BLOCKS:
                raise ValueError(f"{self._depth} words x {self._width} bits need "
                                 f"{self.spram_blocks} SB_SPRAM256KA blocks; an iCE40 UP5K "
                                 f"has {SPRAM_BLOCKS}")
            return self._elaborate_spram()
        return self._elaborate_memory()

    def _elaborate_memory(self):
        """One memory, or for words of 19 to 36 bits deeper than 512 several of 512
        words each (:data:`WIDE_CHUNK`) and a multiplexer after them: yosys maps such a
        word to the ECP5's DP16KD either 18 bits a port side by side (1,024 words a
        pair) or 36 bits in its pseudo-dual-port mode (512 words a block), and it chose
        the first for deep banks (fewer blocks in depth, a smaller multiplexer) even
        where it took more blocks: the deep ULX3S chip at 4 lanes wanted 213 of 208. A
        memory of 512 words takes one block only in the 36-bit mode."""
        m = Module()
        W, D = self._width, self._depth
        chunk = WIDE_CHUNK if 18 < W <= 36 and D > WIDE_CHUNK else max(D, 2)
        low = ceil_log2(chunk)
        n = ceil_div(D, chunk)
        sel = self.addr[low:] if n > 1 else Const(0, 1)
        sel_q = Signal.like(sel, name="chunk_q")        # chunk of the last read
        with m.If(self.re & ~self.we):
            m.d.sync += sel_q.eq(sel)
        outs = []
        for k in range(n):
            depth = min(chunk, max(D, 2) - k * chunk)
            mem = memory.Memory(shape=W, depth=depth,
                                init=self._init[k * chunk:(k + 1) * chunk])
            m.submodules[f"mem{k}" if n > 1 else "mem"] = mem
            w_port, r_port = mem.write_port(), mem.read_port()
            here = sel == k
            m.d.comb += [
                w_port.addr.eq(self.addr[:low]), w_port.data.eq(self.wdata),
                w_port.en.eq(self.we & here),
                r_port.addr.eq(self.addr[:low]), r_port.en.eq(self.re & ~self.we & here),
            ]
            outs.append(r_port.data)
        data = outs[0]
        for k in range(1, n):
            data = Mux(sel_q == k, outs[k], data)
        m.d.comb += self.rdata.eq(data)
        return m

    def _elaborate_spram(self):
        m = Module()
        n_cols = ceil_div(self._width, SPRAM_WIDTH)
        n_banks = ceil_div(self._depth, SPRAM_DEPTH)
        low = ceil_log2(SPRAM_DEPTH)
        address = Cat(self.addr, Const(0, low))[:low]     # 14 bits, zero-extended
        bank = self.addr[low:] if n_banks > 1 else Const(0, 1)
        bank_q = Signal.like(bank, name="bank_q")       # bank of the last read, for the mux
        with m.If(self.re & ~self.we):
            m.d.sync += bank_q.eq(bank)
        wdata = Cat(self.wdata, Const(0, n_cols * SPRAM_WIDTH - self._width))
        outs = []
        for b in range(n_banks):
            row = []
            for c in range(n_cols):
                dout = Signal(SPRAM_WIDTH, name=f"dout_{b}_{c}")
                m.submodules[f"spram_{b}_{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=address,
                    i_DATAIN=wdata[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                    i_MASKWREN=Const(0b1111, 4),
                    i_WREN=self.we,
                    i_CHIPSELECT=(self.re | self.we) & (bank == b),
                    i_CLOCK=ClockSignal(),
                    i_STANDBY=Const(0, 1),
                    i_SLEEP=Const(0, 1),
                    i_POWEROFF=Const(1, 1),
                    o_DATAOUT=dout,
                )
                row.append(dout)
            outs.append(Cat(*row))
        data = outs[0]
        for b in range(1, n_banks):
            data = Mux(bank_q == b, outs[b], data)
        m.d.comb += self.rdata.eq(data[:self._width])
        return m


class WeightBank(wiring.Component):
    """One weight memory with two users, each a :class:`WeightPortSignature` port: ``a``
    (a crossbar) always wins; ``b`` (the readout, the host, the learning unit) gets the
    cycles ``a`` leaves free, signalled by ``b_grant``. Same contract as
    :class:`WeightMemory`: ``rdata`` is valid the cycle after a granted read. ``a_depth``:
    the words ``a`` addresses (the crossbar's; the readout's words lie above them);
    ``b_depth``: ``b``'s address range (the engine gives every bank's ``b`` the largest's,
    so one port shape serves all)."""

    def __init__(self, *, width: int, depth: int, a_depth: int | None = None,
                 b_depth: int | None = None, backend: str = "auto", init=None):
        self._mem = WeightMemory(width=width, depth=depth, backend=backend, init=init)
        super().__init__({
            "a": In(WeightPortSignature(a_depth or depth, width)),
            "b": In(WeightPortSignature(b_depth or depth, width)),
            "b_grant": Out(1),
        })

    memory = property(lambda self: self._mem, doc="The :class:`WeightMemory` behind both.")

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = self._mem
        a, b = self.a, self.b
        a_on = a.re | a.we
        m.d.comb += [
            self.b_grant.eq(~a_on),
            mem.addr.eq(Mux(a_on, a.addr, b.addr)),
            mem.re.eq(Mux(a_on, a.re, b.re)),
            mem.we.eq(Mux(a_on, a.we, b.we)),
            mem.wdata.eq(Mux(a_on, a.wdata, b.wdata)),
            a.rdata.eq(mem.rdata), b.rdata.eq(mem.rdata),
        ]
        return m
