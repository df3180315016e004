//! `worker-executor repair`: salvages a damaged data directory into a fresh
//! one. Every worker's intact prefix is copied out of the oplog store
//! (see `reprise_oplog::salvage_sled`), every component whose files still
//! hash to its id is copied, and a line per worker says what was kept and
//! what was lost. The damaged directory is only read.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use reprise_executor::components::local::LocalComponentStore;
use reprise_executor::components::{ComponentStore, content_id};
use reprise_oplog::{WorkerSalvage, salvage_sled};

/// Refuses a data directory that is not one, and an output folder that is
/// not a new or empty folder outside it.
fn check_paths(data_dir: &Path, out: &Path) -> anyhow::Result<()> {
    if !data_dir.exists() {
        bail!("the data directory {} does not exist", data_dir.display());
    }
    if !data_dir.is_dir() {
        bail!(
            "the data directory {} is not a directory",
            data_dir.display()
        );
    }
    if !data_dir.join("oplog").join("db").is_file() {
        bail!(
            "{} is not a Reprise data directory with an embedded store (it has no oplog/db)",
            data_dir.display()
        );
    }
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} is not a directory; give a new folder for the repaired data",
            out.display()
        );
    }
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("cannot read --out {}", out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; give --out a new folder for the repaired data",
            out.display()
        );
    }
    // Compared by absolute paths: `--out data/fixed` inside `--data-dir data`.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(out).starts_with(absolute(data_dir)) {
        bail!(
            "--out {} is inside the data directory {}, which repair only reads; give a folder \
             outside it",
            out.display(),
            data_dir.display()
        );
    }
    Ok(())
}

/// The default `--out`: a sibling of the data directory named
/// `<name>-repaired`, named from the resolved path, so that `--data-dir .`
/// or `..` get a sibling too.
fn default_out(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let resolved = std::fs::canonicalize(data_dir)
        .with_context(|| format!("cannot read the data directory {}", data_dir.display()))?;
    let Some(name) = resolved.file_name() else {
        bail!(
            "cannot name a folder beside the data directory {} (it is the root); give --out",
            resolved.display()
        );
    };
    let mut name = name.to_os_string();
    name.push("-repaired");
    Ok(resolved.with_file_name(name))
}

/// Runs the repair of `data_dir` into `out` (default `<data_dir>-repaired`).
pub async fn run(data_dir: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    let out = match out {
        Some(out) => out,
        None => default_out(data_dir)?,
    };
    check_paths(data_dir, &out)?;
    // An executor holds the store's lock while it runs; reading the files
    // under it would copy a state it is still changing.
    let db = data_dir.join("oplog").join("db");
    let lock = std::fs::File::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is in use: an executor holds its oplog store ({}); stop it before repairing",
            data_dir.display(),
            db.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", db.display()));
        }
    }
    // Released: the salvage opens the store itself.
    drop(lock);
    eprintln!(
        "repairing {} into {} (the damaged directory is only read; stop any executor using it \
         first)",
        data_dir.display(),
        out.display()
    );

    let scratch = out.join(".salvage-scratch");
    let mut shown = 0usize;
    let mut progress = |worker: &WorkerSalvage| {
        shown += 1;
        println!("worker {worker}");
    };
    let report = salvage_sled(
        &data_dir.join("oplog"),
        &out.join("oplog"),
        &scratch,
        &mut progress,
    )
    .await
    .with_context(|| {
        format!(
            "salvaging the oplog store in {}",
            data_dir.join("oplog").display()
        )
    })?;
    for fix in &report.fixes {
        println!("store: {fix}");
    }
    if !report.recovery.is_clean() {
        println!("store: {}", report.recovery);
    }

    let (copied, damaged) = copy_components(data_dir, &out).await?;
    for line in &damaged {
        println!("component {line}");
    }

    let lost: Vec<&WorkerSalvage> = report.damaged_workers().collect();
    println!(
        "summary: {} worker(s), {} lost committed entries ({}); {} component(s) copied, {} \
         damaged",
        report.workers.len(),
        lost.len(),
        if lost.is_empty() {
            "none".to_owned()
        } else {
            lost.iter()
                .map(|w| w.worker_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        copied,
        damaged.len()
    );
    println!(
        "next: keep {dir} aside and put {out} in its place (mv {dir} {dir}.damaged && mv {out} \
         {dir}), then start the executor",
        dir = data_dir.display(),
        out = out.display()
    );
    Ok(())
}

/// Copies every component whose files are intact; returns how many were
/// copied and a line for each damaged one.
async fn copy_components(data_dir: &Path, out: &Path) -> anyhow::Result<(usize, Vec<String>)> {
    let source_dir = data_dir.join("components");
    let target = LocalComponentStore::open(&out.join("components"))?;
    if !source_dir.is_dir() {
        return Ok((0, Vec::new()));
    }
    let source = LocalComponentStore::open(&source_dir)?;
    let mut copied = 0;
    let mut damaged = Vec::new();
    for id in source.list().await? {
        match source.get(&id).await {
            Ok(Some(stored)) if content_id(&stored.wasm, &stored.dependencies_json) == id => {
                target.put(&id, &stored).await?;
                copied += 1;
            }
            Ok(Some(_)) => damaged.push(format!(
                "{id}: its files do not hash to its id ({}); not copied, its workers cannot run",
                source.location(&id)
            )),
            Ok(None) => damaged.push(format!("{id}: its files are incomplete; not copied")),
            Err(e) => damaged.push(format!("{id}: {e}; not copied")),
        }
    }
    Ok((copied, damaged))
}
