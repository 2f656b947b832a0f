//! A fake Bitcoin-family P2P peer on loopback (Dash Core, DigiByte Core),
//! written from upstream's rules and not from Jukebox's code, so the two
//! check each other:
//! - frames: magic, NUL-padded 12-byte command, little-endian length, first
//!   4 bytes of double SHA-256 (src/protocol.h `CMessageHeader`); a frame
//!   with another network's magic or a bad checksum is dropped and the
//!   connection closed (src/net.cpp `V1Transport`);
//! - the first message must be `version`; one below `MIN_PEER_PROTO_VERSION`
//!   is disconnected (src/net_processing.cpp "using obsolete version");
//! - an inbound peer answers `version` with its own `version` (Dash appends
//!   an MNAUTH challenge and a masternode flag), then `sendaddrv2` and
//!   `verack` (net_processing.cpp, BIP 155).
//!
//! A behaviour switch makes it misbehave the ways a probe must survive.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Accepts and never says anything.
    Silent,
    /// Answers with bytes of another protocol.
    Garbage,
    /// Answers with this magic instead of its own.
    WrongMagic([u8; 4]),
    /// Its version's checksum is off by one bit.
    BadChecksum,
    /// Announces a message longer than upstream accepts.
    Oversize,
    /// Sends a `ping` before its `version`.
    PingFirst,
    /// Reads the version and closes.
    HangUp,
    /// A version payload cut short (with a correct checksum).
    Truncated,
}

#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub magic: [u8; 4],
    pub user_agent: String,
    pub height: i32,
    pub protocol_version: i32,
    pub min_peer_version: i32,
    /// Dash's MNAUTH challenge and masternode flag after `relay`.
    pub dash_extras: bool,
    pub behaviour: Behaviour,
}

/// What the fake saw from each connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub commands: Vec<String>,
    /// The version the probe announced, and its start height and agent.
    pub their_version: Option<i32>,
    pub their_agent: Option<String>,
    pub their_receiver_port: Option<u16>,
}

pub struct FakePeer {
    pub addr: SocketAddr,
    /// One entry per connection, sent when it ends.
    seen: Mutex<mpsc::UnboundedReceiver<Seen>>,
}

impl FakePeer {
    pub async fn start(config: PeerConfig) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (log, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let config = config.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut record = Seen::default();
                    serve(stream, &config, &mut record).await;
                    let _ = log.send(record);
                });
            }
        });
        FakePeer {
            addr,
            seen: Mutex::new(seen),
        }
    }

    /// What the next connection to end showed.
    pub async fn next_seen(&self) -> Seen {
        self.seen
            .lock()
            .await
            .recv()
            .await
            .expect("the fake peer runs")
    }
}

fn double_sha(payload: &[u8]) -> [u8; 4] {
    let h = Sha256::digest(Sha256::digest(payload));
    [h[0], h[1], h[2], h[3]]
}

fn message(magic: [u8; 4], command: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    let mut name = [0u8; 12];
    name[..command.len()].copy_from_slice(command.as_bytes());
    out.extend_from_slice(&name);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&double_sha(payload));
    out.extend_from_slice(payload);
    out
}

/// Reads one frame as an upstream node does; `None` means "disconnect".
async fn read_frame(stream: &mut TcpStream, magic: [u8; 4]) -> Option<(String, Vec<u8>)> {
    let mut header = [0u8; 24];
    stream.read_exact(&mut header).await.ok()?;
    if header[..4] != magic {
        return None;
    }
    let name: Vec<u8> = header[4..16]
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .collect();
    let len = u32::from_le_bytes(header[16..20].try_into().unwrap()) as usize;
    if len > 3 * 1024 * 1024 {
        return None;
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    if header[20..24] != double_sha(&payload) {
        return None;
    }
    Some((String::from_utf8(name).ok()?, payload))
}

fn version_payload(config: &PeerConfig) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&config.protocol_version.to_le_bytes());
    p.extend_from_slice(&1u64.to_le_bytes()); // NODE_NETWORK
    p.extend_from_slice(&1_795_392_000i64.to_le_bytes());
    for _ in 0..2 {
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&[0u8; 10]);
        p.extend_from_slice(&[0xff, 0xff, 127, 0, 0, 1]);
        p.extend_from_slice(&9999u16.to_be_bytes());
    }
    p.extend_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
    p.push(config.user_agent.len() as u8);
    p.extend_from_slice(config.user_agent.as_bytes());
    p.extend_from_slice(&config.height.to_le_bytes());
    p.push(1);
    if config.dash_extras {
        p.extend_from_slice(&[0xab; 32]);
        p.push(0);
    }
    p
}

async fn serve(mut stream: TcpStream, config: &PeerConfig, seen: &mut Seen) {
    let Some((command, payload)) = read_frame(&mut stream, config.magic).await else {
        return;
    };
    seen.commands.push(command.clone());
    if command != "version" || payload.len() < 85 {
        return;
    }
    let their_version = i32::from_le_bytes(payload[..4].try_into().unwrap());
    seen.their_version = Some(their_version);
    seen.their_receiver_port = Some(u16::from_be_bytes([payload[44], payload[45]]));
    let agent_len = payload[80] as usize;
    seen.their_agent = payload
        .get(81..81 + agent_len)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    if their_version < config.min_peer_version {
        return; // "using obsolete version; disconnecting"
    }
    let version = version_payload(config);
    let reply = match &config.behaviour {
        Behaviour::Honest => {
            let mut out = message(config.magic, "version", &version);
            out.extend(message(config.magic, "sendaddrv2", &[]));
            out.extend(message(config.magic, "verack", &[]));
            out
        }
        Behaviour::Silent => {
            // Holds the connection open, answering nothing.
            let mut sink = [0u8; 64];
            while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            return;
        }
        Behaviour::Garbage => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
        Behaviour::WrongMagic(other) => message(*other, "version", &version),
        Behaviour::BadChecksum => {
            let mut out = message(config.magic, "version", &version);
            out[20] ^= 1;
            out
        }
        Behaviour::Oversize => {
            let mut out = message(config.magic, "version", &version);
            out[16..20].copy_from_slice(&(64u32 * 1024 * 1024).to_le_bytes());
            out
        }
        Behaviour::PingFirst => {
            let mut out = message(config.magic, "ping", &7u64.to_le_bytes());
            out.extend(message(config.magic, "version", &version));
            out
        }
        Behaviour::HangUp => return,
        Behaviour::Truncated => message(config.magic, "version", &version[..60]),
    };
    if stream.write_all(&reply).await.is_err() {
        return;
    }
    // The probe's verack (or its leaving).
    if let Some((command, _)) = read_frame(&mut stream, config.magic).await {
        seen.commands.push(command);
    }
}
