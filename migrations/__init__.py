"""peewee-migrate migrations of the sidecar's tables, shipped inside the package.

File names must be three digits, an underscore, a name and .py: peewee-migrate
skips any other name without a word, so the boot check rejects near misses.
"""
