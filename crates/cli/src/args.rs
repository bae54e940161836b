//! The command line, as clap types other tools can embed or extend.

use std::ffi::OsString;
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
    /// Print more detail; `-vv` also logs what Preflight does (connections,
    /// commands, migrations, phases) to stderr, `-vvv` all of Preflight's events.
    /// `RUST_LOG` (e.g. `preflight_migrate=debug`) chooses the log precisely.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to colour output: `auto` colours a terminal unless `NO_COLOR`
    /// is set (`CLICOLOR_FORCE` colours a pipe too).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// `--color`: as cargo, gh and uv take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether the output is a terminal and the
    /// `NO_COLOR`/`CLICOLOR_FORCE` conventions (an explicit flag wins).
    pub fn resolve(self, terminal: bool) -> bool {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set("NO_COLOR") => false,
            ColorChoice::Auto if set("CLICOLOR_FORCE") => true,
            ColorChoice::Auto => terminal,
        }
    }

    /// The choice in raw arguments, before clap parses them (help and
    /// usage errors are rendered before a [`Cli`] exists).
    pub fn from_raw_args(args: &[OsString]) -> ColorChoice {
        let mut choice = ColorChoice::Auto;
        let mut iter = args.iter().skip(1).filter_map(|a| a.to_str());
        while let Some(arg) = iter.next() {
            let value = match arg {
                "--" => break,
                "--color" => iter.next(),
                _ => arg.strip_prefix("--color="),
            };
            if let Some(v) = value.and_then(|v| ColorChoice::from_str(v, false).ok()) {
                choice = v;
            }
        }
        choice
    }
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
    /// Migrations: status, plan, up, baseline, repair, new, rollback.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Runbook checklists: show, check, sign, gate, render, archive.
    #[command(subcommand)]
    Checklist(ChecklistCommand),
    /// The project's kept PostgreSQL cluster for the `local` environment.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Run the probes (and optionally gates) configured for an environment.
    Verify(VerifyArgs),
    /// `.env` files: compare keys with their example.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Releases: run the B3 pipeline from a manifest.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Check, without changing anything, that a release could run.
    Doctor(DoctorArgs),
    /// Repositories: are the checkouts ready for a manifest?
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Google Cloud: readiness, Cloud Build config, Cloud Run jobs.
    #[command(subcommand)]
    Gcp(GcpCommand),
    /// Databases: schema drift against the migrations.
    #[command(subcommand)]
    Db(DbCommand),
    /// Database contracts: write one from a live database.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Backups in the artifact store: list, verify (a restore rehearsal),
    /// restore into a database you name.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Start: scan a platform's folders (migrations, test suites,
    /// `.env.example`, release manifests, a checklist, Cloud Build files)
    /// and write a commented `preflight.yaml`, a manifest template and a
    /// checklist skeleton; never replaces a file.
    Init(InitArgs),
    /// Print the JSON Schema of `preflight.yaml` or of release manifests
    /// (for editors), or the configuration reference (Markdown).
    Schema(SchemaArgs),
    /// Print a shell completion script: `preflight completions bash >
    /// /etc/bash_completion.d/preflight`, or zsh, fish, elvish, powershell.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command with --out-dir.
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// The dumps of an environment, oldest first, with size, SHA-256 and
    /// the release that took them.
    List(BackupListArgs),
    /// A restore rehearsal: download a dump (the newest, or --key), check
    /// its SHA-256, restore it into a throwaway database on the local
    /// cluster and run the database's contracts against it. Exit 1 when it
    /// is not usable.
    Verify(BackupPickArgs),
    /// Restore a dump into the database at --to (never the environment's
    /// own database; needs --yes), in one transaction.
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupListArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment whose artifact store to read.
    #[arg(long)]
    pub env: String,
    /// Only this database's dumps.
    #[arg(long)]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupPickArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment whose artifact store to read.
    #[arg(long)]
    pub env: String,
    /// The database.
    #[arg(long)]
    pub database: String,
    /// The dump's key or URI (default: the newest).
    #[arg(long)]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    #[command(flatten)]
    pub pick: BackupPickArgs,
    /// The database to restore into (a URL; `env:VAR` reads it from the environment).
    #[arg(long)]
    pub to: String,
    /// Yes, replace what the target holds.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The platform's folder.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The platform's name (default: the folder's name).
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum)]
    pub which: SchemaKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// `preflight.yaml`.
    Config,
    /// Release manifests.
    Manifest,
    /// The configuration reference, as Markdown (docs/configuration.md).
    Reference,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `preflight.1`, `preflight-migrate.1`, … into this folder.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Write a module's contract from its live database: tables and
    /// columns, functions with signatures and results, extensions, and the
    /// ledger's version; to review, not to type by hand.
    Snapshot(ContractSnapshotArgs),
}

#[derive(Debug, Args)]
pub struct ContractSnapshotArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment whose database to read.
    #[arg(long)]
    pub env: String,
    /// The module whose database to read.
    #[arg(long)]
    pub module: String,
    /// Write here instead of stdout (refused when it exists, unless --update).
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,
    /// Rewrite an existing contract, keeping its opening comment lines.
    #[arg(long, requires = "out")]
    pub update: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Schema drift: the schema each database's migrations build (in a
    /// throwaway database on the local cluster) against the live one;
    /// or two live databases with --from/--to. Exit 1 on drift, 2 when it
    /// cannot be checked.
    Diff(DbDiffArgs),
}

#[derive(Debug, Args)]
pub struct DbDiffArgs {
    /// The platform config (with --env).
    #[arg(long, default_value = "preflight.yaml", conflicts_with_all = ["from", "to"])]
    pub config: PathBuf,
    /// The environment whose databases to check.
    #[arg(long, required_unless_present_any = ["from", "kind"])]
    pub env: Option<String>,
    /// Without a config: the migrations' flavour (with --dir and --database-url).
    #[arg(long, value_enum, requires = "dir", conflicts_with_all = ["env", "from"])]
    pub kind: Option<MigrationKindArg>,
    /// Without a config: the migrations folder (Alembic: again for each
    /// further versions folder).
    #[arg(long, requires = "kind")]
    pub dir: Vec<PathBuf>,
    /// Alembic: read the versions folders' subfolders too.
    #[arg(long, requires = "kind")]
    pub recursive: bool,
    /// Without a config: the live database (never printed).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Only the database of this module.
    #[arg(long, requires = "env")]
    pub module: Option<String>,
    /// Build the migrations' schema up to this manifest's pins (default: up
    /// to what the live ledger says is applied).
    #[arg(long, requires = "env")]
    pub manifest: Option<PathBuf>,
    /// Compare two live databases: the expected one (never printed).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Compare two live databases: the actual one (never printed).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Compare grants too.
    #[arg(long)]
    pub with_privileges: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Each module's checkout: the pinned commit exists and is on the
    /// module's branch, the checkout is at it, and the tree is clean.
    Check(RepoCheckArgs),
}

#[derive(Debug, Args)]
pub struct RepoCheckArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The release manifest.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Fetch each checkout's `origin` first.
    #[arg(long)]
    pub fetch: bool,
}

#[derive(Debug, Subcommand)]
pub enum GcpCommand {
    /// Every `gcp.*` readiness check for an environment: APIs enabled, IAM
    /// permissions held, Cloud SQL instance and databases, buckets with
    /// lifecycle rules, a secret for every `.env.example` key, VPC egress.
    Doctor(GcpDoctorArgs),
    /// Print (or write) the Cloud Build config for a release manifest.
    BuildConfig(GcpBuildConfigArgs),
    /// Execute a Cloud Run job (the migration job) configured under `gcp.jobs`.
    RunJob(GcpRunJobArgs),
}

#[derive(Debug, Args)]
pub struct GcpDoctorArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment to check.
    #[arg(long)]
    pub env: String,
}

#[derive(Debug, Args)]
pub struct GcpBuildConfigArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The release manifest to build.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Write the config here instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only check out, build and push: leave the migration jobs and the
    /// deploys to the release's own migrate and deploy phases (required
    /// when the release runs this build itself, `gcp.build`).
    #[arg(long)]
    pub build_only: bool,
}

#[derive(Debug, Args)]
pub struct GcpRunJobArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The job, a key of `gcp.jobs`.
    pub name: String,
    /// The environment whose project and region run it.
    #[arg(long)]
    pub env: String,
    /// Wait for the execution to finish (and fail if it does).
    #[arg(long)]
    pub wait: bool,
    /// How long to wait, in seconds (default: the job's timeout_secs, else 3600).
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Preflight checks, freeze, hard gate, soft gate, backup, migrate,
    /// verify, deploy, smoke (and watch); stops at the first failed hard step.
    Run(ReleaseRunArgs),
    /// The release in flight: phase, last step, elapsed time, who holds the
    /// lock; and the last one that ended.
    Status(ReleaseEnvArgs),
    /// Past releases, newest first: outcome, duration, manifest, attempt
    /// (this machine's state files, and the environment's artifact store).
    List(ReleaseEnvArgs),
    /// One release's record: the Markdown log, or the whole record as JSON.
    Show(ReleaseShowArgs),
    /// Redeploy the images of the last release that succeeded in the
    /// environment before the one in place (or of `--to`), at once, then
    /// smoke and watch them: a recorded run of that release from its
    /// deploy. Migrations are not undone (see `backup restore`).
    Rollback(ReleaseRollbackArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseRollbackArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment to roll back.
    #[arg(long)]
    pub env: String,
    /// The release to go back to (default: the newest that succeeded before the one in place).
    #[arg(long, value_name = "RELEASE_ID")]
    pub to: Option<String>,
    /// Print what would be redeployed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the run as JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReleaseEnvArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment.
    #[arg(long)]
    pub env: String,
}

#[derive(Debug, Args)]
pub struct ReleaseShowArgs {
    /// The release id (`2026-02-14-prod`).
    pub release_id: String,
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// Look only in this environment.
    #[arg(long)]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReleaseRunArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The release manifest.
    #[arg(long)]
    pub manifest: PathBuf,
    /// The target environment (`local` rehearses on a throwaway database).
    #[arg(long)]
    pub env: String,
    /// Print every step that would run, with commands and migration plans; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue a failed release from the phase that failed.
    #[arg(long, conflicts_with_all = ["only", "from"])]
    pub resume: bool,
    /// Run only this phase (after the preflight checks).
    #[arg(long, value_name = "PHASE", value_parser = parse_phase, conflicts_with = "from")]
    pub only: Option<preflight_release::Phase>,
    /// Start at this phase (after the preflight checks).
    #[arg(long, value_name = "PHASE", value_parser = parse_phase)]
    pub from: Option<preflight_release::Phase>,
    /// Skip this phase on the record (repeatable; needs --reason; refused in
    /// a protected environment). A hard gate or backup is never passed otherwise.
    #[arg(long, value_name = "PHASE", value_parser = parse_phase, requires = "reason")]
    pub skip: Vec<preflight_release::Phase>,
    /// Why the skipped phases are skipped, for the release log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// How many probes run at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How many databases are backed up or migrated at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Also write the release's JUnit report here (for CI; the log folder
    /// has one beside the Markdown log either way).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn parse_phase(text: &str) -> Result<preflight_release::Phase, String> {
    preflight_release::Phase::parse(text).ok_or_else(|| {
        let names: Vec<&str> = preflight_release::Phase::ALL
            .iter()
            .map(|p| p.as_str())
            .collect();
        format!("expected one of: {}", names.join(", "))
    })
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment to check.
    #[arg(long)]
    pub env: String,
    /// Also validate this manifest and compare the ledgers with its pins.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The platform config.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
    /// The environment whose probes run.
    #[arg(long)]
    pub env: String,
    /// Only these probes, gates or modules (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Only the probes of this release phase.
    #[arg(long, value_enum)]
    pub phase: Option<PhaseArg>,
    /// Also run the config's gates (test suites) for the environment.
    #[arg(long)]
    pub gates: bool,
    /// How many probes run at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a Markdown report here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    Verify,
    Smoke,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Keys missing from, empty in, or extra in ACTUAL compared with EXAMPLE.
    /// Values are never shown.
    Diff(EnvDiffArgs),
}

#[derive(Debug, Args)]
pub struct EnvDiffArgs {
    /// The example file, e.g. `.env.example`.
    pub example: PathBuf,
    /// The file in use, e.g. `.env`.
    pub actual: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Whether the cluster exists and runs, its port and databases.
    Status(LocalArgs),
    /// Stop the server; keep its data.
    Stop(LocalArgs),
    /// Stop the server and delete its data.
    Reset(LocalArgs),
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// The platform config; the cluster lives in `.preflight/` beside it.
    #[arg(long, default_value = "preflight.yaml")]
    pub config: PathBuf,
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

#[derive(Debug, Subcommand)]
pub enum ChecklistCommand {
    /// Progress per section.
    Show(ChecklistFileArgs),
    /// Tick an item, with evidence.
    Check(CheckArgs),
    /// Untick an item, saying why.
    Uncheck(UncheckArgs),
    /// Sign off a section (every item in it must be checked).
    Sign(SignArgs),
    /// The release commander's final approval (everything checked and signed).
    Approve(ApproveArgs),
    /// Exit 1, listing each open item and its owner, unless the sections are complete.
    Gate(GateArgs),
    /// Write the document with the state applied.
    Render(RenderArgs),
    /// Write the filled document to the release's log folder.
    Archive(ArchiveArgs),
    /// Check the state log's hash chain, and that it continues an anchor
    /// (an archived document's, or the events and head a release log records).
    Verify(VerifyLogArgs),
}

/// Which checklist, and where its state is.
#[derive(Debug, Clone, Args)]
pub struct ChecklistFileArgs {
    /// The Markdown checklist.
    pub file: PathBuf,
    /// The state log (default: `<file stem>.state.jsonl` beside the document).
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// The checklist a change applies to.
#[derive(Debug, Clone, Args)]
pub struct ChecklistTarget {
    /// The Markdown checklist.
    #[arg(long = "file", short = 'f')]
    pub file: PathBuf,
    /// The state log (default: beside the document).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Who is making the change.
    #[arg(long)]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The item id, e.g. 3.2.
    pub id: String,
    #[command(flatten)]
    pub target: ChecklistTarget,
    /// Evidence: text, a link or an artifact reference (gs://…).
    #[arg(long, conflicts_with = "evidence_file")]
    pub evidence: Option<String>,
    /// Evidence from a file (a command's output); its last 40 lines are kept.
    #[arg(long)]
    pub evidence_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UncheckArgs {
    pub id: String,
    #[command(flatten)]
    pub target: ChecklistTarget,
    /// Why the item is open again.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The section id, e.g. 3.
    pub section: String,
    #[command(flatten)]
    pub target: ChecklistTarget,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub target: ChecklistTarget,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub checklist: ChecklistFileArgs,
    /// Sections that must be complete: `all`, `N`, `N-M` or a comma list.
    #[arg(long, default_value = "all")]
    pub require: String,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub checklist: ChecklistFileArgs,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub checklist: ChecklistFileArgs,
    /// The release id, e.g. 2026-02-14-prod.
    #[arg(long)]
    pub release: String,
    /// The release log folder.
    #[arg(long, default_value = "docs/release_logs")]
    pub dir: PathBuf,
}

/// `checklist verify`: a state log against an anchor.
#[derive(Debug, Clone, Args)]
pub struct VerifyLogArgs {
    #[command(flatten)]
    pub checklist: ChecklistFileArgs,
    /// An archived copy of the document, whose last line holds the anchor.
    #[arg(long, conflicts_with_all = ["events", "head"])]
    pub archive: Option<PathBuf>,
    /// The number of events the anchor records.
    #[arg(long, requires = "head")]
    pub events: Option<usize>,
    /// The SHA-256 the anchor records for that event's line.
    #[arg(long, requires = "events")]
    pub head: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Every migration as applied, pending, modified, missing, out-of-order or failed; exit 1 unless all applied.
    Status(MigrateArgs),
    /// What `up` would apply, with its SQL; changes nothing.
    Plan(MigrateArgs),
    /// Lint what `up` would apply (or every migration with --all) with
    /// squawk's rules; exit 1 on a blocking violation (with --kind/--dir,
    /// every violation blocks).
    Lint(LintArgs),
    /// Back up, then apply pending migrations under the migration lock.
    Up(UpArgs),
    /// Record migrations up to a version as applied without running them (adopting a hand-migrated database).
    Baseline(BaselineArgs),
    /// Fix the ledger deliberately: mark versions applied or reverted (recorded with who did it).
    Repair(RepairArgs),
    /// Create the next, correctly named migration file.
    New(NewMigrationArgs),
    /// Scaffold a new migration that reverts an earlier one (never edits it).
    Rollback(RollbackArgs),
    /// Alembic: the head revisions, read from the files (no Python).
    Heads(GraphArgs),
    /// Alembic: every revision, newest first, as `alembic history` orders them.
    History(GraphArgs),
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Also drop revisions other revisions depend on (`--resolve-dependencies`).
    #[arg(long)]
    pub resolve_dependencies: bool,
}

/// Where migrations come from: `--kind K --dir D`, or `--config F --module M`.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The migration flavour (with --dir).
    #[arg(long, value_enum, requires = "dir", required_unless_present = "config")]
    pub kind: Option<MigrationKindArg>,
    /// The migrations folder (with --kind). Alembic: a versions folder;
    /// give it again for each further one (`version_locations`).
    #[arg(long, requires = "kind")]
    pub dir: Vec<PathBuf>,
    /// Alembic: read the versions folders' subfolders too
    /// (`recursive_version_locations`; `alembic.ini` can say so as well).
    #[arg(long)]
    pub recursive: bool,
    /// The platform config (with --module, and --env for commands that touch a database).
    #[arg(long, conflicts_with_all = ["kind", "dir"])]
    pub config: Option<PathBuf>,
    /// The module whose migrations to use (with --config).
    #[arg(long, requires = "config")]
    pub module: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The environment whose database to use (with --config).
    #[arg(long, requires = "config")]
    pub env: Option<String>,
    /// A release manifest: check (or migrate) to exactly what it pins.
    #[arg(long, requires = "env")]
    pub manifest: Option<PathBuf>,
    /// The database (with --kind/--dir; never printed).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Seconds to wait for another runner's lock.
    #[arg(long, default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub migrate: MigrateArgs,
    /// Every migration on disk, not only what is pending (no database
    /// needed for SQL and Supabase folders with --kind/--dir).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrationKindArg {
    Sql,
    Supabase,
    Alembic,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub migrate: MigrateArgs,
    /// Stop after this version.
    #[arg(long)]
    pub target: Option<String>,
    /// Apply pending migrations older than the newest applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Print the plan and the SQL; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the pg_dump backup taken before migrating (anything but `local`).
    #[arg(long)]
    pub no_backup: bool,
    /// Where backups go with --database-url (default .preflight/artifacts).
    #[arg(long, conflicts_with = "config")]
    pub backup_dir: Option<PathBuf>,
    /// Alembic: print the SQL of the upgrade (offline mode) instead of running it.
    #[arg(long)]
    pub sql: bool,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub migrate: MigrateArgs,
    /// The last version that is already in the database.
    #[arg(value_name = "VERSION")]
    pub up_to: String,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub migrate: MigrateArgs,
    /// What to record the versions as.
    #[arg(long, value_enum)]
    pub status: RepairStatusArg,
    /// The versions to repair.
    #[arg(required = true)]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepairStatusArg {
    Applied,
    Reverted,
}

#[derive(Debug, Args)]
pub struct NewMigrationArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// What the migration does, e.g. "add chat titles".
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The migration to revert: its version or name.
    pub target: String,
}
