"""A SparkSession for Haven's jobs: ``local[*]`` by default, any cluster by its master URL."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession

#: JVM options of a local session's JVM (the driver, which runs the executor too). Haven's work is in the
#: Python workers; the JVM only moves rows and writes Parquet, and its optimising JIT compiler (C2) kept
#: compiling through whole scans (~7 ms of CPU a file, an eighth of a scan's CPU, taken from the Python
#: workers on a small machine). The quick compiler alone (C1) halved the JVM's CPU and its row work was
#: no slower (docs/scale.md, "The JVM's share").
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


def build_session(
    master: str | None = None,
    *,
    app_name: str = "haven",
    conf: Mapping[str, str] | None = None,
    ui: bool = True,
) -> SparkSession:
    """Start (or join) a SparkSession. Under ``spark-submit`` the master comes from its command line.

    On a local master the driver and the web UI listen on 127.0.0.1 only, the Python workers run this
    interpreter (the one Haven is installed in) and the JVM compiles with C1 only (``LOCAL_JAVA_OPTIONS``,
    when it is started here); on a cluster all three are the cluster's settings
    (``spark.pyspark.python``, an archive of the environment: docs/scale.md).
    """
    builder = SparkSession.builder.appName(app_name)
    # spark-submit starts the JVM first and hands this process its gateway (and its --master).
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    local = (master or ("" if submitted else "local[*]")).startswith("local")
    if master or not submitted:
        builder = builder.master(master or "local[*]")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the web UI binds to this address
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # what PySpark starts its workers with
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.pyspark.python", sys.executable)
            .config("spark.pyspark.driver.python", sys.executable)
            .config("spark.driver.extraJavaOptions", LOCAL_JAVA_OPTIONS)  # conf below may replace it
        )
    builder = (
        builder.config("spark.ui.showConsoleProgress", "false")  # Haven prints its own progress
        .config("spark.ui.enabled", "true" if ui else "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
