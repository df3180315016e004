//! One durable unary gRPC call made by a guest.
//!
//! Replay: the oplog holds the call — check that the guest sends the same
//! request (function name and request hash) and return the recorded result.
//!
//! Live: the durable path commits what the worker recorded before the call,
//! then records `BeginRemoteWrite` (its index gives the `idempotency-key`
//! sent to the server; no sync of its own); the call is performed, then the
//! request, the result (a response or an `rpc-status`) and `EndRemoteWrite`
//! are recorded, to be committed at the worker's next durability point (its
//! next outside effect, or the invocation's reply). If the executor dies in
//! between, replay reaches the call again at the same index and performs it
//! with the same key, so a cooperating server can drop the duplicate.
//!
//! With a retry policy, a failed attempt the policy retries is committed as
//! `CallAttemptFailed` (with when the next is due) before the back-off; the
//! next attempt carries the same key. Replay skips these entries (the
//! result follows them), and a restart in the middle of a back-off resumes
//! the schedule from the last one (see [`crate::grpc::retry`]).
//!
//! Requests and results are journaled as protobuf bytes (see
//! [`crate::grpc::journaled`]): the request's canonical encoding, which is
//! also what is sent, and the response as received; replay decodes a result
//! straight to the guest's value. Results that are statuses, and the calls
//! of older executors, are WAVE text of the component values.

use std::sync::Arc;

use reprise_grpc_stub::RpcStatus;
use reprise_grpc_stub::model::{InterfaceModel, MethodModel, ServiceId};
use reprise_grpc_stub::status::Code;
use std::time::Duration;

use reprise_oplog::OplogIndex;
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Type, Val, wasm_wave};

use crate::deps::GrpcDependencyConfig;
use crate::durable::{Begun, CallRequest};
use crate::grpc::GrpcView;
use crate::grpc::journaled::{self, EncodedRequest, Response};
use crate::grpc::retry::{self, Decision, Schedule, Write};
use crate::worker::limits::RunLimits;
use reprise_grpc_stub::client::CallOptions;

/// Everything a host function needs to know about the method it implements.
pub struct MethodBinding {
    /// The dependency serving it.
    pub dependency: Arc<GrpcDependencyConfig>,
    /// The interface model built from the dependency's descriptors.
    pub model: Arc<InterfaceModel>,
    /// The service in the model.
    pub service: ServiceId,
    /// The method's position in the service.
    pub method_index: usize,
    /// The name journaled in the oplog: `package.Service/Method`.
    pub journal_name: String,
    /// A unary method without side effects (its proto says
    /// `NO_SIDE_EFFECTS`, or the manifest lists it in `read-only-methods`):
    /// sent without a sync before it.
    pub read_only: bool,
}

impl MethodBinding {
    /// The method's model.
    pub fn method(&self) -> &MethodModel {
        &self.model.service(self.service).methods[self.method_index]
    }
}

/// A host function failure (it traps the guest) with `message`.
pub(crate) fn host_error(message: String) -> wasmtime::Error {
    wasmtime::Error::msg(message)
}

/// The type of a gRPC host function's one result (`result<_, rpc-status>`),
/// checking there is exactly one result slot.
pub fn single_result(
    binding: &MethodBinding,
    ty: &ComponentFunc,
    results: &[Val],
) -> wasmtime::Result<Type> {
    let name = &binding.journal_name;
    let result_ty = ty
        .results()
        .next()
        .ok_or_else(|| host_error(format!("`{name}` must return a result")))?;
    if results.len() != 1 {
        return Err(host_error(format!(
            "`{name}` must return exactly one value"
        )));
    }
    Ok(result_ty)
}

/// The journaled form of a call's parameters: their WAVE text, joined.
pub fn request_text(params: &[Val]) -> wasmtime::Result<String> {
    Ok(params
        .iter()
        .map(|v| {
            wasm_wave::to_string(v)
                .map_err(|e| host_error(format!("cannot journal the request: {e}")))
        })
        .collect::<wasmtime::Result<Vec<_>>>()?
        .join(", "))
}

/// A recorded result (WAVE text) decoded with the function's result type.
pub fn recorded_result(
    binding: &MethodBinding,
    result_ty: &Type,
    payload: &[u8],
) -> wasmtime::Result<Val> {
    let unreadable = |message: String| crate::Error::UnreadableRecord {
        function: binding.journal_name.clone(),
        message,
    };
    let text =
        std::str::from_utf8(payload).map_err(|_| unreadable("it is not UTF-8 WAVE text".into()))?;
    wasm_wave::from_str::<Val>(result_ty, text)
        .map_err(|e| unreadable(format!("it does not fit the function's result type: {e}")).into())
}

/// Implements the host function of a unary method.
pub async fn durable_unary<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    binding: &MethodBinding,
    ty: ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let result_ty = single_result(binding, &ty, results)?;
    let request = match journaled::encode_request(&binding.model, binding.method(), params) {
        Ok(request) => request,
        // Nothing was sent: the guest gets the status, and the oplog the
        // call (as text, the only form the arguments could be written in).
        Err(e) => return unsendable(store, binding, params, &mut results[0], &result_ty, e),
    };
    let legacy = || journaled::legacy_request_text(params);
    let journaled_request = CallRequest::new(&request.payload).or_formerly(&legacy);
    let durable = store.data_mut().grpc().durable.clone();
    let function = &binding.journal_name;
    if binding.read_only {
        if let Some(payload) = durable.replay_read(function, journaled_request)? {
            results[0] = journaled::recorded_result(binding, &result_ty, payload.as_bytes())?;
            return Ok(());
        }
        // Boxed, here and below: the live call's state (the client's
        // futures) is large, and the replay path should not carry it.
        let outcome = Box::pin(attempts(&mut store, binding, &request, None)).await?;
        let (value, response) = journaled::outcome(outcome)?;
        durable.end_read(function, request.payload, response);
        results[0] = value;
        return Ok(());
    }
    let (begin, key, resume) = match durable.begin_call(function, journaled_request).await? {
        Begun::Replayed(payload) => {
            results[0] = journaled::recorded_result(binding, &result_ty, payload.as_bytes())?;
            return Ok(());
        }
        Begun::Live { begin, key, resume } => (begin, key, resume),
    };
    let outcome = Box::pin(attempts(
        &mut store,
        binding,
        &request,
        Some(Write { begin, key, resume }),
    ))
    .await?;
    let (value, response) = journaled::outcome(outcome)?;
    durable
        .end_call(function, request.payload, begin, response)
        .await?;
    results[0] = value;
    Ok(())
}

/// A call whose arguments cannot be encoded: the guest gets an
/// `invalid-argument` status, replayed like any result (the arguments are
/// journaled as WAVE text); nothing is sent.
fn unsendable<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    binding: &MethodBinding,
    params: &[Val],
    result: &mut Val,
    result_ty: &Type,
    error: reprise_grpc_stub::Error,
) -> wasmtime::Result<()> {
    let request_text = request_text(params)?;
    let durable = store.data_mut().grpc().durable.clone();
    let function = &binding.journal_name;
    if let Some(payload) = durable.replay_read(function, request_text.as_bytes().into())? {
        *result = recorded_result(binding, result_ty, payload.as_bytes())?;
        return Ok(());
    }
    let status = RpcStatus::new(
        Code::InvalidArgument,
        format!("cannot encode the request: {error}"),
    );
    let (value, response) = journaled::outcome(Err(status))?;
    durable.record_unsent(function, request_text.into_bytes(), response);
    *result = value;
    Ok(())
}

/// The retry schedule of a call of `binding`'s method (`None` without a
/// policy allowing a second attempt); `begin` for a write.
fn schedule(
    binding: &MethodBinding,
    begin: Option<OplogIndex>,
    deadline_ms: Option<u64>,
) -> Option<Schedule<'_>> {
    let policy = binding
        .dependency
        .retry
        .as_ref()
        .filter(|p| p.max_attempts > 1)?;
    Some(Schedule {
        policy,
        call: &binding.journal_name,
        begin,
        deadline_ms,
        max_delay: None,
    })
}

/// The answer after the retry policy gave up: a failure that used up the
/// attempts says how many were made.
fn gave_up(
    outcome: Result<Response, RpcStatus>,
    attempt: u32,
    exhausted: bool,
) -> Result<Response, RpcStatus> {
    match outcome {
        Err(mut status) if exhausted && attempt > 1 => {
            status.message = format!("{} (the last of {attempt} attempts)", status.message);
            Err(status)
        }
        other => other,
    }
}

/// One attempt: the encoded request sent with `options`; the response
/// (decoded, so a malformed one is a status the retry policy sees), or the
/// status the call ended with.
async fn send<T: GrpcView>(
    store: &mut StoreContextMut<'_, T>,
    binding: &MethodBinding,
    request: &EncodedRequest,
    options: &CallOptions,
) -> wasmtime::Result<Result<Response, RpcStatus>> {
    let client = match store.data_mut().grpc().client(&binding.dependency) {
        Ok(client) => client,
        Err(status) => return Ok(Err(status)),
    };
    let call = client.unary_encoded(
        &binding.method().descriptor,
        request.message().to_vec(),
        options,
    );
    Ok(
        match unless_stopped(store.data().run_limits(), call).await? {
            Ok(bytes) => journaled::decode_response(
                &binding.model,
                binding.method(),
                client.endpoint(),
                bytes,
            ),
            Err(status) => Err(status),
        },
    )
}

/// Runs a host call in flight, unless the invocation is stopped first
/// (interrupt, delete, shutdown, its time budget): a stop then ends the
/// invocation at once instead of waiting for the call's own deadline. The
/// call is dropped, which cancels it.
pub(crate) async fn unless_stopped<F: std::future::Future>(
    limits: Option<RunLimits>,
    call: F,
) -> wasmtime::Result<F::Output> {
    let Some(limits) = limits else {
        return Ok(call.await);
    };
    // The stop first: a stop already requested (a sleep it cut short
    // among them) sends nothing, where an unbiased choice polled the call,
    // and sent its request or frame, about half the time.
    tokio::select! {
        biased;
        reason = limits.stopped() => Err(wasmtime::Error::new(
            crate::error::Error::InvocationStopped { reason },
        )),
        outcome = call => Ok(outcome),
    }
}

/// Performs the call's attempts, as many as the dependency's retry policy
/// allows (one without a policy), within the call's deadline. A write's
/// attempts carry its one idempotency key, and each failed attempt that
/// will be retried is committed before the back-off, so a restart resumes
/// the schedule (`resume`: the last one recorded) rather than starting
/// over. A read's failed attempts are not journaled (made again after a
/// crash, a read is harmless).
async fn attempts<T: GrpcView>(
    store: &mut StoreContextMut<'_, T>,
    binding: &MethodBinding,
    request: &EncodedRequest,
    write: Option<Write>,
) -> wasmtime::Result<Result<Response, RpcStatus>> {
    let mut options = request.options.clone();
    options.idempotency_key = write.as_ref().map(|w| w.key.to_string());
    let resume = write.as_ref().and_then(|w| w.resume);
    let mut attempt = resume.map_or(1, |r| r.attempt + 1);
    // The whole call's deadline: the guest's, fixed when it first started
    // (and journaled with each failed attempt of a write).
    let deadline_ms = match resume {
        Some(r) => r.deadline_ms,
        None => options.timeout.map(deadline_after),
    };
    let schedule = schedule(binding, write.as_ref().map(|w| w.begin), deadline_ms);
    if let Some(r) = resume {
        wait_until(store, r.retry_at_ms).await?;
    }
    // Bounded by the policy's attempts (at most 100).
    loop {
        // After a restart the back-off may end past the deadline: no
        // attempt starts after it.
        let per_attempt = Duration::from_millis(binding.dependency.timeout_ms);
        if let Err(late) = within_deadline(deadline_ms, per_attempt, attempt, &mut options) {
            return Ok(Err(late));
        }
        let outcome = send(store, binding, request, &options).await?;
        let (Err(status), Some(schedule)) = (&outcome, &schedule) else {
            return Ok(outcome);
        };
        let remaining = remaining(deadline_ms, store.data().remaining_budget());
        let durable = store.data_mut().grpc().durable.clone();
        match schedule
            .after_failure(&durable, status, attempt, remaining)
            .await?
        {
            Decision::RetryAt(at) => wait_until(store, at).await?,
            Decision::GiveUp { exhausted } => return Ok(gave_up(outcome, attempt, exhausted)),
        }
        attempt += 1;
    }
}

/// The deadline (ms since the Unix epoch) `timeout` from now.
fn deadline_after(timeout: Duration) -> u64 {
    retry::now_ms().saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
}

/// Sets `options`' timeout to what is left of the call's deadline before
/// attempt `attempt`, at most `per_attempt` (the dependency's `timeout`: a
/// longer deadline from the guest bounds all attempts together, not each
/// one); `DEADLINE_EXCEEDED` if nothing is left.
fn within_deadline(
    deadline_ms: Option<u64>,
    per_attempt: Duration,
    attempt: u32,
    options: &mut CallOptions,
) -> Result<(), RpcStatus> {
    let Some(deadline) = deadline_ms else {
        return Ok(());
    };
    let left = deadline.saturating_sub(retry::now_ms());
    if left == 0 {
        return Err(RpcStatus::new(
            Code::DeadlineExceeded,
            format!("the call's deadline passed before attempt {attempt} could start"),
        ));
    }
    options.timeout = Some(Duration::from_millis(left).min(per_attempt));
    Ok(())
}

/// What is left for retries: the call's deadline or the invocation's time
/// budget, whichever comes first.
fn remaining(deadline_ms: Option<u64>, budget: Option<Duration>) -> Option<Duration> {
    let call_left = deadline_ms.map(|d| Duration::from_millis(d.saturating_sub(retry::now_ms())));
    match (call_left, budget) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Sleeps until `at_ms` (ms since the Unix epoch), in short slices so a
/// stop request or the invocation's time budget ends the wait within one.
pub(crate) async fn wait_until<T: GrpcView>(
    store: &mut StoreContextMut<'_, T>,
    at_ms: u64,
) -> wasmtime::Result<()> {
    const SLICE: Duration = Duration::from_millis(50);
    // Bounded: each slice brings `now` closer to `at_ms`.
    loop {
        if let Some(reason) = store.data().stop_requested() {
            return Err(wasmtime::Error::new(
                crate::error::Error::InvocationStopped { reason },
            ));
        }
        let left = at_ms.saturating_sub(retry::now_ms());
        if left == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(left).min(SLICE)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_attempt_starts_after_the_calls_deadline() {
        // After a restart, a back-off that ended past the deadline sent
        // one more attempt anyway, with a 1 ms timeout.
        let mut options = CallOptions::new();
        let passed = retry::now_ms().saturating_sub(10);
        let per_attempt = Duration::from_secs(3600);
        let late = within_deadline(Some(passed), per_attempt, 3, &mut options).unwrap_err();
        assert_eq!(late.code, Code::DeadlineExceeded);
        assert!(late.message.contains("attempt 3"), "{}", late.message);
        let ahead = retry::now_ms() + 60_000;
        within_deadline(Some(ahead), per_attempt, 1, &mut options).unwrap();
        let timeout = options.timeout.expect("the time left");
        assert!(timeout <= Duration::from_secs(60) && timeout > Duration::from_secs(50));
        // The dependency's `timeout` still bounds each attempt.
        within_deadline(Some(ahead), Duration::from_millis(300), 2, &mut options).unwrap();
        assert_eq!(options.timeout, Some(Duration::from_millis(300)));
        assert_eq!(
            remaining(Some(ahead), Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }
}
