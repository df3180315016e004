//! Durable WASI: the guest's clocks and random sources go through the
//! worker's [`SharedJournal`], so every value is recorded live and returned
//! unchanged on replay. Without this, replay would not be deterministic.
//!
//! The guest gets no filesystem, no sockets and no inherited environment:
//! only the environment variables and arguments the worker was created with.
//! Its stdout and stderr go to a [`GuestOutput`] (logged, and quoted when
//! the guest traps).

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::TryRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use crate::durable::SharedJournal;
use crate::guest_output::{GuestOutput, Stream};

/// Import name recorded for wall-clock readings.
pub const WALL_CLOCK_NOW: &str = "wasi:clocks/wall-clock.now";
/// Import name recorded for monotonic-clock readings.
pub const MONOTONIC_CLOCK_NOW: &str = "wasi:clocks/monotonic-clock.now";
/// Import name recorded for secure random bytes.
pub const RANDOM_BYTES: &str = "wasi:random/random.get-random-bytes";
/// Import name recorded for insecure random bytes.
pub const INSECURE_RANDOM_BYTES: &str = "wasi:random/insecure.get-insecure-random-bytes";

/// Builds the WASI context of a worker whose nondeterminism is journaled.
pub fn durable_wasi_ctx(
    journal: &SharedJournal,
    env: &[(String, String)],
    args: &[String],
    insecure_seed: u128,
    output: &GuestOutput,
) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(output.stream(Stream::Stdout))
        .stderr(output.stream(Stream::Stderr))
        .envs(env)
        .args(args)
        .wall_clock(DurableWallClock(journal.clone()))
        .monotonic_clock(DurableMonotonicClock(journal.clone()))
        .secure_random(DurableRng {
            journal: journal.clone(),
            function: RANDOM_BYTES,
        })
        .insecure_random(DurableRng {
            journal: journal.clone(),
            function: INSECURE_RANDOM_BYTES,
        })
        .insecure_random_seed(insecure_seed)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build()
}

/// `wasi:clocks/wall-clock`, recorded.
struct DurableWallClock(SharedJournal);

impl HostWallClock for DurableWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        let bytes = self.0.local(WALL_CLOCK_NOW, &[], || {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let mut out = now.as_secs().to_le_bytes().to_vec();
            out.extend_from_slice(&now.subsec_nanos().to_le_bytes());
            out
        });
        decode_duration(&bytes)
    }
}

fn decode_duration(bytes: &[u8]) -> Duration {
    let secs = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    let nanos = bytes
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes);
    match (secs, nanos) {
        (Some(secs), Some(nanos)) => Duration::new(secs, nanos.min(999_999_999)),
        _ => Duration::ZERO,
    }
}

/// `wasi:clocks/monotonic-clock`, recorded. A worker's readings never go
/// backwards (see [`monotonic_now`]); after a restart they come from the
/// oplog first.
struct DurableMonotonicClock(SharedJournal);

impl HostMonotonicClock for DurableMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        monotonic_now(&self.0)
    }
}

/// A reading of the monotonic clock, recorded in `journal` (returned from
/// it on replay). Never below the worker's previous reading: the clock is
/// the system's (nanoseconds since the epoch, so that it goes on across
/// restarts and moves between executors, unlike a process-local
/// `Instant`), which can be stepped back.
pub(crate) fn monotonic_now(journal: &SharedJournal) -> u64 {
    let floor = journal.monotonic_floor();
    let bytes = journal.local(MONOTONIC_CLOCK_NOW, &[], || {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(now.as_nanos())
            .unwrap_or(u64::MAX)
            .max(floor)
            .to_le_bytes()
            .to_vec()
    });
    let reading = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    journal.raise_monotonic_floor(reading);
    reading
}

/// Most bytes one `get-random-bytes` call may ask for (a guest seeding its
/// own generator needs a few dozen).
pub const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// What a whole `get-random-bytes` call journals as its request, before
/// the length: unlike the 8-byte request of one draw.
const WHOLE_CALL: &[u8] = b"bytes:";

/// `len` random bytes from `function` (secure or insecure), recorded as one
/// entry (returned from the oplog on replay). An oplog that recorded such a
/// call one draw per byte (as wasmtime-wasi draws them: the low byte of a
/// 4-byte draw each) is replayed that way.
pub(crate) fn random_bytes(
    journal: &SharedJournal,
    function: &'static str,
    len: u64,
) -> crate::error::Result<Vec<u8>> {
    // Nothing to draw: nothing journaled (as earlier builds did not).
    if len == 0 {
        return Ok(Vec::new());
    }
    let count = usize::try_from(len).unwrap_or(usize::MAX);
    // An earlier build's record is replayed whatever its length (its own
    // limit was 64 MiB); the limit holds for calls journaled here.
    if recorded_per_draw(journal, function) {
        let mut rng = DurableRng {
            journal: journal.clone(),
            function,
        };
        return Ok((0..count)
            .map(|_| rand::Rng::next_u32(&mut rng) as u8)
            .collect());
    }
    if len > MAX_RANDOM_BYTES {
        return Err(crate::error::Error::GuestRequestRefused(format!(
            "the guest asked `{function}` for {len} bytes in one call; at most \
             {MAX_RANDOM_BYTES} are served per call"
        )));
    }
    let mut request = WHOLE_CALL.to_vec();
    request.extend_from_slice(&len.to_le_bytes());
    let mut out = journal.local(function, &request, || {
        let mut buf = vec![0u8; count];
        rand::fill(&mut buf[..]);
        buf
    });
    // A recorded value of the wrong length can only come from a diverged
    // replay, which the journal has already reported; keep the shape.
    out.resize(count, 0);
    Ok(out)
}

/// Whether the next recorded entry is one 4-byte draw of `function`: the
/// first byte of a call an earlier build journaled one draw per byte.
fn recorded_per_draw(journal: &SharedJournal, function: &str) -> bool {
    journal.next_recorded_is(|kind| {
        matches!(
            kind,
            reprise_oplog::EntryKind::ImportedFunctionInvoked { function: f, request, .. }
                if f == function && request.as_bytes() == 4u64.to_le_bytes()
        )
    })
}

/// A random source whose output is recorded (one entry per request).
struct DurableRng {
    journal: SharedJournal,
    function: &'static str,
}

impl DurableRng {
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let request = u64::try_from(len).unwrap_or(u64::MAX).to_le_bytes();
        let mut out = self.journal.local(self.function, &request, || {
            let mut buf = vec![0u8; len];
            rand::fill(&mut buf[..]);
            buf
        });
        // A recorded value of the wrong length can only come from a diverged
        // replay, which the journal has already reported; keep the shape.
        out.resize(len, 0);
        out
    }
}

impl TryRng for DurableRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let b = self.bytes(4);
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let b = self.bytes(8);
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        let b = self.bytes(dest.len());
        dest.copy_from_slice(&b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use reprise_oplog::WorkerId;

    use super::*;

    #[test]
    fn duration_round_trips_and_short_input_is_zero() {
        let d = Duration::new(1_700_000_000, 123);
        let mut bytes = d.as_secs().to_le_bytes().to_vec();
        bytes.extend_from_slice(&d.subsec_nanos().to_le_bytes());
        assert_eq!(decode_duration(&bytes), d);
        assert_eq!(decode_duration(&[1, 2]), Duration::ZERO);
    }

    #[test]
    fn monotonic_readings_never_go_back() {
        // The clock is the system's, which can be stepped back (NTP, or a
        // worker moving to an executor whose clock is behind).
        let journal = SharedJournal::new(WorkerId::new("w").unwrap(), Vec::new());
        let ahead = monotonic_now(&journal) + 3_600_000_000_000;
        journal.raise_monotonic_floor(ahead);
        assert_eq!(monotonic_now(&journal), ahead, "held at the floor");
        assert!(monotonic_now(&journal) >= ahead);
    }

    #[test]
    fn a_call_for_random_bytes_is_one_entry_and_replays() {
        // wasmtime-wasi drew them one at a time: 4096 entries for 4096 bytes.
        let live = SharedJournal::new(WorkerId::new("w").unwrap(), Vec::new());
        let bytes = random_bytes(&live, RANDOM_BYTES, 4096).unwrap();
        assert_eq!(bytes.len(), 4096);
        let recorded: Vec<_> = live
            .take_pending()
            .into_iter()
            .zip(2..)
            .map(|(entry, index)| crate::durable::Recorded {
                index: reprise_oplog::OplogIndex::new(index).unwrap(),
                entry,
            })
            .collect();
        assert_eq!(recorded.len(), 1);
        let replay = SharedJournal::new(WorkerId::new("w").unwrap(), recorded);
        assert_eq!(random_bytes(&replay, RANDOM_BYTES, 4096).unwrap(), bytes);
        assert!(!replay.is_replaying() && replay.take_divergence().is_none());

        let err = random_bytes(&live, RANDOM_BYTES, MAX_RANDOM_BYTES + 1).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        // Nothing drawn, nothing journaled, as earlier builds did.
        assert!(random_bytes(&live, RANDOM_BYTES, 0).unwrap().is_empty());
        assert_eq!(live.pending_len(), 0);
    }

    #[test]
    fn a_call_journaled_one_draw_per_byte_still_replays() {
        let draw = |index: u64, response: [u8; 4]| crate::durable::Recorded {
            index: reprise_oplog::OplogIndex::new(index).unwrap(),
            entry: reprise_oplog::OplogEntry::now(
                reprise_oplog::EntryKind::ImportedFunctionInvoked {
                    function: RANDOM_BYTES.into(),
                    request: reprise_oplog::Payload::new(4u64.to_le_bytes().to_vec()),
                    request_hash: reprise_oplog::RequestHash::of(&4u64.to_le_bytes()),
                    response: reprise_oplog::Payload::new(response.to_vec()),
                    side_effect_class: reprise_oplog::SideEffectClass::LocalNondeterminism,
                },
            ),
        };
        let journal = SharedJournal::new(
            WorkerId::new("w").unwrap(),
            vec![
                draw(2, [1, 2, 3, 4]),
                draw(3, [5, 6, 7, 8]),
                draw(4, [9, 0, 0, 0]),
            ],
        );
        assert_eq!(
            random_bytes(&journal, RANDOM_BYTES, 3).unwrap(),
            vec![1, 5, 9]
        );
        assert!(!journal.is_replaying() && journal.take_divergence().is_none());
    }
}
