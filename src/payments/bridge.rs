//! Payments on the real grid (`payments.kind = "bridge"`, only with
//! `grid.kind = "tfgrid"`): users pay through the TFChain bridge straight
//! into their own twin's account, where the chain bills their contracts.
//!
//! A payment request names the network's bridge vault on Stellar and the
//! memo `twin_<id>`; the bridge mints the deposit, less its fee, onto that
//! twin's TFChain account (`tfgrid-v3.md`, section 4). The fee is
//! `TFTBridgeModule.DepositFee` on TFChain (pallet-tft-bridge
//! `tft_bridge.rs`, `mint_tft`: deposits of the fee or less are refused),
//! read at start; 1 TFT, its genesis value, until then. Jukebox never
//! holds the money, so there is nothing to watch on Stellar: the deposit
//! shows as the twin's free balance rising, which the service reads from
//! the chain and credits (see `service/twin_balance.rs`). This wallet
//! therefore delivers no payments itself.

use async_trait::async_trait;

use super::{IncomingPayment, MemoStyle, Wallet};
use crate::config::{BadVault, BridgeVault, Network, PaymentsKind, StellarNetwork, bridge_vault};
use crate::money::Tft;

/// What the bridge keeps of every deposit when TFChain could not be asked:
/// the genesis `DepositFee` of every network (tfchain
/// `substrate-node/node/src/chain_spec.rs`). Asking a user for too much is
/// harmless (the surplus lands in their own twin); too little is not.
pub const BRIDGE_FEE: Tft = Tft::from_whole(1);

/// The TFChain bridge of one grid network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeWallet {
    vault: String,
    issuer: String,
    fee: Tft,
}

impl BridgeWallet {
    /// The bridge of `network`, or `vault` when it is given (then on the
    /// Stellar network of `stellar_network`).
    /// Its fee is [`BRIDGE_FEE`] until [`Self::with_deposit_fee`].
    pub fn for_network(
        network: Network,
        vault: &str,
        stellar_network: StellarNetwork,
    ) -> Result<BridgeWallet, BadVault> {
        let BridgeVault { vault, issuer } = bridge_vault(network, vault, stellar_network)?;
        Ok(BridgeWallet {
            vault: vault.to_owned(),
            issuer: issuer.to_owned(),
            fee: BRIDGE_FEE,
        })
    }

    /// The fee TFChain's bridge keeps (`TFTBridgeModule.DepositFee`), when
    /// it could be read.
    pub fn with_deposit_fee(mut self, fee: Option<Tft>) -> BridgeWallet {
        self.fee = fee.unwrap_or(BRIDGE_FEE);
        self
    }
}

#[async_trait]
impl Wallet for BridgeWallet {
    fn kind(&self) -> PaymentsKind {
        PaymentsKind::Bridge
    }

    fn memo_style(&self) -> MemoStyle {
        MemoStyle::Twin
    }

    fn deposit_fee(&self) -> Tft {
        self.fee
    }

    fn deposit_address(&self) -> &str {
        &self.vault
    }

    fn asset_issuer(&self) -> &str {
        &self.issuer
    }

    /// Deposits land on TFChain, not here: the service reads them there.
    async fn incoming(&self) -> anyhow::Result<Vec<IncomingPayment>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BRIDGE_VAULTS, PUBLIC_TFT_ISSUER, TESTNET_TFT_ISSUER};

    #[test]
    fn each_network_pays_into_its_own_vault_with_its_issuer() {
        let main = BridgeWallet::for_network(Network::Main, "", StellarNetwork::Public).unwrap();
        assert_eq!(main.deposit_address(), BRIDGE_VAULTS[0]);
        assert_eq!(main.asset_issuer(), PUBLIC_TFT_ISSUER);
        let dev = BridgeWallet::for_network(Network::Dev, "", StellarNetwork::Public).unwrap();
        assert_eq!(dev.deposit_address(), BRIDGE_VAULTS[2]);
        assert_eq!(dev.asset_issuer(), TESTNET_TFT_ISSUER);
        let qa = BridgeWallet::for_network(Network::Qa, "", StellarNetwork::Public).unwrap();
        assert_eq!(
            qa.deposit_address(),
            "GAQH7XXFBRWXT2SBK6AHPOLXDCLXVFAKFSOJIRMRNCDINWKHGI6UYVKM"
        );
        assert_eq!(qa.asset_issuer(), TESTNET_TFT_ISSUER);
        // An unknown network is refused before any wallet is built.
        assert!("moon".parse::<Network>().is_err());
        let mine =
            BridgeWallet::for_network(Network::Qa, BRIDGE_VAULTS[1], StellarNetwork::Testnet)
                .unwrap();
        assert_eq!(mine.deposit_address(), BRIDGE_VAULTS[1]);
        assert_eq!(mine.asset_issuer(), TESTNET_TFT_ISSUER);
        assert!(
            BridgeWallet::for_network(Network::Qa, "GNOTANACCOUNT", StellarNetwork::Testnet)
                .is_err()
        );
        assert_eq!(main.memo_style(), MemoStyle::Twin);
    }

    #[test]
    fn the_fee_is_the_chains_or_one_tft() {
        let main = BridgeWallet::for_network(Network::Main, "", StellarNetwork::Public).unwrap();
        assert_eq!(main.deposit_fee(), Tft::from_whole(1));
        let read = main
            .clone()
            .with_deposit_fee(Some(Tft::from_units(5_000_000)));
        assert_eq!(read.deposit_fee(), Tft::from_units(5_000_000));
        assert_eq!(read.with_deposit_fee(None).deposit_fee(), BRIDGE_FEE);
    }
}
