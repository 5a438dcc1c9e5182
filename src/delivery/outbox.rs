//! A conversation's outbox, in its object's SQLite. An item is written, in the same
//! transaction as whatever the service changed, before the first send; from then on it cannot
//! be lost. Items go out in order per lane (one sender), one at a time: the head of a lane is
//! leased while it is being sent, so a second request or an alarm never sends it twice.
//!
//! An item may carry a service's pending effect (the state the service moves to once the chat
//! shows the message). It is applied when the item is sent and dropped when the item can never
//! go, so a service's state and the chat never disagree.

use serde::{Deserialize, Serialize};

use super::{Destination, Payload};
use crate::objects::sql::{from_json, to_json, Row, Sql, SqlValue, StoreError};

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        idem TEXT NOT NULL UNIQUE,
        lane TEXT NOT NULL,
        session TEXT NOT NULL DEFAULT '',
        dest TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        text TEXT NOT NULL,
        payload TEXT NOT NULL,
        effect TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS outbox_lane ON outbox(lane, state, seq)",
    "CREATE INDEX IF NOT EXISTS outbox_session ON outbox(session, seq)",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Written, not yet tried (or queued behind an earlier message of the same sender).
    Pending,
    /// Being sent right now, under a lease. The page sees it as pending.
    Sending,
    Sent,
    /// A transient failure; an alarm tries again at `next_at_ms`.
    Waiting,
    /// The person must grant (again) before it can go.
    NeedsConsent,
    /// Will never go; `reason` says why.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Waiting => "waiting",
            DeliveryState::NeedsConsent => "needs_consent",
            DeliveryState::Failed => "failed",
        }
    }
    fn parse(raw: &str) -> Result<Self, StoreError> {
        Ok(match raw {
            "pending" => DeliveryState::Pending,
            "sending" => DeliveryState::Sending,
            "sent" => DeliveryState::Sent,
            "waiting" => DeliveryState::Waiting,
            "needs_consent" => DeliveryState::NeedsConsent,
            "failed" => DeliveryState::Failed,
            other => return Err(StoreError(format!("unknown delivery state {other}"))),
        })
    }
    /// What people see: a lease is an implementation detail.
    pub fn public(self) -> Self {
        match self {
            DeliveryState::Sending => DeliveryState::Pending,
            other => other,
        }
    }
    /// Still on its way: its effect, if any, is in flight.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            DeliveryState::Pending | DeliveryState::Sending | DeliveryState::Waiting
        )
    }
}

/// The button data key that names the service state version a one-tap button was drawn from,
/// so a tap on a button from an older state is recognised whatever the service.
pub const STATE_VERSION_KEY: &str = "sv";

/// A service's state change that waits for its announcement to reach the chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub service: String,
    /// The state version it was planned on; applied only on top of that version.
    pub from_version: i64,
    /// The service's state after the step, as JSON text (kept as text: it is only ever stored
    /// and read back as the service's own type).
    pub state: String,
}

impl Effect {
    /// The message as it goes out: its service's one-tap buttons stamped with the state version
    /// this effect creates (buttons of other services in it are theirs to judge). Stamped at sending, so the stored item (and its fingerprint) is what the
    /// service planned.
    pub fn stamp(&self, payload: &Payload) -> Payload {
        let drawn_from = (self.from_version + 1).to_string();
        match payload {
            Payload::Conversation(m) => {
                let mut m = m.clone();
                m.sender_buttons
                    .stamp_dynamic(&self.service, STATE_VERSION_KEY, &drawn_from);
                m.receiver_buttons
                    .stamp_dynamic(&self.service, STATE_VERSION_KEY, &drawn_from);
                Payload::Conversation(m)
            }
            Payload::Bot(m) => {
                let mut m = m.clone();
                m.buttons.stamp_dynamic(&self.service, STATE_VERSION_KEY, &drawn_from);
                Payload::Bot(m)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub seq: i64,
    pub idem: String,
    pub lane: String,
    pub session: String,
    pub dest: Destination,
    pub fingerprint: String,
    /// What the person wrote or did, in a line, for showing back to them.
    pub text: String,
    pub payload: Payload,
    pub effect: Option<Effect>,
    pub state: DeliveryState,
    pub reason: Option<String>,
    pub attempts: u32,
    pub next_at_ms: u64,
    pub created_at_ms: u64,
}

/// A new item, before it has a sequence number.
pub struct NewItem {
    pub idem: String,
    pub session: String,
    pub dest: Destination,
    pub text: String,
    pub payload: Payload,
    pub effect: Option<Effect>,
}

impl NewItem {
    /// Same key, same destination and content: a resubmission. Anything else under a used
    /// key is a mistake the caller must hear about.
    pub fn fingerprint(&self) -> Result<String, StoreError> {
        let dest = serde_json::to_string(&self.dest).map_err(|e| StoreError(e.to_string()))?;
        let payload = serde_json::to_string(&self.payload).map_err(|e| StoreError(e.to_string()))?;
        Ok(crate::crypto::digest_hex(&["outbox", &dest, &payload]))
    }
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub state: DeliveryState,
    pub reason: Option<String>,
    pub next_at_ms: u64,
}

const COLUMNS: &str =
    "seq, idem, lane, session, dest, fingerprint, text, payload, effect, state, reason, attempts, next_at, created_at";

fn item_from(row: Row) -> Result<Item, StoreError> {
    let mut it = row.into_iter();
    let mut next = || it.next().unwrap_or(SqlValue::Null);
    let seq = next()
        .as_i64()
        .ok_or_else(|| StoreError("outbox row without seq".into()))?;
    let text = |v: SqlValue| v.into_string().unwrap_or_default();
    let idem = text(next());
    let lane = text(next());
    let session = text(next());
    let dest = from_json(&next())?;
    let fingerprint = text(next());
    let label = text(next());
    let payload = from_json(&next())?;
    let effect = match next() {
        SqlValue::Null => None,
        v => Some(from_json(&v)?),
    };
    let state = DeliveryState::parse(next().as_str().unwrap_or(""))?;
    let reason = next().into_string();
    let attempts = u32::try_from(next().as_u64()).unwrap_or(u32::MAX);
    let next_at_ms = next().as_u64();
    let created_at_ms = next().as_u64();
    Ok(Item {
        seq,
        idem,
        lane,
        session,
        dest,
        fingerprint,
        text: label,
        payload,
        effect,
        state,
        reason,
        attempts,
        next_at_ms,
        created_at_ms,
    })
}

fn one<S: Sql>(s: &S, sql: &str, args: &[SqlValue]) -> Result<Option<Item>, StoreError> {
    s.exec(sql, args)?.into_iter().next().map(item_from).transpose()
}

pub fn find<S: Sql>(s: &S, idem: &str) -> Result<Option<Item>, StoreError> {
    one(
        s,
        &format!("SELECT {COLUMNS} FROM outbox WHERE idem = ?"),
        &[idem.into()],
    )
}

pub fn get<S: Sql>(s: &S, seq: i64) -> Result<Option<Item>, StoreError> {
    one(s, &format!("SELECT {COLUMNS} FROM outbox WHERE seq = ?"), &[seq.into()])
}

pub fn insert<S: Sql>(s: &S, new: NewItem, now_ms: u64) -> Result<Item, StoreError> {
    let fingerprint = new.fingerprint()?;
    let lane = new.dest.lane();
    let seq = s
        .scalar(
            "INSERT INTO outbox (idem, lane, session, dest, fingerprint, text, payload, effect, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING seq",
            &[
                new.idem.as_str().into(),
                lane.as_str().into(),
                new.session.as_str().into(),
                to_json(&new.dest)?,
                fingerprint.as_str().into(),
                new.text.as_str().into(),
                to_json(&new.payload)?,
                new.effect.as_ref().map(to_json).transpose()?.unwrap_or(SqlValue::Null),
                now_ms.into(),
                now_ms.into(),
            ],
        )?
        .and_then(|v| v.as_i64())
        .ok_or_else(|| StoreError("insert returned no seq".into()))?;
    Ok(Item {
        seq,
        idem: new.idem,
        lane,
        session: new.session,
        dest: new.dest,
        fingerprint,
        text: new.text,
        payload: new.payload,
        effect: new.effect,
        state: DeliveryState::Pending,
        reason: None,
        attempts: 0,
        next_at_ms: 0,
        created_at_ms: now_ms,
    })
}

/// An item that waited for consent goes again, with the effect its resubmission planned.
pub fn reactivate<S: Sql>(s: &S, seq: i64, effect: Option<&Effect>, now_ms: u64) -> Result<(), StoreError> {
    s.exec(
        "UPDATE outbox SET state = 'pending', reason = NULL, effect = ?, next_at = 0, updated_at = ?
         WHERE seq = ? AND state = 'needs_consent'",
        &[
            effect.map(to_json).transpose()?.unwrap_or(SqlValue::Null),
            now_ms.into(),
            seq.into(),
        ],
    )?;
    Ok(())
}

/// Leases the head of `lane` for sending, if it may go now: nothing else of the lane is being
/// sent, and the head is not waiting for a later retry. Order per lane is kept by never
/// sending past a head that has not finished.
pub fn claim_head<S: Sql>(s: &S, lane: &str, now_ms: u64, lease_ms: u64) -> Result<Option<Item>, StoreError> {
    let row = s
        .exec(
            &format!(
                "SELECT {COLUMNS}, lease_until FROM outbox
                 WHERE lane = ? AND state IN ('pending', 'sending', 'waiting') ORDER BY seq LIMIT 1"
            ),
            &[lane.into()],
        )?
        .into_iter()
        .next();
    let Some(mut row) = row else { return Ok(None) };
    let lease_until = row.pop().map(|v| v.as_u64()).unwrap_or(0);
    let head = item_from(row)?;
    let busy = head.state == DeliveryState::Sending && lease_until > now_ms;
    let not_due = head.state == DeliveryState::Waiting && head.next_at_ms > now_ms;
    if busy || not_due {
        return Ok(None);
    }
    s.exec(
        "UPDATE outbox SET state = 'sending', lease_until = ?, updated_at = ? WHERE seq = ?",
        &[(now_ms + lease_ms).into(), now_ms.into(), head.seq.into()],
    )?;
    Ok(Some(Item {
        state: DeliveryState::Sending,
        ..head
    }))
}

/// Records how an attempt ended, and returns the effect to apply (sent) or that was dropped
/// (failed for good, or waiting for consent), if the item carried one.
pub fn record<S: Sql>(s: &S, seq: i64, outcome: &Outcome, now_ms: u64) -> Result<Option<Effect>, StoreError> {
    let effect = match s.scalar("SELECT effect FROM outbox WHERE seq = ?", &[seq.into()])? {
        None | Some(SqlValue::Null) => None,
        Some(v) => Some(from_json::<Effect>(&v)?),
    };
    let settled = !outcome.state.in_flight();
    s.exec(
        "UPDATE outbox SET state = ?, reason = ?, attempts = attempts + 1, next_at = ?, lease_until = 0,
         updated_at = ?, effect = CASE WHEN ? THEN NULL ELSE effect END WHERE seq = ?",
        &[
            outcome.state.as_str().into(),
            outcome.reason.as_deref().into(),
            outcome.next_at_ms.into(),
            now_ms.into(),
            SqlValue::Int(i64::from(settled)),
            seq.into(),
        ],
    )?;
    Ok(if settled { effect } else { None })
}

/// The attempts an item has had, for backoff.
pub fn attempts<S: Sql>(s: &S, seq: i64) -> Result<u32, StoreError> {
    Ok(s.scalar("SELECT attempts FROM outbox WHERE seq = ?", &[seq.into()])?
        .map(|v| u32::try_from(v.as_u64()).unwrap_or(u32::MAX))
        .unwrap_or(0))
}

/// A session's items, oldest first.
pub fn list_session<S: Sql>(s: &S, session: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
    s.exec(
        &format!("SELECT {COLUMNS} FROM outbox WHERE session = ? ORDER BY seq DESC LIMIT ?"),
        &[session.into(), SqlValue::Int(i64::try_from(limit).unwrap_or(50))],
    )?
    .into_iter()
    .rev()
    .map(item_from)
    .collect()
}

/// Lanes with something that may go now.
pub fn lanes_ready<S: Sql>(s: &S, now_ms: u64) -> Result<Vec<String>, StoreError> {
    Ok(s.exec(
        "SELECT DISTINCT lane FROM outbox WHERE state = 'pending'
                OR (state = 'waiting' AND next_at <= ?) OR (state = 'sending' AND lease_until <= ?)",
        &[now_ms.into(), now_ms.into()],
    )?
    .into_iter()
    .filter_map(|r| r.into_iter().next()?.into_string())
    .collect())
}

/// When the object must wake next to move its outbox: per lane, only its head counts (what is
/// queued behind a waiting head goes when the head goes): its retry time, its lease expiry, or
/// soon when it is pending and no request is carrying it.
pub fn next_wake<S: Sql>(s: &S, now_ms: u64, pending_grace_ms: u64) -> Result<Option<u64>, StoreError> {
    Ok(s.scalar(
        "SELECT MIN(CASE o.state WHEN 'waiting' THEN o.next_at WHEN 'sending' THEN o.lease_until ELSE ? END)
             FROM outbox o WHERE o.state IN ('pending', 'sending', 'waiting')
             AND o.seq = (SELECT MIN(i.seq) FROM outbox i
                          WHERE i.lane = o.lane AND i.state IN ('pending', 'sending', 'waiting'))",
        &[(now_ms + pending_grace_ms).into()],
    )?
    .and_then(|v| v.as_i64())
    .map(|t| u64::try_from(t).unwrap_or(0)))
}

/// Whether `service` has a step on its way: the item carrying its effect, if any.
pub fn effect_in_flight<S: Sql>(s: &S, service: &str) -> Result<Option<Item>, StoreError> {
    one(
        s,
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE effect IS NOT NULL
             AND json_extract(effect, '$.service') = ? AND state IN ('pending', 'sending', 'waiting')
             ORDER BY seq LIMIT 1"
        ),
        &[service.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::PersonKey;
    use crate::kenar::message::BotMessage;
    use crate::testkit::NativeSql;

    fn db() -> NativeSql {
        let s = NativeSql::default();
        crate::objects::sql::migrate(&s, SCHEMA).expect("schema");
        s
    }

    fn new(idem: &str, person: &str) -> NewItem {
        NewItem {
            idem: idem.into(),
            session: "s1".into(),
            dest: Destination::User {
                conversation_id: "c1".into(),
                person: PersonKey::of_user(person),
            },
            text: idem.into(),
            payload: Payload::Bot(BotMessage {
                text_message: idem.into(),
                buttons: Default::default(),
            }),
            effect: None,
        }
    }

    fn lane(person: &str) -> String {
        new("x", person).dest.lane()
    }

    #[test]
    fn a_key_is_one_item() {
        let s = db();
        insert(&s, new("k1", "u1"), 1).expect("insert");
        assert!(
            insert(&s, new("k1", "u1"), 2).is_err(),
            "the unique key refuses a second row"
        );
        assert_eq!(find(&s, "k1").expect("find").map(|i| i.seq), Some(1));
    }

    #[test]
    fn a_lane_goes_in_order_and_one_at_a_time() {
        let s = db();
        for k in ["a", "b"] {
            insert(&s, new(k, "u1"), 1).expect("insert");
        }
        insert(&s, new("other", "u2"), 1).expect("insert");
        let head = claim_head(&s, &lane("u1"), 10, 1000).expect("claim").expect("head");
        assert_eq!(head.idem, "a");
        assert!(
            claim_head(&s, &lane("u1"), 20, 1000).expect("claim").is_none(),
            "leased"
        );
        assert_eq!(
            claim_head(&s, &lane("u2"), 20, 1000).expect("claim").map(|i| i.idem),
            Some("other".into()),
            "another sender's lane is not held up"
        );
        assert_eq!(
            claim_head(&s, &lane("u1"), 1011, 1000).expect("claim").map(|i| i.idem),
            Some("a".into()),
            "an expired lease is taken over"
        );
        let waiting = Outcome {
            state: DeliveryState::Waiting,
            reason: Some("divar_unavailable".into()),
            next_at_ms: 5000,
        };
        record(&s, head.seq, &waiting, 1100).expect("record");
        assert!(
            claim_head(&s, &lane("u1"), 1200, 1000).expect("claim").is_none(),
            "b waits behind a"
        );
        assert_eq!(
            next_wake(&s, 1200, 500).expect("wake"),
            Some(1020),
            "u2's lease runs out first"
        );
        let sent = Outcome {
            state: DeliveryState::Sent,
            reason: None,
            next_at_ms: 0,
        };
        let other = find(&s, "other").expect("find").expect("other");
        record(&s, other.seq, &sent, 1200).expect("record");
        assert_eq!(next_wake(&s, 1200, 500).expect("wake"), Some(5000));
        assert_eq!(lanes_ready(&s, 5000).expect("ready"), vec![lane("u1")]);
        let again = claim_head(&s, &lane("u1"), 5000, 1000).expect("claim").expect("due");
        assert_eq!((again.idem.as_str(), attempts(&s, again.seq).expect("n")), ("a", 1));
    }

    #[test]
    fn effects_apply_once_on_sending_and_are_dropped_when_the_item_cannot_go() {
        let s = db();
        let effect = Effect {
            service: "visit".into(),
            from_version: 3,
            state: r#"{"x":1}"#.into(),
        };
        let mut with_effect = new("e1", "u1");
        with_effect.effect = Some(effect.clone());
        let item = insert(&s, with_effect, 1).expect("insert");
        assert_eq!(effect_in_flight(&s, "visit").expect("q").map(|i| i.seq), Some(item.seq));
        let consent = Outcome {
            state: DeliveryState::NeedsConsent,
            reason: Some("permission_needed".into()),
            next_at_ms: 0,
        };
        assert_eq!(record(&s, item.seq, &consent, 2).expect("record"), Some(effect.clone()));
        assert!(
            effect_in_flight(&s, "visit").expect("q").is_none(),
            "the lock is released"
        );
        reactivate(&s, item.seq, Some(&effect), 3).expect("reactivate");
        let sent = Outcome {
            state: DeliveryState::Sent,
            reason: None,
            next_at_ms: 0,
        };
        assert_eq!(record(&s, item.seq, &sent, 4).expect("record"), Some(effect));
        assert_eq!(record(&s, item.seq, &sent, 5).expect("record"), None, "applied once");
    }

    #[test]
    fn a_sessions_items_are_listed_oldest_first() {
        let s = db();
        for k in ["a", "b", "c"] {
            insert(&s, new(k, "u1"), 1).expect("insert");
        }
        let mut other = new("d", "u1");
        other.session = "s2".into();
        insert(&s, other, 1).expect("insert");
        let ids: Vec<String> = list_session(&s, "s1", 2)
            .expect("list")
            .into_iter()
            .map(|i| i.idem)
            .collect();
        assert_eq!(ids, vec!["b", "c"], "the newest two, in order");
    }
}
