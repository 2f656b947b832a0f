//! A real S3 server for the backup tests: s3s-fs (S3 over a directory),
//! served in-process on 127.0.0.1:0 with SigV4 authentication, plus a TCP
//! proxy in front of it that refuses the first N connections with a 503,
//! to play an S3 that is down for a while.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";
pub const BUCKET: &str = "jukebox-backups";

/// The server; it stops when the test's runtime ends.
pub struct S3Server {
    pub addr: SocketAddr,
    /// Where s3s-fs keeps the objects: `<root>/<bucket>/<key>`.
    pub root: PathBuf,
}

impl S3Server {
    pub async fn start(root: &Path) -> S3Server {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server {
            addr,
            root: root.to_owned(),
        }
    }

    /// The file holding object `key` of the bucket.
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }
}

/// Forwards connections to `upstream`, except the first `fail_first`,
/// which get `503 Service Unavailable` and are closed.
pub struct FlakyProxy {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

impl FlakyProxy {
    pub async fn start(upstream: SocketAddr, fail_first: usize) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if counter.fetch_add(1, Ordering::SeqCst) < fail_first {
                    tokio::spawn(async move {
                        // Read the request head first, so the client sees
                        // an answer rather than a reset mid-send.
                        let mut buf = [0u8; 4096];
                        let _ = tokio::io::AsyncReadExt::read(&mut client, &mut buf).await;
                        let _ = client
                            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = client.shutdown().await;
                    });
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        FlakyProxy { addr, connections }
    }
}
