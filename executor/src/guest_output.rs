//! The guest's stdout and stderr.
//!
//! A worker's WASI output streams are not inherited from the executor.
//! Instead, each complete line the guest writes live is logged by the
//! executor (target `reprise::guest`, with the worker's id and the stream),
//! and the last [`STDERR_TAIL`] bytes of stderr that the running invocation
//! wrote are kept, so that a trap can say what the guest printed before it
//! (a Rust guest's panic message, say) rather than only its wasm backtrace.
//!
//! Output written while the worker replays recorded invocations is not
//! logged again; it is still kept for the trap message, so a replayed trap
//! reads the same as the live one did.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use reprise_oplog::WorkerId;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How many bytes of an invocation's stderr a trap message quotes at most.
pub const STDERR_TAIL: usize = 2048;

/// Longest line logged whole; a longer one is logged in pieces this long.
const MAX_LINE: usize = 4096;

/// Which of the guest's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `wasi:cli/stdout`.
    Stdout,
    /// `wasi:cli/stderr`.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn slot(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// The output of one worker: shared by its two streams and by the worker,
/// which starts each invocation with [`GuestOutput::begin`] and reads
/// [`GuestOutput::stderr_tail`] when the guest traps.
#[derive(Clone)]
pub struct GuestOutput(Arc<Mutex<State>>);

struct State {
    worker: WorkerId,
    /// Whether lines are logged (the invocation runs live).
    live: bool,
    /// Whether the live invocation is still replaying its recorded part
    /// (one in flight at a restart): that part's lines were logged before.
    replaying: Box<dyn Fn() -> bool + Send>,
    /// The end of the running invocation's stderr, at most `STDERR_TAIL`.
    tail: Vec<u8>,
    /// The unfinished last line of each stream.
    partial: [Vec<u8>; 2],
}

impl GuestOutput {
    /// The output of `worker`, which starts out replaying (nothing logged).
    /// `replaying` says whether a live invocation still replays recorded
    /// entries (the journal knows).
    pub fn new(worker: WorkerId, replaying: impl Fn() -> bool + Send + 'static) -> Self {
        GuestOutput(Arc::new(Mutex::new(State {
            worker,
            live: false,
            replaying: Box::new(replaying),
            tail: Vec::new(),
            partial: [Vec::new(), Vec::new()],
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain buffers behind.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An invocation starts: the stderr tail starts empty, and what the guest
    /// writes from now on is logged if `live`. The unfinished lines of the
    /// invocation before are logged first.
    pub fn begin(&self, live: bool) {
        let mut state = self.lock();
        state.flush_partial();
        state.tail.clear();
        state.live = live;
    }

    /// What the running invocation wrote to stderr last (at most
    /// [`STDERR_TAIL`] bytes, trimmed, invalid UTF-8 replaced), if anything.
    pub fn stderr_tail(&self) -> Option<String> {
        let state = self.lock();
        let text = String::from_utf8_lossy(&state.tail);
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// A WASI stream writing to `stream` of this output.
    pub fn stream(&self, stream: Stream) -> GuestStream {
        GuestStream {
            output: self.clone(),
            stream,
        }
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut state = self.lock();
        if stream == Stream::Stderr {
            state.keep_tail(bytes);
        }
        if state.live && !(state.replaying)() {
            state.log(stream, bytes);
        }
    }
}

impl State {
    fn keep_tail(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(STDERR_TAIL)..];
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(STDERR_TAIL);
        self.tail.drain(..overflow);
        self.tail.extend_from_slice(bytes);
    }

    fn log(&mut self, stream: Stream, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[stream.slot()]);
            line.extend_from_slice(&bytes[..end]);
            self.emit(stream, &line);
            bytes = &bytes[end + 1..];
        }
        let partial = &mut self.partial[stream.slot()];
        partial.extend_from_slice(bytes);
        if partial.len() >= MAX_LINE {
            let line = std::mem::take(partial);
            self.emit(stream, &line);
        }
    }

    fn flush_partial(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.partial[stream.slot()]);
            if !line.is_empty() {
                self.emit(stream, &line);
            }
        }
    }

    /// Logs `line`, in pieces of at most [`MAX_LINE`] bytes.
    fn emit(&self, stream: Stream, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        for piece in pieces(line) {
            tracing::info!(
                target: "reprise::guest",
                worker = %self.worker,
                stream = stream.name(),
                "{piece}"
            );
        }
    }
}

/// `line` cut between characters into pieces of at most [`MAX_LINE`]
/// bytes (one empty piece for an empty line).
fn pieces(mut line: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(line.len() / MAX_LINE + 1);
    // Bounded: each round takes at least one character.
    loop {
        let cut = match line.floor_char_boundary(MAX_LINE) {
            0 => line.ceil_char_boundary(1),
            cut => cut,
        };
        let (piece, rest) = line.split_at(cut.min(line.len()));
        out.push(piece);
        if rest.is_empty() {
            return out;
        }
        line = rest;
    }
}

/// One of a worker's output streams, as WASI sees it: writes never block
/// and never fail.
#[derive(Clone)]
pub struct GuestStream {
    output: GuestOutput,
    stream: Stream,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.output.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.output.write(self.stream, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by every test that logs: tracing caches whether a call site
    /// is enabled when the first thread reaches it, and a test without a
    /// subscriber racing the one that captures its lines made that one
    /// see nothing (4 runs in 10).
    static LOGGING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn logging() -> std::sync::MutexGuard<'static, ()> {
        LOGGING.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn output() -> GuestOutput {
        GuestOutput::new(WorkerId::new("w").expect("a valid id"), || false)
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_of_the_invocations_stderr() {
        let _logging = logging();
        let out = output();
        out.begin(true);
        assert_eq!(out.stderr_tail(), None);
        out.write(Stream::Stdout, b"not stderr\n");
        assert_eq!(out.stderr_tail(), None);
        out.write(Stream::Stderr, &[b'x'; STDERR_TAIL]);
        out.write(Stream::Stderr, b"\npanicked at src/lib.rs: boom\n");
        let tail = out.stderr_tail().expect("a tail");
        assert!(tail.ends_with("panicked at src/lib.rs: boom"), "{tail}");
        assert!(tail.len() <= STDERR_TAIL, "{}", tail.len());
        assert!(tail.starts_with('x'), "{tail}");

        // A write longer than the tail keeps its end.
        let mut long = vec![b'a'; 3 * STDERR_TAIL];
        long.extend_from_slice(b"end");
        out.write(Stream::Stderr, &long);
        let tail = out.stderr_tail().expect("a tail");
        assert_eq!(tail.len(), STDERR_TAIL);
        assert!(tail.ends_with("aend"));

        // The next invocation starts empty.
        out.begin(false);
        assert_eq!(out.stderr_tail(), None);
        out.write(Stream::Stderr, b"\xff replayed\n");
        assert_eq!(out.stderr_tail().as_deref(), Some("\u{fffd} replayed"));
    }

    /// A log writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("unpoisoned").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn live_lines_are_logged_with_the_worker_and_the_stream_replayed_ones_are_not() {
        let _logging = logging();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let replaying = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = replaying.clone();
        let out = GuestOutput::new(WorkerId::new("w-7").expect("a valid id"), move || {
            flag.load(std::sync::atomic::Ordering::SeqCst)
        });
        tracing::subscriber::with_default(subscriber, || {
            out.begin(false);
            out.write(Stream::Stdout, b"replayed line\n");
            out.begin(true);
            out.write(Stream::Stdout, b"hello ");
            out.write(Stream::Stdout, b"world\r\nsecond");
            out.write(Stream::Stderr, b"oops\n");
            replaying.store(true, std::sync::atomic::Ordering::SeqCst);
            out.write(
                Stream::Stderr,
                b"recorded part of an invocation in flight\n",
            );
            replaying.store(false, std::sync::atomic::Ordering::SeqCst);
            // The next invocation logs the unfinished line first.
            out.begin(true);
        });
        let log = String::from_utf8(captured.0.lock().expect("unpoisoned").clone()).expect("utf-8");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 3, "{log}");
        assert!(
            lines[0].contains("reprise::guest")
                && lines[0].contains("hello world")
                && lines[0].contains("worker=w-7")
                && lines[0].contains("stream=\"stdout\"")
                && !lines[0].contains('\r'),
            "{log}"
        );
        assert!(
            lines[1].contains("oops") && lines[1].contains("stream=\"stderr\""),
            "{log}"
        );
        assert!(lines[2].contains("second"), "{log}");
        assert!(
            !log.contains("replayed line") && !log.contains("in flight"),
            "{log}"
        );
    }

    #[test]
    fn long_lines_are_logged_in_pieces() {
        // A line ending in a newline was logged whole however long it was
        // (a 64 KiB write made one 64 KiB record).
        let long = "é".repeat(MAX_LINE); // 2 bytes each
        let cut = pieces(&long);
        assert_eq!(cut.len(), 2);
        assert!(cut.iter().all(|p| p.len() == MAX_LINE));
        assert_eq!(cut.concat(), long);
        let odd = format!("a{}", "é".repeat(MAX_LINE / 2));
        let cut = pieces(&odd);
        assert_eq!(cut[0].len(), MAX_LINE - 1, "cut between characters");
        assert_eq!(cut.concat(), odd);
        assert_eq!(pieces(""), vec![""]);
        assert_eq!(pieces("short"), vec!["short"]);
    }

    #[test]
    fn lines_are_split_and_partial_lines_are_bounded() {
        let _logging = logging();
        let out = output();
        out.begin(true);
        out.write(Stream::Stdout, b"one\ntw");
        assert_eq!(out.lock().partial[0], b"tw");
        out.write(Stream::Stdout, b"o\nthree");
        assert_eq!(out.lock().partial[0], b"three");
        out.write(Stream::Stdout, &vec![b'y'; MAX_LINE]);
        assert!(out.lock().partial[0].is_empty());
        out.write(Stream::Stderr, b"left");
        out.begin(true);
        assert!(out.lock().partial[1].is_empty());

        // Replaying, nothing is kept for logging.
        out.begin(false);
        out.write(Stream::Stdout, b"replayed");
        assert!(out.lock().partial[0].is_empty());
    }
}
