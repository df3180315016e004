//! Test guest: a client of `routeguide.RouteGuide` that exercises every call
//! shape of the WIT Reprise generates from `route_guide.proto` — unary
//! (`GetFeature`), server streaming (`ListFeatures`, read fully, partly, or
//! re-opened after an interruption), client streaming (`RecordRoute`) and
//! bidi streaming (`RouteChat`).

wit_bindgen::generate!({ world: "route-guide-client", path: "wit", generate_all });

use example::routeguide::route_guide::{self, ListFeaturesStream};
use example::routeguide::types::{Point, Rectangle, RouteNote};
use reprise::grpc::types::{CallOptions, Duration, RpcStatus, StatusCode};

/// Upper bound on the responses read from one stream: a guard against a
/// server that never ends a stream, far above anything a test sends.
const MAX_RESPONSES: usize = 1 << 20;

/// How many times `list-features-resilient` re-opens the call at most.
const MAX_REOPENS: u32 = 3;

/// The error string tests match on: `"<Code:?>: <message>"`.
fn describe(status: RpcStatus) -> String {
    format!("{:?}: {}", status.code, status.message)
}

/// The rectangle with corners (lo-latitude, lo-longitude) and (hi-latitude, hi-longitude).
fn rectangle(
    lo_latitude: i32,
    lo_longitude: i32,
    hi_latitude: i32,
    hi_longitude: i32,
) -> Rectangle {
    Rectangle {
        lo: Some(Point {
            latitude: lo_latitude,
            longitude: lo_longitude,
        }),
        hi: Some(Point {
            latitude: hi_latitude,
            longitude: hi_longitude,
        }),
    }
}

/// The error for a stream that went past [`MAX_RESPONSES`].
fn too_many(what: &str) -> String {
    format!("{what} sent more than {MAX_RESPONSES} responses without ending the stream")
}

/// Reads `stream` to its end, appending feature names to `names`.
fn read_all(stream: &ListFeaturesStream, names: &mut Vec<String>) -> Result<(), String> {
    for _ in 0..MAX_RESPONSES {
        match stream.next().map_err(describe)? {
            Some(feature) => names.push(feature.name),
            None => return Ok(()),
        }
    }
    Err(too_many("ListFeatures"))
}

/// How one opening of `ListFeatures` in `list-features-resilient` ended.
enum Attempt {
    /// The server finished the stream.
    Finished,
    /// `next` failed with `unavailable` (e.g. interrupted by a restart).
    Interrupted(RpcStatus),
}

/// Reads one opening of the resilient listing: the first `names.len()`
/// responses are ones already held and are skipped; later ones are appended.
fn resilient_attempt(
    stream: &ListFeaturesStream,
    names: &mut Vec<String>,
) -> Result<Attempt, String> {
    let already = names.len();
    for seen in 0..MAX_RESPONSES {
        match stream.next() {
            Ok(Some(feature)) => {
                if seen >= already {
                    names.push(feature.name);
                }
            }
            Ok(None) => return Ok(Attempt::Finished),
            Err(status) if status.code == StatusCode::Unavailable => {
                return Ok(Attempt::Interrupted(status));
            }
            Err(status) => return Err(describe(status)),
        }
    }
    Err(too_many("ListFeatures"))
}

struct RouteGuideClient;

impl Guest for RouteGuideClient {
    fn get_feature(latitude: i32, longitude: i32) -> Result<String, String> {
        route_guide::get_feature(
            Point {
                latitude,
                longitude,
            },
            None,
        )
        .map(|feature| feature.name)
        .map_err(describe)
    }

    fn get_feature_within(latitude: i32, longitude: i32, deadline_ms: u64) -> Result<String, String> {
        route_guide::get_feature(
            Point {
                latitude,
                longitude,
            },
            Some(&within(deadline_ms)),
        )
        .map(|feature| feature.name)
        .map_err(describe)
    }

    fn list_features(
        lo_latitude: i32,
        lo_longitude: i32,
        hi_latitude: i32,
        hi_longitude: i32,
    ) -> Result<Vec<String>, String> {
        let area = rectangle(lo_latitude, lo_longitude, hi_latitude, hi_longitude);
        let stream = route_guide::list_features(area, None).map_err(describe)?;
        let mut names = Vec::new();
        read_all(&stream, &mut names)?;
        Ok(names)
    }

    fn list_features_after_get(
        lo_latitude: i32,
        lo_longitude: i32,
        hi_latitude: i32,
        hi_longitude: i32,
    ) -> Result<Vec<String>, String> {
        let area = rectangle(lo_latitude, lo_longitude, hi_latitude, hi_longitude);
        let stream = route_guide::list_features(area, None).map_err(describe)?;
        // A journaled call between the opening and the first step.
        let _ = route_guide::get_feature(
            Point {
                latitude: 1,
                longitude: 1,
            },
            None,
        );
        let mut names = Vec::new();
        read_all(&stream, &mut names)?;
        Ok(names)
    }

    fn list_features_take(
        lo_latitude: i32,
        lo_longitude: i32,
        hi_latitude: i32,
        hi_longitude: i32,
        take: u32,
    ) -> Result<Vec<String>, String> {
        let area = rectangle(lo_latitude, lo_longitude, hi_latitude, hi_longitude);
        let stream = route_guide::list_features(area, None).map_err(describe)?;
        let mut names = Vec::new();
        for _ in 0..take {
            match stream.next().map_err(describe)? {
                Some(feature) => names.push(feature.name),
                None => break,
            }
        }
        // Dropping the resource before the server finished cancels the call.
        drop(stream);
        Ok(names)
    }

    fn list_features_resilient(
        lo_latitude: i32,
        lo_longitude: i32,
        hi_latitude: i32,
        hi_longitude: i32,
    ) -> Result<(Vec<String>, u32), String> {
        let area = rectangle(lo_latitude, lo_longitude, hi_latitude, hi_longitude);
        let mut names = Vec::new();
        let mut opens = 0;
        let mut last = String::new();
        for _ in 0..=MAX_REOPENS {
            let stream = route_guide::list_features(area, None).map_err(describe)?;
            opens += 1;
            match resilient_attempt(&stream, &mut names)? {
                Attempt::Finished => return Ok((names, opens)),
                Attempt::Interrupted(status) => last = describe(status),
            }
        }
        Err(format!("gave up after {MAX_REOPENS} re-opens: {last}"))
    }

    fn record_route(points: Vec<(i32, i32)>) -> Result<(i32, i32, i32), String> {
        let call = route_guide::record_route(None).map_err(describe)?;
        for (latitude, longitude) in points {
            // A refused send means the call has ended (the server answered
            // or failed early): `finish` says how.
            if call
                .send(Point {
                    latitude,
                    longitude,
                })
                .is_err()
            {
                break;
            }
        }
        let summary = call.finish().map_err(describe)?;
        Ok((summary.point_count, summary.feature_count, summary.distance))
    }

    fn route_chat(notes: Vec<(i32, i32, String)>) -> Result<Vec<String>, String> {
        let call = route_guide::route_chat(None).map_err(describe)?;
        for (latitude, longitude, message) in notes {
            let note = RouteNote {
                location: Some(Point {
                    latitude,
                    longitude,
                }),
                message,
            };
            // A refused send means the call has ended: `next` yields what
            // the server sent before it, then the outcome.
            if call.send(&note).is_err() {
                break;
            }
        }
        // Fails only on a call that already failed; `next` says how.
        let _ = call.close_send();
        let mut messages = Vec::new();
        for _ in 0..MAX_RESPONSES {
            match call.next().map_err(describe)? {
                Some(note) => messages.push(note.message),
                None => return Ok(messages),
            }
        }
        Err(too_many("RouteChat"))
    }

    fn list_features_within(
        lo_latitude: i32,
        lo_longitude: i32,
        hi_latitude: i32,
        hi_longitude: i32,
        deadline_ms: u64,
    ) -> Result<Vec<String>, String> {
        let area = rectangle(lo_latitude, lo_longitude, hi_latitude, hi_longitude);
        let stream =
            route_guide::list_features(area, Some(&within(deadline_ms))).map_err(describe)?;
        let mut names = Vec::new();
        read_all(&stream, &mut names)?;
        Ok(names)
    }

    fn chat_send_after_close(
        notes: Vec<(i32, i32, String)>,
    ) -> Result<(String, Vec<String>), String> {
        let call = route_guide::route_chat(None).map_err(describe)?;
        let note = |(latitude, longitude, message): (i32, i32, String)| RouteNote {
            location: Some(Point {
                latitude,
                longitude,
            }),
            message,
        };
        for each in notes {
            call.send(&note(each)).map_err(describe)?;
        }
        call.close_send().map_err(describe)?;
        let refusal = match call.send(&note((0, 0, "late".into()))) {
            Ok(()) => return Err("a send after close-send was accepted".into()),
            Err(status) => describe(status),
        };
        let mut messages = Vec::new();
        for _ in 0..MAX_RESPONSES {
            match call.next().map_err(describe)? {
                Some(note) => messages.push(note.message),
                None => return Ok((refusal, messages)),
            }
        }
        Err(too_many("RouteChat"))
    }

    fn chat_after_random(close_first: bool) -> Result<u64, String> {
        let call = route_guide::route_chat(None).map_err(describe)?;
        let drawn = wasi::random::random::get_random_u64();
        let here = Point {
            latitude: 1,
            longitude: 1,
        };
        if close_first {
            call.close_send().map_err(describe)?;
        } else {
            let note = RouteNote {
                location: Some(here),
                message: drawn.to_string(),
            };
            call.send(&note).map_err(describe)?;
        }
        route_guide::get_feature(here, None).map_err(describe)?;
        let _ = call.close_send();
        for _ in 0..MAX_RESPONSES {
            if call.next().map_err(describe)?.is_none() {
                return Ok(drawn);
            }
        }
        Err(too_many("RouteChat"))
    }
}

export!(RouteGuideClient);

/// Call options with a deadline `deadline_ms` from now.
fn within(deadline_ms: u64) -> CallOptions {
    CallOptions {
        deadline: Some(Duration {
            seconds: i64::try_from(deadline_ms / 1_000).unwrap_or(i64::MAX),
            nanos: i32::try_from(deadline_ms % 1_000 * 1_000_000).unwrap_or(0),
        }),
        metadata: Vec::new(),
    }
}
