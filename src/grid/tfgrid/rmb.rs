//! The RMB client: how a twin talks to Zero-OS nodes through a relay.
//!
//! A [`RmbPeer`] is one websocket to the relay, opened as one twin with a
//! signed token ([`jwt`]). Each call sends a signed request [`Envelope`] to
//! another twin and waits for the envelope with the same uid. A reply counts
//! only if it is signed by the twin asked: an unsigned or badly signed
//! answer can make a call fail, never succeed. Typed Zero-OS commands are in
//! [`zos`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::clock::{Clock as _, SystemClock};

pub mod envelope;
pub mod jwt;
pub mod wire;
pub mod zos;

pub use envelope::{Address, Envelope, Message, Payload};

/// Outgoing frames waiting for the writer; calls wait when it is full.
const OUTGOING_QUEUE: usize = 64;

/// Where the relay is and how patient to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RmbSettings {
    /// e.g. `wss://relay.test.grid.tf`.
    pub relay_url: String,
    /// How long a call waits for its reply (also the envelope's expiration).
    pub call_timeout: Duration,
    /// How long the relay token stays valid.
    pub token_ttl: Duration,
    /// Names this connection among the twin's sessions.
    pub session: String,
}

/// Why a call got no usable answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RmbError {
    #[error("cannot connect to the relay: {0}")]
    Connect(String),
    #[error("the relay connection is closed")]
    Closed,
    #[error("twin {twin} did not answer {command} within {after:?}")]
    Timeout {
        twin: u32,
        command: String,
        after: Duration,
    },
    /// The twin answered with an error (signed by it).
    #[error("twin {twin} answered with error {code}: {message}")]
    Remote {
        twin: u32,
        code: u32,
        message: String,
    },
    /// An error the twin did not sign: the relay's, or anyone's.
    #[error("the relay could not deliver to twin {twin}: {message}")]
    Relay { twin: u32, message: String },
    #[error("the reply from twin {twin} is not signed by it: {reason}")]
    BadSignature { twin: u32, reason: String },
    /// The twin encrypted its reply: it holds an end-to-end key (`pk`) of
    /// our twin. Jukebox clears that key on chain before it deploys, but
    /// Zero-OS caches twins for up to 6 hours (the api gateway's peer in
    /// threefoldtech/zos, `WithInMemoryExpiration`).
    #[error(
        "twin {twin} encrypted its reply: it still knows our twin by an end-to-end key (pk); \
         Jukebox clears that key on TFChain before deploying, and a node forgets it within \
         6 hours"
    )]
    Encrypted { twin: u32 },
    #[error("the reply is unreadable: {0}")]
    Malformed(String),
}

/// A twin we call, with the key its replies must be signed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    pub twin: u32,
    pub key: VerifyingKey,
}

type Waiters = HashMap<String, oneshot::Sender<Envelope>>;

/// One open connection to the relay, as one twin.
pub struct RmbPeer {
    twin: u32,
    key: SigningKey,
    settings: RmbSettings,
    outgoing: mpsc::Sender<Frame>,
    waiters: Arc<Mutex<Option<Waiters>>>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for RmbPeer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RmbPeer {
    /// Opens the websocket as `twin`, presenting a token signed with `key`.
    pub async fn connect(
        settings: RmbSettings,
        twin: u32,
        key: SigningKey,
    ) -> Result<RmbPeer, RmbError> {
        let now = SystemClock.now();
        let claims = jwt::Claims {
            sub: twin,
            iat: now,
            exp: now.saturating_add(settings.token_ttl.as_secs()),
            sid: settings.session.clone(),
        };
        let url = format!(
            "{}/?{}",
            settings.relay_url.trim_end_matches('/'),
            jwt::token(&claims, &key)
        );
        let connecting = tokio_tungstenite::connect_async(url.as_str());
        let (socket, _) = tokio::time::timeout(settings.call_timeout, connecting)
            .await
            .map_err(|_| RmbError::Connect("timed out".into()))?
            .map_err(|e| RmbError::Connect(e.to_string()))?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut queued) = mpsc::channel::<Frame>(OUTGOING_QUEUE);
        let waiters: Arc<Mutex<Option<Waiters>>> = Arc::new(Mutex::new(Some(HashMap::new())));

        let writer = tokio::spawn(async move {
            while let Some(frame) = queued.recv().await {
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let routes = waiters.clone();
        let pong = outgoing.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                match frame {
                    Frame::Binary(bytes) => {
                        // Garbage from the relay is dropped: the call it was
                        // meant for times out rather than trusting it.
                        let Ok(env) = Envelope::decode(&bytes) else {
                            continue;
                        };
                        let waiter = lock(&routes).as_mut().and_then(|w| w.remove(&env.uid));
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(env);
                        }
                    }
                    Frame::Ping(data) => {
                        let _ = pong.try_send(Frame::Pong(data));
                    }
                    Frame::Close(_) => break,
                    _ => {}
                }
            }
            // Dropping the waiters wakes every pending call with `Closed`.
            lock(&routes).take();
        });
        Ok(RmbPeer {
            twin,
            key,
            settings,
            outgoing,
            waiters,
            tasks: [writer, reader],
        })
    }

    /// Whether the relay closed the connection; a new peer is then needed.
    pub fn is_closed(&self) -> bool {
        lock(&self.waiters).is_none() || self.outgoing.is_closed()
    }

    /// Sends `body` (JSON) as `command` to `remote` and returns the reply's
    /// payload once it verifies.
    pub async fn call(
        &self,
        remote: &Remote,
        command: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, RmbError> {
        let timeout = self.settings.call_timeout;
        let mut request = Envelope {
            uid: new_uid(),
            timestamp: SystemClock.now(),
            expiration: timeout.as_secs().max(1),
            source: Address {
                twin: self.twin,
                connection: Some(self.settings.session.clone()),
            },
            destination: Address::twin(remote.twin),
            message: Message::Request {
                command: command.to_string(),
            },
            schema: Some(envelope::JSON_SCHEMA.to_string()),
            payload: Payload::Plain(body),
            ..Envelope::default()
        };
        request.sign(&self.key);
        let (tx, rx) = oneshot::channel();
        match lock(&self.waiters).as_mut() {
            Some(waiters) => waiters.insert(request.uid.clone(), tx),
            None => return Err(RmbError::Closed),
        };
        let uid = request.uid.clone();
        let sent = self
            .outgoing
            .send(Frame::Binary(request.encode().into()))
            .await;
        if sent.is_err() {
            self.forget(&uid);
            return Err(RmbError::Closed);
        }
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(RmbError::Closed),
            Err(_) => {
                self.forget(&uid);
                return Err(RmbError::Timeout {
                    twin: remote.twin,
                    command: command.to_string(),
                    after: timeout,
                });
            }
        };
        self.accept(remote, reply)
    }

    /// Checks a reply and takes its payload.
    fn accept(&self, remote: &Remote, reply: Envelope) -> Result<Vec<u8>, RmbError> {
        let twin = remote.twin;
        let signed_by_remote = reply.source.twin == twin
            && reply.destination.twin == self.twin
            && reply.verify(&remote.key).is_ok();
        match reply.message {
            Message::Error { code, message } if signed_by_remote => Err(RmbError::Remote {
                twin,
                code,
                message,
            }),
            Message::Error { message, .. } => Err(RmbError::Relay { twin, message }),
            _ if !signed_by_remote => {
                let reason = match reply.verify(&remote.key) {
                    Err(e) => e.to_string(),
                    Ok(()) => format!(
                        "it comes from twin {} to twin {}",
                        reply.source.twin, reply.destination.twin
                    ),
                };
                Err(RmbError::BadSignature { twin, reason })
            }
            Message::Response => match reply.payload {
                Payload::Plain(body) => Ok(body),
                Payload::None => Ok(Vec::new()),
                // rmb-sdk-go's peer encrypts (secp256k1 + AES-GCM) when the
                // destination twin has a `pk`; Jukebox keeps none.
                Payload::Cipher(_) => Err(RmbError::Encrypted { twin }),
            },
            Message::Request { .. } | Message::None | Message::Ping | Message::Pong => {
                Err(RmbError::Malformed("the reply is not a response".into()))
            }
        }
    }

    fn forget(&self, uid: &str) {
        if let Some(waiters) = lock(&self.waiters).as_mut() {
            waiters.remove(uid);
        }
    }
}

fn lock(waiters: &Mutex<Option<Waiters>>) -> MutexGuard<'_, Option<Waiters>> {
    // A map of channels has no invariant a panicking holder could break.
    waiters.lock().unwrap_or_else(|p| p.into_inner())
}

/// 16 random bytes as hex: unique per request, so replies route by it.
fn new_uid() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing leaves zeros; uniqueness then rests on
    // the counter below.
    let _ = getrandom::getrandom(&mut bytes);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    bytes[..8]
        .iter_mut()
        .zip(n.to_le_bytes())
        .for_each(|(b, c)| *b ^= c);
    hex::encode(bytes)
}
