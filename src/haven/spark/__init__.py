"""Haven on Apache Spark (``pip install haven[spark]``): bulk hash-and-match and bulk bank imports.

A thin shell over the core, like the CLI: ``work`` is what a task runs (``haven.media.walk``,
``haven.hashing``, ``haven.matching.Matcher``), ``scan`` and ``importer`` the drivers, ``schema`` the
Parquet output. Nothing in the core imports pyspark.
"""
