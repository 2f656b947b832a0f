//! The TFChain client (real subxt, dynamic API) against the fake TFChain
//! node: balances, terms and twin creation (once), node contracts created,
//! read and cancelled, refusals by name, and what the pool refuses.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use jukebox::grid::tfgrid::chain::{ChainContractState, ChainError, Ed25519Signer, TfChain, calls};

use jukebox::pricing::PriceList;

use crate::fake_tfchain::{ContractState, FEE, FakeTfchain};

const RELAY: &str = "relay.dev.grid.tf";
const TERMS: (&str, &str) = ("https://library.threefold.me/info/legal/#/", "f4fa1c1b");
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
    let id = chain.ensure_twin(&alice, RELAY, TERMS).await.unwrap();
    assert_eq!(id, 1);
    let twin = chain.twin(id).await.unwrap().unwrap();
    assert_eq!(twin.account, alice.account());
    assert_eq!(twin.relay.as_deref(), Some(RELAY));
    // Again (a retry after a crash): nothing is submitted.
    assert_eq!(chain.ensure_twin(&alice, RELAY, TERMS).await.unwrap(), 1);
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
    chain.ensure_twin(&alice, RELAY, TERMS).await.unwrap();
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
    assert_eq!(
        chain.contract_state(id).await.unwrap(),
        Some(ChainContractState::Deleted)
    );
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
    chain.ensure_twin(&alice, RELAY, TERMS).await.unwrap();
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
    chain.ensure_twin(&alice, RELAY, TERMS).await.unwrap();
    let err = chain
        .create_node_contract(&alice, 12, HASH, b"{}", 0)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ChainError::Dispatch("SmartContractModule::NodeNotAvailableToDeploy".into())
    );
    assert!(!err.node_opted_out());
    assert!(fake.world().contracts.is_empty());
    assert_eq!(chain.contract_for(12, HASH).await.unwrap(), None);
}

#[tokio::test]
async fn an_unfunded_account_cannot_submit() {
    let fake = FakeTfchain::start().await;
    let chain = connect(&fake).await;
    let err = chain
        .ensure_twin(&signer(3), RELAY, TERMS)
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
    chain.ensure_twin(&alice, RELAY, TERMS).await.unwrap();
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
        .ensure_twin(&alice, "relay.grid.tf", TERMS)
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
    use crate::fake_tfchain::valid_relay;
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
