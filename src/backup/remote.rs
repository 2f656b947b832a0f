//! The bucket side of backups: content-addressed blobs
//! (`<prefix>/blobs/<sha256>`) and manifests (`<prefix>/snapshots/<id>.json`)
//! over object_store's `ObjectStore` trait (S3 in production, anything in
//! tests), every request retried with bounded exponential backoff (backon).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::Retryable as _;
use futures_util::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use super::BackupError;
use super::manifest::{Manifest, is_sha256_hex, parse_snapshot_id};
use crate::clock::Backoff;
use crate::config::BackupConfig;

/// A bucket prefix holding one data dir's backups.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// How failed requests are retried: `attempts` tries in all.
    retry: Backoff,
    /// Requests that failed and were tried again (for tests and logs).
    retries: Arc<AtomicU64>,
}

impl Remote {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, retry: Backoff) -> Remote {
        Remote {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            retry,
            retries: Arc::default(),
        }
    }

    /// An S3 bucket from `[backup]`; credentials come from the standard
    /// AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, ...). Building makes no request.
    pub fn s3(config: &BackupConfig) -> Result<Remote, BackupError> {
        Remote::s3_from(AmazonS3Builder::from_env(), config)
    }

    /// [`Remote::s3`] with explicit credentials instead of the environment
    /// (tests; tools that hold the keys themselves).
    pub fn s3_with_keys(
        config: &BackupConfig,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Remote, BackupError> {
        let builder = AmazonS3Builder::new()
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key);
        Remote::s3_from(builder, config)
    }

    fn s3_from(builder: AmazonS3Builder, config: &BackupConfig) -> Result<Remote, BackupError> {
        // reqwest is built without a default TLS provider; teloxide's ring
        // is. Installing it twice is harmless (the first one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = builder
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http)
            // Our own retries (below) count and report attempts.
            .with_retry(object_store::RetryConfig {
                max_retries: 0,
                ..Default::default()
            });
        if !config.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&config.endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| BackupError::Config(format!("S3 client: {e}")))?;
        Ok(Remote::new(
            Arc::new(store),
            &config.prefix,
            Backoff {
                first: Duration::from_millis(500),
                max: Duration::from_secs(30),
                attempts: config.request_attempts.max(1),
            },
        ))
    }

    /// Replaces the retry policy (tests use millisecond waits).
    pub fn with_retry(mut self, retry: Backoff) -> Remote {
        self.retry = retry;
        self
    }

    /// How many requests were tried again since this remote was made.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn path(&self, rest: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{rest}", self.prefix))
    }

    fn blob_path(&self, sha256: &str) -> ObjectPath {
        self.path(&format!("blobs/{sha256}"))
    }

    fn manifest_path(&self, id: &str) -> ObjectPath {
        self.path(&format!("snapshots/{id}.json"))
    }

    /// Runs `op` until it succeeds, fails for good, or runs out of attempts
    /// (backon's `Retry` over [`Backoff::delays`]).
    async fn retrying<T, F, Fut>(&self, what: &str, op: F) -> Result<T, BackupError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let mut attempt = 1;
        let result = op
            .retry(self.retry.delays())
            .sleep(tokio::time::sleep)
            .when(is_transient)
            .notify(|e, wait| {
                tracing::warn!(what, attempt, wait_ms = wait.as_millis() as u64, error = %e, "S3 request failed; retrying");
                self.retries.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
            })
            .await;
        result.map_err(|source| BackupError::Remote {
            what: what.to_owned(),
            attempts: attempt,
            source,
        })
    }

    /// The file names under `<prefix>/<dir>/`.
    async fn list_names(&self, what: &str, dir: &str) -> Result<Vec<String>, BackupError> {
        let prefix = self.path(dir);
        let metas: Vec<_> = self
            .retrying(what, || self.store.list(Some(&prefix)).try_collect())
            .await?;
        Ok(metas
            .iter()
            .filter_map(|m| m.location.filename())
            .map(str::to_owned)
            .collect())
    }

    async fn put(&self, what: &str, path: &ObjectPath, body: Vec<u8>) -> Result<(), BackupError> {
        let payload = PutPayload::from(body);
        self.retrying(what, || self.store.put(path, payload.clone()))
            .await
            .map(drop)
    }

    /// The object's bytes, as object_store hands them over (its `Bytes`,
    /// which this crate does not depend on by name), so nothing is copied.
    async fn get(
        &self,
        what: &str,
        path: &ObjectPath,
    ) -> Result<impl AsRef<[u8]> + use<>, BackupError> {
        self.retrying(what, || async { self.store.get(path).await?.bytes().await })
            .await
    }

    /// The checksums of every blob in the bucket.
    pub async fn blobs(&self) -> Result<HashSet<String>, BackupError> {
        let names = self.list_names("listing blobs", "blobs").await?;
        Ok(names
            .into_iter()
            .filter(|name| is_sha256_hex(name))
            .collect())
    }

    /// Ids of the snapshots whose manifest is in the bucket, oldest first.
    pub async fn snapshot_ids(&self) -> Result<Vec<String>, BackupError> {
        let names = self.list_names("listing snapshots", "snapshots").await?;
        let mut ids: Vec<String> = names
            .iter()
            .filter_map(|name| name.strip_suffix(".json"))
            .filter(|id| parse_snapshot_id(id).is_some())
            .map(str::to_owned)
            .collect();
        ids.sort();
        Ok(ids)
    }

    pub async fn put_blob(&self, sha256: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        self.put("uploading a blob", &self.blob_path(sha256), bytes)
            .await
    }

    pub async fn get_blob(&self, sha256: &str) -> Result<Vec<u8>, BackupError> {
        let bytes = self
            .get("downloading a blob", &self.blob_path(sha256))
            .await?;
        Ok(bytes.as_ref().to_vec())
    }

    /// Uploads a manifest: the snapshot exists from this moment on.
    pub async fn put_manifest(&self, manifest: &Manifest) -> Result<(), BackupError> {
        let body = serde_json::to_vec(manifest)
            .map_err(|e| corrupt_manifest(&manifest.id, e.to_string()))?;
        self.put(
            "uploading the manifest",
            &self.manifest_path(&manifest.id),
            body,
        )
        .await
    }

    pub async fn get_manifest(&self, id: &str) -> Result<Manifest, BackupError> {
        if parse_snapshot_id(id).is_none() {
            return Err(BackupError::NoSuchSnapshot(id.to_owned()));
        }
        let fetched = self
            .get("downloading a manifest", &self.manifest_path(id))
            .await;
        let bytes = match fetched {
            Err(BackupError::Remote {
                source: object_store::Error::NotFound { .. },
                ..
            }) => return Err(BackupError::NoSuchSnapshot(id.to_owned())),
            other => other?,
        };
        let manifest: Manifest = serde_json::from_slice(bytes.as_ref())
            .map_err(|e| corrupt_manifest(id, e.to_string()))?;
        manifest.check().map_err(|why| corrupt_manifest(id, why))?;
        if manifest.id != id {
            let why = format!("it names itself {}", manifest.id);
            return Err(corrupt_manifest(id, why));
        }
        Ok(manifest)
    }

    pub async fn delete_manifest(&self, id: &str) -> Result<(), BackupError> {
        let path = self.manifest_path(id);
        self.retrying("deleting a manifest", || self.store.delete(&path))
            .await
    }

    pub async fn delete_blob(&self, sha256: &str) -> Result<(), BackupError> {
        let path = self.blob_path(sha256);
        self.retrying("deleting a blob", || self.store.delete(&path))
            .await
    }
}

fn corrupt_manifest(id: &str, why: String) -> BackupError {
    BackupError::Corrupt {
        what: format!("manifest {id}"),
        why,
    }
}

/// Whether trying again could help: network trouble and server errors
/// could; a missing object, a refusal or a bad request will not change.
fn is_transient(error: &object_store::Error) -> bool {
    use object_store::Error as E;
    !matches!(
        error,
        E::NotFound { .. }
            | E::InvalidPath { .. }
            | E::NotSupported { .. }
            | E::AlreadyExists { .. }
            | E::Precondition { .. }
            | E::NotModified { .. }
            | E::NotImplemented { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. }
    )
}
