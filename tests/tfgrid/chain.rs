//! The TFChain client (real subxt, dynamic API) against the fake TFChain
//! node: balances, terms and twin creation (once), node contracts created,
//! read and cancelled, refusals by name, and what the pool refuses.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use jukebox::grid::tfgrid::chain::terms::DEFAULT_LINK;
use jukebox::grid::tfgrid::chain::{
    ChainContractState, ChainError, Ed25519Signer, Terms, TfChain, calls,
};

use jukebox::pricing::PriceList;

use super::fake_tfchain::{ChainNode, ContractState, FEE, FakeTfchain};

const RELAY: &str = "relay.dev.grid.tf";
fn terms() -> Terms {
    Terms::parse(DEFAULT_LINK, "cc6c00174f609cc33a945ffd3493714d").unwrap()
}
const HASH: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
const TFT: u128 = 10_000_000;

fn signer(seed: u8) -> Ed25519Signer {
    Ed25519Signer::new(SigningKey::from_bytes(&[seed; 32]))
}

async fn connect(fake: &FakeTfchain) -> TfChain {
    TfChain::connect(&fake.url, Duration::from_secs(60))
        .await
        .unwrap()
}

#[tokio::test]
async fn balances_are_read_from_the_account() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 25 * TFT);
    let chain = connect(&fake).await;
    assert_eq!(chain.free_balance(alice.account()).await.unwrap(), 25 * TFT);
    assert_eq!(chain.free_balance(signer(2).account()).await.unwrap(), 0);
    assert_eq!(chain.twin_id_of(alice.account()).await.unwrap(), None);
    assert!(
        fake.world().unknown_methods.is_empty(),
        "{:?}",
        fake.world().unknown_methods
    );
}

#[tokio::test]
async fn a_twin_is_created_once_after_the_terms() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    let chain = connect(&fake).await;
    let id = chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap();
    assert_eq!(id, 1);
    let twin = chain.twin(id).await.unwrap().unwrap();
    assert_eq!(twin.account, alice.account());
    assert_eq!(twin.relay.as_deref(), Some(RELAY));
    // Again (a retry after a crash): nothing is submitted.
    assert_eq!(chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap(), 1);
    assert_eq!(
        fake.world().applied,
        ["TfgridModule.user_accept_tc", "TfgridModule.create_twin"]
    );
    assert_eq!(
        chain.free_balance(alice.account()).await.unwrap(),
        10 * TFT - 2 * FEE
    );
    assert_eq!(chain.twin(99).await.unwrap(), None);
}

#[tokio::test]
async fn a_twin_needs_the_terms_first() {
    let fake = FakeTfchain::start().await;
    let bob = signer(2);
    fake.fund(bob.account(), TFT);
    let chain = connect(&fake).await;
    let err = chain
        .submit(&calls::create_twin(RELAY), &bob)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ChainError::Dispatch("TfgridModule::UserDidNotSignTermsAndConditions".into())
    );
    assert_eq!(
        err.dispatch_error(),
        Some("UserDidNotSignTermsAndConditions")
    );
}

#[tokio::test]
async fn node_contracts_are_created_read_and_cancelled() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    let chain = connect(&fake).await;
    chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap();
    let data = br#"{"version":3,"type":"vm","name":"dash1"}"#;
    let id = chain
        .create_node_contract(&alice, 11, HASH, data, 1)
        .await
        .unwrap();
    assert_eq!(id, 1);
    assert_eq!(
        chain.contract_state(id).await.unwrap(),
        Some(ChainContractState::Created)
    );
    assert_eq!(chain.contract_for(11, HASH).await.unwrap(), Some(1));
    {
        let world = fake.world();
        let c = &world.contracts[&1];
        assert_eq!(
            (c.twin, c.node, c.public_ips, &c.data[..]),
            (1, 11, 1, &data[..])
        );
    }
    // The same deployment on the same node again is refused by name.
    let again = chain.create_node_contract(&alice, 11, HASH, data, 1).await;
    assert_eq!(
        again.unwrap_err().dispatch_error(),
        Some("ContractIsNotUnique")
    );

    chain.cancel_contract(&alice, id).await.unwrap();
    // Gone from storage, not kept as `Deleted`: the cancel extrinsic ends in
    // `remove_contract` (tfchain pallet-smart-contract `grid_contract.rs`).
    assert_eq!(chain.contract_state(id).await.unwrap(), None);
    assert_eq!(chain.contract_for(11, HASH).await.unwrap(), None);
    // Cancelling again is fine; an unknown contract reads as absent.
    chain.cancel_contract(&alice, id).await.unwrap();
    assert_eq!(chain.contract_state(42).await.unwrap(), None);
}

#[tokio::test]
async fn contract_states_follow_the_chain() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    let chain = connect(&fake).await;
    chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap();
    let id = chain
        .create_node_contract(&alice, 11, HASH, b"{}", 0)
        .await
        .unwrap();
    fake.world().contracts.get_mut(&id).unwrap().state = ContractState::GracePeriod(1234);
    fake.seal();
    assert_eq!(
        chain.contract_state(id).await.unwrap(),
        Some(ChainContractState::GracePeriod(1234))
    );
    fake.world().contracts.get_mut(&id).unwrap().state = ContractState::Created;
    fake.seal();
    assert_eq!(
        chain.contract_state(id).await.unwrap(),
        Some(ChainContractState::Created)
    );
}

#[tokio::test]
async fn a_refused_contract_leaves_nothing_and_says_why() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    fake.world()
        .refusing_nodes
        .insert(12, "NodeNotAvailableToDeploy".into());
    let chain = connect(&fake).await;
    chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap();
    let err = chain
        .create_node_contract(&alice, 12, HASH, b"{}", 0)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ChainError::Dispatch("SmartContractModule::NodeNotAvailableToDeploy".into())
    );
    assert!(!err.node_opted_out() && err.node_not_available());
    assert!(fake.world().contracts.is_empty());
    assert_eq!(chain.contract_for(12, HASH).await.unwrap(), None);
}

#[tokio::test]
async fn an_unfunded_account_cannot_submit() {
    let fake = FakeTfchain::start().await;
    let chain = connect(&fake).await;
    let err = chain
        .ensure_twin(&signer(3), RELAY, &terms())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::NotIncluded(m) if m.contains("Inability to pay")),
        "{err:?}"
    );
    assert!(fake.world().applied.is_empty());
}

#[tokio::test]
async fn an_unfinalized_write_times_out_and_its_outcome_is_read_back() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    // A real second: the client's RPC timers run on the same clock, so
    // this wait cannot be paused; it always expires (nothing finalizes).
    let chain = TfChain::connect(&fake.url, Duration::from_secs(1))
        .await
        .unwrap();
    chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap();
    fake.world().hold_finalization = true;
    let err = chain
        .create_node_contract(&alice, 11, HASH, b"{}", 0)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ChainError::NotIncluded("not finalized within 1s".into())
    );
    // Included but not final: the finalized state does not show it yet...
    assert_eq!(chain.contract_for(11, HASH).await.unwrap(), None);
    // ...and once the chain finalizes, the contract is found by its hash.
    fake.world().hold_finalization = false;
    fake.seal();
    assert_eq!(chain.contract_for(11, HASH).await.unwrap(), Some(1));
}

#[tokio::test]
async fn an_account_is_topped_up_once_from_the_funder() {
    let fake = FakeTfchain::start().await;
    let funder = signer(9);
    let alice = signer(1);
    fake.fund(funder.account(), 100 * TFT);
    fake.fund(alice.account(), TFT / 2);
    let chain = connect(&fake).await;
    assert!(chain.existential_deposit().await.unwrap() > 0);
    let moved = chain
        .fund_up_to(&funder, alice.account(), 2 * TFT)
        .await
        .unwrap();
    assert_eq!(moved, 2 * TFT - TFT / 2);
    // Again (after a crash): the balance is there, nothing moves.
    assert_eq!(
        chain
            .fund_up_to(&funder, alice.account(), 2 * TFT)
            .await
            .unwrap(),
        0
    );
    assert_eq!(chain.free_balance(alice.account()).await.unwrap(), 2 * TFT);
    assert_eq!(
        chain.free_balance(funder.account()).await.unwrap(),
        100 * TFT - (2 * TFT - TFT / 2) - FEE
    );
    // A funder without the money is refused by name.
    let poor = signer(8);
    fake.fund(poor.account(), TFT);
    let err = chain
        .fund_up_to(&poor, signer(7).account(), 5 * TFT)
        .await
        .unwrap_err();
    assert_eq!(err.dispatch_error(), Some("InsufficientBalance"));
}

#[tokio::test]
async fn prices_come_from_the_chains_pricing_policy() {
    let fake = FakeTfchain::start().await;
    let chain = connect(&fake).await;
    let prices = chain.price_list(1).await.unwrap();
    assert_eq!(
        prices,
        PriceList::new(100_000, 50_000, 40_000, "0.050").unwrap()
    );
    {
        let mut world = fake.world();
        world.pricing = (120_000, 60_000, 50_000);
        world.tft_price_milli_usd = 1234;
        world.max_tft_price_milli_usd = Some(2000);
    }
    fake.seal();
    let prices = chain.price_list(1).await.unwrap();
    assert_eq!(
        prices,
        PriceList::new(120_000, 60_000, 50_000, "1.234").unwrap()
    );
    assert!(matches!(
        chain.price_list(7).await,
        Err(ChainError::Decode(_))
    ));
}

/// pallet-smart-contract `cost.rs` bills at the average TFT price held
/// between `MinTftPrice` and `MaxTftPrice`; quotes must use the same.
#[tokio::test]
async fn the_tft_price_is_held_between_the_chains_floor_and_ceiling() {
    let fake = FakeTfchain::start().await;
    let chain = connect(&fake).await;
    let billed_at = async |average: u32, floor: Option<u32>, ceiling: Option<u32>| {
        {
            let mut world = fake.world();
            world.tft_price_milli_usd = average;
            world.min_tft_price_milli_usd = floor;
            world.max_tft_price_milli_usd = ceiling;
        }
        fake.seal();
        chain.billed_tft_price().await
    };
    assert_eq!(billed_at(50, Some(15), Some(1000)).await, Ok(50));
    assert_eq!(billed_at(8, Some(15), Some(1000)).await, Ok(15));
    assert_eq!(billed_at(1234, Some(15), Some(1000)).await, Ok(1000));
    // A floor above the ceiling: the chain ends at the ceiling.
    assert_eq!(billed_at(50, Some(100), Some(80)).await, Ok(80));
    // No floor stored reads as 0, as `ValueQuery` does on chain.
    assert_eq!(billed_at(8, None, Some(1000)).await, Ok(8));
    // No ceiling: the chain could bill nothing; neither can we quote.
    assert!(matches!(
        billed_at(50, Some(15), None).await,
        Err(ChainError::Decode(m)) if m.contains("no TFT price")
    ));
    billed_at(8, Some(15), Some(1000)).await.unwrap();
    assert_eq!(chain.price_list(1).await.unwrap().tft_price_usd(), "0.015");
}

#[tokio::test]
async fn the_bridge_fee_is_read_from_the_chain() {
    let fake = FakeTfchain::start().await;
    let chain = connect(&fake).await;
    assert_eq!(chain.bridge_deposit_fee().await, Ok(TFT as u64));
    fake.world().deposit_fee = Some(5_000_000);
    fake.seal();
    assert_eq!(chain.bridge_deposit_fee().await, Ok(5_000_000));
    // Never set: the chain's `ValueQuery` default, and the bridge's fee.
    fake.world().deposit_fee = None;
    fake.seal();
    assert_eq!(chain.bridge_deposit_fee().await, Ok(0));
}

/// pallet-tfgrid `terms_cond.rs`: the fake refuses what the pallet
/// refuses, by the pallet's error names, and an over-long argument cannot
/// even be decoded (the pool refuses it and nothing is paid).
#[tokio::test]
async fn terms_the_chain_would_refuse_are_refused() {
    let fake = FakeTfchain::start().await;
    let bob = signer(2);
    fake.fund(bob.account(), TFT);
    let chain = connect(&fake).await;
    let link = jukebox::grid::tfgrid::chain::terms::DEFAULT_LINK;
    let refused = [
        (link, "", "DocumentHashInputTooShort"),
        (link, "not a hash", "InvalidDocumentHashInput"),
        (link, "0x1f!", "InvalidDocumentHashInput"),
        ("", "f4fa1c1b", "DocumentLinkInputTooShort"),
        ("https://x.org/a b", "f4fa1c1b", "InvalidDocumentLinkInput"),
    ];
    for (link, hash, error) in refused {
        let err = chain
            .submit(&calls::user_accept_tc(link, hash), &bob)
            .await
            .unwrap_err();
        assert_eq!(err.dispatch_error(), Some(error), "{link:?} {hash:?}");
    }
    assert!(!fake.world().accepted_terms.contains_key(&bob.account()));
    let paid = fake.world().applied.len();
    let long = "a".repeat(51);
    let err = chain
        .submit(&calls::user_accept_tc(link, &long), &bob)
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::NotIncluded(_)), "{err:?}");
    assert_eq!(fake.world().applied.len(), paid);
    // A twin still needs accepted terms; the shipped pair is accepted.
    let err = chain
        .submit(&calls::create_twin(RELAY), &bob)
        .await
        .unwrap_err();
    assert_eq!(
        err.dispatch_error(),
        Some("UserDidNotSignTermsAndConditions")
    );
    assert_eq!(chain.ensure_twin(&bob, RELAY, &terms()).await, Ok(1));
}

/// pallet-smart-contract `grid_contract.rs`: a rented node takes only its
/// renter's contracts; one not rented, none when its farm is dedicated or
/// it has an extra fee.
#[tokio::test]
async fn nodes_for_renters_take_only_their_renters_contracts() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    let chain = connect(&fake).await;
    let twin = chain.ensure_twin(&alice, RELAY, &terms()).await.unwrap();
    {
        let mut world = fake.world();
        let node = |dedicated_farm, extra_fee, rented_by| ChainNode {
            dedicated_farm,
            extra_fee,
            rented_by,
        };
        world.nodes.insert(12, node(true, 0, None));
        world.nodes.insert(13, node(false, 10_000, None));
        world.nodes.insert(14, node(false, 0, Some(77)));
        world.nodes.insert(15, node(true, 10_000, Some(twin)));
    }
    fake.seal();
    for node in [12, 13, 14] {
        let err = chain
            .create_node_contract(&alice, node, HASH, b"{}", 0)
            .await
            .unwrap_err();
        assert!(err.node_not_available(), "node {node}: {err:?}");
    }
    assert!(fake.world().contracts.is_empty());
    for node in [11, 15] {
        chain
            .create_node_contract(&alice, node, HASH, b"{}", 0)
            .await
            .unwrap();
    }
    assert_eq!(fake.world().contracts.len(), 2);
}

#[tokio::test]
async fn update_twin_replaces_relay_and_key_as_the_pallet_does() {
    let fake = FakeTfchain::start().await;
    let alice = signer(1);
    fake.fund(alice.account(), 10 * TFT);
    let chain = connect(&fake).await;
    // No twin yet: the pallet refuses.
    let err = chain.reset_twin(&alice, RELAY).await.unwrap_err();
    assert_eq!(err.dispatch_error(), Some("TwinNotExists"));

    let id = chain
        .ensure_twin(&alice, "relay.grid.tf", &terms())
        .await
        .unwrap();
    fake.world().twin_pks.insert(id, vec![3; 33]);
    fake.seal();
    let twin = chain.twin(id).await.unwrap().unwrap();
    assert_eq!(twin.pk, Some(vec![3; 33]));
    assert_eq!(twin.end_to_end_key(), Some(&[3; 33][..]));

    chain.reset_twin(&alice, RELAY).await.unwrap();
    let twin = chain.twin(id).await.unwrap().unwrap();
    assert_eq!((twin.relay.as_deref(), &twin.pk), (Some(RELAY), &None));
    assert_eq!(twin.end_to_end_key(), None);

    // pallet-tfgrid's `validate_relay_address`: these are refused, and the
    // twin stays as it was.
    for bad in [
        "relay.grid.tf.",
        ".relay",
        "relay..tf",
        "a.grid.tf",
        "127.0.0.1:443",
        "relay tf",
    ] {
        let err = chain.reset_twin(&alice, bad).await.unwrap_err();
        assert_eq!(err.dispatch_error(), Some("InvalidRelayAddress"), "{bad}");
    }
    assert_eq!(
        chain.twin(id).await.unwrap().unwrap().relay.as_deref(),
        Some(RELAY)
    );
    // An empty key counts as none: nodes encrypt only to a non-empty one.
    fake.world().twin_pks.insert(id, Vec::new());
    fake.seal();
    let twin = chain.twin(id).await.unwrap().unwrap();
    assert_eq!((&twin.pk, twin.end_to_end_key()), (&Some(Vec::new()), None));
}

#[test]
fn relay_addresses_are_checked_rule_for_rule() {
    use super::fake_tfchain::valid_relay;
    for good in [
        "relay.grid.tf",
        "relay.02.grid.tf",
        "ab.c.d",
        "127.0.0.1",
        "r_1-x",
    ] {
        assert!(valid_relay(good.as_bytes()), "{good}");
    }
    for bad in [
        "",
        "relay.",
        ".relay",
        "relay..tf",
        "a.grid.tf",
        "relay:443",
        "relé.tf",
    ] {
        assert!(!valid_relay(bad.as_bytes()), "{bad}");
    }
}
