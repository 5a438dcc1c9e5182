//! The one writer per conversation and per person: Durable Objects with SQLite storage. What
//! must happen once (a submission, a confirmation, a move, a reply to one of Divar's
//! deliveries) happens here, inside one transaction of the object that owns it. The logic is
//! plain Rust over `ObjectHost`; `glue::objects` binds it to the Workers classes.

pub mod contract;
pub mod conversation;
pub mod person;
pub mod reminders;
pub mod seller;
pub mod service_state;
pub mod sql;

use std::cell::Cell;

use crate::platform::Platform;
use sql::{migrate, Sql, StoreError};

/// What code inside an object may touch: everything a request handler may, its own SQL
/// storage, and its alarm.
#[allow(async_fn_in_trait)]
pub trait ObjectHost: Platform {
    type Sql: Sql;
    fn sql(&self) -> &Self::Sql;
    /// Wake the object at `at_ms` (one alarm per object; a later call moves it).
    async fn schedule(&self, at_ms: u64);
    /// Nothing left to wake up for.
    async fn unschedule(&self);
    /// Whether this instance of the object has already made sure its tables exist.
    fn schema_ready(&self) -> &Cell<bool>;
}

/// Creates the object's tables once per instance: `CREATE … IF NOT EXISTS` is cheap, but each
/// statement is a call into the runtime, and this runs before every command.
pub fn ensure_schema<H: ObjectHost>(h: &H, schemas: &[&[&str]]) -> Result<(), StoreError> {
    if h.schema_ready().get() {
        return Ok(());
    }
    for schema in schemas {
        migrate(h.sql(), schema)?;
    }
    h.schema_ready().set(true);
    Ok(())
}

/// An object's answer when a command cannot be read: the worker sent it, so this is a bug or
/// a version skew during a deploy, never the person's fault.
pub(crate) fn bad_command(what: &str) -> crate::web::Response {
    crate::error::AppError::Internal(format!("object command: {what}")).to_response()
}
