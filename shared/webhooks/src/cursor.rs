//! One endpoint's place in its partner's chain: the next entry to deliver, and what to do
//! after each attempt — in seq order, gap-free, at least once, each endpoint on its own (a
//! failing endpoint backs off without holding up anyone else).

use std::time::Duration;

use crate::{Outcome, RETRY_SCHEDULE, classify};

/// Where an endpoint stands. Stored with the endpoint; every change is a new value (the store
/// writes it conditionally, so two deliverers never both move it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The seq of the next entry to consider.
    pub next_seq: u64,
    /// Attempts made at `next_seq` so far (0: none yet).
    pub attempts: usize,
    /// Not before this many milliseconds since the epoch (0: now).
    pub not_before_ms: u64,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Enabled,
    /// By the partner (an update), by the receiver (410) or after the retry schedule; with why.
    Disabled(Disabled),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabled {
    ByPartner,
    Gone,
    RetriesSpent,
}

/// What to do about the entry at the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Deliver entry `seq` now.
    Deliver { seq: u64 },
    /// The endpoint does not want this kind: move on without a delivery.
    Skip { seq: u64 },
    /// Wait: for a retry's time, or for the chain to grow.
    Wait,
    /// Disabled: nothing until the partner enables it or replays.
    Idle,
}

impl Cursor {
    /// A new endpoint starts after the chain's last entry (`chain_size`): it hears what
    /// happens from now on; older entries by replay.
    pub fn starting_at(chain_size: u64) -> Self {
        Self {
            next_seq: chain_size,
            attempts: 0,
            not_before_ms: 0,
            state: State::Enabled,
        }
    }

    /// What to do at `now_ms`, for a chain of `chain_size` entries whose entry at the cursor
    /// has `kind` (`None` when the chain has no entry there yet), for an endpoint that wants
    /// `wants(kind)`.
    pub fn next(&self, chain_size: u64, kind: Option<&str>, wants: impl Fn(&str) -> bool, now_ms: u64) -> Next {
        if self.state != State::Enabled {
            return Next::Idle;
        }
        if self.next_seq >= chain_size || now_ms < self.not_before_ms {
            return Next::Wait;
        }
        match kind {
            Some(kind) if !wants(kind) => Next::Skip { seq: self.next_seq },
            Some(_) => Next::Deliver { seq: self.next_seq },
            None => Next::Wait,
        }
    }

    /// After skipping the entry at the cursor.
    pub fn skipped(&self) -> Self {
        Self {
            next_seq: self.next_seq + 1,
            attempts: 0,
            not_before_ms: 0,
            state: self.state.clone(),
        }
    }

    /// After an attempt at the cursor's entry at `now_ms` got `status` (`None`: no answer)
    /// and `retry_after`: moved on, scheduled again, or disabled.
    pub fn attempted(&self, status: Option<u16>, retry_after: Option<&str>, now_ms: u64) -> Self {
        let outcome = classify(self.attempts, status, retry_after);
        let mut next = self.clone();
        match outcome {
            Outcome::Delivered => {
                next.next_seq += 1;
                next.attempts = 0;
                next.not_before_ms = 0;
            }
            Outcome::Gone => next.state = State::Disabled(Disabled::Gone),
            Outcome::GiveUp => next.state = State::Disabled(Disabled::RetriesSpent),
            Outcome::Retry { at_least } => {
                next.attempts += 1;
                next.not_before_ms = now_ms.saturating_add(millis(at_least));
            }
        }
        next
    }

    /// The partner replays from `seq` (any seq up to the chain's size): the cursor moves there
    /// and the endpoint is enabled again, its retries reset.
    pub fn replay_from(&self, seq: u64, chain_size: u64) -> Option<Self> {
        (seq <= chain_size).then_some(Self {
            next_seq: seq,
            attempts: 0,
            not_before_ms: 0,
            state: State::Enabled,
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How long after its first failure an entry's endpoint is disabled, if every attempt fails.
pub fn retry_window() -> Duration {
    RETRY_SCHEDULE.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn entries_go_in_order_and_a_delivered_one_moves_the_cursor() {
        let c = Cursor::starting_at(3);
        assert_eq!(c.next(3, None, all, 0), Next::Wait, "only what happens from now on");
        assert_eq!(c.next(4, Some("created"), all, 0), Next::Deliver { seq: 3 });
        let c = c.attempted(Some(204), None, 0);
        assert_eq!(c.next_seq, 4);
        assert_eq!(c.next(4, None, all, 0), Next::Wait);
        assert_eq!(c.next(5, Some("note_added"), all, 0), Next::Deliver { seq: 4 });
    }

    #[test]
    fn unwanted_kinds_are_skipped_without_a_delivery() {
        let wants = |k: &str| k == "sla_breached";
        let c = Cursor::starting_at(0);
        assert_eq!(c.next(2, Some("created"), wants, 0), Next::Skip { seq: 0 });
        let c = c.skipped();
        assert_eq!(c.next(2, Some("sla_breached"), wants, 0), Next::Deliver { seq: 1 });
    }

    #[test]
    fn a_failing_endpoint_backs_off_by_the_schedule_then_is_disabled() {
        let mut c = Cursor::starting_at(0);
        let mut now = 1_000_000u64;
        for (i, delay) in RETRY_SCHEDULE.iter().enumerate().skip(1) {
            assert_eq!(
                c.next(1, Some("created"), all, now),
                Next::Deliver { seq: 0 },
                "attempt {i}"
            );
            c = c.attempted(Some(500), None, now);
            assert_eq!(c.attempts, i);
            assert_eq!(c.next_seq, 0, "the same entry, never the next before it");
            assert_eq!(c.not_before_ms, now + millis(*delay));
            assert_eq!(c.next(1, Some("created"), all, now + millis(*delay) - 1), Next::Wait);
            now += millis(*delay);
        }
        c = c.attempted(None, None, now);
        assert_eq!(c.state, State::Disabled(Disabled::RetriesSpent));
        assert_eq!(c.next(1, Some("created"), all, now), Next::Idle);
        assert_eq!(retry_window(), Duration::from_secs(75 * 3600 + 35 * 60 + 5));
    }

    #[test]
    fn gone_disables_and_a_replay_starts_again_from_any_seq() {
        let c = Cursor::starting_at(5).attempted(Some(410), None, 0);
        assert_eq!(c.state, State::Disabled(Disabled::Gone));
        assert_eq!(c.next(9, Some("created"), all, 0), Next::Idle);
        let again = c.replay_from(2, 9).expect("a seq of the chain");
        assert_eq!(again, Cursor::starting_at(2));
        assert_eq!(again.next(9, Some("created"), all, 0), Next::Deliver { seq: 2 });
        assert!(c.replay_from(10, 9).is_none(), "not past the chain's end");
        assert!(c.replay_from(9, 9).is_some(), "from the end: only what comes next");
    }

    #[test]
    fn retry_after_delays_the_next_attempt() {
        let c = Cursor::starting_at(0).attempted(Some(503), Some("600"), 1_000);
        assert_eq!(c.not_before_ms, 1_000 + 600_000);
        assert_eq!(c.attempts, 1);
    }
}
