//! The sandbox wallet (`payments.kind = "sandbox"`, the default): an HONEST
//! SIMULATION of receiving TFT. No money moves and nothing touches Stellar.
//!
//! What is real: the deposit address is a valid Stellar account id derived
//! from an ed25519 key generated once and kept in the state directory (the
//! account is not funded on Stellar, so a real payment to it would fail), and
//! payments are recorded durably. What is simulated: [`SandboxWallet::pay`]
//! stands in for a user's wallet paying; the asset issuer is a recognisably
//! fake id (`GAJUKEBOXSANDBOX...`), so no wallet confuses it with real TFT.
//!
//! Files in the state directory:
//! - `sandbox-wallet.secret`: the key as a Stellar secret seed (S...), 0600;
//! - `sandbox-journal.jsonl`: one [`IncomingPayment`] per line, appended and
//!   durable before anything acts on it: fsynced before `pay` returns, or,
//!   when `pay` runs inside one update's handling (`store::deferred`), by the
//!   store's next sync, which every reply and the handling's end wait for
//!   (`store::durable_at_scope_end`); a torn last line (crash mid-write, so
//!   never acknowledged) is cut off on open. Payments made at the same moment
//!   share one fsync ([`GroupCommit`]): each is appended under the wallet's
//!   lock and waits for the sync outside it, so a payment no longer queues
//!   behind the fsyncs of every payment before it;
//! - `sandbox-cursor`: byte offset in the journal up to which payments were
//!   delivered and processed, written temp + fsync + rename.
//!
//! A payment can carry an idempotency key (`pay_once`): the key is journaled
//! with the payment, and paying again under a key already in the journal
//! returns that payment instead of making a new one. The service keys the
//! "Pay" buttons by their payment request, so a request is paid at most once
//! however often it is pressed, replayed or restarted.
//!
//! Delivery is at least once: `incoming()` first commits the batch it handed
//! out on the previous call (the caller has come back, so it has credited it),
//! then returns what follows. A crash between two calls re-delivers the last
//! batch after reopening; that is harmless because the ledger credits by
//! payment id. Only one process may open a state directory at a time.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, anyhow, bail, ensure};
use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::strkey::{self, ACCOUNT_ID, SECRET_SEED};
use super::{IncomingPayment, MEMO_MAX_BYTES, Wallet};
use crate::money::Tft;
use crate::store::{GroupCommit, Ticket, blocking_io};

const SECRET_FILE: &str = "sandbox-wallet.secret";
const JOURNAL_FILE: &str = "sandbox-journal.jsonl";
const CURSOR_FILE: &str = "sandbox-cursor";
/// Text of the fake issuer; padded and checksummed into a valid account id.
const ISSUER_LABEL: &str = "GAJUKEBOXSANDBOXTFTISSUERNOTREALMONEY";

/// A simulated TFT wallet persisted in a state directory.
pub struct SandboxWallet {
    dir: PathBuf,
    address: String,
    issuer: String,
    state: Mutex<State>,
    /// The journal, open for appending; written under `state`'s lock,
    /// synced by `group` outside it.
    journal: File,
    group: GroupCommit,
}

struct State {
    /// Sequence number of the next payment (part of its id, for ordering).
    next_seq: u64,
    /// Durable cursor: journal bytes already delivered and processed.
    committed: u64,
    /// End of the batch handed out by the last `incoming()`.
    delivered: u64,
    /// Payments made under an idempotency key, by key.
    keyed: HashMap<String, IncomingPayment>,
}

/// One journal line: the payment, and the idempotency key it was paid under.
#[derive(Serialize, Deserialize)]
struct JournalLine {
    #[serde(flatten)]
    payment: IncomingPayment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// What [`SandboxWallet::pay_once`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Paid {
    /// A new payment, durable now.
    New(IncomingPayment),
    /// The key was paid before: this is that payment, nothing new was paid.
    Before(IncomingPayment),
}

impl SandboxWallet {
    /// Opens (or creates) the sandbox in `state_dir`.
    pub fn open(state_dir: &Path) -> anyhow::Result<SandboxWallet> {
        fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let seed = load_or_create_seed(state_dir)?;
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let (lines, journal_len) = recover_journal(&state_dir.join(JOURNAL_FILE))?;
        let entries = lines.len() as u64;
        let keyed = lines
            .into_iter()
            .filter_map(|line| Some((line.key?, line.payment)))
            .collect();
        let committed = read_cursor(&state_dir.join(CURSOR_FILE), &state_dir.join(JOURNAL_FILE))?;
        ensure!(
            committed <= journal_len,
            "sandbox cursor is past the end of the journal"
        );
        let path = state_dir.join(JOURNAL_FILE);
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(SandboxWallet {
            journal,
            group: GroupCommit::new(),
            dir: state_dir.to_owned(),
            address: strkey::encode(ACCOUNT_ID, &public),
            issuer: sandbox_issuer(),
            state: Mutex::new(State {
                next_seq: entries + 1,
                committed,
                delivered: committed,
                keyed,
            }),
        })
    }

    /// Simulates a user's wallet paying `amount` with text memo `memo` from
    /// account `from` at `now` (unix seconds, the caller's clock, so a
    /// re-delivered payment carries the time it was made at); durable when
    /// this returns.
    pub async fn pay(
        &self,
        memo: &str,
        amount: Tft,
        from: &str,
        now: u64,
    ) -> anyhow::Result<IncomingPayment> {
        match self.pay_keyed(None, memo, amount, from, now)? {
            Paid::New(payment) | Paid::Before(payment) => Ok(payment),
        }
    }

    /// [`pay`](Self::pay) at most once per `key`: when a payment under `key`
    /// is already in the journal (durable, so also after a restart) it is
    /// returned as [`Paid::Before`] and nothing is paid.
    pub async fn pay_once(
        &self,
        key: &str,
        memo: &str,
        amount: Tft,
        from: &str,
        now: u64,
    ) -> anyhow::Result<Paid> {
        self.pay_keyed(Some(key), memo, amount, from, now)
    }

    fn pay_keyed(
        &self,
        key: Option<&str>,
        memo: &str,
        amount: Tft,
        from: &str,
        now: u64,
    ) -> anyhow::Result<Paid> {
        ensure!(amount.is_positive(), "a payment must be more than 0 TFT");
        ensure!(
            memo.len() <= MEMO_MAX_BYTES,
            "a Stellar text memo is at most 28 bytes"
        );
        // The lookup and the append happen under one lock, so two presses
        // at once cannot both find the key missing; the sync comes after the
        // lock is released (see `durable`).
        let mut state = self.lock()?;
        if let Some(earlier) = key.and_then(|k| state.keyed.get(k)) {
            // It may have been appended a moment ago and not be synced yet:
            // "already paid" is only said once it is durable.
            let earlier = earlier.clone();
            let ticket = self.group.latest();
            drop(state);
            self.durable(ticket)?;
            return Ok(Paid::Before(earlier));
        }
        let mut suffix = [0u8; 4];
        getrandom::getrandom(&mut suffix).map_err(|e| anyhow!("no randomness: {e}"))?;
        // The random part keeps ids unique even if the journal is ever reset
        // while ledgers still remember old ids.
        let payment = IncomingPayment {
            id: format!("sandbox-{}-{}", state.next_seq, hex::encode(suffix)),
            memo: (!memo.is_empty()).then(|| memo.to_owned()),
            amount,
            from: from.to_owned(),
            received_at: now,
            transaction: None,
        };
        let mut line = serde_json::to_vec(&JournalLine {
            payment: payment.clone(),
            key: key.map(str::to_owned),
        })?;
        line.push(b'\n');
        // One `write` on an O_APPEND descriptor: the line goes in whole
        // (into the page cache) before the next payer's.
        blocking_io(|| (&self.journal).write_all(&line))
            .with_context(|| format!("cannot write {}", self.dir.join(JOURNAL_FILE).display()))?;
        let ticket = self.group.ticket();
        state.next_seq += 1;
        if let Some(key) = key {
            state.keyed.insert(key.to_owned(), payment.clone());
        }
        drop(state);
        self.durable(ticket)?;
        Ok(Paid::New(payment))
    }

    /// Waits until the journal lines up to `ticket` are on disk, syncing
    /// them together with whatever other payers appended meanwhile; inside
    /// a deferred scope, leaves that to the store's sync at its end, which
    /// everything leaving the process waits for.
    fn durable(&self, ticket: Ticket) -> anyhow::Result<()> {
        crate::store::durable_at_scope_end(&self.journal, || {
            self.group.wait(ticket, || self.journal.sync_data())
        })
        .with_context(|| format!("cannot sync {}", self.dir.join(JOURNAL_FILE).display()))
    }

    fn lock(&self) -> anyhow::Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| anyhow!("sandbox wallet state is poisoned"))
    }

    fn incoming_batch(&self) -> anyhow::Result<Vec<IncomingPayment>> {
        let mut state = self.lock()?;
        // Only durable payments are handed out (and so credited): wait for
        // every line appended so far. Payers block on the lock meanwhile;
        // this runs once per payment poll.
        let ticket = self.group.latest();
        self.group
            .wait(ticket, || self.journal.sync_data())
            .with_context(|| format!("cannot sync {}", self.dir.join(JOURNAL_FILE).display()))?;
        if state.delivered != state.committed {
            write_atomically(
                &self.dir,
                CURSOR_FILE,
                state.delivered.to_string().as_bytes(),
            )?;
            state.committed = state.delivered;
        }
        let path = self.dir.join(JOURNAL_FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.seek(SeekFrom::Start(state.committed))?;
                file.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        // Appends happen under the same lock, so every line here is complete.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let payments = parse_lines(&bytes[..complete])?
            .into_iter()
            .map(|line| line.payment)
            .collect();
        state.delivered = state.committed + complete as u64;
        Ok(payments)
    }
}

#[async_trait]
impl Wallet for SandboxWallet {
    fn kind(&self) -> crate::config::PaymentsKind {
        crate::config::PaymentsKind::Sandbox
    }

    fn deposit_address(&self) -> &str {
        &self.address
    }

    fn asset_issuer(&self) -> &str {
        &self.issuer
    }

    async fn incoming(&self) -> anyhow::Result<Vec<IncomingPayment>> {
        crate::store::blocking_io(|| self.incoming_batch())
    }
}

/// The sandbox's recognisably fake TFT issuer (a valid account id).
pub fn sandbox_issuer() -> String {
    strkey::labelled_account_id(ISSUER_LABEL)
}

fn load_or_create_seed(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join(SECRET_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => strkey::decode(SECRET_SEED, text.trim())
            .with_context(|| format!("{} is not a Stellar secret seed", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| anyhow!("no randomness: {e}"))?;
            let text = strkey::encode(SECRET_SEED, &seed) + "\n";
            write_atomically(dir, SECRET_FILE, text.as_bytes())?;
            Ok(seed)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Checks every journal line, cuts off a torn last line, and returns the
/// lines and the journal length.
fn recover_journal(path: &Path) -> anyhow::Result<(Vec<JournalLine>, u64)> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() {
        // A crash mid-append: that payment was never acknowledged to anyone.
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(complete as u64)?;
        file.sync_all()?;
    }
    Ok((parse_lines(&bytes[..complete])?, complete as u64))
}

fn parse_lines(bytes: &[u8]) -> anyhow::Result<Vec<JournalLine>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).context("corrupt sandbox journal line"))
        .collect()
}

fn read_cursor(path: &Path, journal: &Path) -> anyhow::Result<u64> {
    let offset: u64 = match fs::read_to_string(path) {
        Ok(text) => text.trim().parse().context("corrupt sandbox cursor")?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if offset > 0 {
        // The cursor must sit just after a line end.
        let mut file = File::open(journal).context("sandbox cursor without a journal")?;
        let mut byte = [0u8; 1];
        file.seek(SeekFrom::Start(offset - 1))?;
        if file.read_exact(&mut byte).is_err() || byte[0] != b'\n' {
            bail!("sandbox cursor does not point at a journal line boundary");
        }
    }
    Ok(offset)
}

/// Writes `dir/name` so that it is either the old or the new content after a
/// crash (the store's temp + fsync + rename + dir fsync; files are 0600,
/// which the secret seed needs).
fn write_atomically(dir: &Path, name: &str, content: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    crate::store::write_atomic(&path, content)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tft(text: &str) -> Tft {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn address_is_stable_valid_and_issuer_is_labelled() {
        let dir = tempfile::tempdir().unwrap();
        let w = SandboxWallet::open(dir.path()).unwrap();
        let address = w.deposit_address().to_owned();
        assert_eq!(address.len(), 56);
        assert!(address.starts_with('G'));
        assert!(strkey::decode(ACCOUNT_ID, &address).is_ok());
        assert!(
            w.asset_issuer()
                .starts_with("GAJUKEBOXSANDBOXTFTISSUERNOTREALMONEY")
        );
        assert!(strkey::decode(ACCOUNT_ID, w.asset_issuer()).is_ok());
        assert_eq!(w.kind(), "sandbox");
        drop(w);
        let again = SandboxWallet::open(dir.path()).unwrap();
        assert_eq!(again.deposit_address(), address);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn pay_then_incoming_then_reopen_has_no_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let w = SandboxWallet::open(dir.path()).unwrap();
        assert!(w.incoming().await.unwrap().is_empty());
        let p1 = w.pay("jb-abc", tft("10"), "GSENDER", 1).await.unwrap();
        let p2 = w.pay("", tft("0.5"), "GSENDER", 1).await.unwrap();
        assert_ne!(p1.id, p2.id);
        assert_eq!(p2.memo, None);
        assert_eq!(w.incoming().await.unwrap(), vec![p1.clone(), p2.clone()]);
        assert!(w.incoming().await.unwrap().is_empty());
        drop(w);
        let w = SandboxWallet::open(dir.path()).unwrap();
        assert!(w.incoming().await.unwrap().is_empty());
        let p3 = w.pay("jb-def", tft("1"), "GSENDER", 1).await.unwrap();
        assert!(p3.id.starts_with("sandbox-3-"), "{}", p3.id);
        assert_eq!(w.incoming().await.unwrap(), vec![p3]);
    }

    #[tokio::test]
    async fn crash_before_the_next_call_redelivers_the_last_batch() {
        let dir = tempfile::tempdir().unwrap();
        let w = SandboxWallet::open(dir.path()).unwrap();
        let p1 = w.pay("jb-abc", tft("10"), "G1", 1).await.unwrap();
        assert_eq!(w.incoming().await.unwrap(), vec![p1.clone()]);
        drop(w); // crash: the caller may not have credited p1 yet
        let w = SandboxWallet::open(dir.path()).unwrap();
        let p2 = w.pay("jb-def", tft("2"), "G1", 1).await.unwrap();
        // p1 again (the ledger ignores it by id), p2 once; nothing lost.
        assert_eq!(w.incoming().await.unwrap(), vec![p1, p2]);
        assert!(w.incoming().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn torn_last_line_is_cut_off_and_appends_stay_clean() {
        let dir = tempfile::tempdir().unwrap();
        let w = SandboxWallet::open(dir.path()).unwrap();
        let p1 = w.pay("jb-abc", tft("10"), "G1", 1).await.unwrap();
        drop(w);
        let journal = dir.path().join(JOURNAL_FILE);
        let mut file = OpenOptions::new().append(true).open(&journal).unwrap();
        file.write_all(br#"{"id":"sandbox-2-dead","me"#).unwrap();
        drop(file);
        let w = SandboxWallet::open(dir.path()).unwrap();
        let p2 = w.pay("jb-def", tft("2"), "G1", 1).await.unwrap();
        assert!(p2.id.starts_with("sandbox-2-"));
        assert_eq!(w.incoming().await.unwrap(), vec![p1, p2]);
    }

    #[tokio::test]
    async fn a_key_pays_once_also_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let w = SandboxWallet::open(dir.path()).unwrap();
        let Paid::New(first) = w
            .pay_once("request:jb-abc", "jb-abc", tft("10"), "G1", 1)
            .await
            .unwrap()
        else {
            panic!("the first pay is new")
        };
        let again = w
            .pay_once("request:jb-abc", "jb-abc", tft("10"), "G1", 2)
            .await
            .unwrap();
        assert_eq!(again, Paid::Before(first.clone()));
        // Unkeyed payments and other keys are separate payments.
        let partial = w.pay("jb-abc", tft("1"), "G1", 3).await.unwrap();
        let Paid::New(other) = w
            .pay_once("request:jb-def", "jb-def", tft("5"), "G1", 3)
            .await
            .unwrap()
        else {
            panic!("another key is another payment")
        };
        assert_eq!(
            w.incoming().await.unwrap(),
            vec![first.clone(), partial, other]
        );
        assert!(w.incoming().await.unwrap().is_empty());
        drop(w); // a restart: the key is remembered from the journal
        let w = SandboxWallet::open(dir.path()).unwrap();
        assert_eq!(
            w.pay_once("request:jb-abc", "jb-abc", tft("10"), "G1", 4)
                .await
                .unwrap(),
            Paid::Before(first)
        );
        assert!(w.incoming().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn rejects_bad_payments_and_corrupt_state() {
        let dir = tempfile::tempdir().unwrap();
        let w = SandboxWallet::open(dir.path()).unwrap();
        assert!(w.pay("jb-abc", Tft::ZERO, "G1", 1).await.is_err());
        assert!(w.pay(&"x".repeat(29), tft("1"), "G1", 1).await.is_err());
        drop(w);
        fs::write(dir.path().join(CURSOR_FILE), "5").unwrap();
        assert!(SandboxWallet::open(dir.path()).is_err());
        fs::write(dir.path().join(CURSOR_FILE), "0").unwrap();
        fs::write(dir.path().join(SECRET_FILE), "not a seed").unwrap();
        assert!(SandboxWallet::open(dir.path()).is_err());
    }
}
