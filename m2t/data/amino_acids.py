"""Amino-acid tables: one- and three-letter codes, full names and the few properties the synthetic texts use."""

from __future__ import annotations

STANDARD = "ACDEFGHIKLMNPQRSTVWY"
# X unknown, B Asx (D/N), Z Glx (E/Q), U selenocysteine, O pyrrolysine: accepted with data.extended_alphabet.
EXTENDED = "XBZUO"

THREE_LETTER = {
    "A": "Ala",
    "C": "Cys",
    "D": "Asp",
    "E": "Glu",
    "F": "Phe",
    "G": "Gly",
    "H": "His",
    "I": "Ile",
    "K": "Lys",
    "L": "Leu",
    "M": "Met",
    "N": "Asn",
    "P": "Pro",
    "Q": "Gln",
    "R": "Arg",
    "S": "Ser",
    "T": "Thr",
    "V": "Val",
    "W": "Trp",
    "Y": "Tyr",
    "X": "Xaa",
    "B": "Asx",
    "Z": "Glx",
    "U": "Sec",
    "O": "Pyl",
}
ONE_LETTER = {three.upper(): one for one, three in THREE_LETTER.items()}

NAMES = {
    "A": "alanine",
    "C": "cysteine",
    "D": "aspartate",
    "E": "glutamate",
    "F": "phenylalanine",
    "G": "glycine",
    "H": "histidine",
    "I": "isoleucine",
    "K": "lysine",
    "L": "leucine",
    "M": "methionine",
    "N": "asparagine",
    "P": "proline",
    "Q": "glutamine",
    "R": "arginine",
    "S": "serine",
    "T": "threonine",
    "V": "valine",
    "W": "tryptophan",
    "Y": "tyrosine",
    "X": "an unknown residue",
    "B": "asparagine or aspartate",
    "Z": "glutamine or glutamate",
    "U": "selenocysteine",
    "O": "pyrrolysine",
}

# Side-chain charge at neutral pH (histidine counted as neutral).
CHARGE = {"K": 1, "R": 1, "D": -1, "E": -1}

# Residue volumes in cubic ångström (Zamyatnin 1972).
VOLUME = {
    "A": 88.6,
    "C": 108.5,
    "D": 111.1,
    "E": 138.4,
    "F": 189.9,
    "G": 60.1,
    "H": 153.2,
    "I": 166.7,
    "K": 168.6,
    "L": 166.7,
    "M": 162.9,
    "N": 114.1,
    "P": 112.7,
    "Q": 143.8,
    "R": 173.4,
    "S": 89.0,
    "T": 116.1,
    "V": 140.0,
    "W": 227.8,
    "Y": 193.6,
}

HYDROPHOBIC = frozenset("AVILMFWC")

# UniProtKB/Swiss-Prot amino-acid composition (percent), used to draw synthetic sequences.
BACKGROUND = {
    "A": 8.25,
    "R": 5.53,
    "N": 4.06,
    "D": 5.45,
    "C": 1.37,
    "Q": 3.93,
    "E": 6.75,
    "G": 7.07,
    "H": 2.27,
    "I": 5.96,
    "L": 9.66,
    "K": 5.84,
    "M": 2.42,
    "F": 3.86,
    "P": 4.70,
    "S": 6.56,
    "T": 5.34,
    "W": 1.08,
    "Y": 2.92,
    "V": 6.87,
}


def alphabet(*, extended_alphabet: bool) -> frozenset[str]:
    """The accepted one-letter codes: the 20 standard ones, plus X/B/Z/U/O when ``extended_alphabet``."""
    return frozenset(STANDARD + (EXTENDED if extended_alphabet else ""))
