//! dtp provisions Dynatrace API tokens to managed OpenShift clusters: it reads app-interface
//! (token specs, Dynatrace and OCM environments), finds clusters labelled
//! `sre-capabilities.dtp.*` in OCM, creates or repairs their tokens in Dynatrace and delivers
//! them as Secrets through OCM SyncSets (classic) or Manifests (hosted control planes). It is a
//! drop-in successor of qontract-reconcile's `dynatrace-token-provider`.
//!
//! # Layout
//!
//! - [`model`]: ids, app-interface types, validation, label bindings, token names, Secret
//!   layout. Pure.
//! - [`desired`]: clusters + specs → what each cluster should receive. Pure.
//! - [`plan`]: desired + current → the [`plan::Plan`] (every write dtp would make). Pure.
//! - [`apply`]: performs a plan; the only place that writes.
//! - [`reconcile`]: one run: inputs → current state → plan → (apply) → report.
//! - [`metrics`]: Prometheus metrics, `/metrics` `/healthz` `/readyz`, the Pushgateway push.
//! - [`clients`]: one trait + one HTTP client per external system (app-interface, Vault, OCM,
//!   Dynatrace).
//! - [`config`], [`settings`] and [`cli`]: config.toml, flags and env vars, turned once into a validated
//!   [`settings::Settings`].
//! - `sandbox` (feature `sandbox`): in-process OCM, Dynatrace and qontract-server fakes for
//!   tests and `dtp demo`.

pub mod apply;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub mod desired;
pub mod early_exit;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod runner;
pub mod settings;
pub mod shard;
pub mod telemetry;
pub mod toggle;

#[cfg(feature = "sandbox")]
pub mod demo;
#[cfg(feature = "sandbox")]
pub mod sandbox;
