//! `jukebox chat` as a person meets it: a script piped to stdin, the
//! conversation on stdout, log lines in the data dir's log file (never in
//! the conversation), the simulation said out loud, and a goodbye at the
//! end of input (Ctrl-D) that says what stops.

use std::io::Write as _;
use std::process::{Command, Stdio};

#[test]
fn the_chat_holds_no_log_lines_and_says_goodbye() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = format!(
        "data_dir = {data:?}\ndialogues_dir = {:?}\n[ops]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n",
        concat!(env!("CARGO_MANIFEST_DIR"), "/dialogues")
    );
    std::fs::write(dir.path().join("config.toml"), config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .current_dir(dir.path())
        .args(["chat", "--user", "alice"])
        // Everything the service logs, so any leak would show.
        .env("JUKEBOX_LOG", "debug")
        .env_remove("RUST_LOG")
        .env_remove("TELOXIDE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jukebox starts");
    // A few lines, then end of input: what Ctrl-D sends.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"/start\n/help\n/deploy\n/cancel\n")
        .expect("typed");
    let out = child.wait_with_output().expect("jukebox ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // No log line in the conversation, nor on the terminal's other stream.
    for marker in [
        " TRACE ",
        " DEBUG ",
        " INFO ",
        " WARN ",
        " ERROR ",
        "jukebox::",
    ] {
        assert!(
            !stdout.contains(marker),
            "{marker:?} in the chat:\n{stdout}"
        );
        assert!(!stderr.contains(marker), "{marker:?} on stderr:\n{stderr}");
    }
    let log = std::fs::read_to_string(data.join("jukebox.log")).expect("the log file");
    assert!(log.contains("Jukebox started"), "{log}");
    assert!(stdout.contains("Log lines go to"), "{stdout}");

    // The simulation is said in the banner and by /start and /help.
    let banner = stdout.lines().take(5).collect::<Vec<_>>().join("\n");
    assert!(banner.contains("SIMULATION"), "{banner}");
    assert!(
        stdout.matches("the wallet a sandbox").count() >= 3,
        "{stdout}"
    );
    assert!(stdout.contains("Which blockchain"), "{stdout}");

    // Ctrl-D: leaving says what stops and what is kept.
    let goodbye = stdout
        .split("Leaving the chat")
        .nth(1)
        .unwrap_or_else(|| panic!("no goodbye in:\n{stdout}"));
    assert!(goodbye.contains("Jukebox stops now"), "{goodbye}");
    assert!(goodbye.contains("the website, the Telegram bot, billing and the monitor"));
    assert!(goodbye.contains("saved in"), "{goodbye}");
}

/// Without JavaScript or a file upload, a key pasted into the terminal
/// arrives line by line; the chat gathers the lines from `-----BEGIN` to
/// `-----END` into one message, so the key is taken whole, not refused as
/// cut short.
#[test]
fn a_key_pasted_over_several_lines_is_taken_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = format!(
        "data_dir = {data:?}\ndialogues_dir = {:?}\n[ops]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n",
        concat!(env!("CARGO_MANIFEST_DIR"), "/dialogues")
    );
    std::fs::write(dir.path().join("config.toml"), config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .current_dir(dir.path())
        .args(["chat", "--user", "alice"])
        .env_remove("RUST_LOG")
        .env_remove("TELOXIDE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jukebox starts");
    let key = include_str!("fixtures/presearch-keys/id_rsa");
    let public = include_str!("fixtures/presearch-keys/id_rsa.pub");
    let script = format!(
        "/deploy\nPresearch\n1\n1\n0123456789abcdef0123456789abc123\nSkip\n1 week\nGive the node's keys\n{key}{public}/cancel\n"
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("typed");
    let out = child.wait_with_output().expect("jukebox ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("cut short"), "{stdout}");
    assert!(
        !stdout.contains("Expected the node's private key"),
        "{stdout}"
    );
    // Both keys were taken: the summary shows them, hidden and named.
    assert!(
        stdout.contains("Node private key: RSA 2048-bit private key (hidden)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Node public key: RSA 2048-bit public key"),
        "{stdout}"
    );
    // Never echoed.
    assert!(
        !stdout.contains("MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCl9PaN+d2mv6Ho"),
        "{stdout}"
    );
}
