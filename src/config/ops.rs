//! The `[ops]` section: where the operators' listener (`/healthz`,
//! `/readyz`, `/metrics`) binds.

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
        (!self.listen.is_empty()).then_some(self.listen.as_str())
    }

    pub fn validate(&self) -> Result<(), String> {
        match self.listen() {
            Some(listen) if listen.parse::<std::net::SocketAddr>().is_err() => Err(format!(
                "listen {listen:?} must be an address like 127.0.0.1:9090 (or \"\" for off)"
            )),
            _ => Ok(()),
        }
    }
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
}
