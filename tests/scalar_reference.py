"""A second, deliberately naive implementation of docs/architecture.md: Python ints and
loops, one neuron and one synapse at a time. Slow; used only on tiny networks to check
that the vectorised golden model means what the contract says."""
import numpy as np

from gen.topology import KIND_INPUT


def _sat_s(x, bits):
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, x))


def _sat_u(x, bits):
    return max(0, min((1 << bits) - 1, x))


def _oat(seed, *key):
    m = 0xFFFFFFFF
    h = seed & m
    for b in key:
        h = (h + (b & 0xFF)) & m
        h = (h + (h << 10)) & m
        h ^= h >> 6
    h = (h + (h << 3)) & m
    h ^= h >> 11
    return (h + (h << 15)) & m


class _Lfsr:
    def __init__(self, seed, bank):
        s = _oat(seed ^ 0x5EED0000, bank & 255, bank >> 8) & 0xFFFF
        self.s = s or 1

    def next(self):
        self.s = (self.s >> 1) ^ (0xB400 if self.s & 1 else 0)
        return self.s


class ScalarNetwork:
    def __init__(self, config, topology, w_in, w_hh, w_ro):
        self.c, self.topo = config, topology
        s = config.sizes
        self.H, self.R, self.K, self.P = s.hidden, s.readout, s.classes, s.per_class
        self.w_in = [[int(v) for v in row] for row in w_in]
        self.w_hh = [[int(v) for v in row] for row in w_hh]
        self.w_ro = [[int(v) for v in row] for row in w_ro]
        self.lfsr = [_Lfsr(config.seed, b) for b in range(len(topology.cores) + 1)]
        B = [[1 if _oat(config.seed ^ 0xFEED0000, k, j & 255, j >> 8) >> 31 else -1
              for k in range(self.K)] for j in range(self.H)]
        self.Bc = [[self.K * B[j][k] - sum(B[j]) for k in range(self.K)] for j in range(self.H)]

    def _lif(self, v, ref, current, theta, leak):
        d, w, l = self.c.dynamics, self.c.widths, self.c.learning
        if ref > 0:
            return v, ref - 1, 0, 0
        v = _sat_s(v - (v >> leak) + current, w.membrane)
        psi = 1 if theta - l.psi_window <= v < theta + l.psi_window else 0
        spike = 1 if v >= theta else 0
        if spike:
            v = v - theta if d.reset_subtract else 0
            ref = d.refractory
        return v, ref, spike, psi

    def run_sample(self, u, label=None, learn=False):
        c = self.c
        s, d, w, l = c.sizes, c.dynamics, c.widths, c.learning
        n_in, H, R, K, P = s.n_in, self.H, self.R, self.K, self.P
        last = (s.layers - 1) * s.cores * s.neurons
        enc, x_in = [0] * n_in, [0] * n_in
        v_h, ref_h, x_h, s_h = [0] * H, [0] * H, [0] * H, [0] * H
        v_r, ref_r = [0] * R, [0] * R
        v_m, teach, counts = [0] * (2 * K), [0] * K, [0] * K
        self.x_bias = 0
        log = []
        for t in range(s.steps):
            s_in = [0] * n_in
            frame = t // (s.frame_steps if s.frame_steps else s.steps // s.frames)
            for i in range(n_in):
                enc[i] += int(u[frame * n_in + i]) if frame < s.frames else 0
                if enc[i] >= d.enc_theta:
                    s_in[i], enc[i] = 1, enc[i] - d.enc_theta
            new_h, psi_h = [0] * H, [0] * H
            for j in range(H):
                cur = sum(self.w_in[i][j] for i in range(n_in) if s_in[i]) + \
                    sum(self.w_hh[a][j] for a in range(H) if s_h[a])
                cur = _sat_s(cur, w.current)
                v_h[j], ref_h[j], new_h[j], psi_h[j] = self._lif(v_h[j], ref_h[j], cur,
                                                                 d.theta, d.leak_shift)
            s_r = [0] * R
            n_last = s.cores * s.neurons
            for r in range(R):
                cur = sum(self.w_ro[a][r] for a in range(n_last) if s_h[last + a])
                if c.topology.readout_bias:
                    cur += self.w_ro[n_last][r]
                cur = _sat_s(cur, w.current)
                v_r[r], ref_r[r], s_r[r], _ = self._lif(v_r[r], ref_r[r], cur, d.theta_out,
                                                        d.leak_shift_out)
            for k in range(K):
                counts[k] += sum(s_r[k * P:(k + 1) * P])
            m = [0] * (2 * K)
            if learn:
                for k in range(K):
                    teach[k] = _sat_u(teach[k] - (teach[k] >> l.teacher_shift)
                                      + sum(s_r[k * P:(k + 1) * P]), w.teacher)
                err = [0] * K
                if t >= l.teach_start:
                    if teach[label] < l.target:
                        err[label] = 1
                    best = None
                    for k in range(K):
                        if k != label and (best is None or teach[k] > teach[best]):
                            best = k
                    for k in range(K):
                        if (k != label and (l.push_down_all or k == best) and teach[k] > 0
                                and teach[k] + l.margin >= teach[label]):
                            err[k] = -1
                for mi in range(2 * K):
                    k = mi % K
                    drive = d.mod_drive if (err[k] == 1 if mi < K else err[k] == -1) else 0
                    v_m[mi] = _sat_s(v_m[mi] - (v_m[mi] >> d.mod_leak_shift) + drive,
                                     w.membrane)
                    if v_m[mi] >= d.mod_theta:
                        m[mi], v_m[mi] = 1, v_m[mi] - d.mod_theta
                if any(m):
                    self._plasticity(m, psi_h, x_in, x_h)
            log.append({"s_h": list(new_h), "s_r": list(s_r), "v_h": list(v_h),
                        "v_r": list(v_r), "m": list(m)})
            for i in range(n_in):
                x_in[i] = _sat_u(x_in[i] - (x_in[i] >> l.trace_shift)
                                 + l.trace_inc * s_in[i], w.trace)
            for j in range(H):
                x_h[j] = _sat_u(x_h[j] - (x_h[j] >> l.trace_shift)
                                + l.trace_inc * new_h[j], w.trace)
            self.x_bias = _sat_u(self.x_bias - (self.x_bias >> l.trace_shift) + l.trace_inc,
                                 w.trace)
            s_h = new_h
        best = max(range(K), key=lambda k: (counts[k], -k))
        return best, counts, log

    def _plasticity(self, m, psi, x_in, x_h):
        c = self.c
        s, l, w = c.sizes, c.learning, c.widths
        K, N = self.K, s.neurons
        sig = [m[k] - m[K + k] for k in range(K)]
        if l.learn_hidden:
            for g, rows in enumerate(self.topo.cores):
                cols = range(g * N, (g + 1) * N)
                gate = [1 if x_h[j] > 0 else 0 for j in range(self.H)] \
                    if l.post_from_trace else psi
                post = [l.eta_hidden * gate[j] * sum(self.Bc[j][k] * sig[k] for k in range(K))
                        for j in cols]
                for kind, src in zip(rows.kind, rows.source):
                    is_input = kind == KIND_INPUT
                    x = x_in[src] if is_input else x_h[src]
                    if not l.learn_recurrent and not is_input:
                        x = 0
                    if x == 0:
                        continue
                    mat = self.w_in if is_input else self.w_hh
                    for ci, j in enumerate(cols):
                        rnd = self.lfsr[g].next() & ((1 << l.eta_hidden_shift) - 1)
                        dw = (x * post[ci] + rnd) >> l.eta_hidden_shift
                        mat[src][j] = _sat_s(mat[src][j] + dw, w.weight)
        if l.learn_readout:
            last = (s.layers - 1) * s.cores * N
            lf = self.lfsr[len(self.topo.cores)]
            mask = np.vstack([self.topo.readout_mask, np.ones((1, self.R), bool)]) \
                if c.topology.readout_bias else self.topo.readout_mask
            n_last = s.cores * N
            for a in range(len(self.w_ro)):
                x = x_h[last + a] if a < n_last else self.x_bias
                if x == 0:
                    continue
                for r in range(self.R):
                    rnd = lf.next() & ((1 << l.eta_readout_shift) - 1)
                    if not mask[a, r]:
                        continue
                    dw = (x * l.eta_readout * sig[r // self.P] + rnd) >> l.eta_readout_shift
                    self.w_ro[a][r] = _sat_s(self.w_ro[a][r] + dw, w.weight)
