//! What object logic assumes of its SQL storage, as checks that run against any `Sql`: the
//! native stand-in in `cargo test`, and a real Durable Object through the end-to-end harness
//! (`POST /_selftest/storage`, on only where `KENAR_SELFTEST=on`). If the two ever disagree, a
//! test fails instead of a promise.

use super::sql::{Sql, SqlValue, StoreError};

type Check<S> = fn(&S) -> Result<(), String>;

fn fail(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what}: {e:?}")
}

fn setup<S: Sql>(s: &S) -> Result<(), String> {
    s.exec("DROP TABLE IF EXISTS contract_t", &[])
        .map_err(|e| fail("drop", e))?;
    s.exec(
        "CREATE TABLE contract_t (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL UNIQUE, n INTEGER, v TEXT)",
        &[],
    )
    .map_err(|e| fail("create", e))?;
    Ok(())
}

fn values_round_trip<S: Sql>(s: &S) -> Result<(), String> {
    let big_ms: i64 = 4_102_444_800_000; // 2100-01-01 in ms: timestamps must survive
    let text = "سلام \u{200F}«quote» 'x' \"y\" 😀";
    s.exec(
        "INSERT INTO contract_t (k, n, v) VALUES (?, ?, ?)",
        &["a".into(), SqlValue::Int(big_ms), text.into()],
    )
    .map_err(|e| fail("insert", e))?;
    s.exec(
        "INSERT INTO contract_t (k, n, v) VALUES (?, ?, ?)",
        &["b".into(), SqlValue::Null, SqlValue::Null],
    )
    .map_err(|e| fail("insert null", e))?;
    let rows = s
        .exec("SELECT k, n, v FROM contract_t ORDER BY k", &[])
        .map_err(|e| fail("select", e))?;
    let want = vec![
        vec!["a".into(), SqlValue::Int(big_ms), text.into()],
        vec!["b".into(), SqlValue::Null, SqlValue::Null],
    ];
    let got: Vec<Vec<SqlValue>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| match v.as_i64() {
                    Some(i) => SqlValue::Int(i),
                    None => v,
                })
                .collect()
        })
        .collect();
    if got != want {
        return Err(format!("round trip: got {got:?}"));
    }
    Ok(())
}

fn autoincrement_orders_inserts<S: Sql>(s: &S) -> Result<(), String> {
    for k in ["z", "y", "x"] {
        s.exec("INSERT INTO contract_t (k) VALUES (?)", &[k.into()])
            .map_err(|e| fail("insert", e))?;
    }
    let rows = s
        .exec("SELECT k FROM contract_t ORDER BY seq", &[])
        .map_err(|e| fail("select", e))?;
    let keys: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next()?.into_string())
        .collect();
    if keys != ["z", "y", "x"] {
        return Err(format!("order: {keys:?}"));
    }
    Ok(())
}

fn returning_gives_the_new_row<S: Sql>(s: &S) -> Result<(), String> {
    let first = s
        .scalar("INSERT INTO contract_t (k) VALUES ('r') RETURNING seq", &[])
        .map_err(|e| fail("returning", e))?
        .and_then(|v| v.as_i64());
    let again = s
        .exec(
            "INSERT INTO contract_t (k) VALUES ('r') ON CONFLICT(k) DO NOTHING RETURNING seq",
            &[],
        )
        .map_err(|e| fail("on conflict", e))?;
    if first.is_none() || !again.is_empty() {
        return Err(format!("returning: first {first:?}, again {again:?}"));
    }
    Ok(())
}

fn unique_violation_is_an_error<S: Sql>(s: &S) -> Result<(), String> {
    s.exec("INSERT INTO contract_t (k) VALUES ('u')", &[])
        .map_err(|e| fail("insert", e))?;
    match s.exec("INSERT INTO contract_t (k) VALUES ('u')", &[]) {
        Err(_) => Ok(()),
        Ok(_) => Err("a duplicate key was accepted".into()),
    }
}

fn transaction_commits_together<S: Sql>(s: &S) -> Result<(), String> {
    s.transaction(|| {
        s.exec("INSERT INTO contract_t (k) VALUES ('t1')", &[])?;
        s.exec("INSERT INTO contract_t (k) VALUES ('t2')", &[])?;
        Ok::<_, StoreError>(())
    })
    .map_err(|e| fail("commit", e))?;
    let n = s
        .scalar("SELECT COUNT(*) FROM contract_t WHERE k IN ('t1','t2')", &[])
        .map_err(|e| fail("count", e))?
        .and_then(|v| v.as_i64());
    if n != Some(2) {
        return Err(format!("committed rows: {n:?}"));
    }
    Ok(())
}

fn an_error_rolls_back_every_write<S: Sql>(s: &S) -> Result<(), String> {
    let result: Result<(), StoreError> = s.transaction(|| {
        s.exec("INSERT INTO contract_t (k) VALUES ('gone')", &[])?;
        s.exec("UPDATE contract_t SET n = 7", &[])?;
        Err(StoreError("the caller changed its mind".into()))
    });
    if result.is_ok() {
        return Err("the error did not come back".into());
    }
    let left = s
        .scalar("SELECT COUNT(*) FROM contract_t WHERE k = 'gone' OR n = 7", &[])
        .map_err(|e| fail("count", e))?
        .and_then(|v| v.as_i64());
    if left != Some(0) {
        return Err(format!("rows left behind by a rolled-back transaction: {left:?}"));
    }
    Ok(())
}

fn a_failed_statement_rolls_back_its_transaction<S: Sql>(s: &S) -> Result<(), String> {
    s.exec("INSERT INTO contract_t (k) VALUES ('dup')", &[])
        .map_err(|e| fail("insert", e))?;
    let result = s.transaction(|| {
        s.exec("INSERT INTO contract_t (k) VALUES ('half')", &[])?;
        s.exec("INSERT INTO contract_t (k) VALUES ('dup')", &[])?;
        Ok::<_, StoreError>(())
    });
    if result.is_ok() {
        return Err("the duplicate was accepted".into());
    }
    let half = s
        .scalar("SELECT COUNT(*) FROM contract_t WHERE k = 'half'", &[])
        .map_err(|e| fail("count", e))?
        .and_then(|v| v.as_i64());
    if half != Some(0) {
        return Err("the first write of a failed transaction stayed".into());
    }
    Ok(())
}

fn schema_statements_are_idempotent<S: Sql>(s: &S) -> Result<(), String> {
    for _ in 0..2 {
        super::sql::migrate(
            s,
            &[
                "CREATE TABLE IF NOT EXISTS contract_m (a TEXT PRIMARY KEY)",
                "CREATE INDEX IF NOT EXISTS contract_m_a ON contract_m(a)",
            ],
        )
        .map_err(|e| fail("migrate", e))?;
    }
    s.exec("DROP TABLE contract_m", &[]).map_err(|e| fail("drop", e))?;
    Ok(())
}

/// Every check, each on a fresh table; the table is dropped afterwards.
pub fn run<S: Sql>(s: &S) -> Vec<(&'static str, Result<(), String>)> {
    let checks: [(&'static str, Check<S>); 8] = [
        ("values_round_trip", values_round_trip),
        ("autoincrement_orders_inserts", autoincrement_orders_inserts),
        ("returning_gives_the_new_row", returning_gives_the_new_row),
        ("unique_violation_is_an_error", unique_violation_is_an_error),
        ("transaction_commits_together", transaction_commits_together),
        ("an_error_rolls_back_every_write", an_error_rolls_back_every_write),
        (
            "a_failed_statement_rolls_back_its_transaction",
            a_failed_statement_rolls_back_its_transaction,
        ),
        ("schema_statements_are_idempotent", schema_statements_are_idempotent),
    ];
    let results = checks
        .into_iter()
        .map(|(name, check)| (name, setup(s).and_then(|()| check(s))))
        .collect();
    let _ = s.exec("DROP TABLE IF EXISTS contract_t", &[]);
    results
}

#[cfg(test)]
mod tests {
    use crate::testkit::NativeSql;

    #[test]
    fn the_native_stand_in_keeps_the_contract() {
        let failed: Vec<_> = super::run(&NativeSql::default())
            .into_iter()
            .filter_map(|(name, r)| r.err().map(|e| format!("{name}: {e}")))
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
    }
}
