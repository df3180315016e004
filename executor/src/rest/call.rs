//! One durable REST call made by a guest: the function's values become an
//! HTTP request (checked against the schema's constraints first — a value
//! that breaks one is a `validation-error` and nothing is sent), the request
//! goes through the durable path like a gRPC call, and the answer becomes
//! the function's `result<T, error>`.
//!
//! * `GET` and `HEAD` have no side effects: sent without a sync before them
//!   and without an idempotency key; their results become durable at the
//!   next commit point (a crash before it makes the read again).
//! * Every other method is a remote write: what the worker recorded before
//!   it is committed first, then `BeginRemoteWrite` is recorded (no sync of
//!   its own) and its index gives the `Idempotency-Key` header, the same for
//!   every attempt and after a restart; the result is committed before the
//!   next effect visible outside the worker.
//! * Replay returns the recorded result and sends nothing.
//!
//! Requests and results are journaled as WAVE text of the component values
//! (gRPC calls journal protobuf instead, see [`crate::grpc::journaled`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reprise_grpc_stub::RpcStatus;
use reprise_grpc_stub::status::Code;
use reprise_openapi::model::{Function, Interface};
use reprise_openapi::runtime::{self, HttpRequest, HttpResponse};
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Val, wasm_wave};

use super::client::{RestClient, SendFailure};
use crate::durable::Begun;
use crate::grpc::GrpcView;
use crate::grpc::call::{host_error, request_text, unless_stopped, wait_until};
use crate::grpc::retry::{Decision, Schedule, Write};

/// Counts of the REST stubs' work, for `/metrics`.
#[derive(Debug)]
pub struct RestCounters {
    sent: AtomicU64,
    refused_locally: AtomicU64,
}

/// The process-wide counters.
pub static COUNTERS: RestCounters = RestCounters {
    sent: AtomicU64::new(0),
    refused_locally: AtomicU64::new(0),
};

impl RestCounters {
    /// (requests sent, calls refused by the local schema checks).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.refused_locally.load(Ordering::Relaxed),
        )
    }
}

/// Everything a host function needs to know about the operation it implements.
#[derive(Debug)]
pub struct RestBinding {
    /// The dependency's HTTP client (with its configuration and model).
    pub client: Arc<RestClient>,
    /// The interface's position in the model.
    pub interface: usize,
    /// The function's position in the interface.
    pub function: usize,
    /// The name journaled in the oplog: `<dependency> <METHOD> <path>`.
    pub journal_name: String,
}

impl RestBinding {
    fn parts(&self) -> (&Interface, &Function) {
        let interface = &self.client.config().openapi.interfaces[self.interface];
        (interface, &interface.functions[self.function])
    }

    /// Whether the operation has no side effects (`GET`, `HEAD`).
    pub fn read_only(&self) -> bool {
        let (_, function) = self.parts();
        matches!(function.method.as_str(), "GET" | "HEAD")
    }
}

/// Implements the host function of one operation.
pub async fn durable_rest<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    binding: &RestBinding,
    ty: ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
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
    let model = &binding.client.config().openapi;
    let (interface, function) = binding.parts();
    let request = match runtime::request(model, interface, function, params) {
        Ok(request) => request,
        Err(error) => {
            // Decided from the guest's own values: the same on replay, so
            // nothing is journaled and nothing is sent.
            COUNTERS.refused_locally.fetch_add(1, Ordering::Relaxed);
            results[0] = Val::Result(Err(Some(Box::new(error))));
            return Ok(());
        }
    };
    let request_text = request_text(params)?;
    let durable = store.data_mut().grpc().durable.clone();
    let decode = |payload: &reprise_oplog::Payload| -> wasmtime::Result<Val> {
        let unreadable = |message: String| crate::Error::UnreadableRecord {
            function: name.to_string(),
            message,
        };
        let text = std::str::from_utf8(payload.as_bytes())
            .map_err(|_| unreadable("it is not UTF-8".into()))?;
        wasm_wave::from_str::<Val>(&result_ty, text).map_err(|e| {
            unreadable(format!("it does not fit the function's result type: {e}")).into()
        })
    };
    if binding.read_only() {
        if let Some(payload) = durable.replay_read(name, request_text.as_bytes().into())? {
            results[0] = decode(&payload)?;
            return Ok(());
        }
        let outcome = attempts(&mut store, binding, &request, None).await?;
        let value = outcome_value(binding, &outcome);
        let text = wasm_wave::to_string(&value)
            .map_err(|e| host_error(format!("cannot journal the result: {e}")))?;
        durable.end_read(name, request_text.into_bytes(), text.into_bytes());
        results[0] = value;
        return Ok(());
    }
    let (begin, key, resume) = match durable
        .begin_call(name, request_text.as_bytes().into())
        .await?
    {
        Begun::Replayed(payload) => {
            results[0] = decode(&payload)?;
            return Ok(());
        }
        Begun::Live { begin, key, resume } => (begin, key, resume),
    };
    let write = Write { begin, key, resume };
    let outcome = attempts(&mut store, binding, &request, Some(write)).await?;
    let value = outcome_value(binding, &outcome);
    let text = wasm_wave::to_string(&value)
        .map_err(|e| host_error(format!("cannot journal the result: {e}")))?;
    durable
        .end_call(name, request_text.into_bytes(), begin, text.into_bytes())
        .await?;
    results[0] = value;
    Ok(())
}

/// The function's result for an HTTP answer or a failure without one.
fn outcome_value(binding: &RestBinding, outcome: &Result<HttpResponse, SendFailure>) -> Val {
    let (interface, function) = binding.parts();
    match outcome {
        Ok(response) => runtime::response(
            &binding.client.config().openapi,
            interface,
            function,
            response,
        ),
        // The message names the dependency already.
        Err(SendFailure::Setup(message)) => runtime::transport_error(message.clone()),
        Err(SendFailure::NoAnswer(message) | SendFailure::Unusable(message)) => {
            runtime::transport_error(format!(
                "dependency `{}`: {message}",
                binding.client.config().name
            ))
        }
    }
}

/// The attempts of one call, as many as the dependency's retry policy
/// allows. A write sends its key with each attempt and commits each failed
/// attempt that will be retried before the back-off; a read journals
/// nothing until its result.
async fn attempts<T: GrpcView>(
    store: &mut StoreContextMut<'_, T>,
    binding: &RestBinding,
    request: &HttpRequest,
    write: Option<Write>,
) -> wasmtime::Result<Result<HttpResponse, SendFailure>> {
    let config = binding.client.config();
    let schedule = config
        .retry
        .as_ref()
        .filter(|p| p.max_attempts > 1)
        .map(|policy| Schedule {
            policy,
            call: &binding.journal_name,
            begin: write.as_ref().map(|w| w.begin),
            deadline_ms: None,
            max_delay: None,
        });
    let key = write.as_ref().map(|w| w.key.to_string());
    let resume = write.as_ref().and_then(|w| w.resume);
    let mut attempt = resume.map_or(1, |r| r.attempt + 1);
    if let Some(r) = resume {
        wait_until(store, r.retry_at_ms).await?;
    }
    let timeout = Duration::from_millis(config.timeout_ms);
    // Bounded by the policy's attempts.
    loop {
        let base_url = store
            .data_mut()
            .grpc()
            .endpoint_overrides
            .get(&config.name)
            .cloned()
            .unwrap_or_else(|| config.base_url.clone());
        COUNTERS.sent.fetch_add(1, Ordering::Relaxed);
        let call = binding
            .client
            .send(&base_url, request, key.as_deref(), timeout);
        let outcome = unless_stopped(store.data().run_limits(), call).await?;
        let (Some(status), Some(schedule)) = (retry_status(&outcome), &schedule) else {
            return Ok(outcome);
        };
        // A delay (a server's `Retry-After`, say) that would outlast the
        // invocation's time budget is not waited for: the guest gets the
        // answer now.
        let remaining = store.data().remaining_budget();
        let durable = store.data_mut().grpc().durable.clone();
        match schedule
            .after_failure(&durable, &status, attempt, remaining)
            .await?
        {
            Decision::RetryAt(at) => wait_until(store, at).await?,
            Decision::GiveUp { .. } => return Ok(outcome),
        }
        attempt += 1;
    }
}

/// How a failed attempt reads to a retry policy (whose `retryable-codes`
/// name gRPC codes): no answer, 502 and 503 are `unavailable`; 429 is
/// `resource-exhausted`; 408 and 504 are `deadline-exceeded`; 500 is
/// `internal`. A `Retry-After` in seconds sets the delay. Other answers
/// are never retried, nor are unusable answers and calls that could not be
/// made here.
fn retry_status(outcome: &Result<HttpResponse, SendFailure>) -> Option<RpcStatus> {
    let response = match outcome {
        Err(SendFailure::NoAnswer(message)) => {
            return Some(RpcStatus::new(Code::Unavailable, message.clone()));
        }
        Err(SendFailure::Unusable(_) | SendFailure::Setup(_)) => return None,
        Ok(response) => response,
    };
    let code = match response.status {
        502 | 503 => Code::Unavailable,
        429 => Code::ResourceExhausted,
        408 | 504 => Code::DeadlineExceeded,
        500 => Code::Internal,
        _ => return None,
    };
    let mut status = RpcStatus::new(code, format!("HTTP {}", response.status));
    status.retry_pushback_ms = response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse::<i64>().ok())
        .map(|seconds| seconds.saturating_mul(1000).max(0));
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Result<HttpResponse, SendFailure> {
        Ok(HttpResponse {
            status,
            headers: retry_after
                .map(|v| vec![("Retry-After".to_owned(), v.to_owned())])
                .unwrap_or_default(),
            body: Vec::new(),
        })
    }

    #[test]
    fn answers_read_as_retry_statuses() {
        let code = |o: &Result<HttpResponse, SendFailure>| retry_status(o).map(|s| s.code);
        assert_eq!(
            code(&Err(SendFailure::NoAnswer("refused".into()))),
            Some(Code::Unavailable)
        );
        assert_eq!(code(&Err(SendFailure::Unusable("huge".into()))), None);
        assert_eq!(code(&Err(SendFailure::Setup("unset".into()))), None);
        assert_eq!(code(&answer(503, None)), Some(Code::Unavailable));
        assert_eq!(code(&answer(429, None)), Some(Code::ResourceExhausted));
        assert_eq!(code(&answer(504, None)), Some(Code::DeadlineExceeded));
        assert_eq!(code(&answer(500, None)), Some(Code::Internal));
        for never in [200, 201, 400, 401, 404, 409, 412, 501] {
            assert_eq!(code(&answer(never, None)), None, "{never}");
        }
        let pushback = retry_status(&answer(429, Some(" 3 "))).and_then(|s| s.retry_pushback_ms);
        assert_eq!(pushback, Some(3000));
        let odd = retry_status(&answer(429, Some("soon"))).and_then(|s| s.retry_pushback_ms);
        assert_eq!(odd, None);
    }
}
