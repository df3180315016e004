//! Salvage: copies every worker's intact prefix out of a damaged sled store
//! into a fresh one, and says per worker what was kept and what was lost.
//!
//! The damaged store is never written to. Its folder is copied to a scratch
//! folder first, and everything below happens on the copy:
//!
//! 1. the copy is opened as at start-up (torn snapshots removed, every
//!    record verified, damaged tails cut back to the longest valid prefix);
//! 2. if sled refuses the folder — a settings file (`conf`) that fails its
//!    checksum, a damaged snapshot, damaged data before the snapshot point —
//!    the settings file (written anew from this build's settings), then the
//!    snapshots, are removed from the copy and it is opened again (sled writes the settings anew and
//!    rebuilds its state from its log, stopping at the first damaged
//!    record); an unreadable commit log (`commit.log`) is set aside the
//!    same way, keeping what sled itself had written;
//! 3. each worker's log is read from its first entry until its end or the
//!    first entry that cannot be read, and written to the fresh store;
//! 4. the commit watermarks (`watermarks/`) say how much of each log had
//!    been committed at the last checkpoint, and the commit log's frames
//!    (their marks) what was committed since; when the log is set aside,
//!    the marks of its intact frames are still read from it (as long as its
//!    header names their generation). So the report can tell committed
//!    entries lost from entries that were never acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use super::{SledOplogStore, WATERMARKS_DIR, commit_frame, commit_log};
use crate::entry::OplogEntry;
use crate::error::{Error, Result};
use crate::ids::{OplogIndex, WorkerId};
use crate::store::{AppendFence, OplogStore, RecoveryReport};

/// Entries read and written at a time.
const PAGE: usize = 256;

/// What happened to one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSalvage {
    /// The worker.
    pub worker_id: WorkerId,
    /// Entries copied to the fresh store (its log is entries 1..=kept).
    pub kept: u64,
    /// Entries the damaged store held beyond `kept` that could not be
    /// copied (damaged, or after a damaged one).
    pub dropped: u64,
    /// Index up to which entries had been committed (acknowledged), from
    /// the worker's commit watermark; `None` if unknown (no or a damaged
    /// watermark).
    pub committed: Option<u64>,
    /// Why the copy stopped before the end of the log, if it did.
    pub reason: Option<String>,
}

impl WorkerSalvage {
    /// Committed entries that did not survive (0 if unknown).
    pub fn lost_committed(&self) -> u64 {
        self.committed.map_or(0, |c| c.saturating_sub(self.kept))
    }
}

impl fmt::Display for WorkerSalvage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.worker_id)?;
        if self.kept == 0 {
            write!(f, "nothing kept")?;
        } else {
            write!(f, "kept entries 1..={}", self.kept)?;
        }
        match self.committed {
            Some(committed) if committed > self.kept => write!(
                f,
                "; LOST committed entries {}..={committed}",
                self.kept + 1
            )?,
            Some(_) => write!(f, "; every committed entry kept")?,
            None => write!(
                f,
                "; how much was committed is unknown (no commit watermark)"
            )?,
        }
        if self.dropped > 0 {
            write!(f, "; {} damaged or later entries dropped", self.dropped)?;
        }
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// What a salvage did.
#[derive(Debug, Clone, Default)]
pub struct SalvageReport {
    /// Steps needed to open the damaged copy at all (files removed).
    pub fixes: Vec<String>,
    /// What opening the copy found and repaired.
    pub recovery: RecoveryReport,
    /// Every worker, sorted by id.
    pub workers: Vec<WorkerSalvage>,
}

impl SalvageReport {
    /// Workers that lost committed entries.
    pub fn damaged_workers(&self) -> impl Iterator<Item = &WorkerSalvage> {
        self.workers.iter().filter(|w| w.lost_committed() > 0)
    }
}

/// Salvages the sled store in `source` into a fresh store created in
/// `target` (which must not exist, or be an empty folder), calling
/// `progress` after each worker. `scratch` is a folder the copy of the
/// damaged store is made in (it must not exist; it is removed at the end).
pub async fn salvage(
    source: &Path,
    target: &Path,
    scratch: &Path,
    progress: &mut (dyn FnMut(&WorkerSalvage) + Send),
) -> Result<SalvageReport> {
    if !source.join("db").is_file() {
        return Err(Error::Io {
            context: format!(
                "{} holds no sled oplog store (no `db` file)",
                source.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    check_empty(target)?;
    if scratch.exists() {
        return Err(Error::Io {
            context: format!("the scratch folder {} exists already", scratch.display()),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    copy_dir(source, scratch)?;
    let result = salvage_copy(scratch, target, progress).await;
    let _ = std::fs::remove_dir_all(scratch);
    result
}

async fn salvage_copy(
    copy: &Path,
    target: &Path,
    progress: &mut (dyn FnMut(&WorkerSalvage) + Send),
) -> Result<SalvageReport> {
    let mut fixes = Vec::new();
    let mut log_marks = HashMap::new();
    let damaged = open_damaged(copy, &mut fixes, &mut log_marks)?;
    let recovery = damaged.recovery_report().clone();
    let fresh = SledOplogStore::open(target)?;

    let mut committed: BTreeMap<WorkerId, u64> =
        super::watermark::Watermarks::open(&copy.join(WATERMARKS_DIR))
            .and_then(|w| w.all())
            .map(|(marks, _)| marks.into_iter().collect())
            .unwrap_or_default();
    // Commits since the last checkpoint, from a commit log set aside.
    for (worker, mark) in log_marks {
        let slot = committed.entry(worker).or_insert(0);
        *slot = (*slot).max(mark);
    }
    let truncated: BTreeMap<&WorkerId, String> = recovery
        .truncated
        .iter()
        .map(|t| {
            (
                &t.worker_id,
                format!("entry {} is damaged: {}", t.first_dropped, t.reason),
            )
        })
        .collect();
    let dropped_at_open: BTreeMap<&WorkerId, u64> = recovery
        .truncated
        .iter()
        .map(|t| (&t.worker_id, t.entries_dropped))
        .collect();

    let mut workers = Vec::new();
    for worker_id in damaged.list_workers().await? {
        let mut outcome = copy_worker(&damaged, &fresh, &worker_id).await?;
        outcome.committed = committed.remove(&worker_id);
        outcome.dropped += dropped_at_open.get(&worker_id).copied().unwrap_or(0);
        if outcome.reason.is_none() {
            outcome.reason = truncated.get(&worker_id).cloned();
        }
        progress(&outcome);
        workers.push(outcome);
    }
    // Workers with a watermark and no log left at all.
    for (worker_id, mark) in committed {
        let outcome = WorkerSalvage {
            reason: truncated.get(&worker_id).cloned(),
            worker_id,
            kept: 0,
            dropped: 0,
            committed: Some(mark),
        };
        progress(&outcome);
        workers.push(outcome);
    }
    workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
    Ok(SalvageReport {
        fixes,
        recovery,
        workers,
    })
}

/// Opens the damaged copy, removing the files sled refuses it for. A commit
/// log set aside leaves in `log_marks` the marks of its intact frames.
fn open_damaged(
    copy: &Path,
    fixes: &mut Vec<String>,
    log_marks: &mut HashMap<WorkerId, u64>,
) -> Result<SledOplogStore> {
    let mut removed_conf = false;
    let mut removed_snapshots = false;
    let mut removed_log = false;
    let mut unverified = false;
    loop {
        let opened = if unverified {
            let options = crate::store::StoreOptions {
                verify_on_open: false,
                ..crate::store::StoreOptions::default()
            };
            SledOplogStore::open_with(copy, options)
        } else {
            SledOplogStore::open(copy)
        };
        match opened {
            Ok(store) => return Ok(store),
            // An intact entry this build cannot read (a newer build's):
            // opened without the check, each worker's log is copied up to
            // the first entry this build cannot read, where reading stops.
            Err(Error::UnreadableEntry {
                worker,
                index,
                reason,
            }) if !unverified => {
                fixes.push(format!(
                    "worker {worker}'s entry {index} cannot be read by this build ({reason}): \
                     the store was opened without its check, and each log is copied up to \
                     its first entry this build cannot read"
                ));
                unverified = true;
            }
            // What the log held cannot be read; what sled holds still can.
            Err(Error::DamagedCommitLog { path, detail }) if !removed_log => {
                let readable = commit_log::read_damaged(&path)?;
                remove(&path)?;
                fixes.push(set_aside(&detail, readable.as_ref()));
                if let Some(readable) = readable {
                    *log_marks = commit_frame::marks(&readable.frames);
                }
                removed_log = true;
            }
            // The settings are this build's own (they are passed on every
            // open), so a missing file is simply written anew; sled's
            // messages do not always say that this file is the damaged one.
            Err(Error::DamagedDatabase { detail, .. }) if !removed_conf => {
                let conf = copy.join("conf");
                if conf.exists() {
                    remove(&conf)?;
                }
                fixes.push(format!(
                    "sled refused the folder ({detail}); its settings file `conf` was written anew"
                ));
                removed_conf = true;
            }
            Err(Error::DamagedDatabase { detail, .. }) if !removed_snapshots => {
                let mut count = 0;
                for entry in read_dir(copy)? {
                    let name = entry.file_name();
                    if name.to_string_lossy().starts_with("snap.") {
                        remove(&entry.path())?;
                        count += 1;
                    }
                }
                fixes.push(format!(
                    "sled refused the folder ({detail}); its {count} snapshot file(s) were \
                     dropped and its state rebuilt from its log, up to the first damaged record"
                ));
                removed_snapshots = true;
            }
            Err(other) => return Err(other),
        }
    }
}

/// What setting the damaged commit log aside means for the report.
fn set_aside(detail: &str, readable: Option<&commit_log::Readable>) -> String {
    let counted = match readable {
        Some(readable) => {
            let mut counted = format!(
                "the watermarks and the {} intact frame(s) still read from the log count the \
                 rest as lost",
                readable.frames.len()
            );
            if readable.skipped > 0 {
                counted.push_str(&format!(
                    "; {} damaged stretch(es) of the log could not be read: the commits they \
                     held are not counted, and a worker deleted in one may be reported as lost",
                    readable.skipped
                ));
            }
            counted
        }
        None => "the log's header is unreadable, so the commits acknowledged since the last \
                 checkpoint cannot be counted: only losses of entries committed before it are \
                 reported"
            .to_owned(),
    };
    format!(
        "the commit log was unreadable ({detail}) and was set aside: the commits since the \
         store's last checkpoint are only kept where sled had written them ({counted})"
    )
}

/// Copies one worker's readable prefix.
async fn copy_worker(
    damaged: &SledOplogStore,
    fresh: &SledOplogStore,
    worker_id: &WorkerId,
) -> Result<WorkerSalvage> {
    let last = damaged.last_index(worker_id).await?.map_or(0, |i| i.get());
    let mut outcome = WorkerSalvage {
        worker_id: worker_id.clone(),
        kept: 0,
        dropped: 0,
        committed: None,
        reason: None,
    };
    let epoch = fresh.claim(worker_id).await?;
    let mut next = OplogIndex::FIRST;
    loop {
        let (page, unreadable) = match damaged.read(worker_id, next, PAGE).await {
            Ok(page) => (page, None),
            // One bad entry fails its whole page: the intact entries before
            // it are read one by one (they were all dropped with it).
            Err(_) => one_by_one(damaged, worker_id, next).await?,
        };
        if let Some((at, e)) = unreadable {
            outcome.reason = Some(format!("entry {at} cannot be read: {e}"));
        }
        if page.is_empty() {
            break;
        }
        let stop = outcome.reason.is_some();
        let count = page.len() as u64;
        if let Err(e) = fresh
            .append(worker_id, AppendFence::new(epoch, next), page)
            .await
        {
            outcome.reason = Some(format!("entries from {next} on are not a valid log: {e}"));
            break;
        }
        outcome.kept += count;
        next = OplogIndex::new(outcome.kept + 1)?;
        if stop {
            break;
        }
    }
    if outcome.kept == 0 {
        fresh.delete_worker(worker_id).await?;
    } else {
        fresh.commit(worker_id).await?;
    }
    outcome.dropped = last.saturating_sub(outcome.kept);
    Ok(outcome)
}

/// The entries of `worker_id` from `from` on that read one at a time (at
/// most a page), up to the first that does not, with its index and error.
async fn one_by_one(
    damaged: &SledOplogStore,
    worker_id: &WorkerId,
    from: OplogIndex,
) -> Result<(Vec<OplogEntry>, Option<(OplogIndex, Error)>)> {
    let mut entries = Vec::new();
    let mut at = from;
    for _ in 0..PAGE {
        match damaged.read(worker_id, at, 1).await {
            Ok(mut one) if one.len() == 1 => entries.push(one.remove(0)),
            Ok(_) => return Ok((entries, None)),
            Err(e) => return Ok((entries, Some((at, e)))),
        }
        at = at.next().ok_or_else(|| Error::Io {
            context: format!("reading worker {worker_id}'s log past the last index"),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        })?;
    }
    Ok((entries, None))
}

fn check_empty(target: &Path) -> Result<()> {
    if target.exists() && read_dir(target)?.next().is_some() {
        return Err(Error::Io {
            context: format!(
                "the target folder {} is not empty; salvage writes a fresh store",
                target.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Result<impl Iterator<Item = std::fs::DirEntry>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        context: format!("listing {}", dir.display()),
        source,
    })?;
    Ok(entries.filter_map(|e| e.ok()))
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|source| Error::Io {
        context: format!("removing {}", path.display()),
        source,
    })
}

/// Copies the files of `from` (recursively) into the new folder `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let io = |context: String| move |source| Error::Io { context, source };
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    for entry in read_dir(from)? {
        let path: PathBuf = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(io(format!("reading {}", path.display())))?;
        if kind.is_dir() {
            copy_dir(&path, &dest)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &dest).map_err(io(format!(
                "copying {} to {}",
                path.display(),
                dest.display()
            )))?;
        }
    }
    Ok(())
}
