//! The `[ops]` section: where the operators' listener (`/healthz`,
//! `/readyz`, `/metrics`) binds.

use super::Problem;
use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// An address like "127.0.0.1:9090"; empty turns the listener off.
    /// Loopback by default: the endpoints carry no authentication.
    pub listen: String,
}

impl Default for OpsConfig {
    fn default() -> OpsConfig {
        OpsConfig {
            listen: "127.0.0.1:9090".into(),
        }
    }
}

impl OpsConfig {
    /// The address to bind, or `None` when the listener is off.
    pub fn listen(&self) -> Option<&str> {
        switched_on(&self.listen)
    }

    pub fn validate(&self) -> Result<(), Problem> {
        listen_addr(&self.listen, "127.0.0.1:9090").map(drop)
    }
}

/// A `listen` setting as written: empty turns its listener off.
pub(super) fn switched_on(listen: &str) -> Option<&str> {
    (!listen.is_empty()).then_some(listen)
}

/// Reads a `listen` setting: `None` when it is off (empty), else an IP
/// address and port; the error shows `example`, one for this setting.
pub(super) fn listen_addr(listen: &str, example: &str) -> Result<Option<SocketAddr>, Problem> {
    switched_on(listen)
        .map(|listen| {
            listen.parse().map_err(|_| {
                Problem::from(format!(
                    "listen {listen:?} must be an address like {example} (or \"\" for off)"
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_an_address_or_empty() {
        let ops = |listen: &str| OpsConfig {
            listen: listen.into(),
        };
        assert_eq!(OpsConfig::default().listen(), Some("127.0.0.1:9090"));
        assert!(OpsConfig::default().validate().is_ok());
        assert_eq!(ops("").listen(), None);
        assert!(ops("").validate().is_ok());
        assert!(ops("[::1]:0").validate().is_ok());
        assert!(ops("localhost:9090").validate().is_err());
        assert!(ops("127.0.0.1").validate().is_err());
    }

    #[test]
    fn one_reading_of_listen_for_every_listener() {
        assert_eq!(listen_addr("", "x"), Ok(None));
        assert_eq!(
            listen_addr("127.0.0.1:0", "x"),
            Ok(Some("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            listen_addr("nowhere", "127.0.0.1:8080"),
            Err(
                "listen \"nowhere\" must be an address like 127.0.0.1:8080 (or \"\" for off)"
                    .into()
            )
        );
    }
}
