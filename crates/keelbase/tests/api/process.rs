//! Driving the real `keelbase` binary as a child process: CLI commands, `serve` with its log
//! output, signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long to wait for the server's "serving" log line (a bound, not a sleep).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_keelbase")
}

/// A `keelbase` command with a clean environment (no inherited `KEELBASE_*`, no colours).
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("KEELBASE_HTTP")
        .env_remove("KEELBASE_DIR")
        .env_remove("KEELBASE_LOG")
        .env_remove("KEELBASE_DATABASE_URL")
        .env("NO_COLOR", "1");
    cmd
}

/// Run a CLI command to completion.
pub fn run(args: &[&str], dir: &Path) -> Output {
    command()
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run keelbase")
}

/// Run a CLI command and expect success; returns stdout.
#[track_caller]
pub fn run_ok(args: &[&str], dir: &Path) -> String {
    let out = run(args, dir);
    assert!(
        out.status.success(),
        "keelbase {args:?} failed ({}): stdout {} stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A memory figure of a process from `/proc/PID/status` (`VmRSS`, `VmHWM`…), in KiB.
pub fn memory_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

/// A running `keelbase serve`. Killed (SIGKILL) on drop if still running.
pub struct ServeProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` as logged by the server.
    pub base: String,
    /// The log line that announced the address.
    pub serving_line: String,
    /// What the server printed before that line.
    pub startup_lines: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl ServeProcess {
    /// `keelbase serve --http 127.0.0.1:0 --dir DIR`
    pub fn start(dir: &Path) -> ServeProcess {
        let mut cmd = command();
        cmd.args(["serve", "--http", "127.0.0.1:0", "--dir"])
            .arg(dir);
        ServeProcess::spawn(cmd)
    }

    /// `keelbase serve --http 127.0.0.1:0 --db URL --dir DIR`: records in PostgreSQL.
    pub fn start_on(database_url: &str, dir: &Path) -> ServeProcess {
        let mut cmd = command();
        cmd.args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--db",
            database_url,
            "--dir",
        ])
        .arg(dir);
        ServeProcess::spawn(cmd)
    }

    /// Spawn a prepared `serve` command and wait for the line with its URL.
    pub fn spawn(mut cmd: Command) -> ServeProcess {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keelbase serve");
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn Read + Send>,
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(STARTUP_LIMIT) {
                Ok(line) => {
                    if let Some(base) = url_in(&line) {
                        return ServeProcess {
                            child: Some(child),
                            base,
                            serving_line: line,
                            startup_lines: seen,
                            lines: rx,
                        };
                    }
                    seen.push(line);
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "keelbase serve never logged its URL ({e}, exit {status:?}); output: {seen:#?}"
                    );
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .expect("host:port")
    }

    /// One `GET /api/health` over a fresh connection; returns the status. Once it answered,
    /// the server's accept loop (and with it the shutdown-signal future) is running.
    pub fn health(&self) -> u16 {
        let mut stream = TcpStream::connect(self.addr()).expect("connect");
        let request = format!(
            "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr()
        );
        write_all(&mut stream, request.as_bytes());
        read_response(&mut stream).0
    }

    /// Send SIGTERM (through `kill`, no libc) and wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.wait()
    }

    /// Send SIGTERM without waiting.
    pub fn send_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        let child = self.child.as_mut().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        self.child = None;
    }

    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        child.wait().expect("wait for keelbase")
    }

    /// The next printed line that contains `needle`, waiting up to `limit` for it.
    pub fn line_containing(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Everything printed after the URL line, up to the end of the output (call after the
    /// process exited).
    pub fn rest_of_output(&self) -> Vec<String> {
        assert!(self.child.is_none(), "the process has exited");
        self.lines.iter().collect()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first `http://host:port` in a log line.
fn url_in(line: &str) -> Option<String> {
    let start = line.find("http://")?;
    let rest = &line[start + "http://".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    Some(format!("http://{}", &rest[..end]))
}

// ---- a minimal HTTP/1.1 client over a raw socket (for precise control of timing) ----

/// Read one HTTP response (`Content-Length` bodies, or until EOF). Returns (status, body).
pub fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read the response head");
        assert!(
            n == 1,
            "connection closed before the response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            stream.read_exact(&mut body).expect("read the body");
        }
        None => {
            stream.read_to_end(&mut body).expect("read the body");
        }
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

pub fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("write to the server");
}
