//! The terminal channel: `jukebox chat --user NAME` over stdin/stdout.
//!
//! Messages are printed; buttons are numbered and answered with the number or
//! the label; QR codes are drawn with Unicode blocks and saved as PNG. It
//! reads piped input too, so a script can drive a whole deployment.

use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::channel::{Outbox, Outgoing};
use crate::dialogue::{Button, Input};
use crate::ids::UserId;
use crate::service::Service;

/// Prints what the service sends and remembers the latest buttons.
pub struct TerminalOutbox {
    qr_dir: PathBuf,
    state: Mutex<TerminalState>,
}

#[derive(Default)]
struct TerminalState {
    buttons: Vec<Button>,
    images: u32,
    /// Last text of each progress message, to print only changes.
    progress: std::collections::HashMap<String, String>,
}

impl TerminalOutbox {
    pub fn new(qr_dir: PathBuf) -> TerminalOutbox {
        TerminalOutbox {
            qr_dir,
            state: Mutex::new(TerminalState::default()),
        }
    }

    /// What a typed line means: a button pressed by number or label, or a
    /// message.
    pub fn interpret(&self, line: &str) -> Input {
        let trimmed = line.trim();
        let Ok(state) = self.state.lock() else {
            return Input::from_message(line);
        };
        let numbered: Vec<&Button> = state
            .buttons
            .iter()
            .filter(|b| b.nav_key().is_none())
            .collect();
        if let Ok(n) = trimmed.parse::<usize>()
            && (1..=numbered.len()).contains(&n)
        {
            return Input::Button(numbered[n - 1].data.clone());
        }
        let mut chars = trimmed.chars();
        if let (Some(key), None) = (chars.next(), chars.next())
            && let Some(b) = state
                .buttons
                .iter()
                .find(|b| b.nav_key() == Some(key.to_ascii_lowercase()))
        {
            return Input::Button(b.data.clone());
        }
        if let Some(b) = state
            .buttons
            .iter()
            .find(|b| b.label.eq_ignore_ascii_case(trimmed))
        {
            return Input::Button(b.data.clone());
        }
        Input::from_message(line)
    }

    fn print_buttons(state: &mut TerminalState, rows: &[Vec<Button>], out: &mut String) {
        let flat: Vec<Button> = rows.iter().flatten().cloned().collect();
        if flat.is_empty() {
            return;
        }
        let mut number = 0;
        let shown: Vec<String> = flat
            .iter()
            .map(|b| match b.nav_key() {
                Some(key) => format!("[{key}] {}", b.label),
                None => {
                    number += 1;
                    format!("[{number}] {}", b.label)
                }
            })
            .collect();
        out.push_str(&format!("   {}\n", shown.join("   ")));
        state.buttons = flat;
    }
}

#[async_trait]
impl Outbox for TerminalOutbox {
    async fn send(&self, _user: &UserId, item: Outgoing) {
        let mut out = String::new();
        {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            match item {
                Outgoing::Message(m) => {
                    out.push_str(&format!("\n{}\n", m.text));
                    Self::print_buttons(&mut state, &m.buttons, &mut out);
                }
                Outgoing::Image {
                    png,
                    text_fallback,
                    caption,
                    buttons,
                } => {
                    state.images += 1;
                    let path =
                        self.qr_dir
                            .join(format!("qr-{}-{}.png", std::process::id(), state.images));
                    let saved = std::fs::create_dir_all(&self.qr_dir)
                        .and_then(|_| std::fs::write(&path, &png));
                    out.push_str(&format!("\n{text_fallback}\n"));
                    match saved {
                        Ok(()) => out.push_str(&format!("(QR code image: {})\n", path.display())),
                        Err(e) => out.push_str(&format!("(could not save the QR image: {e})\n")),
                    }
                    out.push_str(&format!("{caption}\n"));
                    Self::print_buttons(&mut state, &buttons, &mut out);
                }
                Outgoing::Progress { key, text } => {
                    if state.progress.get(&key) != Some(&text) {
                        out.push_str(&format!("\n{text}\n"));
                        state.progress.insert(key, text);
                    }
                }
                Outgoing::Answered { answer } => out.push_str(&format!("  ✔ {answer}\n")),
                // Printed buttons cannot be taken back; the service's own
                // message says why they no longer act.
                Outgoing::Withdrawn => {}
            }
        }
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// Reads lines until end of input, handing each to the service; then waits
/// for background deployments so a piped script sees them finish.
pub async fn run(
    service: Service,
    outbox: std::sync::Arc<TerminalOutbox>,
    user: UserId,
) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let display = user
        .as_str()
        .split_once(':')
        .map_or(user.as_str(), |(_, n)| n)
        .to_owned();
    println!("Jukebox terminal chat as {user}. Type /help, /deploy … (Ctrl-D to leave).");
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let input = outbox.interpret(&line);
        if let Err(e) = service.handle(&user, &display, input, None).await {
            tracing::error!(error = %format!("{e:#}"), "handling input failed");
            println!(
                "Sorry, something went wrong on our side; nothing was lost. Please try again."
            );
        }
    }
    service.wait_idle().await;
    Ok(())
}
