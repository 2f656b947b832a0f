//! A PEM block pasted into the terminal chat, gathered into one message.
//!
//! A terminal hands the chat one line at a time, so a key file pasted whole
//! (`-----BEGIN PRIVATE KEY-----`, the base64 lines, `-----END PRIVATE
//! KEY-----`) would arrive as separate messages and the first would be
//! refused as cut short. Telegram and the website send a paste as one
//! message; here the lines from a `-----BEGIN …-----` line up to its
//! `-----END …-----` line are gathered first and then sent as one message,
//! line breaks kept, so the key's validator sees the whole file.

/// Most lines a block may have (an 8192-bit RSA private key in PEM is
/// about 80); past this the lines are sent as they are, so nothing typed
/// is held back forever.
const MAX_LINES: usize = 200;

/// What to do with one line read.
#[derive(Debug, PartialEq, Eq)]
pub enum Pasted {
    /// Send this as a message (a line, or a whole gathered block).
    Send(String),
    /// Part of a block being gathered: wait for more.
    Held,
}

/// Gathers PEM blocks across lines.
#[derive(Debug, Default)]
pub struct PemPaste {
    block: Option<Vec<String>>,
}

fn begins(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("-----BEGIN ") && t.ends_with("-----") && t.len() > 16
}

fn ends(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("-----END ") && t.ends_with("-----")
}

impl PemPaste {
    /// Feeds one line read from the terminal.
    pub fn line(&mut self, line: &str) -> Pasted {
        match &mut self.block {
            None if begins(line) && !line.contains("-----END ") => {
                self.block = Some(vec![line.trim().to_owned()]);
                Pasted::Held
            }
            None => Pasted::Send(line.to_owned()),
            Some(block) => {
                // Blank lines inside a paste are the terminal's, not the key's.
                if !line.trim().is_empty() {
                    block.push(line.trim().to_owned());
                }
                if ends(line) || block.len() >= MAX_LINES {
                    let whole = block.join("\n");
                    self.block = None;
                    Pasted::Send(whole)
                } else {
                    Pasted::Held
                }
            }
        }
    }

    /// At the end of input: a block still open is sent as it is (its
    /// validator then says it is cut short), so nothing is lost silently.
    pub fn finish(&mut self) -> Option<String> {
        self.block.take().map(|b| b.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../../tests/fixtures/presearch-keys/id_rsa");

    #[test]
    fn a_pasted_key_becomes_one_message_with_its_line_breaks() {
        let mut paste = PemPaste::default();
        let mut sent = Vec::new();
        for line in KEY.lines() {
            if let Pasted::Send(m) = paste.line(line) {
                sent.push(m);
            }
        }
        assert_eq!(sent, vec![KEY.trim_end().to_owned()]);
        // And it is a key the validator takes whole.
        let v = crate::validate::Validator::RsaPrivateKey;
        assert!(v.check(&sent[0]).is_ok(), "{:?}", v.check(&sent[0]));
        assert_eq!(paste.finish(), None);
    }

    #[test]
    fn other_lines_pass_and_a_block_cut_short_is_sent_at_the_end() {
        let mut paste = PemPaste::default();
        assert_eq!(paste.line("/keys"), Pasted::Send("/keys".into()));
        // A key on one line (already joined) passes as it is.
        let one = "-----BEGIN PUBLIC KEY----- AAAA -----END PUBLIC KEY-----";
        assert_eq!(paste.line(one), Pasted::Send(one.into()));
        assert_eq!(paste.line("-----BEGIN PRIVATE KEY-----"), Pasted::Held);
        assert_eq!(paste.line("MIIEvw"), Pasted::Held);
        assert_eq!(paste.line(""), Pasted::Held);
        assert_eq!(
            paste.finish(),
            Some("-----BEGIN PRIVATE KEY-----\nMIIEvw".into())
        );
        // Nothing is held forever.
        assert_eq!(paste.line("-----BEGIN X-----"), Pasted::Held);
        let mut last = Pasted::Held;
        for _ in 0..MAX_LINES {
            last = paste.line("AAAA");
        }
        assert!(matches!(last, Pasted::Send(_)));
    }
}
