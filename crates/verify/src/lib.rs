//! Verification for Preflight: probes (HTTP, poll, PostgreSQL contract,
//! command, env parity, TCP, dbt results), a concurrent runner with
//! timeouts and retries, and reports for people and CI. (Filled in by the verify issue.)
