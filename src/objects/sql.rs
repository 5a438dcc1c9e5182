//! The storage a Durable Object gives its code: SQLite, synchronous, one writer. Object logic
//! runs over this trait; the glue implements it with `ctx.storage.sql` and `transactionSync`,
//! tests with an embedded SQLite (`testkit::NativeSql`), and one contract suite
//! (`objects::contract`) runs against both so neither can promise what the other does not.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One SQLite value as both backends hand it over. Integers stay within 2^53 (JavaScript
/// numbers carry them on the Workers side): we store milliseconds and counters only.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

pub type Row = Vec<SqlValue>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("object storage: {0}")]
pub struct StoreError(pub String);

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}
impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<u64> for SqlValue {
    fn from(v: u64) -> Self {
        // Milliseconds since 1970 and small counters: far below i64::MAX.
        SqlValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for SqlValue {
    fn from(v: u32) -> Self {
        SqlValue::Int(i64::from(v))
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

impl SqlValue {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            // The Workers runtime hands back whole numbers as JS numbers.
            SqlValue::Real(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> u64 {
        self.as_i64().and_then(|i| u64::try_from(i).ok()).unwrap_or(0)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn into_string(self) -> Option<String> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// SQLite as a Durable Object has it. Everything inside `transaction` commits together or not
/// at all, and nothing else runs in the object meanwhile (the closure cannot await).
pub trait Sql {
    fn exec(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Row>, StoreError>;

    /// Runs `f` atomically: an `Err` rolls back every write it made.
    fn transaction<T, E: From<StoreError>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>;

    /// The first column of the first row, if any.
    fn scalar(&self, sql: &str, args: &[SqlValue]) -> Result<Option<SqlValue>, StoreError> {
        Ok(self
            .exec(sql, args)?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next()))
    }
}

/// A value kept as JSON text in a column.
pub fn to_json<T: Serialize>(value: &T) -> Result<SqlValue, StoreError> {
    serde_json::to_string(value)
        .map(SqlValue::Text)
        .map_err(|e| StoreError(format!("encode: {e}")))
}

pub fn from_json<T: DeserializeOwned>(value: &SqlValue) -> Result<T, StoreError> {
    let text = value.as_str().ok_or_else(|| StoreError("expected JSON text".into()))?;
    serde_json::from_slice(text.as_bytes()).map_err(|e| StoreError(format!("decode: {e}")))
}

/// Creates tables on first use; `CREATE … IF NOT EXISTS` makes it cheap afterwards, and a new
/// column is added by a later statement in the same list.
pub fn migrate<S: Sql>(sql: &S, statements: &[&str]) -> Result<(), StoreError> {
    for statement in statements {
        sql.exec(statement, &[])?;
    }
    Ok(())
}
