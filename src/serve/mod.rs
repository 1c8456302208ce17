//! `evalgate serve-mock`: an OpenAI- and Anthropic-compatible HTTP server
//! that answers from a `mock` provider's fixtures file, with the same
//! matching ([`MockResponses::answer`]), for an app's own tests and for
//! benchmarks. Latency, errors, 429s and stream faults come from
//! [`faults::Faults`]; every decision is drawn from `--seed` and the
//! request's number, so a seed replays a run.
//!
//! Routes: `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` and
//! `POST /anthropic/v1/messages` (Anthropic). A `case` rule matches the
//! `X-Mock-Case` header as the `mock` provider matches the case it runs
//! (`suite/id` matches rules `id` and `suite/id`; `id` matches rule `id`);
//! `X-Mock-Repeat` (from 1) picks among `replies`.

pub(crate) mod faults;
pub(crate) mod wire;

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::error::Error;
use crate::provider::estimate_tokens;
use crate::provider::mock::{MockResponses, Reply};
use faults::{Fault, Faults};
use wire::Api;

/// The largest request body read.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long open connections get to finish after a stop signal.
const DRAIN: Duration = Duration::from_secs(2);

pub(crate) struct Options {
    pub(crate) responses: MockResponses,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The model named in answers when the request names none.
    pub(crate) model: String,
    pub(crate) faults: Faults,
    pub(crate) seed: u64,
    pub(crate) log: Option<PathBuf>,
    /// Stamp each stream event with its send time.
    pub(crate) stamp_events: bool,
}

struct State {
    responses: MockResponses,
    model: String,
    faults: Faults,
    seed: u64,
    stamp_events: bool,
    next: AtomicU64,
    /// When the server was bound: the origin of `--pause-every`.
    started: std::time::Instant,
    log: Option<Mutex<std::io::LineWriter<std::fs::File>>>,
}

type Body = BoxBody<Bytes, Infallible>;

/// Serve until `stop` resolves, then let open requests finish (at most
/// [`DRAIN`]). Prints `listening on http://ADDR` on stdout once bound.
pub(crate) async fn run(opts: Options, stop: impl Future<Output = ()>) -> Result<(), Error> {
    let log = match &opts.log {
        Some(p) => Some(Mutex::new(std::io::LineWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::Output {
                    path: p.display().to_string(),
                    source: e,
                })?,
        ))),
        None => None,
    };
    let addr = format!("{}:{}", opts.host, opts.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| Error::Infrastructure(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Infrastructure(format!("cannot read the bound address: {e}")))?;
    {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "listening on http://{}", display_addr(bound));
        let _ = out.flush();
    }
    let state = Arc::new(State {
        responses: opts.responses,
        model: opts.model,
        faults: opts.faults,
        stamp_events: opts.stamp_events,
        seed: opts.seed,
        next: AtomicU64::new(0),
        started: std::time::Instant::now(),
        log,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: try again shortly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let service = hyper::service::service_fn(move |req| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(handle(&state, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {}
    }
    Ok(())
}

/// `X-Mock-Case`: `suite/id` or `id`, matched as the `mock` provider
/// matches the case it runs.
fn split_case(c: &str) -> (&str, &str) {
    c.rsplit_once('/').unwrap_or(("", c))
}

fn display_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// One line of the request log.
struct LogLine<'a> {
    n: u64,
    api: Option<Api>,
    path: &'a str,
    model: Option<&'a str>,
    stream: bool,
    status: u16,
    fault: Option<Fault>,
    latency: Duration,
    input_tokens: u64,
    output_tokens: u64,
}

impl State {
    fn log(&self, l: LogLine<'_>) {
        let Some(log) = &self.log else {
            return;
        };
        let line = json!({
            "n": l.n,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "api": l.api.map(Api::name),
            "path": l.path,
            "model": l.model,
            "stream": l.stream,
            "status": l.status,
            "fault": l.fault.map(Fault::name),
            "latency_ms": (l.latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            "input_tokens": l.input_tokens,
            "output_tokens": l.output_tokens,
        });
        if let Ok(mut w) = log.lock() {
            let _ = writeln!(w, "{line}");
        }
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    // A whole-server stall (`--pause-every`): a request that arrives during
    // a pause waits for its end before anything else happens to it.
    if let Some(pause) = &state.faults.pause {
        let wait = pause.remaining(state.started.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    let n = state.next.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    let api = match path.as_str() {
        "/v1/chat/completions" => Some(Api::OpenAi),
        "/v1/messages" | "/anthropic/v1/messages" => Some(Api::Anthropic),
        _ => None,
    };
    let mut line = LogLine {
        n,
        api,
        path: &path,
        model: None,
        stream: false,
        status: 404,
        fault: None,
        latency: Duration::ZERO,
        input_tokens: 0,
        output_tokens: 0,
    };
    let Some(api) = api else {
        state.log(line);
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": format!("no route for {path}: serve-mock answers POST /v1/chat/completions and POST /v1/messages"), "type": "invalid_request_error"}}),
        );
    };
    if req.method() != Method::POST {
        line.status = 405;
        state.log(line);
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &wire::error_body(api, 405, "use POST"),
        );
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let case = header("x-mock-case");
    let repeat = header("x-mock-repeat")
        .and_then(|r| r.trim().parse::<u32>().ok())
        .unwrap_or(1);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            line.status = 400;
            state.log(line);
            return json_response(
                StatusCode::BAD_REQUEST,
                &wire::error_body(api, 400, &format!("cannot read the body: {e}")),
            );
        }
    };
    let chat = match wire::parse_request(api, &body) {
        Ok(c) => c,
        Err(e) => {
            line.status = 400;
            state.log(line);
            return json_response(StatusCode::BAD_REQUEST, &wire::error_body(api, 400, &e));
        }
    };
    let model = chat.model.clone().unwrap_or_else(|| state.model.clone());
    line.stream = chat.stream;
    let found = state
        .responses
        .answer(case.as_deref().map(split_case), &chat.prompt, repeat);
    // A rule's own faults replace the flags for the requests it answers.
    let own;
    let faults = match found.faults {
        Some(o) => {
            own = state.faults.with(o);
            &own
        }
        None => &state.faults,
    };
    let decision = faults.decide(state.seed, n, chat.stream);
    let latency = found.latency.unwrap_or(decision.latency);
    line.latency = latency;
    line.fault = decision.fault;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let finish = |line: LogLine<'_>, status: StatusCode, v: &Value| {
        state.log(LogLine {
            status: status.as_u16(),
            model: Some(&model),
            ..line
        });
        json_response(status, v)
    };
    match decision.fault {
        Some(Fault::RateLimited) => {
            let mut r = finish(
                line,
                StatusCode::TOO_MANY_REQUESTS,
                &wire::error_body(api, 429, "rate limited by serve-mock (--rate-limit-rate)"),
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(faults.retry_after));
            return r;
        }
        Some(Fault::Error) => {
            let status = StatusCode::from_u16(faults.error_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return finish(
                line,
                status,
                &wire::error_body(
                    api,
                    status.as_u16(),
                    "injected error from serve-mock (--error-rate)",
                ),
            );
        }
        _ => {}
    }
    let text = match found.reply {
        Reply::Text(t) => t,
        Reply::Error(e) => {
            return finish(
                line,
                StatusCode::BAD_REQUEST,
                &wire::error_body(api, 400, e),
            );
        }
        Reply::Nothing => {
            return finish(
                line,
                StatusCode::BAD_REQUEST,
                &wire::error_body(
                    api,
                    400,
                    "mock has no response for this request and no `default`",
                ),
            );
        }
    };
    let input_tokens = estimate_tokens(&chat.prompt);
    let output_tokens = estimate_tokens(text);
    line.input_tokens = input_tokens;
    line.output_tokens = output_tokens;
    let answer = wire::Answer {
        id: match api {
            Api::OpenAi => format!("chatcmpl-mock-{n}"),
            Api::Anthropic => format!("msg_mock_{n}"),
        },
        model: &model,
        text,
        input_tokens,
        output_tokens,
        tool_calls: found.tool_calls,
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    if !chat.stream {
        return finish(line, StatusCode::OK, &wire::whole(api, &answer));
    }
    let events = wire::stream(api, &answer, chat.include_usage);
    state.log(LogLine {
        status: 200,
        model: Some(&model),
        ..line
    });
    stream_response(api, events, faults, decision.fault, state.stamp_events)
}

/// One event of a stream: wait, then send (or wait forever when `None`).
type Step = (Option<Duration>, Bytes);

fn stream_response(
    api: Api,
    events: wire::StreamEvents,
    faults: &Faults,
    fault: Option<Fault>,
    stamp: bool,
) -> Response<Body> {
    let mut steps: Vec<Step> = events
        .head
        .into_iter()
        .map(|b| (Some(Duration::ZERO), b))
        .collect();
    // A fault strikes halfway through the text (after at least one piece).
    let cut = events
        .tokens
        .len()
        .div_ceil(2)
        .max(1)
        .min(events.tokens.len());
    let mut tokens_sent = 0;
    for (i, b) in events.tokens.into_iter().enumerate() {
        if i == cut {
            match fault {
                Some(Fault::Truncated) => break,
                Some(Fault::Stalled) => steps.push((faults.stall_for, Bytes::new())),
                Some(Fault::Malformed) => {
                    steps.push((Some(faults.token_delay), wire::malformed(api)));
                }
                _ => {}
            }
        }
        let delay = if i == 0 {
            faults.ttft
        } else {
            faults.token_delay
        };
        steps.push((Some(delay), b));
        tokens_sent += 1;
    }
    // A truncated stream ends without its closing events.
    if fault != Some(Fault::Truncated) {
        if tokens_sent == 0 {
            // An empty answer still waits for its first token; a fault
            // strikes there.
            steps.push((Some(faults.ttft), Bytes::new()));
            match fault {
                Some(Fault::Stalled) => steps.push((faults.stall_for, Bytes::new())),
                Some(Fault::Malformed) => steps.push((Some(Duration::ZERO), wire::malformed(api))),
                _ => {}
            }
        }
        steps.extend(events.tail.into_iter().map(|b| (Some(Duration::ZERO), b)));
    }
    let stream = futures::stream::iter(steps).then(move |(delay, bytes)| async move {
        match delay {
            Some(d) if !d.is_zero() => tokio::time::sleep(d).await,
            Some(_) => {}
            None => std::future::pending::<()>().await,
        }
        // The stamp is taken as the event leaves, after its delay.
        let bytes = if stamp && !bytes.is_empty() {
            let us = std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            let mut b = format!(": sent_us={us}\n").into_bytes();
            b.extend_from_slice(&bytes);
            Bytes::from(b)
        } else {
            bytes
        };
        Ok::<_, Infallible>(Frame::data(bytes))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}
