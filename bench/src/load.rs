//! The closed-loop load generator: `concurrency` workers, each on its own keep-alive HTTP/1.1
//! connection, send one request after another until the time or the request budget runs
//! out. Every answer's status is checked; the first unexpected one stops the run and fails
//! it, so a broken scenario can never report throughput.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// One request of a scenario, independent of the server it goes to.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path and query, e.g. `/api/collections/messages/records?perPage=20`.
    pub uri: String,
    pub json_body: Option<Bytes>,
    pub token: Option<String>,
}

/// Builds the request a worker sends next, from the worker's index and how many requests
/// it has sent so far (so each worker can act as a different user and vary its ids).
pub type RequestFn = Arc<dyn Fn(usize, u64) -> Request + Send + Sync>;

#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub duration: Duration,
    /// Upper bound on the requests of one run, whatever the duration.
    pub max_requests: u64,
}

pub struct LoadOutcome {
    pub requests: u64,
    pub elapsed: Duration,
    /// Latencies in microseconds.
    pub latency: Histogram<u64>,
}

pub fn new_histogram() -> Histogram<u64> {
    // 1 µs to 5 min at 3 significant digits.
    Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds")
}

pub async fn run(
    addr: SocketAddr,
    spec: LoadSpec,
    expected: StatusCode,
    make: RequestFn,
) -> Result<LoadOutcome> {
    let budget = Arc::new(AtomicU64::new(spec.max_requests));
    let abort = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + spec.duration;
    let mut workers = JoinSet::new();
    for worker in 0..spec.concurrency {
        let run = Worker {
            index: worker,
            addr,
            deadline,
            budget: budget.clone(),
            abort: abort.clone(),
            make: make.clone(),
            expected,
        };
        workers.spawn(run.run());
    }
    let mut latency = new_histogram();
    let mut requests = 0;
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(worker_latency) => {
                requests += worker_latency.len();
                latency.add(&worker_latency)?;
            }
            Err(err) => {
                abort.store(true, Ordering::Relaxed);
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    if requests == 0 {
        bail!("no request completed");
    }
    Ok(LoadOutcome {
        requests,
        elapsed: started.elapsed(),
        latency,
    })
}

/// Sends `request` once on a new connection and returns the body if the status is
/// `expected`: the check every scenario passes on every server before it is measured.
pub async fn send_once(addr: SocketAddr, request: &Request, expected: StatusCode) -> Result<Bytes> {
    let mut sender = connect(addr).await?;
    let (status, body) = send(&mut sender, addr, request).await?;
    check_status(request, expected, status, &body)?;
    Ok(body)
}

struct Worker {
    index: usize,
    addr: SocketAddr,
    deadline: Instant,
    budget: Arc<AtomicU64>,
    abort: Arc<AtomicBool>,
    make: RequestFn,
    expected: StatusCode,
}

impl Worker {
    async fn run(self) -> Result<Histogram<u64>> {
        let mut sender = connect(self.addr).await?;
        let mut latency = new_histogram();
        let mut sent = 0;
        while Instant::now() < self.deadline
            && !self.abort.load(Ordering::Relaxed)
            && self.take_budget()
        {
            let request = (self.make)(self.index, sent);
            sent += 1;
            let started = Instant::now();
            let (status, body) = send(&mut sender, self.addr, &request).await?;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            check_status(&request, self.expected, status, &body)?;
            latency.saturating_record(micros.max(1));
        }
        Ok(latency)
    }

    fn take_budget(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the server or the sender closes the connection; an
    // error there shows up in the sender's next request.
    tokio::spawn(connection);
    Ok(sender)
}

pub fn build(addr: SocketAddr, request: &Request) -> Result<hyper::Request<Full<Bytes>>> {
    let mut builder = hyper::Request::builder()
        .method(request.method.clone())
        .uri(&request.uri)
        .header(HOST, addr.to_string());
    if request.json_body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    if let Some(token) = &request.token {
        builder = builder.header(AUTHORIZATION, token);
    }
    let body = request.json_body.clone().unwrap_or_default();
    Ok(builder.body(Full::new(body))?)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    request: &Request,
) -> Result<(StatusCode, Bytes)> {
    sender
        .ready()
        .await
        .with_context(|| format!("{} {}: connection lost", request.method, request.uri))?;
    let response = sender
        .send_request(build(addr, request)?)
        .await
        .with_context(|| format!("{} {}", request.method, request.uri))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn check_status(
    request: &Request,
    expected: StatusCode,
    status: StatusCode,
    body: &Bytes,
) -> Result<()> {
    if status == expected {
        return Ok(());
    }
    let shown: String = String::from_utf8_lossy(body).chars().take(500).collect();
    Err(anyhow!(
        "{} {} answered {status} (expected {expected}): {shown}",
        request.method,
        request.uri
    ))
}
