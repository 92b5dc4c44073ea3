"""Data: the embedded demo generator, the manifest (folder/CSV -> canonical table, splits) and image loading."""
