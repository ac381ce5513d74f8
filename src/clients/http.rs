//! The HTTP core shared by every client (OCM, SSO, Dynatrace, GraphQL, Vault, Pushgateway,
//! Unleash): one `reqwest` client per process ([`Http`], connection reuse), TLS verification
//! always on with optional extra CA certificates, timeouts, and bounded retries with exponential
//! backoff and jitter.
//! Idempotent calls are retried on transport errors and 5xx; every call is retried on 429 and
//! 503 (the request was not processed), honouring `Retry-After`. Every attempt holds a permit
//! of its target's adaptive concurrency [`Limit`] while it is on the wire (see
//! [`super::limit`]). Errors name the operation and carry the server's message, never a
//! credential. Every attempt and every retry is reported to an optional [`HttpObserver`]
//! (the metrics).

use super::limit::{Answer, Limit, LimitSettings, Limits};
use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Watches the requests dtp sends (implemented by [`crate::metrics::Metrics`]). `system` is
/// one of `"ocm"`, `"sso"`, `"dynatrace"`, `"graphql"`, `"vault"`, `"pushgateway"`,
/// `"unleash"`.
pub trait HttpObserver: Send + Sync {
    /// One attempt ended: with the response status, or `None` on a transport error (no
    /// usable answer: connection, timeout, TLS).
    fn response(&self, system: &'static str, method: &str, status: Option<u16>, elapsed: Duration);
    /// A failed attempt is about to be retried; `status` is the failed attempt's status
    /// (`None` for a transport error).
    fn retry(&self, system: &'static str, status: Option<u16>);
}

/// Settings every HTTP client of dtp shares.
#[derive(Clone)]
pub struct HttpSettings {
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra PEM CA certificates (added to the platform roots).
    pub ca_bundle: Option<PathBuf>,
    /// Attempts after the first one, for failures that may be transient (transport errors,
    /// 5xx other than 503).
    pub max_retries: usize,
    /// Further attempts for answers that say the request was not processed and may be sent
    /// again (429, 503): a server under a 429 storm rejects calls at random, and giving up
    /// after a few would fail clusters for nothing.
    pub max_throttled_retries: usize,
    /// First backoff delay; doubles per attempt, with jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` dtp is willing to wait.
    pub max_retry_after: Duration,
    pub user_agent: String,
    /// The largest response body dtp reads; a larger one is an error naming the endpoint.
    pub max_body: usize,
    /// Told about every attempt and retry (metrics); `None`: nobody listens.
    pub observer: Option<Arc<dyn HttpObserver>>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("ca_bundle", &self.ca_bundle)
            .field("max_retries", &self.max_retries)
            .field("max_throttled_retries", &self.max_throttled_retries)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_retry_after", &self.max_retry_after)
            .field("user_agent", &self.user_agent)
            .field("max_body", &self.max_body)
            .field("observer", &self.observer.as_ref().map(|_| "set"))
            .finish()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            ca_bundle: None,
            max_retries: 3,
            max_throttled_retries: 10,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            user_agent: format!("dtp/{}", env!("CARGO_PKG_VERSION")),
            max_body: DEFAULT_MAX_BODY,
            observer: None,
        }
    }
}

/// The default largest response body (64 MiB: a page of 1,000 Dynatrace tokens or of 100 OCM
/// items is well under 1 MiB).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024 * 1024;

/// Redirects are followed only to the same scheme, host and port (at most 5): a redirect
/// elsewhere would carry credentials (`X-Vault-Token`, a re-posted SSO or AppRole secret) to
/// another server. A redirect that is not followed is answered as the 3xx it is.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// The process's one HTTP client, the settings every call uses and the concurrency limits
/// of every target. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Http {
    pub client: reqwest::Client,
    pub settings: Arc<HttpSettings>,
    pub limits: Arc<Limits>,
}

impl Http {
    /// Builds the client from `settings` (see [`HttpSettings::client`]), with the default
    /// limits and nobody watching them.
    pub fn new(settings: HttpSettings) -> Result<Self, String> {
        Self::with_limits(settings, Limits::new(LimitSettings::default(), None))
    }

    pub fn with_limits(settings: HttpSettings, limits: Limits) -> Result<Self, String> {
        Ok(Self {
            client: settings.client()?,
            settings: Arc::new(settings),
            limits: Arc::new(limits),
        })
    }

    /// The limit of one target (see [`Limits::target`]).
    pub fn target(&self, system: &'static str, name: &str) -> Arc<Limit> {
        self.limits.target(system, name)
    }
}

/// A URL fit for a message: user info removed (it may hold credentials).
pub fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// The certificates of a PEM CA bundle: an error when the file cannot be read, holds no
/// certificate, or holds one TLS cannot use.
pub fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("not a PEM bundle of certificates: {}", error_chain(&e)))?;
    if certs.is_empty() {
        return Err("it holds no PEM certificate".to_owned());
    }
    reqwest::Client::builder()
        .tls_certs_merge(certs.clone())
        .build()
        .map_err(|e| format!("its certificates cannot be used: {}", error_chain(&e)))?;
    Ok(certs)
}

/// An error and its sources, joined with `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    message
}

impl HttpSettings {
    /// Builds the shared client. Fails when the CA bundle cannot be read or parsed.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .redirect(redirect_policy())
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(path) = &self.ca_bundle {
            b = b.tls_certs_merge(
                ca_certificates(path).map_err(|e| format!("CA bundle {}: {e}", path.display()))?,
            );
        }
        b.build().map_err(|e| {
            let what = self.ca_bundle.as_ref().map_or_else(String::new, |p| {
                format!(" with the CA bundle {}", p.display())
            });
            format!("cannot build the HTTP client{what}: {}", error_chain(&e))
        })
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_retries + self.max_throttled_retries)
            .with_jitter()
    }
}

/// A failed call to an external system.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a non-success status.
    #[error("{op}: HTTP {status}: {message}")]
    Status {
        op: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No usable answer (connection, timeout, TLS).
    #[error("{op}: {message}")]
    Transport {
        op: String,
        message: String,
        /// The request never reached the server (safe to retry whatever the method).
        not_sent: bool,
    },
    /// The answer could not be understood.
    #[error("{op}: unexpected response: {message}")]
    Decode { op: String, message: String },
    /// Credentials could not be obtained or were refused.
    #[error("{op}: {message}")]
    Auth { op: String, message: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
    pub fn is_too_many_requests(&self) -> bool {
        self.status() == Some(429)
    }

    /// 429 or 503: the server did not process the request and asks to be called later.
    pub fn is_throttled(&self) -> bool {
        matches!(self.status(), Some(429 | 503))
    }
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// Whether a write that failed like this may still have been applied by the server: no
    /// usable answer after the request was sent (a timeout, a reset), a 5xx other than 503, or
    /// an answer that is a success but not the expected one.
    pub fn may_have_applied(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(*status, 500 | 502 | 504),
            Self::Transport { not_sent, .. } => !*not_sent,
            Self::Decode { .. } => true,
            Self::Auth { .. } => false,
        }
    }

    /// Whether a cluster's owner can act on this failure of a write to the cluster's OCM
    /// object (worth a service log): the object refused the write for a reason of its own
    /// (400, 403, 404, 422). Not for dtp's own races (409), throttling or server failures.
    pub fn owner_can_act(&self) -> bool {
        matches!(self.status(), Some(400 | 403 | 404 | 422))
    }

    /// Whether retrying may help, for a call that is (or is not) idempotent.
    pub fn is_retryable(&self, idempotent: bool) -> bool {
        match self {
            Self::Status { status, .. } => match *status {
                429 | 503 => true,
                500 | 502 | 504 => idempotent,
                _ => false,
            },
            Self::Transport { not_sent, .. } => *not_sent || idempotent,
            Self::Decode { .. } | Self::Auth { .. } => false,
        }
    }

    /// The same error with its message (and operation) passed through `f`, e.g. to remove a
    /// credential a server echoed.
    pub fn map_message(self, f: impl Fn(&str) -> String) -> Self {
        match self {
            Self::Status {
                op,
                status,
                message,
                retry_after,
            } => Self::Status {
                op: f(&op),
                status,
                message: f(&message),
                retry_after,
            },
            Self::Transport {
                op,
                message,
                not_sent,
            } => Self::Transport {
                op: f(&op),
                message: f(&message),
                not_sent,
            },
            Self::Decode { op, message } => Self::Decode {
                op: f(&op),
                message: f(&message),
            },
            Self::Auth { op, message } => Self::Auth {
                op: f(&op),
                message: f(&message),
            },
        }
    }

    pub fn decode(op: &str, message: impl std::fmt::Display) -> Self {
        Self::Decode {
            op: op.to_owned(),
            message: message.to_string(),
        }
    }

    pub fn transport(op: &str, e: &reqwest::Error) -> Self {
        let mut message = error_chain(e);
        // reqwest's Display names the URL: never with its user info.
        if let Some(url) = e.url() {
            message = message.replace(url.as_str(), &redact_url(url));
        }
        Self::Transport {
            op: op.to_owned(),
            message,
            not_sent: e.is_connect(),
        }
    }
}

/// Reads a response body of at most `limit` bytes (a larger one is a [`ApiError::Decode`]
/// naming the operation, and is not read further).
pub async fn read_body(op: &str, mut resp: Response, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::decode(
            op,
            format!("the response body is larger than {limit} bytes"),
        )
    };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ApiError::transport(op, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// [`read_body`], parsed as JSON. serde_json's errors name a position, never the content.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    op: &str,
    resp: Response,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_body(op, resp, limit).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::decode(op, format!("invalid JSON: {e}")))
}

/// Error bodies are read up to this size (their message is what matters).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Turns a response into `Ok(response)` for 2xx, else an [`ApiError::Status`] whose message is
/// extracted by `message_of` from the error body (OCM `reason`, Dynatrace `error.message`).
pub async fn check_status(
    op: &str,
    resp: Response,
    message_of: fn(&serde_json::Value) -> Option<String>,
) -> Result<Response, ApiError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = retry_after(&resp);
    let body = read_body(op, resp, ERROR_BODY_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| message_of(&v))
        .unwrap_or_else(|| {
            let text = body.trim();
            let reason = status.canonical_reason().unwrap_or("");
            if text.is_empty() || text.starts_with('<') {
                reason.to_owned()
            } else {
                text.chars().take(300).collect()
            }
        });
    Err(ApiError::Status {
        op: op.to_owned(),
        status: status.as_u16(),
        message,
        retry_after,
    })
}

fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    delta.to_std().ok().or(Some(Duration::ZERO))
}

/// Whether a method may be repeated without changing the outcome.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// How a response tells its target's [`Limit`] to slow down: 429, or 503 with `Retry-After`.
pub fn answer_of(resp: &Response) -> Answer {
    let status = resp.status();
    let retry_after = retry_after(resp);
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
    {
        Answer::Throttled(retry_after)
    } else {
        Answer::Served
    }
}

/// Sends a request (rebuilt for every attempt by `build`) with the retry policy, and checks
/// its status. Every attempt waits for a permit of `target` and holds it until the response
/// headers arrived. The target's system (`"ocm"`, `"sso"`, `"dynatrace"`, `"graphql"`, …)
/// names the external system for the [`HttpObserver`], which is told about every attempt
/// (method, status or transport error, latency) and every retry.
pub async fn send(
    http: &Http,
    target: &Limit,
    op: &str,
    idempotent: bool,
    build: impl Fn() -> RequestBuilder,
    message_of: fn(&serde_json::Value) -> Option<String>,
) -> Result<Response, ApiError> {
    let settings = &*http.settings;
    let system = target.system();
    let max_wait = settings.max_retry_after;
    let observer = settings.observer.as_deref();
    let attempt = || async {
        let (client, request) = build().build_split();
        let request = request.map_err(|e| ApiError::transport(op, &e))?;
        let method = request.method().clone();
        let permit = target.acquire().await;
        let started = Instant::now();
        let result = client.execute(request).await;
        permit.finish(result.as_ref().map_or(Answer::Served, answer_of));
        if let Some(o) = observer {
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            o.response(system, method.as_str(), status, started.elapsed());
        }
        let resp = result.map_err(|e| ApiError::transport(op, &e))?;
        check_status(op, resp, message_of).await
    };
    let (mut failures, mut throttled) = (0, 0);
    attempt
        .retry(settings.backoff())
        // Throttling has its own budget (the backoff allows both); other failures stop after
        // `max_retries`.
        .when(move |e: &ApiError| {
            if e.is_throttled() {
                throttled += 1;
                return throttled <= settings.max_throttled_retries;
            }
            failures += 1;
            e.is_retryable(idempotent) && failures <= settings.max_retries
        })
        // `dur` is `None` once the retries are used up: keep it so, or a server answering
        // every attempt with `Retry-After` would be retried forever.
        .adjust(move |e: &ApiError, dur| match e {
            ApiError::Status {
                retry_after: Some(ra),
                ..
            } => dur.map(|_| (*ra).min(max_wait)),
            _ => dur,
        })
        .notify(|e: &ApiError, dur: Duration| {
            if let Some(o) = observer {
                o.retry(system, e.status());
            }
            tracing::warn!(error = %e, retry_in_ms = dur.as_millis() as u64, "retrying");
        })
        .await
}

/// `StatusCode` re-export so client modules need not import reqwest for it.
pub type Status = StatusCode;
