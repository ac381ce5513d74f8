//! dtp provisions Dynatrace API tokens to managed OpenShift clusters: it reads app-interface
//! (token specs, Dynatrace and OCM environments), finds clusters labelled
//! `sre-capabilities.dtp.*` in OCM, creates or repairs their tokens in Dynatrace and delivers
//! them as Secrets through OCM SyncSets (classic) or Manifests (hosted control planes). It is a
//! drop-in successor of qontract-reconcile's `dynatrace-token-provider`.
//!
//! # Layout
//!
//! The pure core (no I/O, no clock; imports only `model` and each other):
//! - [`model`]: ids, app-interface types, validation, label bindings, token names, the Secret
//!   layout, and the plain data read from outside (discovered clusters, token metadata).
//! - [`action`]: the one action vocabulary — every write dtp can make and its outcome.
//! - [`desired`]: clusters + specs → what each cluster should receive.
//! - [`plan`]: desired + current → the [`plan::Plan`] of actions.
//! - [`logs`]: the log-ingest core: a cluster's namespaces + its log rules → a [`logs::LogPlan`].
//!
//! One run, in phases:
//! - [`reconcile`]: inputs → discovery → desired → current → plan → apply → [`reconcile::Report`].
//! - [`current`]: reads the current state (token lists, bundles).
//! - [`apply`]: performs a plan, returning one outcome per action; the only code that writes.
//!
//! Views of a run (derived from the plan's actions and the outcomes):
//! - [`report`]: the plan as text, JSON or Markdown, and the summary.
//! - [`metrics`]: the Prometheus registry, what a run records, `/metrics` `/healthz` `/readyz`.
//!
//! The edges:
//! - [`clients`]: one trait + one HTTP client per external system (app-interface, Vault, OCM,
//!   Dynatrace, Pushgateway, Unleash) on one shared HTTP core ([`clients::http`]).
//! - [`cli`]: flags and environment variables (the only place that spells them), turned once
//!   into the validated [`config::Config`].
//! - [`config`]: the validated configuration and `config.toml`.
//! - [`deps`]: the one place real clients are built.
//! - [`runner`]: one run or a loop, time limit, signals, the metrics server.
//! - [`commands`]: `dtp run`, `dtp validate`, `dtp demo`.
//! - [`early_exit`] (PR checks), [`shard`] (sharding), [`telemetry`] (logs), [`exit`] (exit
//!   codes).
//! - `sandbox` and `demo` (feature `sandbox`): in-process OCM, Dynatrace and qontract-server
//!   fakes for tests and `dtp demo`.

pub mod action;
pub mod apply;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub mod current;
pub mod deps;
pub mod desired;
pub mod early_exit;
pub mod exit;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod progress;
pub mod reconcile;
pub mod report;
pub mod runner;
pub mod shard;
pub mod telemetry;

#[cfg(feature = "sandbox")]
pub mod demo;
#[cfg(feature = "sandbox")]
pub mod sandbox;
