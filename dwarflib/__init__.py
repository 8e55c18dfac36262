"""dwarflib: local dwarf galaxy search in DESI Legacy Imaging Surveys DR9 + WISE photometry."""

__version__ = "0.1.0"
