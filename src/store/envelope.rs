//! The versioned JSON envelope around every record: `{"schema": N, "data": ...}`.
//!
//! The schema number lets a later Jukebox upgrade old records on read
//! (see [`migrate`]) and lets an older Jukebox refuse records it would
//! misread after a downgrade, instead of silently dropping fields.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreError;

/// Version of the on-disk record format written by this build.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    schema: u32,
    data: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    schema: u32,
    data: Value,
}

/// One upgrade step: turns a record of schema `N` into schema `N + 1`.
type Step = fn(doc: &str, value: Value) -> Result<Value, String>;

/// Upgrade steps, indexed by the schema they upgrade *from*: entry `i`
/// turns schema `i + 1` into `i + 2`. Empty while only schema 1 exists; a
/// future bump appends one function and increments [`SCHEMA_VERSION`].
const STEPS: &[Step] = &[];

/// Serializes `value` inside the current envelope.
pub(crate) fn encode<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, StoreError> {
    let envelope = EnvelopeOut {
        schema: SCHEMA_VERSION,
        data: value,
    };
    // Pretty-printed: records are small and operators read them by hand.
    serde_json::to_vec_pretty(&envelope).map_err(|err| StoreError::Corrupt {
        path: path.to_owned(),
        reason: format!("cannot serialize: {err}"),
    })
}

/// Parses an envelope read from `path`, upgrading it to the current schema.
pub(crate) fn decode<T: DeserializeOwned>(
    path: &Path,
    doc: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let envelope: EnvelopeIn = serde_json::from_slice(bytes)
        .map_err(|err| corrupt(format!("not a {{\"schema\", \"data\"}} JSON record: {err}")))?;
    if envelope.schema > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: envelope.schema,
        });
    }
    if envelope.schema == 0 {
        return Err(corrupt("schema 0 never existed".to_owned()));
    }
    let data = migrate(doc, envelope.schema, envelope.data).map_err(|err| match err {
        // `migrate` knows the document, not the file; attach the file.
        StoreError::Corrupt { reason, .. } => corrupt(reason),
        other => other,
    })?;
    T::deserialize(data).map_err(|err| corrupt(format!("unexpected content: {err}")))
}

/// Upgrades `value` of document `doc` from schema `from` to [`SCHEMA_VERSION`].
///
/// Errors are `Corrupt` with the document name as path; `decode` replaces
/// it with the real file path.
pub(crate) fn migrate(doc: &str, from: u32, value: Value) -> Result<Value, StoreError> {
    let mut value = value;
    let mut version = from;
    while version < SCHEMA_VERSION {
        let step = version
            .checked_sub(1)
            .and_then(|i| STEPS.get(usize::try_from(i).ok()?))
            .ok_or_else(|| StoreError::Corrupt {
                path: doc.into(),
                reason: format!("no upgrade from schema {version}"),
            })?;
        value = step(doc, value).map_err(|reason| StoreError::Corrupt {
            path: doc.into(),
            reason: format!("upgrading from schema {version} failed: {reason}"),
        })?;
        version += 1;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_envelope_shape() {
        let path = Path::new("x.json");
        let bytes = encode(path, &vec![1, 2, 3]).unwrap();
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(raw, serde_json::json!({"schema": 1, "data": [1, 2, 3]}));
        let back: Vec<i32> = decode(path, "x", &bytes).unwrap();
        assert_eq!(back, vec![1, 2, 3]);
    }

    #[test]
    fn bad_envelopes_are_reported() {
        let path = Path::new("/d/x.json");
        let newer = br#"{"schema": 2, "data": 1}"#;
        assert!(matches!(
            decode::<i32>(path, "x", newer),
            Err(StoreError::NewerSchema { found: 2, .. })
        ));
        for bad in [
            &br#"{"data": 1}"#[..],
            br#"{"schema": 0, "data": 1}"#,
            b"{",
            br#"{"schema":1,"data":"s"}"#,
        ] {
            match decode::<i32>(path, "x", bad) {
                Err(StoreError::Corrupt { path: p, .. }) => assert_eq!(p, path),
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn migrate_is_identity_at_current_version() {
        let value = serde_json::json!({"a": 1});
        assert_eq!(migrate("x", SCHEMA_VERSION, value.clone()).unwrap(), value);
    }
}
