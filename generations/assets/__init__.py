"""A team's asset library: input media checked on arrival, served to vendors at signed,
expiring addresses, and recorded as the inputs of the generations made from them.

An app of its own (label `assets`) rather than more of generations/models.py, which is
at its size limit: the concern is new and its tables, migrations and views stay together.
"""
