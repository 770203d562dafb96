//! Small helpers over Durable Object SQLite storage.

use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

pub fn exec(db: &SqlStorage, query: &str, bindings: Vec<SqlStorageValue>) -> Result<()> {
    db.exec(query, bindings)?;
    Ok(())
}

#[derive(Deserialize)]
struct Setting {
    v: String,
}

/// Reads one value of a `(k TEXT PRIMARY KEY, v TEXT)` table.
pub fn setting(db: &SqlStorage, table: &str, key: &str) -> Result<Option<String>> {
    let rows: Vec<Setting> = db.exec(&format!("SELECT v FROM {table} WHERE k = ?"), vec![key.into()])?.to_array()?;
    Ok(rows.into_iter().next().map(|r| r.v))
}

pub fn opt_str(v: Option<String>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::String)
}

pub fn opt_int(v: Option<i64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::Integer)
}
