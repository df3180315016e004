//! Creating a worker together with its first invocation.
//!
//! `create_worker` commits the worker's `Create` entry before it answers,
//! and the first invocation commits again before its reply: two syncs for a
//! cold start. When the creation is asked for as part of an invocation
//! (`create` in an HTTP invoke body, `reprise-create: true` on a gRPC call),
//! nobody can learn of the worker before the invocation's reply, so the
//! `Create` entry rides along with the invocation's commit: one sync. A
//! crash before that
//! commit loses both the worker and the invocation, neither of which was
//! acknowledged; a retry (with the same idempotency key) creates and
//! invokes again.

use super::*;
use crate::worker::Worker;

impl Executor {
    /// Invokes `function` on worker `id` like
    /// [`invoke_within`](Self::invoke_within), first creating the worker (of
    /// `component`, with `config`) when it does not exist; the creation
    /// becomes durable with the invocation. An existing worker must run
    /// `component` ([`Error::WorkerRunsOtherComponent`] otherwise; `config` is then
    /// not used). Answers whether the worker was created here, and the
    /// invocation's outcome. A worker created here is durable when this
    /// returns, whatever the invocation did.
    #[allow(clippy::too_many_arguments)]
    pub async fn invoke_creating(
        &self,
        component: &ComponentId,
        id: &WorkerId,
        config: WorkerConfig,
        function: &str,
        params: Vec<String>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<(bool, std::result::Result<Vec<String>, String>)> {
        let invocation = |expected| {
            self.invoke_texts_expecting(id, Some(expected), function, params, key, time_budget)
        };
        self.creating(component, id, config, invocation).await
    }

    /// [`invoke_creating`](Self::invoke_creating) with component values, as
    /// the gRPC front door calls it.
    #[allow(clippy::too_many_arguments)]
    pub async fn invoke_values_creating(
        &self,
        component: &ComponentId,
        id: &WorkerId,
        config: WorkerConfig,
        function: &str,
        params: Vec<Val>,
        key: Option<IdempotencyKey>,
        time_budget: Option<Duration>,
    ) -> Result<(bool, InvocationOutcome)> {
        let invocation = |expected| {
            self.invoke_values_expecting(id, Some(expected), function, params, key, time_budget)
        };
        self.creating(component, id, config, invocation).await
    }

    /// Creates worker `id` without committing unless it exists, then runs
    /// the invocation `invoke` makes, whose commit makes the creation
    /// durable; commits the creation itself when the invocation did not
    /// get that far. The invocation checks, under the worker's lock, that
    /// the worker is still the one created here (or, for an existing one,
    /// that it runs `component`): the lock is let go in between, and a
    /// delete and a new creation may come first.
    async fn creating<T, F>(
        &self,
        component: &ComponentId,
        id: &WorkerId,
        config: WorkerConfig,
        invoke: impl FnOnce(Expected) -> F,
    ) -> Result<(bool, T)>
    where
        F: Future<Output = Result<T>>,
    {
        let Made {
            created,
            incarnation,
            ..
        } = self
            .create_worker_as(component, Some(id.clone()), config.clone(), false)
            .await?;
        if !created {
            // The worker found is checked, and invoked, only as it was
            // found: one created after a delete in between is not it.
            let found = match self.worker(id).await {
                Ok(found) => found,
                Err(Error::UnknownWorker(_)) => return Err(Error::WorkerReplaced(id.clone())),
                Err(e) => return Err(e),
            };
            if found.durable().incarnation() != incarnation {
                return Err(Error::WorkerReplaced(id.clone()));
            }
            let actual = found.component().id;
            drop(found);
            if actual != *component {
                return Err(Error::WorkerRunsOtherComponent {
                    worker: id.clone(),
                    runs: actual,
                    asked: *component,
                });
            }
            self.refuse_other_settings(id, &config).await?;
        }
        let outcome = invoke(Expected {
            component: *component,
            incarnation: Some(incarnation),
        })
        .await;
        let outcome = match outcome {
            // The worker created (or found) here is gone (deleted, perhaps
            // created again by another request): nothing to commit.
            Err(Error::WorkerReplaced(_) | Error::UnknownWorker(_)) => {
                return Err(Error::WorkerReplaced(id.clone()));
            }
            other => other,
        };
        if created && let Err(error) = outcome {
            // An invocation that ran (returned or trapped) committed the
            // creation with its completion; one refused or stopped before
            // it completed did not.
            let commit = async { self.worker(id).await?.durable().commit().await };
            return Err(match commit.await {
                Ok(()) => {
                    self.created.fetch_add(1, Ordering::Relaxed);
                    error
                }
                // The invocation's own verdict on durability (an unknown
                // outcome naming the key to retry with, a lost ownership)
                // says more than reloading the worker after it.
                Err(_) if about_durability(&error) => error,
                Err(commit_error) => commit_error,
            });
        }
        let outcome = outcome?;
        if created {
            self.created.fetch_add(1, Ordering::Relaxed);
        }
        Ok((created, outcome))
    }
}

impl Executor {
    /// Refuses settings given to create worker `id` (which exists) that
    /// differ from those it was created with: they would silently not
    /// apply. No settings at all (only the component) ask for none.
    async fn refuse_other_settings(&self, id: &WorkerId, asked: &WorkerConfig) -> Result<()> {
        if *asked == WorkerConfig::default() {
            return Ok(());
        }
        let create = self.oplog.read(id, OplogIndex::FIRST, 1).await?;
        let (_, has) = parse_create(id, create.first())?;
        // Compared as the oplog keeps them: variables and overrides by name.
        let sorted = |pairs: &[(String, String)]| {
            pairs
                .iter()
                .cloned()
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let mut differ = Vec::new();
        if sorted(&asked.env) != sorted(&has.env) {
            differ.push("`env`");
        }
        if asked.args != has.args {
            differ.push("`args`");
        }
        if sorted(&asked.endpoint_overrides) != sorted(&has.endpoint_overrides) {
            differ.push("`endpoint_overrides`");
        }
        if differ.is_empty() {
            return Ok(());
        }
        Err(Error::WorkerHasOtherSettings {
            worker: id.clone(),
            what: differ.join(" and "),
        })
    }
}

/// Whether `error` is about the oplog's durability or ownership rather
/// than the invocation's request.
fn about_durability(error: &Error) -> bool {
    matches!(
        error,
        Error::CommitFailed { .. }
            | Error::CommitOutcomeUnknown { .. }
            | Error::Oplog(_)
            | Error::NotServedHere { .. }
            | Error::HostResources(_)
    )
}

/// What [`Executor::create_worker_as`] did.
pub(super) struct Made {
    /// The worker.
    pub(super) id: WorkerId,
    /// Its incarnation (`None` for one created before creations had one).
    pub(super) incarnation: Option<Incarnation>,
    /// Whether it was created now, or found.
    pub(super) created: bool,
}

/// The worker an invocation that created it (or found it) must run on.
pub(crate) struct Expected {
    /// The component it runs.
    pub(crate) component: ComponentId,
    /// `Some` when it must be the worker the request created or found:
    /// that worker's incarnation (`None` inside for one created before
    /// creations had one).
    pub(crate) incarnation: Option<Option<Incarnation>>,
}

impl Expected {
    /// Refuses `worker` unless it is the one expected.
    pub(crate) fn check(&self, worker: &Worker) -> Result<()> {
        if let Some(incarnation) = self.incarnation
            && worker.durable().incarnation() != incarnation
        {
            return Err(Error::WorkerReplaced(worker.id().clone()));
        }
        if worker.component().id != self.component {
            return Err(Error::ComponentChanged {
                worker: worker.id().clone(),
                expected: self.component,
                actual: worker.component().id,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request that creates its worker lets go of the worker's lock
    /// between the creation and the invocation. A delete and another
    /// creation queued behind it ran in between, and the invocation ran on
    /// the other request's worker, answering `created: true`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invocation_does_not_run_on_a_worker_created_by_another_request() {
        let dir = tempfile::tempdir().unwrap();
        let (executor, component) = crate::test_support::executor_with_counter(&dir).await;
        contested(&executor, component, WorkerId::new("contested").unwrap()).await;
    }

    /// The same when the request found its worker: only the component was
    /// checked again, and the invocation ran on the worker created after
    /// the delete, whose settings were never compared with the request's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invocation_does_not_run_on_a_worker_created_after_the_one_it_found() {
        let dir = tempfile::tempdir().unwrap();
        let (executor, component) = crate::test_support::executor_with_counter(&dir).await;
        let id = WorkerId::new("found").unwrap();
        executor
            .create_worker(&component, Some(id.clone()), WorkerConfig::default())
            .await
            .unwrap();
        contested(&executor, component, id).await;
    }

    /// Request A (invoke, creating `id` if need be), a delete and a new
    /// creation of `id` queue on the worker's lock in that order: A must
    /// not run on the new worker.
    async fn contested(executor: &std::sync::Arc<Executor>, component: ComponentId, id: WorkerId) {
        // Held while the three requests queue on the worker's lock, in order.
        let held = executor.workers.lock(&id).await;
        let queue = Duration::from_millis(200);
        let a = tokio::spawn({
            let (executor, id) = (executor.clone(), id.clone());
            async move {
                executor
                    .invoke_creating(
                        &component,
                        &id,
                        WorkerConfig::default(),
                        "add",
                        vec!["5".into()],
                        None,
                        None,
                    )
                    .await
            }
        });
        tokio::time::sleep(queue).await;
        let d = tokio::spawn({
            let (executor, id) = (executor.clone(), id.clone());
            async move { executor.delete_worker(&id).await }
        });
        tokio::time::sleep(queue).await;
        let c = tokio::spawn({
            let (executor, id) = (executor.clone(), id.clone());
            async move {
                let config = WorkerConfig {
                    env: vec![("WHO".into(), "c".into())],
                    ..WorkerConfig::default()
                };
                executor.create_worker(&component, Some(id), config).await
            }
        });
        tokio::time::sleep(queue).await;
        drop(held);
        let a = a.await.unwrap();
        assert!(
            matches!(&a, Err(Error::WorkerReplaced(w)) if *w == id),
            "the invocation ran on another request's worker: {a:?}"
        );
        assert!(d.await.unwrap().unwrap(), "the delete removed A's worker");
        c.await.unwrap().unwrap();
        // C's worker is as C made it: nothing ran on it.
        let get = executor.invoke(&id, "get", vec![], None).await.unwrap();
        assert_eq!(get, Ok(vec!["0".to_owned()]));
    }
}
