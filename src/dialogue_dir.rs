//! Reading the dialogues directory (`catalog.yaml` and the flow files) from
//! disk for the pure compilers (`Catalog::parse`, `Scripts::compile`).
//!
//! The dialogue engine and its compiler do no IO (ARCHITECTURE.md, "The core
//! does no IO"), so the one place that reads their files is this shell
//! module; `app` and `jukebox check` call it.

use std::path::Path;

use crate::catalog::Catalog;
use crate::diagnostics::Diagnostics;
use crate::dialogue::Scripts;

/// Reads `catalog.yaml` and every other `*.yaml` in `dir` and compiles them.
pub fn load_dir(dir: &Path) -> Result<(Catalog, Scripts), Diagnostics> {
    let mut diags = Diagnostics::default();
    let shown = |p: &Path| p.display().to_string();
    let catalog_path = dir.join("catalog.yaml");
    let catalog = match std::fs::read_to_string(&catalog_path) {
        Ok(text) => Catalog::parse(&shown(&catalog_path), &text),
        Err(e) => {
            diags.push(&shown(&catalog_path), 0, format!("cannot read: {e}"));
            return Err(diags);
        }
    };
    let mut files = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let is_script = path.extension().is_some_and(|e| e == "yaml")
                    && path.file_name().is_some_and(|n| n != "catalog.yaml");
                if !is_script {
                    continue;
                }
                match std::fs::read_to_string(&path) {
                    Ok(text) => files.push((shown(&path), text)),
                    Err(e) => diags.push(&shown(&path), 0, format!("cannot read: {e}")),
                }
            }
        }
        Err(e) => diags.push(&shown(dir), 0, format!("cannot list: {e}")),
    }
    let catalog = match catalog {
        Ok(c) => c,
        Err(d) => {
            diags.extend(d);
            return Err(diags);
        }
    };
    match Scripts::compile(&files, &catalog) {
        Ok(scripts) if diags.is_empty() => Ok((catalog, scripts)),
        Ok(_) => Err(diags),
        Err(d) => {
            diags.extend(d);
            Err(diags)
        }
    }
}
