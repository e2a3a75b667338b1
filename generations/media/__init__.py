"""Clip files: downloading them, reading and picturing them, joining them, serving them."""
