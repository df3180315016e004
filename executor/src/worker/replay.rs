//! Replay: how a worker's recorded invocations are run again when it is
//! rebuilt from its oplog, matched against their recorded completions, and
//! how an invocation the oplog ends inside (in flight at a crash) or that was
//! abandoned is finished.

use reprise_oplog::{EntryKind, IdempotencyKey, OplogEntry, OplogIndex, Payload, WorkerId};

use super::{InvocationOutcome, Worker, WorkerState, abandons, outcome_texts};
use crate::durable::{Recorded, describe};
use crate::error::{Error, Result};
use crate::wave;

impl Worker {
    /// Replays the oplog from where the journal stands: every recorded
    /// invocation is run again, its imports answered from the oplog.
    pub(super) async fn replay(&mut self) -> Result<()> {
        while let Some(recorded) = self.durable.next_recorded().await? {
            match recorded.entry.kind {
                EntryKind::ExportedFunctionInvoked {
                    function,
                    params,
                    idempotency_key,
                } => {
                    // Only a resumed worker is invoked: an oplog written
                    // before resumes were journaled shows one this way.
                    self.interrupted = false;
                    let texts: Vec<String> =
                        serde_json::from_slice(params.as_bytes()).map_err(|e| {
                            Error::MalformedOplog {
                                worker: self.id.clone(),
                                index: recorded.index,
                                message: format!(
                                    "parameters are not a JSON list of WAVE values: {e}"
                                ),
                            }
                        })?;
                    let signature = self.signature(&function)?;
                    let params = wave::parse_params(&function, &signature, &texts)?;
                    self.current_params = texts;
                    self.durable.load_invocation().await?;
                    let journal = self.durable.journal();
                    if journal.abandoned_invocation(recorded.index).is_some() {
                        // Stopped (time budget, interrupt): its effects on
                        // the guest are discarded, so it is not run again.
                        let completion = journal.skip_through_completion();
                        self.skip_abandoned(&function, idempotency_key, completion)?;
                        continue;
                    }
                    // An invocation with no recorded completion was in
                    // flight at the last stop: it goes on live, in budget.
                    let live = !journal.holds_completion();
                    let budget = live.then_some(self.time_budget);
                    match self.run_export(&function, &params, budget).await {
                        // Only an invocation that is going on live is
                        // abandoned. One that completed before cannot have
                        // another outcome: a replay stopped in it (a lower
                        // memory limit than it first ran under, a stop
                        // request) journals nothing and fails the load.
                        Err(error) if live && abandons(&error) => {
                            // Stopped before it used up what it had
                            // recorded (the oplog ended inside it, so all
                            // that is left is its own): the abandoned
                            // invocation never reaches those entries.
                            self.durable.journal().discard_recorded();
                            let _abandoned = self
                                .abandon(&function, recorded.index, idempotency_key, &error)
                                .await?;
                        }
                        outcome => {
                            self.finish_replayed(&function, idempotency_key, outcome?)
                                .await?;
                        }
                    }
                }
                EntryKind::Interrupted => self.interrupted = true,
                EntryKind::Resumed => self.interrupted = false,
                EntryKind::Error { .. } => {}
                EntryKind::Exited => {
                    self.state = WorkerState::Failed("the worker has exited".into());
                }
                other => {
                    return Err(self.fail(Error::Divergence {
                        worker: self.id.clone(),
                        index: recorded.index,
                        recorded: describe(&other),
                        attempted: "no guest activity (between invocations)".into(),
                    }));
                }
            }
        }
        Ok(())
    }

    /// After a replayed invocation returned: match it against the recorded
    /// completion, or — if the oplog ended inside it — record the completion
    /// now (this is how an invocation in flight at a crash gets finished).
    async fn finish_replayed(
        &mut self,
        function: &str,
        key: IdempotencyKey,
        outcome: InvocationOutcome,
    ) -> Result<()> {
        match self.durable.next_recorded().await? {
            Some(Recorded {
                entry:
                    OplogEntry {
                        kind: EntryKind::ExportedFunctionCompleted { result },
                        ..
                    },
                index,
            }) => {
                let recorded = decode_outcome(&self.id, index, result)?;
                let now = outcome_texts(&outcome)?;
                if let (Err(message), Err(_)) = (&recorded, &now) {
                    // A trap again: its message may read otherwise (another
                    // wasmtime's backtrace, or an executor that did not
                    // quote the guest's stderr yet); callers keep the one
                    // they were given.
                    self.remember(key, function, Err(message.clone()));
                    self.count_invocation();
                    return Ok(());
                }
                if recorded != now {
                    return Err(self.fail(Error::Divergence {
                        worker: self.id.clone(),
                        index,
                        recorded: format!("the result {recorded:?}"),
                        attempted: format!("the result {now:?}"),
                    }));
                }
                self.remember(key, function, outcome);
                self.count_invocation();
                Ok(())
            }
            Some(other) => Err(self.fail(Error::Divergence {
                worker: self.id.clone(),
                index: other.index,
                recorded: describe(&other.entry.kind),
                attempted: "the end of the invocation".into(),
            })),
            None => {
                tracing::info!(worker = %self.id, function, "finished an invocation interrupted by a restart");
                self.complete(function, key, outcome).await
            }
        }
    }

    /// Replay of an abandoned invocation: its recorded outcome is kept for
    /// its idempotency key, nothing runs.
    fn skip_abandoned(
        &mut self,
        function: &str,
        key: IdempotencyKey,
        completion: Option<Recorded>,
    ) -> Result<()> {
        let Some(Recorded {
            entry:
                OplogEntry {
                    kind: EntryKind::ExportedFunctionCompleted { result },
                    ..
                },
            index,
        }) = completion
        else {
            return Err(Error::MalformedOplog {
                worker: self.id.clone(),
                index: OplogIndex::FIRST,
                message: format!("the abandoned invocation of `{function}` has no completion"),
            });
        };
        let message = match decode_outcome(&self.id, index, result)? {
            Err(message) => message,
            Ok(_) => {
                return Err(Error::MalformedOplog {
                    worker: self.id.clone(),
                    index,
                    message: "an abandoned invocation completed successfully".into(),
                });
            }
        };
        self.remember(key, function, Err(message));
        self.count_invocation();
        Ok(())
    }
}

/// A recorded completion in its journaled form.
fn decode_outcome(
    worker: &WorkerId,
    index: OplogIndex,
    result: std::result::Result<Payload, reprise_oplog::InvocationFailure>,
) -> Result<std::result::Result<Vec<String>, String>> {
    match result {
        Ok(payload) => serde_json::from_slice(payload.as_bytes())
            .map(Ok)
            .map_err(|e| Error::MalformedOplog {
                worker: worker.clone(),
                index,
                message: format!("result is not a JSON list of WAVE values: {e}"),
            }),
        Err(failure) => Ok(Err(failure.0)),
    }
}
