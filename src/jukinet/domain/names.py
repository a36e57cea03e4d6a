"""Search keys for names and addresses (used only for matching; stored values stay verbatim).

PLACEHOLDER: the full implementation (NFKC, width, kana folding, spaces) is being written.
"""

from __future__ import annotations

import unicodedata


def name_search_key(name: str) -> str:
    """Key for matching a name: compatibility-normalised, spaces removed."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def address_search_key(address: str) -> str:
    """Key for matching an address."""
    return "".join(unicodedata.normalize("NFKC", address).split())
