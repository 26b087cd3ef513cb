"""A SparkSession for Haven's jobs: ``local[*]`` by default, any cluster by its master URL."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession


def build_session(
    master: str | None = None,
    *,
    app_name: str = "haven",
    conf: Mapping[str, str] | None = None,
    ui: bool = True,
) -> SparkSession:
    """Start (or join) a SparkSession. Under ``spark-submit`` the master comes from its command line.

    On a local master the driver and the web UI listen on 127.0.0.1 only, and the Python workers run
    this interpreter (the one Haven is installed in); on a cluster both are the cluster's settings
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
        )
    builder = (
        builder.config("spark.ui.showConsoleProgress", "false")  # Haven prints its own progress
        .config("spark.ui.enabled", "true" if ui else "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
