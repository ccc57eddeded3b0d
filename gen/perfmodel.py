"""The step model behind gen/build.py ``performance``: the cycles of one step of the chip
(rtl/top.py ``Engine``, rtl/sequencer.py) for given spikes, event by event.

A step runs three phases one after another (docs/build.md, "Performance model"); each is
modelled from the blocks' documented timing, not from averages, because the phases
overlap and queue in ways averages miss (the deep ULX3S chip's router blocks at the
head of its line, and its readout waits for its bank):

1. **Encoder** (rtl/sequencer.py): 3 cycles a channel (4 in the frames after the first
   of a temporal presentation); an input spike is offered to every layer-0 core's event
   slice (a register, rtl/event_slice.py) and the encoder waits until each has taken it,
   2 cycles more when they are free. A slice takes the next spike once its core's
   crossbar took the last; a crossbar takes an event every ``W`` cycles (words a row,
   rtl/crossbar.py) and first replays its own spikes of step t-1 (local rows, ``W``
   each, rtl/core.py), from the step's first cycle. The phase ends with the last
   channel; the crossbars' queues carry over into routing.
2. **Route** (rtl/spike_scanner.py, rtl/router.py, docs/router.md "Datapath and
   timing"): each physical core's scanner reads one neuron a cycle and offers its
   spikes of step t-1 through a two-word register slice; the round-robin arbiter grants
   one source when the expander is free; the expander issues the event's entries (in
   table order) one a cycle into the destinations' depth-1 FIFOs. Each FIFO feeds a
   skid buffer and then the consumer: a core's event slice and crossbar (3 entries in
   flight, one taken every ``W`` cycles), or the readout (2 in flight, ``W_readout *
   B + 2`` cycles an event: a weight word a cycle, in ``B = lanes // sweep_lanes``
   beats, with its address cycle and the cycle that takes the next). An
   entry whose FIFO is full stops the expander: **head-of-line blocking**, so a slow
   destination holds back deliveries to every other. The readout reads its weights from
   the last physical core's bank in the cycles that core's crossbar leaves free
   (rtl/memory.py ``WeightBank``): it makes no progress while that crossbar reads. The
   phase ends when the scanners are done and the router has drained (every entry taken
   by its consumer).
3. **Update**: the readout's bias row (after its routed events), then every core
   finishes its queue (a cycle later with the crossbars' ``weight_stage``) and sweeps its ``share * N`` neurons (``share * N + 4`` cycles), the
   readout its ``R`` in ``R + 4`` (a neuron a cycle) where ``4 R + 2`` (a neuron at a
   time) would outlast the cores' (rtl/readout.py ``pipelined_sweep``); then the
   learning unit's turn and the next step.

A sample adds its start (the cores', the readout's and, on a learning chip, the
learning unit's trace memory's clear, ``n_in + hidden + 1`` words a cycle) and the
prediction (a cycle a class). The constants (the cycles between one phase and the next)
were measured on the simulated chip (bench/phases.py); the model is of the RTL's
inference run, a learning step's sweeps are not in it.
"""
from __future__ import annotations

import numpy as np

from rtl.readout import event_cycles, pipelined_sweep, sweep_cycles

__all__ = ["StepModel"]

INF = float("inf")


class StepModel:
    """The chip of ``config``, ``topo`` and build plan ``plan`` (gen/build.py
    ``plan_build``: ``words_per_row``, ``readout_words_per_row``, ``lanes``, ``share``,
    ``learning``). :meth:`step` gives one step's phases, :meth:`run` a sample's."""

    #: entries between the expander and a consumer's crossbar: FIFO, skid buffer, event
    #: slice (the readout has no slice)
    CORE_SLOTS, READOUT_SLOTS = 3, 2

    def __init__(self, config, topo, plan: dict):
        s = config.sizes
        self.N, self.G, self.S = s.neurons, len(topo.cores), plan.get("share", 1)
        self.P = self.G // self.S                       # physical cores
        self.W, self.R = plan["words_per_row"], s.readout
        # the crossbars' weight stage (the ECP5 boards): each drains a cycle later
        self.stage = int(plan.get("weight_stage", False))
        # the readout's event: a weight word a cycle (in beats where it adds fewer
        # lanes, as the sweep: rtl/readout.py), its address cycle and the IDLE cycle in
        # which it takes the next
        self.ro_event = event_cycles(plan["readout_words_per_row"], plan["lanes"],
                                     plan.get("sweep_lanes", plan["lanes"]))
        # its sweep: a neuron a cycle where 4 cycles a neuron would outlast the cores'
        self.ro_sweep = sweep_cycles(s.readout,
                                     pipelined_sweep(s.readout, self.S * self.N + 4))
        self.n_in, self.steps, self.classes = s.n_in, s.steps, s.classes
        self.layer0 = min(self.G, s.cores)
        self.bias = bool(config.topology.readout_bias)
        self.temporal = s.frames > 1 or s.hold < s.steps
        self.frames, self.hold = s.frames, s.hold
        # each hidden neuron's routed destinations, in the entry table's order
        self.routes = [[int(d) for d, _ in topo.routing[j]] for j in range(s.hidden)]
        clear = [max(self.N, 2 * self.W * self.S), s.readout]
        if plan.get("learning", True):
            clear.append(s.n_in + s.hidden + 1)        # the trace memory
        self.overhead = max(clear) + 3 + s.classes + 4   # clear, then predict

    # ---- one step ------------------------------------------------------------------
    def step(self, t: int, s_in, prev) -> tuple:
        """Cycles of step ``t`` as ``(encoder, route, update)``: ``s_in`` the step's
        input spikes (0/1 a channel), ``prev`` the hidden spikes of step t-1 (0/1 a
        neuron; zeros at t = 0)."""
        W, N, S, P = self.W, self.N, self.S, self.P
        prev = np.asarray(prev)
        local = prev.reshape(self.G, N).sum(1)
        host = P - 1                     # the physical core whose bank holds the readout's
        free = np.zeros(P)               # cycle each crossbar takes its next event
        host_busy = []                   # the host crossbar's reads: (from, to)

        def accept(p, earliest):
            a = max(earliest, free[p])
            free[p] = a + W
            if p == host:
                host_busy.append((a, a + W))
            return a

        # 1. replay of t-1's local spikes, and the encoder
        for p in range(P):
            for _ in range(int(local[p * S:(p + 1) * S].sum())):
                accept(p, 1)
        frame = min(t // self.hold, self.frames) if self.temporal else 0
        chan = 4 if 0 < frame < self.frames else 3
        takers = [(p, sum(1 for g in range(p * S, (p + 1) * S) if g < self.layer0))
                  for p in range(P)]
        takers = [(p, k) for p, k in takers if k]
        slice_free = np.zeros(P)
        tau = 0
        for fired in np.asarray(s_in, bool):
            if not fired:
                tau += chan
                continue
            offer = tau + chan
            last = offer
            for p, k in takers:
                for _ in range(k):        # a shared core's slice takes its cores in turn
                    x = max(offer, slice_free[p])
                    slice_free[p] = accept(p, x + 1)
                    last = max(last, x)
            tau = last + 2
        enc = tau + 1
        if t == 0:                       # no spikes before: the scanners skip
            return enc, 2, self._update(enc + 2, free, host_busy, [], 0) - (enc + 2)

        # 2. route: scanners, arbiter, expander, FIFOs, consumers
        scan = [np.flatnonzero(prev[p * S * N:(p + 1) * S * N]).tolist() for p in range(P)]
        nxt = [0] * P                     # each scanner's next spike
        entered = [None] * P             # cycle its last spike entered the register slice
        grants = [[] for _ in range(P)]
        taken = {d: [] for d in range(self.G)}    # cycles each core took its entries
        ro_w, ro_a = [], []               # the readout's entries: FIFO writes, takes
        ro = self.G
        out = enc                        # the last entry leaves the router

        def ro_finish(a):
            """The readout's event from ``a``: ``ro_event`` cycles of progress, none
            while the host crossbar reads (its reads known so far)."""
            end = a + self.ro_event
            for b0, b1 in sorted(host_busy):
                if b1 > a and b0 < end:
                    end += min(b1, end) - max(b0, a)
            return end

        def ro_take(m):                   # computed when first needed
            while len(ro_a) <= m:
                k = len(ro_a)
                ro_a.append(max(ro_w[k] + 1, ro_finish(ro_a[k - 1]) if k else -INF))
            return ro_a[m]

        def offered(p):                   # (cycle at the router, cycle into the slice)
            k = nxt[p]
            if k >= len(scan[p]):
                return None
            n = scan[p][k]
            e = enc + 1 + n if entered[p] is None else entered[p][0] + n - entered[p][1]
            g = grants[p]
            if len(g) >= 2:
                e = max(e, g[-2] + 1)     # the slice holds two
            return max(e + 1, g[-1] + 1 if g else -INF), e, n

        now, last, w_last = enc + 2, P - 1, [-INF, -INF]   # the last two FIFO writes
        while True:
            offers = {p: o for p in range(P) if (o := offered(p)) is not None}
            if not offers:
                break
            ready = [p for p, o in offers.items() if o[0] <= now]
            if not ready:
                now = min(o[0] for o in offers.values())
                continue
            p = min(ready, key=lambda q: (q - last - 1) % P)    # round robin
            _, e, n = offers[p]
            grant, last = now, p
            entered[p] = (e, n)
            grants[p].append(grant)
            nxt[p] += 1
            read, w_prev = grant, list(w_last)
            for d in self.routes[p * S * N + n]:
                read = max(read + 1, w_prev[-2])       # the entry table's read
                if d == ro:
                    k = len(ro_w)
                    room = ro_take(k - self.READOUT_SLOTS) + 1 \
                        if k >= self.READOUT_SLOTS else -INF
                else:
                    a_d = taken[d]
                    room = a_d[-self.CORE_SLOTS] + 1 if len(a_d) >= self.CORE_SLOTS else -INF
                w = max(w_prev[-1] + 1, read + 2, room)  # into the FIFO
                if d == ro:
                    ro_w.append(w)
                else:
                    prior = taken[d][-1] if taken[d] else -INF
                    taken[d].append(accept(d // S, w + 2))
                    out = max(out, w + 1, prior)         # into the event slice
                w_prev.append(w)
            w_last = w_prev[-2:]
            now = read if len(w_prev) > 2 else grant + 1  # the next grant
        done = enc + 2 + S * N                           # the scanners' last read
        for g in grants:
            if g:
                done = max(done, g[-1] + 1)
        ro_free = 0
        if ro_w:
            out = max(out, ro_take(len(ro_w) - 1))
            ro_free = ro_finish(ro_a[-1])
        route_end = max(done, out + 2) + 1
        slices = [a[-1] for a in taken.values() if a]
        return enc, route_end - enc, self._update(route_end, free, host_busy, slices,
                                                  ro_free) - route_end

    def _update(self, start, free, host_busy, slices, ro_free) -> float:
        """The end of phase 3 from ``start``: bias row, sweeps, learning unit, next."""
        bias_at = max(start, ro_free)
        update = max([bias_at] + slices) + 1
        cores = max([update] + [f + self.stage for f in free if f]) + self.S * self.N + 4
        ro_start = update
        if self.bias:
            end = bias_at + self.ro_event
            for b0, b1 in sorted(host_busy):
                if b1 > bias_at and b0 < end:
                    end += min(b1, end) - max(b0, bias_at)
            ro_start = max(update, end)
        return max(cores, ro_start + self.ro_sweep) + 5

    # ---- samples ---------------------------------------------------------------------
    def run(self, s_in, s_h) -> np.ndarray:
        """``s_in`` (steps, samples, n_in) and ``s_h`` (steps, samples, hidden) spikes:
        the cycles of every step's phases, (steps, samples, 3)."""
        T, B = s_in.shape[:2]
        out = np.zeros((T, B, 3))
        for b in range(B):
            for t in range(T):
                prev = s_h[t - 1, b] if t else np.zeros_like(s_h[0, b])
                out[t, b] = self.step(t, s_in[t, b], prev)
        return out
