//! The accept loop. Every connection goes to axum/hyper, except an HTTP/1.1 connection that
//! opens with `GET /api/realtime`: that one is a long-lived event stream, and hyper keeps
//! about 24 KiB of read and write buffers per connection for its whole life, so thousands
//! of idle streams would cost hundreds of megabytes. Such a connection is answered here by
//! a minimal HTTP/1.1 writer (request head parsed once, then chunked frames), which holds
//! no buffer between events.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use futures_util::StreamExt;
use kb_app::{App, RateTarget, Requester};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::middleware::DEFAULT_HEADERS;
use crate::realtime::{STREAM_HEADERS, event_stream};
use crate::request::ClientIp;

/// The request line prefix the dedicated path takes (then a space or a query).
const REALTIME_PREFIX: &[u8] = b"GET /api/realtime";
/// Longest request head the dedicated path reads; longer ones are refused.
const MAX_HEAD: usize = 16 * 1024;
/// How long a new connection may take to send its first bytes before it goes to hyper
/// anyway (which then applies its own handling).
const FIRST_BYTES_WAIT: Duration = Duration::from_secs(10);
/// Connections waiting for hyper; accepting pauses while this many are queued.
const HANDOFF_QUEUE: usize = 1024;

/// Serve `app` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (handoff, incoming) = mpsc::channel(HANDOFF_QUEUE);
    let acceptor = tokio::spawn(accept_loop(listener, app.clone(), handoff));
    let service = crate::router(app).into_make_service_with_connect_info::<SocketAddr>();
    let listener = Handoff { incoming, local }.tap_io(|_| {});
    let result = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    acceptor.abort();
    result
}

/// Connections for hyper, as an axum listener.
struct Handoff {
    incoming: mpsc::Receiver<(TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when serving does.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    handoff: mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(route(stream, peer, app.clone(), handoff.clone()));
            }
            Err(error) => {
                // Out of file descriptors, usually: back off instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Peek at the first bytes: a realtime stream is served here, everything else by hyper.
async fn route(
    stream: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    handoff: mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    let mut first = [0u8; REALTIME_PREFIX.len() + 1];
    let peeked = tokio::time::timeout(FIRST_BYTES_WAIT, stream.peek(&mut first)).await;
    let is_stream = matches!(peeked, Ok(Ok(n)) if n == first.len()
        && first.starts_with(REALTIME_PREFIX)
        && matches!(first[REALTIME_PREFIX.len()], b' ' | b'?'));
    if is_stream {
        if let Err(error) = serve_stream(stream, peer, &app).await {
            tracing::debug!(%error, "realtime stream ended");
        }
    } else {
        let _ = handoff.send((stream, peer)).await;
    }
}

/// Answer one `GET /api/realtime` and stream its events until either side ends it.
async fn serve_stream(mut stream: TcpStream, peer: SocketAddr, app: &App) -> io::Result<()> {
    // The head's buffers live on the heap only while it is read, not for the whole stream.
    let Some(ip) = Box::pin(answer_head(&mut stream, peer, app)).await? else {
        return Ok(());
    };
    let events = event_stream(app, ip);
    futures_util::pin_mut!(events);
    let (mut reader, mut writer) = stream.split();
    let mut scratch = [0u8; 16];
    loop {
        tokio::select! {
            frame = events.next() => match frame {
                Some(frame) => {
                    let mut chunk = Vec::with_capacity(frame.len() + 12);
                    chunk.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
                    chunk.extend_from_slice(&frame);
                    chunk.extend_from_slice(b"\r\n");
                    writer.write_all(&chunk).await?;
                }
                None => return writer.write_all(b"0\r\n\r\n").await,
            },
            // The client sends nothing more; a read that ends means it went away.
            read = reader.read(&mut scratch) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
        }
    }
}

/// Read and check the request head and write the response head; answers the client's
/// address, or `None` when the request was refused (and answered).
async fn answer_head(
    stream: &mut TcpStream,
    peer: SocketAddr,
    app: &App,
) -> io::Result<Option<std::net::IpAddr>> {
    let Some(head) = read_head(stream).await? else {
        stream
            .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
        stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            )
            .await?;
        return Ok(None);
    }
    let header = |name: &str| -> Vec<&str> {
        request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .collect()
    };
    let ClientIp(ip) = ClientIp::resolve_with(app, peer.ip(), header);
    let target = RateTarget {
        method: "GET".into(),
        path: "/api/realtime".into(),
        action: None,
        client: ip.to_string(),
    };
    if let Err(error) = app.check_rate_limit(&Requester::Guest, &target).await {
        let body = crate::error::ApiError::from(error).body().to_string();
        let response = format!(
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        return Ok(None);
    }
    let mut response = String::from("HTTP/1.1 200 OK\r\n");
    for (name, value) in STREAM_HEADERS.iter().chain(DEFAULT_HEADERS) {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("vary: Origin\r\n");
    if !header("origin").is_empty() {
        response.push_str("access-control-allow-origin: *\r\n");
    }
    response.push_str("transfer-encoding: chunked\r\n\r\n");
    stream.write_all(response.as_bytes()).await?;
    Ok(Some(ip))
}

/// Read up to the end of the request head (`\r\n\r\n`); `None` when it is too long.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}
