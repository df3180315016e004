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
        let invocation = self.invoke_within(id, function, params, key, time_budget);
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
        let invocation =
            self.invoke_values_within(id, Some(component), function, params, key, time_budget);
        self.creating(component, id, config, invocation).await
    }

    /// Creates worker `id` without committing unless it exists, then runs
    /// `invocation` (not started before), whose commit makes the creation
    /// durable; commits the creation itself when the invocation did not
    /// get that far.
    async fn creating<T>(
        &self,
        component: &ComponentId,
        id: &WorkerId,
        config: WorkerConfig,
        invocation: impl Future<Output = Result<T>>,
    ) -> Result<(bool, T)> {
        let created = match self
            .create_worker_as(component, Some(id.clone()), config.clone(), false)
            .await
        {
            Ok(_) => true,
            Err(Error::WorkerExists(_)) => false,
            Err(e) => return Err(e),
        };
        if !created {
            let actual = self.worker(id).await?.component().id;
            if actual != *component {
                return Err(Error::WorkerRunsOtherComponent {
                    worker: id.clone(),
                    runs: actual,
                    asked: *component,
                });
            }
            self.refuse_other_settings(id, &config).await?;
        }
        let outcome = invocation.await;
        if created && let Err(error) = outcome {
            // An invocation that ran (returned or trapped) committed the
            // creation with its completion; one refused or stopped before
            // it completed did not.
            let commit = async { self.worker(id).await?.durable().commit().await };
            return Err(match commit.await {
                Ok(()) => error,
                // The invocation's own verdict on durability (an unknown
                // outcome naming the key to retry with, a lost ownership)
                // says more than reloading the worker after it.
                Err(_) if about_durability(&error) => error,
                Err(commit_error) => commit_error,
            });
        }
        Ok((created, outcome?))
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
