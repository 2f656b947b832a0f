//! `jukebox check`: validates config, scripts and catalog without starting
//! anything, and reports every problem with file and line.

use std::process::Command;

/// Runs `jukebox check` in `dir`: whether it passed, stdout, stderr.
fn check_in(dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .current_dir(dir)
        .arg("check")
        .output()
        .expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn shipped_files_pass() {
    let (ok, stdout, stderr) = check_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("4 chains / 7 node types"), "{stdout}");
}

#[test]
fn every_error_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dialogues = dir.path().join("dialogues");
    std::fs::create_dir(&dialogues).expect("mkdir");
    let catalog = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dialogues/catalog.yaml"
    ))
    .expect("catalog");
    std::fs::write(dialogues.join("catalog.yaml"), catalog).expect("write");
    let script = "\
flows:
  - id: deploy
    command: deploy
    description: Deploy
    start: first
    steps:
      - id: first
        prompt: Hello {nobody}
        choose: chains
        save: chain
        next: missing
      - id: lonely
        prompt: Never asked
        input: count
        save: count
        action: place_order
";
    std::fs::write(dialogues.join("deploy.yaml"), script).expect("write");
    std::fs::write(dir.path().join("config.toml"), "max_nodes_per_order = 0\n").expect("write");
    let (ok, _, stderr) = check_in(dir.path());
    assert!(!ok);
    // The config error stops before the scripts are read: fix it and look again.
    assert!(
        stderr.contains("config.toml:1: max_nodes_per_order"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("config.toml"), "").expect("write");
    let (ok, _, stderr) = check_in(dir.path());
    assert!(!ok);
    for expected in [
        "deploy.yaml:7: flow deploy, step first: unknown placeholder {nobody}",
        "deploy.yaml:7: flow deploy: no step named \"missing\"",
        "can never be reached",
        "needs an answer saved as \"node_type\"",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

/// A catalog whose Polygon full node is sized as the 2021 Jukebox sized it
/// (4 cores, 8 GiB, 60 GiB) is refused: below Polygon's documented minimum,
/// with the line, the shortfalls and the source; and a DigiByte client older
/// than the network's minimum is refused too.
#[test]
fn a_node_type_below_its_chains_minimum_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dialogues = dir.path().join("dialogues");
    std::fs::create_dir(&dialogues).expect("mkdir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues");
    for file in ["deploy.yaml", "manage.yaml"] {
        std::fs::copy(shipped.join(file), dialogues.join(file)).expect("copy");
    }
    let catalog = std::fs::read_to_string(shipped.join("catalog.yaml")).expect("catalog");
    // The Polygon full node's resources line (the first after its id) made small.
    let small = "resources: { cpu: 4, memory_mib: 8192, disk_gib: 60 }";
    let at = catalog
        .find("name: Polygon full node")
        .expect("a Polygon full node");
    let (before, after) = catalog.split_at(at);
    let bad = format!(
        "{before}{}",
        after.replacen(
            "resources: { cpu: 8, memory_mib: 32768, disk_gib: 4657 }",
            small,
            1
        )
    )
    .replace(
        "version: \"9.26.5\", min_version",
        "version: \"9.26.1\", min_version",
    );
    assert!(
        bad.contains(small) && bad.contains("9.26.1"),
        "the test's edit no longer applies"
    );
    std::fs::write(dialogues.join("catalog.yaml"), &bad).expect("write");
    std::fs::write(dir.path().join("config.toml"), "").expect("write");
    let (ok, _, stderr) = check_in(dir.path());
    assert!(!ok);
    for expected in [
        "polygon/full: resources are below its chain's documented minimum \
         (memory_mib 8192 < 32768, disk_gib 60 < 2328; source: 0xPolygon/polygon-docs \
         full-node-system-requirements.md",
        "digibyte/full: DigiByte Core 9.26.1 is older than its min_version 9.26.2",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    // Each error names the catalog file and the node type's line.
    let polygon_full_line = 1 + bad
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "- id: full")
        .map(|(i, _)| i)
        .nth(2)
        .expect("polygon's full node type");
    assert!(
        stderr.contains(&format!(
            "catalog.yaml:{polygon_full_line}: polygon/full: resources"
        )),
        "{stderr}"
    );
}

/// A real-grid config as an operator first writes it: only what must be
/// set, plus `extra` in `[grid.tfgrid]`.
fn real_grid_dir(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let dialogues = concat!(env!("CARGO_MANIFEST_DIR"), "/dialogues");
    let config = format!(
        "dialogues_dir = {dialogues:?}\n\
         [grid]\nkind = \"tfgrid\"\nnetwork = \"qa\"\n\
         [grid.tfgrid]\n{extra}\n\
         [payments]\nkind = \"bridge\"\n\
         [web]\nsandbox_login = false\n"
    );
    std::fs::write(dir.path().join("config.toml"), config).expect("write");
    dir
}

/// TFChain refuses `user_accept_tc` with an empty or malformed hash
/// (pallet-tfgrid `terms_cond.rs`), and no twin can exist without it: the
/// shipped config (no hash: the document's MD5 is fetched at the first
/// twin) passes, a configured hash must be well formed, and `check`
/// refuses what the chain would, an empty hash included.
#[test]
fn the_terms_hash_is_checked_as_tfchain_checks_it() {
    let (ok, stdout, stderr) = check_in(real_grid_dir("").path());
    assert!(ok, "{stdout}{stderr}");
    for bad in [
        "\"\"",
        "\"  \"",
        "\"sha256:1f2e\"",
        "\"not a hash\"",
        &format!("{:?}", "f".repeat(51)),
    ] {
        let dir = real_grid_dir(&format!("terms_hash = {bad}"));
        let (ok, _, stderr) = check_in(dir.path());
        assert!(!ok, "{bad} passed");
        assert!(
            stderr.contains("config.toml:5: grid.tfgrid: terms_hash"),
            "{bad}: {stderr}"
        );
    }
    let dir = real_grid_dir("terms_hash = \"my-terms_v2\"");
    let (ok, stdout, stderr) = check_in(dir.path());
    assert!(ok, "{stdout}{stderr}");
}

/// Runs `jukebox` with `args` in `dir`: whether it passed, stdout, stderr.
fn jukebox_in(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_missing_config_file_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["check", "run"] {
        let (ok, _, stderr) = jukebox_in(dir.path(), &["--config", "jukebox-typo.toml", command]);
        assert!(!ok, "{command}");
        assert!(
            stderr.contains("the config file jukebox-typo.toml does not exist"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn a_type_error_names_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("jukebox.toml"),
        "[billing]\ninterval_minutes = 60\ngrace_days = \"ten\"\n",
    )
    .expect("write");
    let (ok, _, stderr) = jukebox_in(dir.path(), &["--config", "jukebox.toml", "check"]);
    assert!(!ok);
    assert!(
        stderr.contains("jukebox.toml:3: billing.grace_days: expected a number, got \"ten\""),
        "{stderr}"
    );
}

#[test]
fn real_money_with_the_simulated_grid_is_refused_and_the_reverse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let deposit = "GA47YZA3PKFUZMPLQ3B5F2E3CJIB57TGGU7SPCQT2WAEYKN766PWIMB3";
    let cases = [
        (
            format!(
                "[payments]\nkind = \"stellar\"\n[payments.stellar]\ndeposit_address = \"{deposit}\"\n[web]\nsandbox_login = false\n"
            ),
            "users would pay real money for simulated nodes",
        ),
        (
            "[payments]\nkind = \"bridge\"\n[web]\nsandbox_login = false\n".to_owned(),
            "needs grid.kind = \"tfgrid\"",
        ),
        (
            "[grid]\nkind = \"tfgrid\"\n[web]\nsandbox_login = false\n".to_owned(),
            "payments.kind \"sandbox\" cannot pay for the real grid",
        ),
    ];
    for (config, expected) in cases {
        std::fs::write(dir.path().join("config.toml"), &config).expect("write");
        for command in ["check", "run"] {
            let (ok, _, stderr) = jukebox_in(dir.path(), &[command]);
            assert!(!ok, "{command} accepted:\n{config}");
            assert!(stderr.contains(expected), "{command}: {stderr}");
        }
    }
    // Stellar's testnet is play money: allowed with the simulated grid.
    let dialogues = concat!(env!("CARGO_MANIFEST_DIR"), "/dialogues");
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "dialogues_dir = {dialogues:?}\n[payments]\nkind = \"stellar\"\n[payments.stellar]\nnetwork = \"testnet\"\ndeposit_address = \"{deposit}\"\n[web]\nsandbox_login = false\n"
        ),
    )
    .expect("write");
    let (ok, stdout, stderr) = check_in(dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("ok:"), "{stdout}");
}
