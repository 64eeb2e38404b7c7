"""Token usage and money: the Usage value type, and the one money formatter.

Money itself is a plain ``Decimal`` of US dollars everywhere, never a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Usage:
    """Tokens billed for one call, or summed over many.

    ``input_tokens`` excludes cache reads and writes, as in the Messages API.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


def format_usd(amount: Decimal, places: int = 6) -> str:
    """``$0.020000``: the design document's six decimals, or ``places``."""
    quantum = Decimal(1).scaleb(-places)
    return f"${amount.quantize(quantum):,.{places}f}"
