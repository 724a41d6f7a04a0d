"""Reading what users give: records and texts from files and datasets, settings from mappings and YAML recipes, a
saved model's prompts (``prompts.py``: the one check of a prompt name).

Writing files (always atomically) and telling a hub id from a local path live in ``models/atomic_files.py`` and
``models/locations.py``, because self-contained saved models carry a copy of them.
"""
