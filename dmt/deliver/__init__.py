"""Delivering the chosen model: the self-describing export (``export``), labelling new images
(``predict``) and the commands (``job``).
"""
