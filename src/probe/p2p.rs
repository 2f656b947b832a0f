//! The Bitcoin-family P2P `version` handshake (Bitcoin-derived chains): what a node
//! tells any peer about itself, without credentials: its best height
//! (`start_height`), its client (user agent) and its protocol version.
//!
//! The wire format, as upstream writes and checks it (the Bitcoin-derived
//! clients share Bitcoin Core's):
//! - a message is a 24-byte header then the payload (src/protocol.h
//!   `CMessageHeader`): the network's 4-byte magic (`pchMessageStart`,
//!   src/chainparams.cpp), a 12-byte command NUL-padded (and only NULs after
//!   the first NUL, `IsCommandValid`), the payload length (little-endian
//!   u32, refused above `MAX_PROTOCOL_MESSAGE_LENGTH`, src/net.h), and the
//!   first 4 bytes of SHA-256(SHA-256(payload)) (src/net.cpp, a mismatch
//!   drops the message);
//! - the `version` payload (src/net_processing.cpp `PushNodeVersion`, read
//!   back in `ProcessMessage`): protocol version i32, services u64, time
//!   i64, the receiver's and the sender's address without time (services
//!   u64, 16-byte IPv6 or IPv4-mapped address, big-endian port), nonce u64,
//!   user agent as a CompactSize-prefixed string (at most
//!   `MAX_SUBVERSION_LENGTH` 256), start height i32, then optionally relay
//!   (bool, BIP 37): some chains append an MNAUTH challenge (32 bytes) and a
//!   masternode flag, which are read only if present, so a reader ignores
//!   what follows;
//! - a peer's first message must be `version` (net_processing.cpp ignores
//!   anything else before it and a `version` below its
//!   `MIN_PEER_PROTO_VERSION` gets disconnected); after it, the peer may
//!   send `sendaddrv2`/`wtxidrelay` and then `verack`. We send `verack` once
//!   we have its `version` and leave: everything we wanted is in it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ChainProbeError;
use crate::catalog::P2pSpec;

/// src/protocol.h `CMessageHeader::HEADER_SIZE`: magic 4 + command 12 +
/// length 4 + checksum 4.
pub const HEADER_SIZE: usize = 24;
/// src/protocol.h `CMessageHeader::COMMAND_SIZE`.
pub const COMMAND_SIZE: usize = 12;
/// src/net.h `MAX_SUBVERSION_LENGTH`.
pub const MAX_SUBVERSION_LENGTH: usize = 256;
/// The user agent we announce (BIP 14 form).
pub const USER_AGENT: &str = concat!("/jukebox-probe:", env!("CARGO_PKG_VERSION"), "/");

/// First 4 bytes of SHA-256(SHA-256(payload)).
pub fn checksum(payload: &[u8]) -> [u8; 4] {
    let twice = Sha256::digest(Sha256::digest(payload));
    [twice[0], twice[1], twice[2], twice[3]]
}

/// A whole message on the wire.
pub fn frame(magic: [u8; 4], command: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + payload.len());
    out.extend_from_slice(&magic);
    let mut name = [0u8; COMMAND_SIZE];
    let len = command.len().min(COMMAND_SIZE);
    name[..len].copy_from_slice(&command.as_bytes()[..len]);
    out.extend_from_slice(&name);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(payload));
    out.extend_from_slice(payload);
    out
}

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub command: String,
    pub payload: Vec<u8>,
}

/// Reads one message, refusing what upstream refuses.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    spec: &P2pSpec,
) -> Result<Message, ChainProbeError> {
    let mut header = [0u8; HEADER_SIZE];
    read_exact(reader, &mut header, "before sending a message header").await?;
    if header[..4] != spec.magic {
        return Err(ChainProbeError::WrongMagic {
            got: hex::encode(&header[..4]),
            expected: hex::encode(spec.magic),
        });
    }
    let command = parse_command(&header[4..16])?;
    let length = u32::from_le_bytes(header[16..20].try_into().expect("4 bytes"));
    if length > spec.max_message_bytes {
        return Err(ChainProbeError::Oversize {
            command,
            length,
            max: spec.max_message_bytes,
        });
    }
    let mut payload = vec![0u8; length as usize];
    read_exact(reader, &mut payload, "in the middle of a message").await?;
    if header[20..24] != checksum(&payload) {
        return Err(ChainProbeError::BadChecksum { command });
    }
    Ok(Message { command, payload })
}

async fn read_exact<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    during: &'static str,
) -> Result<(), ChainProbeError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        // A peer that closes with our bytes unread resets the connection
        // instead: the same refusal, told the same way.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            Err(ChainProbeError::Closed { during })
        }
        Err(e) => Err(ChainProbeError::Unreachable(format!("reading failed: {e}"))),
    }
}

/// A command is printable ASCII, NUL-padded, nothing after the first NUL
/// (protocol.cpp `IsCommandValid`).
fn parse_command(raw: &[u8]) -> Result<String, ChainProbeError> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let (name, padding) = raw.split_at(end);
    let valid = !name.is_empty()
        && name.iter().all(|b| (0x20..=0x7e).contains(b))
        && padding.iter().all(|&b| b == 0);
    if !valid {
        return Err(ChainProbeError::Garbage(format!(
            "a message header's command is not printable and NUL-padded ({})",
            hex::encode(raw)
        )));
    }
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// An address in a `version` message: without the time field (the
/// pre-31402 form `CNetAddr::V1` writes there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetAddr {
    pub services: u64,
    pub ip: Ipv6Addr,
    pub port: u16,
}

impl NetAddr {
    pub const UNSPECIFIED: NetAddr = NetAddr {
        services: 0,
        ip: Ipv6Addr::UNSPECIFIED,
        port: 0,
    };

    pub fn of(addr: SocketAddr) -> NetAddr {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        NetAddr {
            services: 0,
            ip,
            port: addr.port(),
        }
    }
}

/// A `version` message's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub protocol: i32,
    pub services: u64,
    pub timestamp: i64,
    pub receiver: NetAddr,
    pub sender: NetAddr,
    pub nonce: u64,
    pub user_agent: String,
    pub start_height: i32,
    /// Absent in versions before BIP 37.
    pub relay: Option<bool>,
}

impl Version {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(86 + self.user_agent.len());
        out.extend_from_slice(&self.protocol.to_le_bytes());
        out.extend_from_slice(&self.services.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        for addr in [&self.receiver, &self.sender] {
            out.extend_from_slice(&addr.services.to_le_bytes());
            out.extend_from_slice(&addr.ip.octets());
            out.extend_from_slice(&addr.port.to_be_bytes());
        }
        out.extend_from_slice(&self.nonce.to_le_bytes());
        write_compact_size(&mut out, self.user_agent.len() as u64);
        out.extend_from_slice(self.user_agent.as_bytes());
        out.extend_from_slice(&self.start_height.to_le_bytes());
        if let Some(relay) = self.relay {
            out.push(u8::from(relay));
        }
        out
    }

    /// Reads a peer's `version`; bytes after the relay flag (an MNAUTH
    /// challenge) are ignored as upstream readers ignore what they do not
    /// know.
    pub fn decode(payload: &[u8]) -> Result<Version, BadVersion> {
        let mut r = Reader(payload);
        let protocol = i32::from_le_bytes(r.take()?);
        let services = u64::from_le_bytes(r.take()?);
        let timestamp = i64::from_le_bytes(r.take()?);
        let receiver = r.addr()?;
        let sender = r.addr()?;
        let nonce = u64::from_le_bytes(r.take()?);
        let len = r.compact_size()?;
        if len > MAX_SUBVERSION_LENGTH as u64 {
            return Err(BadVersion::LongAgent(len));
        }
        let agent = r.bytes(len as usize)?;
        // Upstream keeps the bytes and prints them sanitised; so do we.
        let user_agent: String = String::from_utf8_lossy(agent)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let start_height = i32::from_le_bytes(r.take()?);
        let relay = r.take::<1>().ok().map(|[b]| b != 0);
        Ok(Version {
            protocol,
            services,
            timestamp,
            receiver,
            sender,
            nonce,
            user_agent,
            start_height,
            relay,
        })
    }
}

/// Bitcoin's CompactSize (serialize.h `WriteCompactSize`).
fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Why a peer's `version` message could not be read; the wording follows
/// "the peer sent garbage: …" (`ChainProbeError::Garbage`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadVersion {
    #[error("its version message ends too early")]
    Short,
    /// A CompactSize written longer than needed (serialize.h refuses it).
    #[error("its version message has a non-canonical size")]
    NonCanonical,
    /// The user agent's length in bytes.
    #[error("its user agent is {0} bytes, over the limit of {MAX_SUBVERSION_LENGTH}")]
    LongAgent(u64),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], BadVersion> {
        if self.0.len() < n {
            return Err(BadVersion::Short);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], BadVersion> {
        Ok(self.bytes(N)?.try_into().expect("N bytes"))
    }

    fn addr(&mut self) -> Result<NetAddr, BadVersion> {
        Ok(NetAddr {
            services: u64::from_le_bytes(self.take()?),
            ip: Ipv6Addr::from(self.take::<16>()?),
            port: u16::from_be_bytes(self.take()?),
        })
    }

    /// serialize.h `ReadCompactSize`, which refuses non-canonical sizes.
    fn compact_size(&mut self) -> Result<u64, BadVersion> {
        let [first] = self.take::<1>()?;
        let (n, min) = match first {
            0xfd => (u64::from(u16::from_le_bytes(self.take()?)), 0xfd),
            0xfe => (u64::from(u32::from_le_bytes(self.take()?)), 0x1_0000),
            0xff => (u64::from_le_bytes(self.take()?), 0x1_0000_0000),
            n => return Ok(u64::from(n)),
        };
        if n < min {
            return Err(BadVersion::NonCanonical);
        }
        Ok(n)
    }
}

/// Our `version` for `peer`: no services, height 0, no transaction relay
/// (we want nothing from it but its answer).
pub fn our_version(spec: &P2pSpec, peer: SocketAddr, now: i64, nonce: u64) -> Version {
    Version {
        protocol: spec.protocol_version,
        services: 0,
        timestamp: now,
        receiver: NetAddr::of(peer),
        sender: NetAddr::UNSPECIFIED,
        nonce,
        user_agent: USER_AGENT.to_string(),
        start_height: 0,
        relay: Some(false),
    }
}

/// Runs the handshake on a connected stream: sends our `version`, reads
/// the peer's (which must come first), answers `verack`. The caller bounds
/// it in time.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    spec: &P2pSpec,
    ours: &Version,
) -> Result<Version, ChainProbeError> {
    let hello = frame(spec.magic, "version", &ours.encode());
    write_all(stream, &hello).await?;
    let message = read_message(stream, spec).await?;
    if message.command != "version" {
        return Err(ChainProbeError::NotVersionFirst(message.command));
    }
    let theirs =
        Version::decode(&message.payload).map_err(|e| ChainProbeError::Garbage(e.to_string()))?;
    if theirs.nonce == ours.nonce && ours.nonce != 0 {
        // net_processing.cpp: a version carrying our own nonce means we
        // reached ourselves.
        return Err(ChainProbeError::Garbage(
            "the peer echoed our own nonce (a connection to ourselves?)".into(),
        ));
    }
    if theirs.start_height < 0 {
        return Err(ChainProbeError::Garbage(format!(
            "its start height is negative ({})",
            theirs.start_height
        )));
    }
    // Best effort: the answer is already in hand.
    let _ = stream.write_all(&frame(spec.magic, "verack", &[])).await;
    Ok(theirs)
}

async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> Result<(), ChainProbeError> {
    stream
        .write_all(bytes)
        .await
        .map_err(|e| ChainProbeError::Unreachable(format!("sending our version failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> P2pSpec {
        P2pSpec {
            magic: [0xf9, 0xbe, 0xb4, 0xd9],
            port: 8333,
            protocol_version: 70002,
            max_message_bytes: 4_000_000,
        }
    }

    /// The annotated `version` and `verack` messages of the Bitcoin
    /// developer reference (developer.bitcoin.org, p2p_networking.rst
    /// "version"; the header with magic f9beb4d9, length 0x65 and checksum
    /// 5f1a69d2 as Programming Bitcoin's network tests carry it).
    const REFERENCE_VERSION: &str = "f9beb4d976657273696f6e0000000000650000005f1a69d2721101000100000000000000bc8f5e5400000000010000000000000000000000000000000000ffffc61b6409208d010000000000000000000000000000000000ffffcb0071c0208d128035cbc97953f80f2f5361746f7368693a302e392e332fcf05050001";
    const REFERENCE_VERACK: &str = "f9beb4d976657261636b000000000000000000005df6e0e2";

    fn reference() -> Version {
        Version {
            protocol: 70002,
            services: 1,
            timestamp: 1_415_483_324,
            receiver: NetAddr {
                services: 1,
                ip: "::ffff:198.27.100.9".parse().unwrap(),
                port: 8333,
            },
            sender: NetAddr {
                services: 1,
                ip: "::ffff:203.0.113.192".parse().unwrap(),
                port: 8333,
            },
            nonce: 0xf85379c9cb358012,
            user_agent: "/Satoshi:0.9.3/".into(),
            start_height: 329_167,
            relay: Some(true),
        }
    }

    #[test]
    fn matches_the_reference_bytes_both_ways() {
        let wire = hex::decode(REFERENCE_VERSION).unwrap();
        assert_eq!(frame(spec().magic, "version", &reference().encode()), wire);
        assert_eq!(Version::decode(&wire[HEADER_SIZE..]).unwrap(), reference());
        assert_eq!(
            frame(spec().magic, "verack", &[]),
            hex::decode(REFERENCE_VERACK).unwrap()
        );
    }

    #[tokio::test]
    async fn reads_a_reference_message_and_refuses_each_corruption() {
        let wire = hex::decode(REFERENCE_VERSION).unwrap();
        let read = |bytes: Vec<u8>| async move {
            let mut r = bytes.as_slice();
            read_message(&mut r, &spec()).await
        };
        let ok = read(wire.clone()).await.unwrap();
        assert_eq!(ok.command, "version");

        let mut magic = wire.clone();
        magic[0] = 0xbf;
        assert!(matches!(
            read(magic).await,
            Err(ChainProbeError::WrongMagic { .. })
        ));

        let mut sum = wire.clone();
        *sum.last_mut().unwrap() ^= 1;
        assert!(matches!(
            read(sum).await,
            Err(ChainProbeError::BadChecksum { .. })
        ));

        let mut big = wire.clone();
        big[16..20].copy_from_slice(&4_000_001u32.to_le_bytes());
        assert!(matches!(
            read(big).await,
            Err(ChainProbeError::Oversize {
                length: 4_000_001,
                ..
            })
        ));

        let mut padding = wire.clone();
        padding[13] = b'x'; // after the NUL that ends "version"
        assert!(matches!(
            read(padding).await,
            Err(ChainProbeError::Garbage(_))
        ));

        let short = wire[..40].to_vec();
        assert!(matches!(
            read(short).await,
            Err(ChainProbeError::Closed { .. })
        ));
    }

    #[test]
    fn decoding_tolerates_what_follows_and_refuses_what_is_missing() {
        let mut dash = reference().encode();
        dash.extend_from_slice(&[7u8; 32]); // MNAUTH challenge
        dash.push(0); // not a masternode connection
        assert_eq!(Version::decode(&dash).unwrap(), reference());

        let old = Version {
            relay: None,
            ..reference()
        };
        assert_eq!(Version::decode(&old.encode()).unwrap().relay, None);

        let full = reference().encode();
        assert!(Version::decode(&full[..full.len() - 3]).is_err());
        let mut long_agent = reference();
        long_agent.user_agent = "x".repeat(300);
        let err = Version::decode(&long_agent.encode()).unwrap_err();
        assert!(err.to_string().contains("300 bytes"), "{err}");
        // A size written the long way is not canonical.
        let mut sneaky = full[..80].to_vec();
        sneaky.extend_from_slice(&[0xfd, 0x0f, 0x00]);
        sneaky.extend_from_slice(&full[81..]);
        assert!(Version::decode(&sneaky).is_err());
    }
}
