"""replib: the shared library behind the paper-replication workbook (see README.md)."""
__version__ = "0.1.0"
