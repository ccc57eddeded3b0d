"""Board registry: the names ``--board`` accepts, each mapped to a short description.

Each name will map to an amaranth-boards platform once synthesis exists
(ice40 -> iCEBreaker, iCE40 UP5K); more boards and ECP5 follow.
"""

__all__ = ["BOARDS"]

BOARDS = {
    "ice40": "iCEBreaker (iCE40 UP5K)",
}
