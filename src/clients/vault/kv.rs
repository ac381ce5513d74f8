//! Reading KV secrets: plain GETs through the shared HTTP client (dtp needs what vaultrs hides:
//! the body of a 404, `sys/internal/ui/mounts`, its own retries), KV v1/v2 mount detection,
//! the per-run cache, and the `format` of a value (`plain` or `base64`).

use super::error::{detail_suffix, error_chain, forbidden, not_found, unexpected, vault_errors};
use super::{FieldValue, Fields, KvVersion, Mount, SecretError, SecretLocation, VaultReader, lock};
use crate::clients::http::answer_of;
use crate::clients::limit::Answer;
use crate::model::VaultSecretRef;
use backon::Retryable;
use base64::Engine as _;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `system` label of Vault requests in the request metrics.
pub(super) const SYSTEM: &str = "vault";

impl VaultReader {
    /// `GET /v1/<segments>[?version=N]` with the current token, retried on transport errors
    /// and 5xx. Any other status is returned to the caller.
    async fn get(
        &self,
        op: &str,
        segments: &[&str],
        version: Option<u64>,
    ) -> Result<Reply, SecretError> {
        let mut url = self.address.clone();
        url.path_segments_mut()
            .map_err(|()| SecretError::config("vault: the server URL cannot take a path"))?
            .pop_if_empty()
            .push("v1")
            .extend(segments);
        if let Some(v) = version {
            url.query_pairs_mut().append_pair("version", &v.to_string());
        }
        let mut token = {
            let session = self.session.read().await;
            HeaderValue::from_str(session.token.expose_secret()).map_err(|_| SecretError::Auth {
                message: "the Vault token holds characters not allowed in an HTTP header".into(),
            })?
        };
        token.set_sensitive(true);
        let observer = self.http.settings.observer.as_deref();
        let attempt = || async {
            let permit = self.limit.acquire().await;
            let started = Instant::now();
            let sent = self
                .http
                .client
                .get(url.clone())
                .header("X-Vault-Token", token.clone())
                .header("X-Vault-Request", "true")
                .send()
                .await;
            permit.finish(sent.as_ref().map_or(Answer::Served, answer_of));
            if let Some(o) = observer {
                let status = sent.as_ref().ok().map(|r| r.status().as_u16());
                o.response(SYSTEM, "GET", status, started.elapsed());
            }
            let resp = sent.map_err(|e| Failure::Transport(error_chain(&e)))?;
            let status = resp.status().as_u16();
            let body = crate::clients::http::read_body(op, resp, self.http.settings.max_body)
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            if status >= 500 {
                return Err(Failure::Server(status, vault_errors(&body)));
            }
            Ok(Reply { status, body })
        };
        attempt
            .retry(self.backoff())
            .notify(|f: &Failure, dur: Duration| {
                if let Some(o) = observer {
                    o.retry(
                        SYSTEM,
                        match f {
                            Failure::Server(status, _) => Some(*status),
                            Failure::Transport(_) => None,
                        },
                    );
                }
                let retry_in_ms = dur.as_millis() as u64;
                tracing::warn!(op, error = %f, retry_in_ms, "retrying Vault call");
            })
            .await
            .map_err(|f| match f {
                Failure::Transport(message) => SecretError::Transport {
                    op: op.to_owned(),
                    message,
                },
                Failure::Server(status, message) => SecretError::Server {
                    op: op.to_owned(),
                    status: Some(status),
                    message: format!("HTTP {status}{}", detail_suffix(&message)),
                },
            })
    }

    // ---- KV mounts ------------------------------------------------------------------------

    /// The mount holding `path` (normalized: no empty segments), from the cache or detected.
    async fn mount_for(&self, path: &str, loc: &SecretLocation) -> Result<Mount, SecretError> {
        let with_slash = format!("{path}/");
        let cached = || {
            lock(&self.mounts)
                .iter()
                .filter(|m| with_slash.starts_with(&m.path))
                .max_by_key(|m| m.path.len())
                .cloned()
        };
        if let Some(m) = cached() {
            return Ok(m);
        }
        // One detection at a time: secrets read at once under one mount detect it once.
        let _detecting = self.detecting.lock().await;
        if let Some(m) = cached() {
            return Ok(m);
        }
        let mount = self.detect_mount(path, loc).await?;
        tracing::debug!(mount = %mount.path, kv = ?mount.version, "detected Vault KV mount");
        let mut mounts = lock(&self.mounts);
        if !mounts.iter().any(|m| m.path == mount.path) {
            mounts.push(mount.clone());
        }
        Ok(mount)
    }

    /// `GET sys/internal/ui/mounts/<path>` (the Vault CLI's preflight; allowed for any token
    /// with a capability under the mount); on a 4xx, the Python way: the first path segment
    /// is the mount and it is KV v2 when `<mount>/config` can be read.
    async fn detect_mount(&self, path: &str, loc: &SecretLocation) -> Result<Mount, SecretError> {
        let op = format!("detect the KV mount of {loc}");
        let mut segments = vec!["sys", "internal", "ui", "mounts"];
        segments.extend(path.split('/'));
        let reply = self.get(&op, &segments, None).await?;
        if reply.status == 200 {
            let v: Value =
                serde_json::from_slice(&reply.body).map_err(|e| SecretError::Server {
                    op: op.clone(),
                    status: Some(200),
                    message: format!("unexpected response: {e}"),
                })?;
            let data = &v["data"];
            if let Some(mount_path) = data["path"].as_str().filter(|p| !p.is_empty()) {
                let kv2 = data["type"].as_str() == Some("kv")
                    && data["options"]["version"].as_str() == Some("2");
                let mut mount_path = mount_path.to_owned();
                if !mount_path.ends_with('/') {
                    mount_path.push('/');
                }
                return Ok(Mount {
                    path: mount_path,
                    version: if kv2 { KvVersion::V2 } else { KvVersion::V1 },
                });
            }
            tracing::debug!(
                op,
                "sys/internal/ui/mounts answered without data.path; probing <mount>/config"
            );
        } else {
            tracing::debug!(
                op,
                status = reply.status,
                error = %vault_errors(&reply.body).unwrap_or_default(),
                "sys/internal/ui/mounts failed; probing <mount>/config"
            );
        }
        let first = path.split('/').next().unwrap_or_default();
        let probe = self.get(&op, &[first, "config"], None).await?;
        let version = if probe.status == 200 {
            KvVersion::V2
        } else {
            tracing::debug!(
                mount = first,
                status = probe.status,
                "cannot read <mount>/config; taking the mount as KV v1"
            );
            KvVersion::V1
        };
        Ok(Mount {
            path: format!("{first}/"),
            version,
        })
    }

    // ---- reading --------------------------------------------------------------------------

    /// The fields of the secret at `secret.path` (and version), from the cache or Vault.
    pub(super) async fn fields(
        &self,
        secret: &VaultSecretRef,
        loc: &SecretLocation,
    ) -> Result<Arc<Fields>, SecretError> {
        let path = secret
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if path.is_empty() {
            return Err(SecretError::NotFound {
                secret: loc.clone(),
                detail: Some("the path is empty".into()),
            });
        }
        let key = (path.clone(), secret.version);
        if let Some(f) = lock(&self.cache).get(&key) {
            tracing::debug!(secret = %loc, "Vault secret from cache");
            return Ok(f.clone());
        }
        let mount = self.mount_for(&path, loc).await?;
        let fields = match mount.version {
            KvVersion::V2 => self.read_kv2(&path, &mount, secret.version, loc).await?,
            KvVersion::V1 => {
                if secret.version.is_some() {
                    tracing::warn!(
                        secret = %loc,
                        mount = %mount.path,
                        "version given for a KV v1 secret; ignored"
                    );
                }
                self.read_kv1(&path, loc).await?
            }
        };
        let fields = Arc::new(fields);
        lock(&self.cache).insert(key, fields.clone());
        Ok(fields)
    }

    async fn read_kv1(&self, path: &str, loc: &SecretLocation) -> Result<Fields, SecretError> {
        let op = format!("read {loc}");
        let segments: Vec<&str> = path.split('/').collect();
        let reply = self.get(&op, &segments, None).await?;
        match reply.status {
            200 => {
                let v = json(&op, &reply.body)?;
                match v.get("data") {
                    Some(Value::Object(map)) => Ok(to_fields(map)),
                    _ => Err(not_found(loc, None)),
                }
            }
            404 => Err(not_found(loc, None)),
            403 => Err(forbidden(loc, &reply.body)),
            status => Err(unexpected(&op, status, &reply.body)),
        }
    }

    async fn read_kv2(
        &self,
        path: &str,
        mount: &Mount,
        version: Option<u64>,
        loc: &SecretLocation,
    ) -> Result<Fields, SecretError> {
        let op = format!("read {loc}");
        let rest = path.strip_prefix(mount.path.as_str()).unwrap_or_default();
        if rest.is_empty() {
            return Err(not_found(
                loc,
                Some(format!(
                    "the path names the mount {}, not a secret",
                    mount.path
                )),
            ));
        }
        let mut segments: Vec<&str> = mount.path.trim_end_matches('/').split('/').collect();
        segments.push("data");
        segments.extend(rest.split('/'));
        let reply = self.get(&op, &segments, version).await?;
        match reply.status {
            200 => {
                let v = json(&op, &reply.body)?;
                match v["data"].get("data") {
                    Some(Value::Object(map)) => Ok(to_fields(map)),
                    _ => Err(not_found(
                        loc,
                        Some("the version holds no data (deleted?)".into()),
                    )),
                }
            }
            403 => Err(forbidden(loc, &reply.body)),
            404 => Err(self
                .kv2_missing(&op, &segments, version, &reply.body, loc)
                .await),
            status => Err(unexpected(&op, status, &reply.body)),
        }
    }

    /// Why a KV v2 read answered 404: a deleted or destroyed version (Vault sends its
    /// metadata), a version that does not exist, or no secret at all.
    async fn kv2_missing(
        &self,
        op: &str,
        segments: &[&str],
        version: Option<u64>,
        body: &[u8],
        loc: &SecretLocation,
    ) -> SecretError {
        // A deleted or destroyed version answers 404 with its metadata.
        let meta = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["data"].get("metadata").filter(|m| m.is_object()).cloned());
        if let Some(meta) = meta {
            let state = if meta["destroyed"].as_bool() == Some(true) {
                "destroyed"
            } else {
                "deleted"
            };
            let n = meta["version"].as_u64();
            return match version {
                Some(v) => SecretError::Version {
                    secret: loc.clone(),
                    reason: format!("version {v} was {state}"),
                },
                None => not_found(
                    loc,
                    Some(match n {
                        Some(n) => format!("its latest version ({n}) was {state}"),
                        None => format!("its latest version was {state}"),
                    }),
                ),
            };
        }
        let Some(v) = version else {
            return not_found(loc, None);
        };
        // Is it the version that is missing, or the whole secret?
        let latest = match self.get(op, segments, None).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        if latest.status != 200 {
            return not_found(loc, None);
        }
        let n = serde_json::from_slice::<Value>(&latest.body)
            .ok()
            .and_then(|j| j["data"]["metadata"]["version"].as_u64());
        SecretError::Version {
            secret: loc.clone(),
            reason: match n {
                Some(n) => format!("version {v} does not exist (the latest is {n})"),
                None => format!("version {v} does not exist"),
            },
        }
    }
}

/// Applies the secret's `format`: `plain` (or none) as is, `base64` decoded to UTF-8.
pub(super) fn decode(
    value: &SecretString,
    format: Option<&str>,
    loc: &SecretLocation,
) -> Result<SecretString, SecretError> {
    match format {
        None | Some("plain") => Ok(SecretString::from(value.expose_secret().to_owned())),
        Some("base64") => {
            // Like Python's b64decode: whitespace (line breaks) is ignored.
            let compact: String = value
                .expose_secret()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let compact = SecretString::from(compact);
            // The decoder's message names the offending byte: not repeated.
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.expose_secret())
                .map_err(|_| SecretError::Decode {
                    secret: loc.clone(),
                    reason: "format base64: the value is not valid base64".into(),
                })?;
            String::from_utf8(bytes)
                .map(SecretString::from)
                .map_err(|_| SecretError::Decode {
                    secret: loc.clone(),
                    reason: "format base64: the decoded value is not UTF-8".into(),
                })
        }
        Some(other) => Err(SecretError::Decode {
            secret: loc.clone(),
            reason: format!("unsupported format '{other}' (expected plain or base64)"),
        }),
    }
}

/// A non-5xx answer to a plain GET.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

/// A retryable failure of one attempt.
enum Failure {
    Transport(String),
    Server(u16, Option<String>),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(m) => f.write_str(m),
            Self::Server(status, m) => write!(f, "HTTP {status}{}", detail_suffix(m)),
        }
    }
}

fn to_fields(map: &serde_json::Map<String, Value>) -> Fields {
    map.iter()
        .map(|(k, v)| {
            let field = match v {
                Value::String(s) => FieldValue::Text(SecretString::from(s.clone())),
                Value::Number(n) => FieldValue::Text(SecretString::from(n.to_string())),
                Value::Bool(b) => FieldValue::Text(SecretString::from(b.to_string())),
                Value::Null => FieldValue::NotText("null"),
                Value::Array(_) => FieldValue::NotText("a list"),
                Value::Object(_) => FieldValue::NotText("an object"),
            };
            (k.clone(), field)
        })
        .collect()
}

fn json(op: &str, body: &[u8]) -> Result<Value, SecretError> {
    // serde_json's message names a position, not the content.
    serde_json::from_slice(body).map_err(|e| SecretError::Server {
        op: op.to_owned(),
        status: Some(200),
        message: format!("unexpected response: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> SecretLocation {
        SecretLocation {
            path: "app-sre/creds/x".into(),
            field: "token".into(),
            version: Some(3),
        }
    }

    #[test]
    fn base64_values_are_decoded_and_line_breaks_ignored() {
        let v = SecretString::from("aGVs\nbG8=".to_owned());
        assert_eq!(
            decode(&v, Some("base64"), &loc()).unwrap().expose_secret(),
            "hello"
        );
    }

    #[test]
    fn invalid_base64_is_a_decode_error_without_the_value() {
        let v = SecretString::from("not*base64".to_owned());
        let e = decode(&v, Some("base64"), &loc()).unwrap_err();
        assert!(matches!(e, SecretError::Decode { .. }));
        let text = e.to_string();
        assert!(text.contains("app-sre/creds/x/token (version 3)"), "{text}");
        assert!(!text.contains("not*base64"), "{text}");
    }

    #[test]
    fn unknown_formats_are_refused() {
        let v = SecretString::from("x".to_owned());
        let e = decode(&v, Some("hex"), &loc()).unwrap_err();
        assert!(e.to_string().contains("unsupported format 'hex'"), "{e}");
    }
}
