from __future__ import annotations

from swarmstream.llm.call_metrics import DURATION_BUCKETS_S, CallMetrics, Histogram


def test_a_histogram_counts_each_value_in_the_first_bucket_that_holds_it():
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert histogram.sum == 3.65


def test_calls_are_kept_by_model_and_error_type_tokens_by_type():
    metrics = CallMetrics()
    metrics.call("m", 0.15)
    metrics.call("m", 30.0, "timeout")
    metrics.usage("m", 60, 9)
    assert metrics.durations["m", ""].cumulative()[DURATION_BUCKETS_S.index(0.16)] == ("0.16", 1)
    assert metrics.durations["m", "timeout"].counts[-1] == 0 and metrics.durations["m", "timeout"].sum == 30.0
    assert metrics.tokens["m", "input"].sum == 60 and metrics.tokens["m", "output"].sum == 9
