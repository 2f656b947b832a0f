//! The RMB client against the fake relay and its Zero-OS nodes: the token
//! and envelope signatures the relay checks, replies matched by uid and
//! checked against the node's key, and every way a call can fail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use jukebox::grid::tfgrid::rmb::zos::{Progress, ResultState, ZosNode};
use jukebox::grid::tfgrid::rmb::{Remote, RmbError, RmbPeer, RmbSettings};
use jukebox::reservation::{Deployment, WorkloadSpec, build_deployment, sign};

use super::fake_relay::{Behaviour, ChainView, DELETE, DELETE_REFUSED, FakeRelay, TwinView};
use super::setup::spec;

const USER: u32 = 42;
const NODE: u32 = 7;

fn user_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fn settings(relay: &FakeRelay) -> RmbSettings {
    RmbSettings {
        relay_url: relay.url.clone(),
        call_timeout: Duration::from_secs(10),
        token_ttl: Duration::from_secs(60),
        session: "jukebox-test".into(),
    }
}

/// Our user's connection to `relay`, with the default settings.
async fn connect(relay: &FakeRelay) -> RmbPeer {
    RmbPeer::connect(settings(relay), USER, user_key())
        .await
        .unwrap()
}

/// A relay with our user's twin and one node behaving as asked.
async fn relay_with(behaviour: Behaviour) -> (FakeRelay, Remote) {
    let relay = FakeRelay::start().await;
    relay.register_twin(USER, user_key().verifying_key());
    let key = relay.add_node(NODE, 7, behaviour);
    (relay, Remote { twin: NODE, key })
}

/// A real deployment from the reservation builder, signed by the user.
fn deployment(contract_id: u64, signer: &SigningKey) -> Deployment {
    let spec = WorkloadSpec {
        env: BTreeMap::from([("NETWORK".to_string(), "mainnet".to_string())]),
        ..spec()
    };
    let mut d = build_deployment(USER, &spec, &[3; 32]).unwrap();
    sign(&mut d, USER, signer);
    d.contract_id = contract_id;
    d
}

#[tokio::test]
async fn deploy_poll_until_ok_read_changes_and_delete_is_refused() {
    let (relay, node) = relay_with(Behaviour::Healthy { polls_until_ok: 1 }).await;
    let peer = connect(&relay).await;
    let zos = ZosNode {
        peer: &peer,
        node: node.clone(),
    };
    zos.deploy(&deployment(11, &user_key())).await.unwrap();
    assert!(relay.state().node_has(NODE, 11));

    let first = zos.get(11).await.unwrap();
    assert_eq!(first.contract_id, 11);
    assert_eq!(first.progress(), Progress::Pending);
    let ready = zos.get(11).await.unwrap();
    assert_eq!(ready.progress(), Progress::Ready);
    let kinds: Vec<&str> = ready.workloads.iter().map(|w| w.kind.as_str()).collect();
    assert_eq!(kinds, ["network", "zmount", "ip", "zmachine"]);
    let addresses = ready.addresses();
    assert_eq!(addresses.ipv4.as_deref(), Some("185.206.122.40/24"));
    assert_eq!(addresses.mycelium.as_deref(), Some("5a1:7b2:c3d4::1"));

    let changes = zos.changes(11).await.unwrap();
    assert_eq!(changes.len(), 8, "init then ok for each of four workloads");
    assert_eq!(changes[0].result.state, ResultState::Init);
    assert_eq!(changes[7].result.state, ResultState::Ok);

    // Zero-OS refuses deletes, whatever they name (the client has no
    // delete; only a contract cancel removes a deployment).
    let body = br#"{"contract_id":11}"#.to_vec();
    match peer.call(&node, DELETE, body).await {
        Err(RmbError::Remote {
            twin: NODE,
            code: 0,
            message,
        }) => assert_eq!(message, DELETE_REFUSED),
        other => panic!("{other:?}"),
    }
    assert!(relay.state().node_has(NODE, 11));
    assert_eq!(zos.get(11).await.unwrap().progress(), Progress::Ready);

    let s = relay.state();
    assert!(s.refused_envelopes.is_empty(), "{:?}", s.refused_envelopes);
    let commands: Vec<&str> = s.delivered.iter().map(|(_, _, c)| c.as_str()).collect();
    assert_eq!(
        commands,
        [
            "zos.deployment.deploy",
            "zos.deployment.get",
            "zos.deployment.get",
            "zos.deployment.changes",
            "zos.deployment.delete",
            "zos.deployment.get"
        ]
    );
}

#[tokio::test]
async fn replies_carrying_relays_verify_and_altered_relays_do_not() {
    let (relay, node) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    let peer = connect(&relay).await;
    let zos = ZosNode { peer: &peer, node };
    for relays in [
        &[][..],
        &["relay.grid.tf"],
        &["relay.02.grid.tf", "relay.grid.tf"],
    ] {
        relay.set_node_relays(NODE, relays);
        let contract = 20 + relays.len() as u64;
        zos.deploy(&deployment(contract, &user_key()))
            .await
            .unwrap();
        assert_eq!(zos.get(contract).await.unwrap().contract_id, contract);
    }
    // The relay changes the relays the node signed: one dropped, one
    // added, or reordered.
    for rewritten in [
        vec!["relay.02.grid.tf"],
        vec!["relay.02.grid.tf", "relay.grid.tf", "evil.example"],
        vec!["relay.grid.tf", "relay.02.grid.tf"],
    ] {
        relay.state().rewrite_reply_relays =
            Some(rewritten.iter().map(|r| r.to_string()).collect());
        match zos.get(22).await {
            Err(RmbError::BadSignature { twin: NODE, reason }) => {
                assert!(reason.contains("does not verify"), "{reason}")
            }
            other => panic!("{rewritten:?}: {other:?}"),
        }
    }
}

/// A chain on which our user's twin has an end-to-end key.
struct TwinWithKey;

impl ChainView for TwinWithKey {
    fn contract_cancelled(&self, _: u64) -> bool {
        false
    }

    fn twin(&self, twin: u32) -> Option<TwinView> {
        (twin == USER).then(|| TwinView {
            relay: Some("relay.fake".into()),
            pk: Some(vec![2; 33]),
        })
    }
}

#[tokio::test]
async fn a_reply_encrypted_to_our_twins_old_key_is_refused_with_the_reason() {
    let (relay, node) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    relay.follow_chain(Arc::new(TwinWithKey));
    let peer = connect(&relay).await;
    let zos = ZosNode { peer: &peer, node };
    let err = zos.deploy(&deployment(30, &user_key())).await.unwrap_err();
    assert_eq!(err, RmbError::Encrypted { twin: NODE });
    assert!(err.to_string().contains("end-to-end key"), "{err}");
}

#[tokio::test]
async fn the_node_rejects_what_zos_would_reject() {
    let (relay, node) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    let peer = connect(&relay).await;
    let zos = ZosNode { peer: &peer, node };
    // Signed by a key that is not the twin's.
    let forged = deployment(12, &SigningKey::from_bytes(&[2; 32]));
    match zos.deploy(&forged).await {
        Err(RmbError::Remote {
            twin: NODE,
            message,
            ..
        }) => {
            assert!(message.contains("invalid signature"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // No contract yet.
    let uncontracted = deployment(0, &user_key());
    assert!(matches!(
        zos.deploy(&uncontracted).await,
        Err(RmbError::Remote { .. })
    ));
    assert!(
        matches!(zos.get(99).await, Err(RmbError::Remote { message, .. }) if message == "deployment not found")
    );
    assert!(!relay.state().node_has(NODE, 12));
    // A second deploy of a contract the node holds: zosbase's storage
    // answers `ErrDeploymentExists` ("exists"), which is why an adopted
    // contract is only sent when `get` does not find it.
    let d = deployment(12, &user_key());
    zos.deploy(&d).await.unwrap();
    assert!(
        matches!(zos.deploy(&d).await, Err(RmbError::Remote { message, .. }) if message == "exists")
    );
}

#[tokio::test]
async fn a_failing_workload_is_reported_with_its_message() {
    let (relay, node) = relay_with(Behaviour::WorkloadFails("flist not found".into())).await;
    let peer = connect(&relay).await;
    let zos = ZosNode { peer: &peer, node };
    zos.deploy(&deployment(13, &user_key())).await.unwrap();
    assert_eq!(zos.get(13).await.unwrap().progress(), Progress::Pending);
    let failed = zos.get(13).await.unwrap().progress();
    assert_eq!(
        failed,
        Progress::Failed {
            workload: "dash1".into(),
            message: "flist not found".into()
        }
    );
}

#[tokio::test]
async fn the_relay_refuses_a_token_it_cannot_verify() {
    let (relay, _) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    // Twin 42 is registered with another key.
    let stranger = SigningKey::from_bytes(&[9; 32]);
    let refused = RmbPeer::connect(settings(&relay), USER, stranger.clone()).await;
    assert!(matches!(refused, Err(RmbError::Connect(m)) if m.contains("401")));
    // A twin the chain does not know.
    assert!(
        RmbPeer::connect(settings(&relay), 4242, stranger)
            .await
            .is_err()
    );
    assert_eq!(relay.state().refused_tokens, 2);
}

#[tokio::test]
async fn envelopes_the_relay_cannot_verify_fail_the_call() {
    let (relay, node) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    let peer = connect(&relay).await;
    // The twin's key changes on chain after the connection was opened: our
    // envelopes no longer verify, and the relay says so, unsigned.
    relay.register_twin(USER, SigningKey::from_bytes(&[8; 32]).verifying_key());
    let zos = ZosNode { peer: &peer, node };
    match zos.get(1).await {
        Err(RmbError::Relay {
            twin: NODE,
            message,
        }) => {
            assert_eq!(message, "signature verification failed")
        }
        other => panic!("{other:?}"),
    }
    assert!(relay.state().delivered.is_empty());
}

#[tokio::test]
async fn an_unknown_destination_is_a_relay_error() {
    let (relay, _) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    let peer = connect(&relay).await;
    let nobody = Remote {
        twin: 999,
        key: SigningKey::from_bytes(&[5; 32]).verifying_key(),
    };
    let zos = ZosNode {
        peer: &peer,
        node: nobody,
    };
    assert!(matches!(
        zos.get(1).await,
        Err(RmbError::Relay { twin: 999, message }) if message == "destination twin not found"
    ));
}

#[tokio::test]
async fn a_reply_signed_by_someone_else_is_not_trusted() {
    let (relay, node) = relay_with(Behaviour::Impostor).await;
    let peer = connect(&relay).await;
    let zos = ZosNode { peer: &peer, node };
    match zos.deploy(&deployment(14, &user_key())).await {
        Err(RmbError::BadSignature { twin: NODE, reason }) => {
            assert!(reason.contains("does not verify"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_silent_node_times_out_and_the_connection_stays_open() {
    let (relay, node) = relay_with(Behaviour::Silent).await;
    let mut s = settings(&relay);
    s.call_timeout = Duration::from_secs(30);
    let peer = RmbPeer::connect(s, USER, user_key()).await.unwrap();
    // Connected on real time; the wait itself runs on paused time.
    tokio::time::pause();
    let zos = ZosNode { peer: &peer, node };
    match zos.get(1).await {
        Err(RmbError::Timeout {
            twin,
            command,
            after,
        }) => {
            assert_eq!(
                (twin, command.as_str(), after),
                (NODE, "zos.deployment.get", Duration::from_secs(30))
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!peer.is_closed());
}

#[tokio::test]
async fn a_hang_up_fails_pending_and_later_calls_as_closed() {
    let (relay, node) = relay_with(Behaviour::HangsUp).await;
    let peer = connect(&relay).await;
    let zos = ZosNode { peer: &peer, node };
    assert_eq!(zos.get(1).await.unwrap_err(), RmbError::Closed);
    assert!(peer.is_closed());
    assert_eq!(zos.get(2).await.unwrap_err(), RmbError::Closed);
}

#[tokio::test]
async fn replies_are_matched_by_uid_whatever_their_order() {
    let (relay, node) = relay_with(Behaviour::Healthy { polls_until_ok: 0 }).await;
    let peer = Arc::new(connect(&relay).await);
    {
        let zos = ZosNode {
            peer: &peer,
            node: node.clone(),
        };
        for contract in 1..=8 {
            zos.deploy(&deployment(contract, &user_key()))
                .await
                .unwrap();
        }
    }
    relay.state().reverse_batches_of = 8;
    let calls = (1..=8u64).map(|contract| {
        let peer = peer.clone();
        let node = node.clone();
        tokio::spawn(async move {
            let zos = ZosNode { peer: &peer, node };
            (contract, zos.get(contract).await)
        })
    });
    for call in calls.collect::<Vec<_>>() {
        let (contract, answer) = call.await.unwrap();
        assert_eq!(answer.unwrap().contract_id, contract);
    }
}
