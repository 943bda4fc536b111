"""Superfiltering: weak-to-strong IFD data filtering (Li et al., ACL 2024).

``select``: the IFD selection rules of the official code (``code_ifd/select_data.py``, ``do_fla.py``'s
IFD pre-filter). ``diversity``: the Superfiltering.D step (MiniLM embeddings + facility location).
"""
