//! `jukebox check`: validates config, scripts and catalog without starting
//! anything, and reports every problem with file and line.

use std::process::Command;

fn jukebox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jukebox"))
}

#[test]
fn shipped_files_pass() {
    let out = jukebox()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("check")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let out = jukebox()
        .current_dir(dir.path())
        .arg("check")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The config error stops before the scripts are read: fix it and look again.
    assert!(
        stderr.contains("config.toml:1: max_nodes_per_order"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("config.toml"), "").expect("write");
    let out = jukebox()
        .current_dir(dir.path())
        .arg("check")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
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
