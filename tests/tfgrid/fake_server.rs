//! What the fakes share: a server on loopback whose task stops when the
//! fake is dropped, so a test's fakes end with the test.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A fake's server task; dropping it stops the server.
pub struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Server {
    /// Listens on `addr` and serves each connection with `serve`, in a
    /// task of its own. Returns the `scheme://host:port` to reach it at.
    pub async fn accept<F, Fut>(scheme: &str, addr: SocketAddr, serve: F) -> (String, Server)
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await.unwrap();
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        (url, Server(task))
    }

    /// Serves `app` over HTTP on a free loopback port. Returns the
    /// `http://host:port` to reach it at.
    pub async fn http(app: axum::Router) -> (String, Server) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (url, Server(task))
    }
}
