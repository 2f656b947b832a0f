//! `[grid.tfgrid]` turned into the settings of the real grid's clients.
//!
//! Config is plain data and imports no adapter (ARCHITECTURE.md, "Config is
//! plain data"), so the conversion into each client's settings type lives
//! here, with the clients, as methods of the config section.

use std::time::Duration;

use super::backend::{DeployTiming, TwinSettings};
use super::chain::terms::TermsSource;
use super::discovery::DiscoverySettings;
use super::proxy::ProxySettings;
use super::rmb::RmbSettings;
use crate::config::{Endpoints, TfgridConfig};

impl TfgridConfig {
    /// The RMB connection of `session`.
    pub fn rmb_settings(&self, endpoints: &Endpoints, session: &str) -> RmbSettings {
        RmbSettings {
            relay_url: endpoints.relay.clone(),
            call_timeout: Duration::from_secs(self.rmb_timeout_seconds),
            token_ttl: Duration::from_secs(60),
            session: session.to_string(),
        }
    }

    /// Where the terms pair comes from, checked as TFChain would check it
    /// (`TfgridConfig::terms_pair`): a configured hash (even an empty one)
    /// must be well formed.
    pub fn terms(&self) -> Result<TermsSource, crate::config::Problem> {
        TermsSource::new(
            self.terms_link.trim(),
            self.terms_hash.as_deref().map(str::trim),
            Duration::from_secs(self.request_timeout_seconds),
        )
    }

    /// What twin registration writes on chain.
    pub fn twin_settings(
        &self,
        endpoints: &Endpoints,
    ) -> Result<TwinSettings, crate::config::Problem> {
        let relay_domain = if self.relay_domain.is_empty() {
            reqwest::Url::parse(&endpoints.relay)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        } else {
            self.relay_domain.clone()
        };
        Ok(TwinSettings {
            relay_domain,
            terms: self.terms()?,
        })
    }

    pub fn deploy_timing(&self) -> DeployTiming {
        DeployTiming {
            poll_interval: Duration::from_secs(self.poll_seconds),
            deploy_timeout: Duration::from_secs(self.deploy_timeout_seconds),
        }
    }

    pub fn proxy_settings(&self, endpoints: &Endpoints) -> ProxySettings {
        ProxySettings {
            url: endpoints.proxy.clone(),
            timeout: Duration::from_secs(self.request_timeout_seconds),
            cache_ttl: Duration::from_secs(self.cache_seconds),
        }
    }

    pub fn discovery_settings(&self) -> DiscoverySettings {
        DiscoverySettings {
            page_size: self.page_size,
            max_pages: self.max_pages,
            locations_ttl: Duration::from_secs(self.locations_cache_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::tfgrid::chain::terms;

    #[test]
    fn the_config_defaults_are_the_discovery_defaults() {
        assert_eq!(
            TfgridConfig::default().discovery_settings(),
            DiscoverySettings::default()
        );
    }

    #[test]
    fn the_twin_relay_defaults_to_the_relay_host() {
        let config = TfgridConfig::default();
        let e = config.endpoints(crate::config::Network::Dev).unwrap();
        assert_eq!(
            config.twin_settings(&e).unwrap().relay_domain,
            "relay.dev.grid.tf"
        );
        let mine = TfgridConfig {
            relay_domain: "relay.example.org".into(),
            ..TfgridConfig::default()
        };
        assert_eq!(
            mine.twin_settings(&e).unwrap().relay_domain,
            "relay.example.org"
        );
        let bad = TfgridConfig {
            relay_domain: "wss://relay.grid.tf".into(),
            ..TfgridConfig::default()
        };
        assert!(
            bad.validate(crate::config::Network::Dev)
                .unwrap_err()
                .contains("relay_domain")
        );
        let rmb = config.rmb_settings(&e, "jukebox");
        assert_eq!(
            (rmb.relay_url.as_str(), rmb.call_timeout),
            ("wss://relay.dev.grid.tf", Duration::from_secs(30))
        );
    }

    #[test]
    fn the_terms_pair_is_checked_as_tfchain_checks_it() {
        let config = TfgridConfig::default();
        assert!(config.validate(crate::config::Network::Dev).is_ok());
        let e = config.endpoints(crate::config::Network::Dev).unwrap();
        let settings = config.twin_settings(&e).unwrap();
        assert!(matches!(settings.terms, TermsSource::Fetched(_)));
        assert_eq!(settings.terms.link(), terms::DEFAULT_LINK);
        let hash = |h: &str| TfgridConfig {
            terms_hash: Some(h.into()),
            ..TfgridConfig::default()
        };
        for bad in ["", "  ", "0x12ab!", "md5 12ab"] {
            let err = hash(bad).validate(crate::config::Network::Dev).unwrap_err();
            assert!(err.starts_with("terms_hash"), "{bad:?}: {err}");
            assert!(hash(bad).twin_settings(&e).is_err());
        }
        assert!(
            hash(&"f".repeat(51))
                .validate(crate::config::Network::Dev)
                .is_err()
        );
        assert!(
            hash(" f4fa1c1b ")
                .validate(crate::config::Network::Dev)
                .is_ok()
        );
        let configured = hash(" f4fa1c1b ").twin_settings(&e).unwrap().terms;
        assert!(matches!(configured, TermsSource::Configured(t) if t.hash() == "f4fa1c1b"));
        let link = TfgridConfig {
            terms_link: "https://example.org/terms of use".into(),
            ..TfgridConfig::default()
        };
        assert!(
            link.validate(crate::config::Network::Dev)
                .unwrap_err()
                .starts_with("terms_link")
        );
        // `jukebox check` reports it against the section.
        let no_env = |_: &str| None;
        let text = "[grid]\nkind = \"tfgrid\"\nnetwork = \"dev\"\n[grid.tfgrid]\nterms_hash = \"\"\n\
                    [payments]\nkind = \"bridge\"\n[web]\nsandbox_login = false\n";
        let d = crate::config::Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!((d.0.len(), d.0[0].line), (1, 4), "{d}");
        assert!(d.0[0].message.contains("terms_hash"), "{d}");
    }
}
