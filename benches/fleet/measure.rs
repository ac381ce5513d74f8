//! Running the `dtp` binary once and measuring it as an operator would: wall time, exit code,
//! peak RSS (VmHWM, polled from /proc), CPU (user + system, from the kernel's accounting of
//! waited-for children), and the requests each system received (the sandbox's log, the Vault
//! proxy's count).

use dtp::sandbox::Sandbox;
use dtp::sandbox::common::Recorded;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::vault::{ROOT_TOKEN, Vault};

/// The binary under test: `DTP_BENCH_BIN` (e.g. a build of an older commit), else this tree's.
pub fn binary() -> String {
    std::env::var("DTP_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_dtp").to_owned())
}

/// A run gives up after this long (an old build in a 429 storm can take minutes).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Figures {
    pub wall: Duration,
    pub exit: i32,
    pub peak_rss_kib: u64,
    pub cpu: Duration,
    /// Requests by system: ocm, sso, dynatrace, graphql, vault.
    pub by_system: BTreeMap<&'static str, usize>,
    /// Requests by concurrency target: `ocm:<env>`, `sso:<env>`, `dynatrace:<tenant>`, `vault`.
    pub by_target: BTreeMap<String, usize>,
    /// Requests by sandbox host (`ocm:<env>`, `dynatrace`, `graphql`).
    pub by_host: BTreeMap<String, usize>,
    /// Paging: OCM list requests of discovery (labels, subscriptions, clusters) and the
    /// pages of the tenants' token lists.
    pub paging: usize,
    pub requests: usize,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Writes the config.toml of a world: qontract-server and Vault (token auth, `VAULT_TOKEN`).
pub fn write_config(dir: &Path, sandbox: &Sandbox, vault: &Vault) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "{}\n[vault]\nserver = \"{}\"\n",
        sandbox.config_toml(),
        vault.url
    );
    std::fs::write(&path, text).expect("config.toml written");
    path
}

/// Runs `dtp run --config <config> <args>` and measures it.
pub async fn run(
    bin: &str,
    config: &Path,
    args: &[&str],
    sandbox: &Sandbox,
    vault: &Vault,
    profile: bool,
) -> Figures {
    sandbox.control.clear_requests();
    vault.requests.store(0, Ordering::Relaxed);
    let cpu_before = children_cpu();
    let start = Instant::now();
    // `DTP_BENCH_WRAPPER="heaptrack -o /tmp/dtp"` (or perf, …) profiles the runs; the
    // figures then describe the wrapper.
    let wrapper = std::env::var("DTP_BENCH_WRAPPER")
        .ok()
        .filter(|_| profile)
        .unwrap_or_default();
    let mut words = wrapper.split_whitespace().chain([bin]);
    let program = words.next().unwrap_or(bin);
    let mut child = tokio::process::Command::new(program)
        .args(words)
        .args(["--log-level", "error", "run", "--config"])
        .arg(config)
        .args(args)
        .env("VAULT_TOKEN", ROOT_TOKEN)
        .env_remove("DTP_CONCURRENCY")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("dtp starts");
    let pid = child.id().expect("a pid");
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        tokio::select! {
            st = child.wait() => break st.ok().and_then(|s| s.code()).unwrap_or(-1),
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill().await;
            break -9;
        }
    };
    let wall = start.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    let mut f = Figures {
        wall,
        exit: status,
        peak_rss_kib: peak,
        cpu,
        by_system: BTreeMap::new(),
        by_target: BTreeMap::new(),
        by_host: BTreeMap::new(),
        paging: 0,
        requests: 0,
    };
    for r in sandbox.control.requests() {
        count(&mut f, &r);
    }
    let v = vault.requests.load(Ordering::Relaxed);
    *f.by_system.entry("vault").or_default() += v;
    *f.by_target.entry("vault".into()).or_default() += v;
    f.requests += v;
    f
}

fn count(f: &mut Figures, r: &Recorded) {
    f.requests += 1;
    *f.by_host.entry(r.system.clone()).or_default() += 1;
    let (system, target) = if r.system == "graphql" {
        ("graphql", "graphql".to_owned())
    } else if r.system == "dynatrace" {
        if r.method == "GET" && r.path.ends_with("/api/v2/apiTokens") {
            f.paging += 1;
        }
        let tenant = r
            .path
            .trim_start_matches("/e/")
            .split('/')
            .next()
            .unwrap_or("?");
        ("dynatrace", format!("dynatrace:{tenant}"))
    } else if r.path.ends_with("/openid-connect/token") {
        ("sso", r.system.replacen("ocm", "sso", 1))
    } else {
        let list = r.method == "GET"
            && (r.path.ends_with("/accounts_mgmt/v1/labels")
                || r.path.ends_with("/accounts_mgmt/v1/subscriptions")
                || r.path.ends_with("/clusters_mgmt/v1/clusters"));
        if list {
            f.paging += 1;
        }
        ("ocm", r.system.clone())
    };
    *f.by_system.entry(system).or_default() += 1;
    *f.by_target.entry(target).or_default() += 1;
}
