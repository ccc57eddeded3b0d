"""The host's view of the chip (docs/host-protocol.md), defined once: the address spaces
a READ or WRITE names, the status registers in space ``status``, and the protocol version
PING reports. The engine (rtl/top.py, rtl/host_decoder.py) decodes them; the driver
(sim/host.py) imports them from here, which elaborates nothing."""

__all__ = ["PROTOCOL_VERSION", "SPACES", "STATUS_REGS"]

PROTOCOL_VERSION = 2
SPACES = {"weights": 0, "route_index": 1, "route_entry": 2, "input": 3, "counts": 4,
          "status": 5, "lfsr": 6, "rates": 7}
STATUS_REGS = ["prediction", "cycles", "router_events", "router_deliveries",
               "router_stalls", "steps", "modulator_events", "gated_steps", "rows_swept",
               "weight_writes"]
