//! Tests of the reservation builder and of the challenge / signature scheme,
//! including a frozen test vector.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use super::*;

const FIXTURE: &str = include_str!("../../tests/fixtures/deployment.json");

fn fixture() -> Deployment {
    serde_json::from_str(FIXTURE).expect("fixture parses")
}

fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn spec() -> WorkloadSpec {
    let mut env = BTreeMap::new();
    env.insert("DASH_NETWORK".to_string(), "mainnet".to_string());
    env.insert("RPC_PASSWORD".to_string(), "s3cret".to_string());
    WorkloadSpec {
        name: "dash-full-amber-fox".to_string(),
        flist: "https://hub.grid.tf/jukebox/dash-22.flist".to_string(),
        entrypoint: "/sbin/zinit init".to_string(),
        cpu: 4,
        memory_mib: 8192,
        disk_gib: 100,
        public_ipv4: true,
        env,
        ssh_key: Some("ssh-ed25519 AAAAuser".to_string()),
    }
}

fn signed(spec: &WorkloadSpec) -> Deployment {
    let mut d = build_deployment(42, spec, &[3u8; 32]).expect("builds");
    sign(&mut d, 42, &key(7));
    d
}

/// The challenge of the fixture, written piece by piece from the rules in
/// tfgrid-v3.md ("The challenge"); each line names the rule it follows.
fn expected_challenge() -> String {
    [
        // 1. version, twin_id, metadata, description, expiration (no contract_id)
        "0",
        "42",
        r#"{"version":3,"type":"vm","name":"dash1","projectName":"jukebox/dash1"}"#,
        "",
        "0",
        // 2. network workload: version, name, type, metadata, description
        "0net1network",
        // ip_range, subnet, wg private key, listen port
        "10.20.0.0/16",
        "10.20.2.0/24",
        "GDTGeQzpwVLFaPNgQqiL8mRjjjuN3KPsMWZwUg9VXxM=",
        "3011",
        // each peer: wg public key, endpoint, subnet, allowed ips
        "pk3=",
        "[2a10::3]:3012",
        "10.20.3.0/24",
        "10.20.3.0/24",
        "100.64.20.3/32",
        // mycelium hex key, peers (null: none)
        "0101010101010101010101010101010101010101010101010101010101010101",
        // zmount: header, then size
        "0datazmount",
        "107374182400",
        // ip: header, then v4, v6
        "0dash1ipip",
        "true",
        "false",
        // zmachine: header, flist, public_ip, planetary
        "0dash1zmachine",
        "https://hub.grid.tf/tf-official-apps/base:latest.flist",
        "dash1ip",
        "true",
        // each interface's network and ip, then mycelium network and hex seed
        "net1",
        "10.20.2.2",
        "net1",
        "a1b2c3d4e5f6",
        // size, cpu, memory
        "0",
        "4",
        "8589934592",
        // each mount's name and mountpoint, entrypoint
        "data",
        "/data",
        "/sbin/zinit init",
        // env sorted by key as k=v (no GPUs)
        "DASH_NETWORK=mainnet",
        "SSH_KEY=ssh-ed25519 AAAAtest",
        // 3. each request: twin_id, required, weight; weight_required, style
        "42",
        "false",
        "1",
        "1",
        "",
    ]
    .concat()
}

#[test]
fn fixed_test_vector() {
    let mut d = fixture();
    assert_eq!(challenge(&d), expected_challenge());
    let md5 = "f89c9001d6df66544ecebd5a273b2a6c";
    assert_eq!(hex::encode(challenge_hash(&d)), md5);
    assert_eq!(deployment_hash_hex(&d), md5);
    assert_eq!(&deployment_hash_ascii(&d), md5.as_bytes());
    sign(&mut d, 42, &key(7));
    let sigs = &d.signature_requirement.signatures;
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].signature_type, "ed25519");
    assert_eq!(
        sigs[0].signature,
        "ee524daa4191e99036a9e2fe4ffb2fb5466f745224055b3a792fe9ed94d030ddc915b9465dc1487c7d1a404d6e43af36947353ef293bfb74311dfaf60885b507"
    );
    assert_eq!(verify(&d, 42, &key(7).verifying_key()), Ok(()));
}

#[test]
fn fixture_round_trips_with_reference_field_names() {
    let d = fixture();
    let json = serde_json::to_string(&d).expect("serialises");
    assert_eq!(
        serde_json::from_str::<Deployment>(&json).expect("parses"),
        d
    );
    for field in [
        r#""type":"zmachine","data":{"flist""#,
        r#""mycelium":{"Network":"net1","hex_seed":"a1b2c3d4e5f6"}"#,
        r#""compute_capacity":{"cpu":4,"memory":8589934592}"#,
        r#""signature_requirement":{"requests":[{"twin_id":42,"required":false,"weight":1}]"#,
        r#""mycelium":{"hex_key":"#,
        r#""type":"ip","data":{"v4":true,"v6":false}"#,
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
}

fn machine(d: &mut Deployment) -> &mut Zmachine {
    d.workloads
        .iter_mut()
        .find_map(|w| match &mut w.data {
            WorkloadData::Zmachine(z) => Some(z),
            _ => None,
        })
        .expect("has a zmachine")
}

#[test]
fn tampering_breaks_verification() {
    let vk = key(7).verifying_key();
    let d = signed(&spec());
    assert_eq!(verify(&d, 42, &vk), Ok(()));

    let mut env = d.clone();
    let mut cpu = d.clone();
    let mut flist = d.clone();
    let mut desc = d.clone();
    machine(&mut env)
        .env
        .insert("RPC_PASSWORD".into(), "other".into());
    machine(&mut cpu).compute_capacity.cpu = 5;
    machine(&mut flist).flist.push('x');
    desc.description = "changed".into();
    for t in [&env, &cpu, &flist, &desc] {
        assert_eq!(verify(t, 42, &vk), Err(SignatureError::Invalid));
    }
    // contract_id is set after signing and must not invalidate the signature.
    let mut with_contract = d.clone();
    with_contract.contract_id = 77;
    assert_eq!(verify(&with_contract, 42, &vk), Ok(()));
}

#[test]
fn wrong_key_missing_and_malformed_signatures_fail() {
    let mut d = signed(&spec());
    assert_eq!(
        verify(&d, 42, &key(8).verifying_key()),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        verify(&d, 43, &key(7).verifying_key()),
        Err(SignatureError::Missing(43))
    );
    d.signature_requirement.signatures[0].signature = "abcd".into();
    assert_eq!(
        verify(&d, 42, &key(7).verifying_key()),
        Err(SignatureError::Malformed)
    );
}

#[test]
fn signing_again_replaces_the_signature() {
    let mut d = signed(&spec());
    sign(&mut d, 42, &key(9));
    assert_eq!(d.signature_requirement.signatures.len(), 1);
    assert_eq!(verify(&d, 42, &key(9).verifying_key()), Ok(()));
    assert!(verify(&d, 42, &key(7).verifying_key()).is_err());
}

#[test]
fn rebuild_with_same_seed_is_byte_identical() {
    let a = serde_json::to_string(&build_deployment(42, &spec(), &[5; 32]).expect("a"));
    let b = serde_json::to_string(&build_deployment(42, &spec(), &[5; 32]).expect("b"));
    let c = serde_json::to_string(&build_deployment(42, &spec(), &[6; 32]).expect("c"));
    assert_eq!(a.as_ref().expect("json"), b.as_ref().expect("json"));
    assert_ne!(a.expect("json"), c.expect("json"));
}

#[test]
fn built_deployment_has_the_expected_shape() {
    let d = build_deployment(42, &spec(), &[3; 32]).expect("builds");
    assert_eq!(
        d.metadata,
        r#"{"version":3,"type":"vm","name":"dash_full_amber_fox","projectName":"jukebox/dash_full_amber_fox"}"#
    );
    let types: Vec<_> = d.workloads.iter().map(|w| w.data.type_name()).collect();
    assert_eq!(types, ["network", "zmount", "ip", "zmachine"]);
    let (name, z) = d.zmachine().expect("zmachine");
    assert_eq!(name, "dash_full_amber_fox");
    assert_eq!(z.env["SSH_KEY"], "ssh-ed25519 AAAAuser");
    assert_eq!(z.env["RPC_PASSWORD"], "s3cret");
    assert_eq!(z.compute_capacity.memory, 8192 << 20);
    assert_eq!(z.network.public_ip, "dash_full_amber_fox_ip");
    assert_eq!(z.network.interfaces.len(), 1);
    assert_eq!(d.signature_requirement.requests.len(), 1);
    assert_eq!(d.signature_requirement.weight_required, 1);
    let Some(WorkloadData::Zmount(m)) = d.workloads.get(1).map(|w| &w.data) else {
        panic!("second workload is the disk");
    };
    assert_eq!(m.size, 100 << 30);
    let Some(WorkloadData::Network(n)) = d.workloads.first().map(|w| &w.data) else {
        panic!("first workload is the network");
    };
    assert_eq!(n.ip_range, "10.20.0.0/16");
    assert!(n.subnet.starts_with("10.20.") && n.subnet.ends_with(".0/24"));
    assert_eq!(z.network.interfaces[0].ip, n.subnet.replace(".0/24", ".2"));

    let mut private = spec();
    private.public_ipv4 = false;
    let d = build_deployment(42, &private, &[3; 32]).expect("builds");
    // Without a public IPv4 the node still gets a public IPv6.
    let ips: Vec<_> = d
        .workloads
        .iter()
        .filter_map(|w| match &w.data {
            WorkloadData::Ip(ip) => Some(ip.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ips.len(), 1);
    assert!(!ips[0].v4 && ips[0].v6);
    assert_eq!(
        d.zmachine().expect("zmachine").1.network.public_ip,
        "dash_full_amber_fox_ip"
    );
}

#[test]
fn names_are_sanitised() {
    assert_eq!(sanitize_name("dash-full-amber-fox"), "dash_full_amber_fox");
    assert_eq!(sanitize_name("é x.y"), "__x_y");
    let mut long = spec();
    long.name = "a-very-long-deployment-name-that-goes-on-and-on".into();
    let d = build_deployment(1, &long, &[0; 32]).expect("builds");
    for w in &d.workloads {
        assert!(w.name.len() <= 36, "{} too long", w.name);
        assert!(
            w.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
    }
    assert!(d.metadata.len() <= 512);
    let mut empty = spec();
    empty.name = String::new();
    assert_eq!(
        build_deployment(1, &empty, &[0; 32]),
        Err(BuildError::EmptyName)
    );
}

#[test]
fn memory_minimum_and_cpu_bounds_are_enforced() {
    let mut s = spec();
    s.memory_mib = 249;
    assert_eq!(
        build_deployment(1, &s, &[0; 32]),
        Err(BuildError::MemoryTooSmall(249))
    );
    s.memory_mib = 250;
    assert!(build_deployment(1, &s, &[0; 32]).is_ok());
    s.cpu = 0;
    assert_eq!(build_deployment(1, &s, &[0; 32]), Err(BuildError::Cpu(0)));
}
