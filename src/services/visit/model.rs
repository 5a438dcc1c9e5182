//! A visit negotiation in one conversation: one side proposes up to three times, the other
//! picks one or declines; the proposer may change or cancel while it is open. Every rule about
//! who may do what, and when, lives here.

use serde::{Deserialize, Serialize};

use crate::kenar::side::UserSide;

pub const MAX_SLOTS: usize = 3;
pub const MAX_NOTE_CHARS: usize = 200;
/// Proposals are for the coming weeks, not for the past or the far future.
pub const MAX_AHEAD_SECS: i64 = 60 * 24 * 3600;
/// The earliest a visit can be proposed for: an hour from now, time to read it and get there.
pub const MIN_LEAD_SECS: i64 = 3600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Status {
    Open,
    Confirmed { slot: usize, by: UserSide },
    Declined { by: UserSide },
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    /// Unix seconds; shown in Tehran time.
    pub slots: Vec<i64>,
    pub note: String,
    pub proposer: UserSide,
    pub status: Status,
    pub created_at_ms: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VisitError {
    #[error("propose between 1 and {MAX_SLOTS} different times")]
    SlotCount,
    #[error("every time must be at least an hour from now and within the next 60 days")]
    SlotOutOfRange,
    #[error("the note is longer than {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    /// A button or page from an older proposal, or one already answered.
    #[error("this proposal is no longer open")]
    Stale,
    #[error("only the other side can answer this proposal")]
    NotYourTurn,
    #[error("only the side that proposed can change or cancel an open proposal")]
    NotProposer,
    #[error("no such time in this proposal")]
    NoSuchSlot,
}

impl Proposal {
    pub fn new(
        id: String,
        mut slots: Vec<i64>,
        note: &str,
        proposer: UserSide,
        now_ms: u64,
    ) -> Result<Self, VisitError> {
        slots.sort_unstable();
        slots.dedup();
        if slots.is_empty() || slots.len() > MAX_SLOTS {
            return Err(VisitError::SlotCount);
        }
        let now = (now_ms / 1000) as i64;
        if slots
            .iter()
            .any(|s| *s < now + MIN_LEAD_SECS || *s > now + MAX_AHEAD_SECS)
        {
            return Err(VisitError::SlotOutOfRange);
        }
        // What one person typed is shown to the other: no bidi or control-character tricks.
        let note = crate::web::clean_text(note);
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(VisitError::NoteTooLong);
        }
        Ok(Proposal {
            id,
            slots,
            note,
            proposer,
            status: Status::Open,
            created_at_ms: now_ms,
        })
    }

    fn open_for_answer(&self, id: &str, by: UserSide) -> Result<(), VisitError> {
        if self.id != id || self.status != Status::Open {
            return Err(VisitError::Stale);
        }
        if by == self.proposer {
            return Err(VisitError::NotYourTurn);
        }
        Ok(())
    }

    pub fn pick(&mut self, id: &str, slot: usize, by: UserSide) -> Result<i64, VisitError> {
        self.open_for_answer(id, by)?;
        let at = *self.slots.get(slot).ok_or(VisitError::NoSuchSlot)?;
        self.status = Status::Confirmed { slot, by };
        Ok(at)
    }

    pub fn decline(&mut self, id: &str, by: UserSide) -> Result<(), VisitError> {
        self.open_for_answer(id, by)?;
        self.status = Status::Declined { by };
        Ok(())
    }

    /// Calls it off: an open proposal by its proposer (the other side declines it instead), an
    /// agreed visit by either side — plans change on both.
    pub fn cancel(&mut self, id: &str, by: UserSide) -> Result<(), VisitError> {
        if self.id != id || matches!(self.status, Status::Cancelled | Status::Declined { .. }) {
            return Err(VisitError::Stale);
        }
        if self.status == Status::Open && by != self.proposer {
            return Err(VisitError::NotProposer);
        }
        self.status = Status::Cancelled;
        Ok(())
    }

    /// Whether `by` may call it off now (`cancel`'s rule).
    pub fn may_cancel(&self, by: UserSide) -> bool {
        match self.status {
            Status::Open => by == self.proposer,
            Status::Confirmed { .. } => true,
            Status::Declined { .. } | Status::Cancelled => false,
        }
    }

    pub fn confirmed_at(&self) -> Option<i64> {
        match self.status {
            Status::Confirmed { slot, .. } => self.slots.get(slot).copied(),
            _ => None,
        }
    }
}

/// Whether a new proposal may replace the current one: anyone may propose when nothing is
/// open; while one is open, only its proposer may replace it (a change).
pub fn may_propose(current: Option<&Proposal>, by: UserSide) -> Result<(), VisitError> {
    match current {
        Some(p) if p.status == Status::Open && p.proposer != by => Err(VisitError::NotYourTurn),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: u64 = 1_795_000_000_000;
    const NOW: i64 = 1_795_000_000;

    fn proposal() -> Proposal {
        Proposal::new(
            "p1".into(),
            vec![NOW + 7200, NOW + 3600, NOW + 3600],
            " no\u{202E}te\u{2066} ",
            UserSide::Demand,
            NOW_MS,
        )
        .expect("valid")
    }

    #[test]
    fn slots_are_sorted_deduplicated_and_bounded() {
        let p = proposal();
        assert_eq!(p.slots, vec![NOW + 3600, NOW + 7200]);
        assert_eq!(p.note, "note");
        let new = |slots: Vec<i64>, note: &str| Proposal::new("x".into(), slots, note, UserSide::Supply, NOW_MS);
        assert_eq!(new(vec![], ""), Err(VisitError::SlotCount));
        assert_eq!(
            new(vec![NOW + 1, NOW + 2, NOW + 3, NOW + 4], ""),
            Err(VisitError::SlotCount)
        );
        assert_eq!(new(vec![NOW - 1], ""), Err(VisitError::SlotOutOfRange));
        assert_eq!(
            new(vec![NOW + MIN_LEAD_SECS - 1], ""),
            Err(VisitError::SlotOutOfRange),
            "not within the next hour"
        );
        assert!(new(vec![NOW + MIN_LEAD_SECS], "").is_ok());
        assert_eq!(new(vec![NOW + MAX_AHEAD_SECS + 1], ""), Err(VisitError::SlotOutOfRange));
        assert_eq!(
            new(vec![NOW + 7200], &"ن".repeat(MAX_NOTE_CHARS + 1)),
            Err(VisitError::NoteTooLong)
        );
    }

    #[test]
    fn only_the_other_side_answers_and_only_once() {
        let mut p = proposal();
        assert_eq!(p.pick("p1", 0, UserSide::Demand), Err(VisitError::NotYourTurn));
        assert_eq!(p.pick("p1", 5, UserSide::Supply), Err(VisitError::NoSuchSlot));
        assert_eq!(p.pick("old", 0, UserSide::Supply), Err(VisitError::Stale));
        assert_eq!(p.pick("p1", 1, UserSide::Supply), Ok(NOW + 7200));
        assert_eq!(p.confirmed_at(), Some(NOW + 7200));
        assert_eq!(
            p.pick("p1", 0, UserSide::Supply),
            Err(VisitError::Stale),
            "answered once"
        );
        assert_eq!(p.decline("p1", UserSide::Supply), Err(VisitError::Stale));
    }

    #[test]
    fn the_proposer_cancels_and_stale_buttons_stay_stale() {
        let mut p = proposal();
        assert_eq!(p.cancel("p1", UserSide::Supply), Err(VisitError::NotProposer));
        assert_eq!(p.cancel("p1", UserSide::Demand), Ok(()));
        assert_eq!(p.pick("p1", 0, UserSide::Supply), Err(VisitError::Stale));
        assert_eq!(p.cancel("p1", UserSide::Demand), Err(VisitError::Stale));
    }

    #[test]
    fn either_side_calls_off_an_agreed_visit() {
        for by in [UserSide::Demand, UserSide::Supply] {
            let mut p = proposal();
            p.pick("p1", 0, UserSide::Supply).expect("agreed");
            assert!(p.may_cancel(by));
            assert_eq!(p.cancel("p1", by), Ok(()), "{by:?}");
            assert!(!p.may_cancel(by));
        }
        let open = proposal();
        assert!(open.may_cancel(UserSide::Demand) && !open.may_cancel(UserSide::Supply));
    }

    #[test]
    fn only_the_proposer_replaces_an_open_proposal() {
        let p = proposal();
        assert_eq!(may_propose(Some(&p), UserSide::Supply), Err(VisitError::NotYourTurn));
        assert_eq!(may_propose(Some(&p), UserSide::Demand), Ok(()));
        let mut declined = p.clone();
        declined.decline("p1", UserSide::Supply).expect("decline");
        assert_eq!(may_propose(Some(&declined), UserSide::Supply), Ok(()));
        assert_eq!(may_propose(None, UserSide::Supply), Ok(()));
    }
}
