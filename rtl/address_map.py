"""The host's view of the chip (docs/host-protocol.md), defined once: the address spaces
a READ or WRITE names, the values a WRITE may carry into them, the status registers in
space ``status``, and the protocol version PING reports. The engine (rtl/top.py,
rtl/host_decoder.py) decodes them; the driver (sim/host.py) imports them from here, which
elaborates nothing."""
from .lfsr import LFSR_WIDTH
from .plasticity_math import SHIFT_MAX

__all__ = ["PROTOCOL_VERSION", "SPACES", "STATUS_REGS", "value_limits"]

PROTOCOL_VERSION = 3
SPACES = {"weights": 0, "route_index": 1, "route_entry": 2, "input": 3, "counts": 4,
          "status": 5, "lfsr": 6, "rates": 7}
STATUS_REGS = ["prediction", "cycles", "router_events", "router_deliveries",
               "router_stalls", "steps", "modulator_events", "gated_steps", "rows_swept",
               "weight_writes"]


def value_limits(enc_theta: int | None, learning: bool = True) -> dict:
    """``{space: (lowest, highest)}``: the words a WRITE may carry into the spaces where
    the chip would otherwise keep a value the golden model refuses (an intensity above
    ``enc_theta``, an LFSR state of 0, which stays 0, a learning-rate shift past the
    LFSR's 16 rounding bits) or cut one to its low bits (a shift of 32 became 0).
    ``enc_theta`` None (not known yet): no limit on ``input``. The other spaces take any
    word and use its low bits."""
    limits = {} if enc_theta is None else {SPACES["input"]: (0, enc_theta)}
    if learning:
        limits.update({SPACES["lfsr"]: (1, (1 << LFSR_WIDTH) - 1),
                       SPACES["rates"]: (0, SHIFT_MAX)})
    return limits
