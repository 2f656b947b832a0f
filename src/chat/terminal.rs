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

mod paste;

use paste::{Pasted, PemPaste};

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
        out.push_str(&layout_buttons(&shown, BUTTON_WIDTH));
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

/// Button lines are kept within this many columns (the classic terminal
/// width), so the terminal never wraps one in the middle of a word.
const BUTTON_WIDTH: usize = 80;

/// Lays buttons out in lines of at most `width` columns, breaking only
/// between buttons; a button longer than a line gets a line of its own.
fn layout_buttons(shown: &[String], width: usize) -> String {
    const INDENT: &str = "   ";
    const GAP: &str = "   ";
    let mut out = String::new();
    let mut line = String::new();
    for item in shown {
        let needed = if line.is_empty() {
            INDENT.len() + item.chars().count()
        } else {
            line.chars().count() + GAP.len() + item.chars().count()
        };
        if !line.is_empty() && needed > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if line.is_empty() {
            line.push_str(INDENT);
        } else {
            line.push_str(GAP);
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Who is chatting, and what the banner and the goodbye tell them.
pub struct Session {
    pub user: UserId,
    /// Where the log lines go while the chat runs (not into it).
    pub log_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub website: Option<String>,
}

/// Reads lines until end of input, handing each to the service; then waits
/// for background deployments so a piped script sees them finish, and says
/// what leaving means.
pub async fn run(
    service: Service,
    outbox: std::sync::Arc<TerminalOutbox>,
    session: Session,
) -> anyhow::Result<()> {
    let user = session.user.clone();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let display = user
        .as_str()
        .split_once(':')
        .map_or(user.as_str(), |(_, n)| n)
        .to_owned();
    println!("Jukebox terminal chat as {user}. Type /help, /deploy … (Ctrl-D to leave).");
    if let Some(notice) = service.simulation_notice() {
        println!("{notice}");
    }
    if let Some(site) = &session.website {
        println!("The website is at {site}.");
    }
    if let Some(log) = &session.log_file {
        println!("Log lines go to {}.", log.display());
    }
    // A key file pasted whole arrives line by line: gathered into one
    // message from its BEGIN line to its END line (`paste.rs`).
    let mut paste = PemPaste::default();
    loop {
        let line = match lines.next_line().await? {
            Some(line) => match paste.line(&line) {
                Pasted::Send(message) => message,
                Pasted::Held => continue,
            },
            None => match paste.finish() {
                Some(cut_short) => cut_short,
                None => break,
            },
        };
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
    println!("\nLeaving the chat; waiting for deployments in progress to finish…");
    service.wait_idle().await;
    println!("{}", goodbye(&service, &session));
    Ok(())
}

/// What leaving the chat stops and what keeps going.
fn goodbye(service: &Service, session: &Session) -> String {
    let kept = session.data_dir.display();
    let nodes = if service.grid().kind() == crate::config::GridKind::Sim {
        format!(
            "The simulated grid stops with it; your nodes, balance and conversation are saved in {kept} and carry on when you start Jukebox again."
        )
    } else {
        format!(
            "Your nodes keep running on the ThreeFold Grid, but nobody watches or bills them until Jukebox runs again; your data is saved in {kept}."
        )
    };
    format!(
        "Bye. Jukebox stops now: the website, the Telegram bot, billing and the monitor stop with this chat. {nodes} To keep Jukebox running without a chat, start it with `jukebox run < /dev/null` or as a service."
    )
}

#[cfg(test)]
mod tests {
    use super::layout_buttons;

    #[test]
    fn button_lines_never_break_a_word() {
        let shown: Vec<String> = [
            "Belgium (12)",
            "Netherlands (8)",
            "Germany (15)",
            "Switzerland (3)",
            "Austria (4)",
            "United States of America (9)",
            "Egypt (2)",
            "Pick a farm instead of a country",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| format!("[{}] {l}", i + 1))
        .collect();
        let out = layout_buttons(&shown, 40);
        for line in out.lines() {
            assert!(line.chars().count() <= 40, "{line:?} in\n{out}");
        }
        // Every button is whole on one line, in order.
        let joined: Vec<&str> = out.lines().flat_map(|l| l.trim().split("   ")).collect();
        assert_eq!(joined, shown);
        // A button longer than the width still comes out whole.
        let long = vec!["[1] ".to_owned() + &"x".repeat(60)];
        assert_eq!(layout_buttons(&long, 40), format!("   {}\n", long[0]));
    }
}
