//! Reminders a service asks for once a step of it reached the chat (the visit: a message to
//! both sides two hours before it). One per service per conversation, kept in the
//! conversation's object and fired by its alarm. A reminder is only a note of when to ask the
//! service again: at that time the service says, from its state then, whether it still
//! stands, so a visit called off or moved since is never announced.

use super::service_state;
use super::sql::{Sql, SqlValue, StoreError};
use crate::delivery::outbox::{self, NewItem};
use crate::delivery::{Destination, PersonKey};
use crate::dispatch;
use crate::services::{Service, ServiceId};

/// A reminder due sooner than this after the step is not worth a message.
pub const MIN_NOTICE_MS: u64 = 10 * 60 * 1000;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS reminders (
    service TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    at INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    person TEXT NOT NULL
)"];

/// After a step of `service` reached the chat on `dest`'s behalf: the reminder its new state
/// asks for replaces any earlier one (or there is none any more).
pub fn plan<S: Sql>(s: &S, service: ServiceId, dest: &Destination, now_ms: u64) -> Result<(), StoreError> {
    let Destination::User {
        conversation_id,
        person,
    } = dest
    else {
        return Ok(());
    };
    let wanted = dispatch!(service, T => {
        let (_, state) = service_state::load::<_, <T as Service>::State>(s, T::ID.name())?;
        T::reminder(&state).map(|r| (r.key, r.at_ms))
    });
    s.exec("DELETE FROM reminders WHERE service = ?", &[service.name().into()])?;
    // One that would come too soon to be of use is not set.
    if let Some((key, at)) = wanted.filter(|(_, at)| *at > now_ms + MIN_NOTICE_MS) {
        s.exec(
            "INSERT INTO reminders (service, key, at, conversation_id, person) VALUES (?, ?, ?, ?, ?)",
            &[
                service.name().into(),
                key.into(),
                at.into(),
                conversation_id.as_str().into(),
                person.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

/// The reminders due at `now_ms` become outbox items (if their service still wants them) and
/// leave the table, all in one transaction.
pub fn fire_due<S: Sql>(s: &S, now_ms: u64) -> Result<usize, StoreError> {
    s.transaction(|| {
        let due = s.exec(
            "SELECT service, key, conversation_id, person FROM reminders WHERE at <= ?",
            &[now_ms.into()],
        )?;
        let mut queued = 0;
        for row in due {
            let mut it = row.into_iter();
            let mut text = || it.next().and_then(SqlValue::into_string).unwrap_or_default();
            let (name, key, conversation_id, person) = (text(), text(), text(), text());
            s.exec("DELETE FROM reminders WHERE service = ?", &[name.as_str().into()])?;
            let (Some(service), Some(person)) = (ServiceId::parse(&name), PersonKey::parse(&person)) else {
                continue;
            };
            let reminder = dispatch!(service, T => {
                let (_, state) = service_state::load::<_, <T as Service>::State>(s, T::ID.name())?;
                T::reminder(&state)
            });
            // Asked again from the state now: a changed or called-off visit has another key.
            let Some(reminder) = reminder.filter(|r| r.key == key) else {
                continue;
            };
            let new = NewItem {
                idem: format!("reminder:{}:{key}", service.name()),
                session: String::new(),
                dest: Destination::User {
                    conversation_id,
                    person,
                },
                text: reminder.label,
                payload: reminder.message,
                effect: None,
            };
            if outbox::find(s, &new.idem)?.is_none() {
                outbox::insert(s, new, now_ms)?;
                queued += 1;
            }
        }
        Ok(queued)
    })
}

/// The earliest reminder still to come.
pub fn next_at<S: Sql>(s: &S) -> Result<Option<u64>, StoreError> {
    Ok(s.scalar("SELECT MIN(at) FROM reminders", &[])?
        .and_then(|v| v.as_i64())
        .and_then(|v| u64::try_from(v).ok()))
}
