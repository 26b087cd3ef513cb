"""The local session's JVM runs with Haven's JVM options (the quick JIT compiler only, see
``haven.spark.session.LOCAL_JAVA_OPTIONS``)."""

from __future__ import annotations

from typing import Any

from haven.spark.session import LOCAL_JAVA_OPTIONS


def test_local_jvm_was_started_with_havens_java_options(spark: Any) -> None:
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    assert set(LOCAL_JAVA_OPTIONS.split()) <= set(arguments), arguments
