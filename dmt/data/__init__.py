"""Data sets (VOC layout readers, the embedded digits set), joint transforms, and splits."""
