"""The lease state machine: what a bid's answer means and how long it is trusted."""

from __future__ import annotations

from service.lease import CONTEND_INTERVAL_SECONDS, TRUST_SHARE, Change, LeaseState


def test_winning_a_bid_takes_the_lease_and_trusts_it_for_part_of_the_ttl() -> None:
    state = LeaseState(ttl=10.0)
    assert state.answered(7, asked=100.0) is Change.TAKEN
    assert state.held(100.0 + 10.0 * TRUST_SHARE - 0.001)
    assert not state.held(100.0 + 10.0 * TRUST_SHARE)


def test_trust_counts_from_when_the_bid_was_asked_not_answered() -> None:
    state = LeaseState(ttl=10.0)
    state.answered(1, asked=100.0)
    assert state.trusted_until == 108.0


def test_renewing_keeps_the_fence() -> None:
    state = LeaseState(ttl=10.0)
    state.answered(3, asked=0.0)
    assert state.answered(3, asked=3.0) is Change.KEPT
    assert state.held(10.0)


def test_a_new_fence_is_a_new_tenure() -> None:
    state = LeaseState(ttl=10.0)
    state.answered(3, asked=0.0)
    assert state.answered(4, asked=1.0) is Change.TAKEN


def test_a_refused_renewal_loses_the_lease_at_once() -> None:
    state = LeaseState(ttl=10.0)
    state.answered(3, asked=0.0)
    assert state.answered(0, asked=1.0) is Change.LOST
    assert not state.held(1.0)


def test_a_refused_bid_without_the_lease_changes_nothing() -> None:
    assert LeaseState(ttl=10.0).answered(0, asked=0.0) is Change.NONE


def test_forfeit_drops_trust_and_reports_the_fence() -> None:
    state = LeaseState(ttl=10.0)
    state.answered(5, asked=0.0)
    assert state.forfeit() == 5
    assert not state.held(0.1)
    assert state.forfeit() == 0


def test_a_holder_renews_every_third_of_the_ttl_and_before_trust_runs_out() -> None:
    state = LeaseState(ttl=9.0)
    state.answered(1, asked=0.0)
    assert state.next_pause(0.0) == 3.0
    assert abs(state.next_pause(6.0) - 1.2) < 1e-9  # trust ends at 7.2 s


def test_a_replica_without_the_lease_contends_often() -> None:
    assert LeaseState(ttl=9.0).next_pause(0.0) == CONTEND_INTERVAL_SECONDS
