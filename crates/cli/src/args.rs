//! The command line, as clap types other tools can embed or extend.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Preflight: run a platform's release runbook as code.
#[derive(Debug, Parser)]
#[command(name = "preflight", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output for people (`human`) or for programs (`json`).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print only what is needed (problems and results).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Release manifests: validate, diff, promote, new.
    #[command(subcommand)]
    Manifest(ManifestCommand),
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Check manifests and report every problem with its line and column.
    Validate(ValidateArgs),
    /// Show what changed between two manifests.
    Diff(DiffArgs),
    /// Make the same release for another environment.
    Promote(PromoteArgs),
    /// Start a manifest from the template.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The platform config; it is validated too and defines the environments.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Require every manifest to be for this environment.
    #[arg(long)]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub old: PathBuf,
    pub new: PathBuf,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The manifest to promote.
    pub file: PathBuf,
    /// The target environment.
    #[arg(long)]
    pub to: String,
    /// Rewrite image prefixes, e.g. gcr.io/mobius-staging=gcr.io/mobius-prod.
    #[arg(long = "map", value_name = "FROM=TO", value_parser = parse_map)]
    pub maps: Vec<(String, String)>,
    /// The release date (YYYY-MM-DD); today by default.
    #[arg(long)]
    pub date: Option<jiff::civil::Date>,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The environment the release is for.
    #[arg(long)]
    pub env: String,
    /// The release date (YYYY-MM-DD); today by default.
    #[arg(long)]
    pub date: Option<jiff::civil::Date>,
    /// Pin a repository to its checkout's HEAD, e.g. mobius-chat=../mobius-chat.
    #[arg(long = "repo", value_name = "NAME=DIR", value_parser = parse_repo)]
    pub repos: Vec<(String, PathBuf)>,
    /// Pin checkouts even if they have uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Take modules and images from this platform config instead of the template.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_string(), to.to_string()))
        }
        _ => Err(format!("expected FROM=TO, found `{s}`")),
    }
}

fn parse_repo(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected NAME=DIR, found `{s}`")),
    }
}
