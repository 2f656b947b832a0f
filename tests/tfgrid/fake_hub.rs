//! A fake ThreeFold flist hub on loopback, serving flists as 0-hub does
//! (threefoldtech/0-hub `src/flist-uploader.py`: `/<account>/<name>.flist`
//! sent from the account's directory, 404 when it holds no such file; HEAD
//! answered like GET, as Flask answers it for a GET route).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

use super::fake_server::Server;

pub struct FakeHub {
    pub url: String,
    held: Arc<Mutex<HashSet<String>>>,
    _server: Server,
}

impl FakeHub {
    /// A hub holding `paths` (`account/name.flist`).
    pub async fn start<I: IntoIterator<Item = String>>(paths: I) -> FakeHub {
        let held = Arc::new(Mutex::new(paths.into_iter().collect::<HashSet<_>>()));
        let app = Router::new()
            .route("/{account}/{file}", get(flist))
            .with_state(held.clone());
        let (url, server) = Server::http(app).await;
        FakeHub {
            url,
            held,
            _server: server,
        }
    }

    /// The same hub without `path` any more.
    pub fn remove(&self, path: &str) {
        self.held.lock().unwrap().remove(path);
    }
}

async fn flist(
    State(held): State<Arc<Mutex<HashSet<String>>>>,
    Path((account, file)): Path<(String, String)>,
) -> (StatusCode, Vec<u8>) {
    let path = format!("{account}/{file}");
    if file.ends_with(".flist") && held.lock().unwrap().contains(&path) {
        // An flist is a small tar.gz'd database; its bytes do not matter here.
        (StatusCode::OK, vec![0x1f, 0x8b, 0x08, 0x00])
    } else {
        (StatusCode::NOT_FOUND, b"Not Found".to_vec())
    }
}

/// Every flist the shipped catalog names, as `account/name.flist`.
pub fn catalog_flists() -> Vec<String> {
    let catalog = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dialogues/catalog.yaml"
    ))
    .unwrap();
    let catalog = jukebox::catalog::Catalog::parse("catalog.yaml", &catalog).unwrap();
    catalog
        .chains
        .iter()
        .flat_map(|c| c.node_types.iter())
        .filter_map(|t| {
            t.flist
                .strip_prefix("https://hub.grid.tf/")
                .map(str::to_owned)
        })
        .collect()
}
