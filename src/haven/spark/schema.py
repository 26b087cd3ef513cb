"""The Parquet schema of ``haven spark scan``'s output (documented column by column in docs/scale.md).

One row per file found (``record = "file"``: a file on disk or a member of an archive, at any depth) and
one per thing found but not read (``record = "problem"``: a bomb, a link, a file that vanished). Hashes
and qualities are maps keyed by signal name, so a signal added to the registry needs no new column.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

MATCH = StructType(
    [
        StructField("bank", StringType(), False),
        StructField("signal", StringType(), False),
        StructField("value", StringType(), False),
        StructField("distance", IntegerType(), False),
        StructField("category", StringType(), True),
        StructField("category_scheme", StringType(), True),
        StructField("severity", IntegerType(), True),
        StructField("entry_id", LongType(), True),
        StructField("series", StringType(), True),
        StructField("victim_identified", BooleanType(), True),
        StructField("extra", StringType(), True),
    ]
)

WARNING = StructType([StructField("code", StringType(), False), StructField("message", StringType(), False)])

SCAN = StructType(
    [
        StructField("path", StringType(), False),
        StructField("source", StringType(), False),
        StructField("source_size", LongType(), False),
        StructField("source_mtime_ns", LongType(), False),
        StructField("depth", IntegerType(), False),
        StructField("record", StringType(), False),
        StructField("mime", StringType(), True),
        StructField("size", LongType(), True),
        StructField("hashes", MapType(StringType(), StringType()), False),
        StructField("quality", MapType(StringType(), IntegerType()), False),
        StructField("width", IntegerType(), True),
        StructField("height", IntegerType(), True),
        StructField("low_quality", BooleanType(), True),
        StructField("matches", ArrayType(MATCH), False),
        StructField("error_code", StringType(), True),
        StructField("error_message", StringType(), True),
        StructField("skipped", BooleanType(), False),
        StructField("warnings", ArrayType(WARNING), False),
        StructField("run_id", StringType(), False),
        StructField("scanned_at", TimestampType(), False),
    ]
)

# What a rerun compares to skip a source already in the output.
RESUME_KEY = ["source", "source_size", "source_mtime_ns"]
