//! Google Cloud clients for Preflight on Google's official Rust SDK: Cloud
//! Storage artifacts, Secret Manager references, Cloud Run services and jobs,
//! Cloud Build, IAM and Service Usage readiness. (Filled in by the gcp issue.)
