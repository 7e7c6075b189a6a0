"""The decisions loop shares one event loop with ingest, the web API and the broker connection. Evaluations due back to
back must leave it time: in the 7-day soak at 300 × the gateway needed minutes to reconnect after each broker restart,
its handshake timing out behind one evaluation after another."""

from __future__ import annotations

from edge.decisions.loop import MAX_REST_S, MIN_INTERVAL_S, rest_before_evaluating


def test_a_cheap_evaluation_due_at_once_is_not_held_back() -> None:
    assert rest_before_evaluating(False, since_last_s=0.5, last_cost_s=0.01, next_due_s=0.0) == 0.0


def test_a_burst_of_messages_is_batched_into_one_evaluation_unless_a_deadline_is_sooner() -> None:
    assert rest_before_evaluating(True, since_last_s=0.05, last_cost_s=0.01, next_due_s=1.0) == MIN_INTERVAL_S - 0.05
    assert rest_before_evaluating(True, since_last_s=0.05, last_cost_s=0.01, next_due_s=0.02) == 0.02


def test_after_a_long_evaluation_the_loop_gets_as_long_before_the_next() -> None:
    # it began 2 s ago and took 2 s: it ended just now; a deadline already due waits 2 s
    assert rest_before_evaluating(False, since_last_s=2.0, last_cost_s=2.0, next_due_s=0.0) == 2.0
    # it ended 1.5 s ago (began 3.5 s ago): half a second more
    assert rest_before_evaluating(False, since_last_s=3.5, last_cost_s=2.0, next_due_s=0.0) == 0.5
    # messages woke it: the rest wins over the batching interval
    assert rest_before_evaluating(True, since_last_s=2.0, last_cost_s=2.0, next_due_s=0.0) == 2.0


def test_the_rest_is_bounded_so_a_freak_evaluation_does_not_stop_the_rules() -> None:
    assert rest_before_evaluating(False, since_last_s=60.0, last_cost_s=60.0, next_due_s=0.0) == MAX_REST_S
