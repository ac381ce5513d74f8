//! A real OpenBao dev server (the `bao` binary `scripts/openbao.sh install` puts in
//! `.tools/venv/bin`, or `BAO_BIN`), holding a world's secrets, behind a loopback proxy that
//! adds the case's latency to every request and counts them: Vault gets the same 20 ms as
//! every other system.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const ROOT_TOKEN: &str = "dtp-bench-root";

pub struct Vault {
    /// The proxy's URL (what dtp is given).
    pub url: String,
    /// Requests that went through the proxy.
    pub requests: Arc<AtomicUsize>,
    /// Latency added per request, in milliseconds.
    pub latency_ms: Arc<AtomicU64>,
    direct: String,
    _server: tokio::process::Child,
}

fn bao_bin() -> String {
    std::env::var("BAO_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/venv/bin/bao").to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Vault {
    pub async fn start() -> Self {
        let port = free_port();
        let server = tokio::process::Command::new(bao_bin())
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("bao starts (run scripts/openbao.sh install, or set BAO_BIN)");
        let direct = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let up = http.get(format!("{direct}/v1/sys/health")).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let requests = Arc::new(AtomicUsize::new(0));
        let latency_ms = Arc::new(AtomicU64::new(0));
        let url = proxy(&direct, requests.clone(), latency_ms.clone()).await;
        Self {
            url,
            requests,
            latency_ms,
            direct,
            _server: server,
        }
    }

    /// Writes `value` at `secret/<path>` (KV v2), field `field`.
    pub async fn put(&self, path: &str, field: &str, value: &str) {
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{}/v1/secret/data/{path}", self.direct))
            .header("X-Vault-Token", ROOT_TOKEN)
            .json(&serde_json::json!({"data": {field: value}}))
            .send()
            .await
            .expect("OpenBao answers");
        assert!(
            resp.status().is_success(),
            "writing {path}: {}",
            resp.status()
        );
    }
}

/// Serves a proxy to `upstream` on loopback; every chunk the client sends waits `latency_ms`
/// first (one chunk per small request), and every `HTTP/1.1` request line is counted.
async fn proxy(upstream: &str, requests: Arc<AtomicUsize>, latency_ms: Arc<AtomicU64>) -> String {
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let (requests, latency_ms) = (requests.clone(), latency_ms.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let chunk = &buf[..n];
                        let lines = chunk.windows(10).filter(|w| w == b" HTTP/1.1\r").count();
                        requests.fetch_add(lines, Ordering::Relaxed);
                        let ms = latency_ms.load(Ordering::Relaxed);
                        if lines > 0 && ms > 0 {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                        }
                        if sw.write_all(chunk).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    url
}
