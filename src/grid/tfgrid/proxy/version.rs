//! The grid proxy's own version: `GET /version` answers
//! `{"version": "<release>"}` (tfgrid-sdk-go `grid-proxy/internal/explorer/
//! server.go`, `types.Version` in `grid-proxy/pkg/types/version.go`). Read
//! by `jukebox grid doctor` only, never cached.

use serde::Deserialize;

use super::{GridProxy, ProxyError, decode};

#[derive(Deserialize)]
struct Version {
    version: String,
}

impl GridProxy {
    /// The release the proxy runs, as it names it.
    pub async fn version(&self) -> Result<String, ProxyError> {
        let (body, _) = self.get("/version", &[], false).await?;
        decode::<Version>(&body).map(|v| v.version)
    }
}
