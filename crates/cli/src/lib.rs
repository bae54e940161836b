//! The `preflight` command line, as a library other tools can embed.
//!
//! [`Cli`] and its subcommands are ordinary clap types; [`run`] parses
//! arguments and runs a command against the real terminal, [`run_with`]
//! against any writers (tests use it). Each command builds an options struct
//! and calls one library function of the crate that owns the domain (the
//! release engine is `preflight-release`); this crate only renders results
//! and picks the exit code ([`Outcome`]).
//!
//! ```no_run
//! let code = preflight_cli::run(["preflight", "manifest", "validate", "release.yaml"]);
//! ```

mod args;
mod commands;
mod output;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

pub use args::{
    ApproveArgs, ArchiveArgs, BaselineArgs, CheckArgs, ChecklistCommand, ChecklistFileArgs,
    ChecklistTarget, Cli, ColorChoice, Command, DiffArgs, EnvCommand, EnvDiffArgs, Format,
    GateArgs, GlobalArgs, LocalArgs, LocalCommand, ManifestCommand, MigrateArgs, MigrateCommand,
    MigrationKindArg, NewArgs, NewMigrationArgs, PhaseArg, PromoteArgs, RenderArgs, RepairArgs,
    RepairStatusArg, RollbackArgs, SignArgs, SourceArgs, UncheckArgs, UpArgs, ValidateArgs,
    VerifyArgs,
};
pub use output::Output;

/// How a command ended; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything checked is fine (exit 0).
    Ok = 0,
    /// What was checked is not OK: an invalid manifest, a failed gate (exit 1).
    NotOk = 1,
    /// Could not check: bad usage, an unreadable file, invalid configuration (exit 2).
    CouldNotCheck = 2,
    /// Stopped by SIGINT or SIGTERM after rolling back what ran (exit 130, as a shell reports Ctrl-C).
    Interrupted = 130,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o as u8)
    }
}

/// Parses `args` (the first is the program name) and runs the command on
/// the process's standard output and error.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // Unlocked handles: each line reaches a pipe as it is written (stdout
    // is line-buffered), and progress can be written from inside a
    // migration's event callback.
    let terminal = output::stdout_is_terminal();
    run_with(args, &mut io::stdout(), &mut io::stderr(), terminal).into()
}

/// Like [`run`], writing to the given streams; `terminal` turns on colour.
pub fn run_with<I, T>(
    args: I,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    terminal: bool,
) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let parsed = Cli::command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, command_name(&m))));
    let (cli, name) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // Help and usage errors honour --color and NO_COLOR too.
            let color = ColorChoice::from_raw_args(&args).resolve(terminal);
            let text = if color {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            if e.use_stderr() {
                let _ = write!(err, "{text}");
                return Outcome::CouldNotCheck;
            }
            let _ = write!(out, "{text}");
            return Outcome::Ok;
        }
    };
    init_logging(cli.global.verbose, terminal);
    let json = cli.global.format == Format::Json;
    // JSON mode: human text is kept for the envelope; stdout gets the envelope.
    let mut captured: Vec<u8> = Vec::new();
    let (result, results, streamed) = {
        // One more reference level: each stream is unsized afresh, so the
        // borrows end with this block.
        let mut out_ref = &mut *out;
        let mut err_ref = &mut *err;
        let (human, stream): (&mut (dyn Write + Send), Option<&mut (dyn Write + Send)>) = if json {
            (&mut captured, Some(&mut out_ref))
        } else {
            (&mut out_ref, None)
        };
        let mut output = Output::new(&cli.global, human, &mut err_ref, terminal, stream);
        let result = commands::dispatch(cli.command, &mut output);
        let results = std::mem::take(&mut output.results);
        (result, results, output.streamed)
    };
    let (outcome, problems) = match result {
        Ok(outcome) => (outcome, Vec::new()),
        // The reader went away (`preflight … | head -1`): end quietly, but
        // not with a pass, since the verdict was never written.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) =>
        {
            return Outcome::CouldNotCheck;
        }
        Err(e) => {
            let mut message = format!("error: {e}");
            for cause in e.chain().skip(1) {
                message.push_str(&format!("\n  caused by: {cause}"));
            }
            let _ = writeln!(err, "{message}");
            let problem = serde_json::json!({
                "severity": "error",
                "message": e.to_string(),
                "causes": e.chain().skip(1).map(|c| c.to_string()).collect::<Vec<_>>(),
            });
            (Outcome::CouldNotCheck, vec![problem])
        }
    };
    if json {
        let result = match results.len() {
            0 if captured.is_empty() => serde_json::Value::Null,
            // A command with text output only: the text is the result.
            0 => serde_json::json!({ "text": String::from_utf8_lossy(&captured) }),
            1 => results.into_iter().next().unwrap_or_default(),
            _ => serde_json::Value::Array(results),
        };
        let envelope = serde_json::json!({
            "command": name,
            "ok": outcome == Outcome::Ok,
            "exit_code": outcome as u8,
            "result": result,
            "problems": problems,
        });
        let text = if streamed {
            serde_json::to_string(&envelope)
        } else {
            serde_json::to_string_pretty(&envelope)
        };
        if let Ok(text) = text
            && writeln!(out, "{text}").is_err()
        {
            return Outcome::CouldNotCheck;
        }
    }
    outcome
}

/// Logs to stderr through `tracing`: `RUST_LOG` when set, else warnings,
/// `-vv` Preflight's debug events, `-vvv` all of Preflight's. Set once per process
/// (an embedding tool's own subscriber wins).
fn init_logging(verbose: u8, terminal: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match verbose {
            0 | 1 => "warn",
            2 => {
                "warn,preflight_cli=debug,preflight_release=debug,preflight_migrate=debug,preflight_process=debug,preflight_verify=debug,preflight_gcp=debug"
            }
            // Preflight's own events only: dependencies' traces (HTTP
            // frames, SQL text) are for RUST_LOG, chosen deliberately.
            _ => {
                "warn,preflight_cli=trace,preflight_release=trace,preflight_migrate=trace,preflight_process=trace,preflight_verify=trace,preflight_gcp=trace"
            }
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(terminal && std::env::var_os("NO_COLOR").is_none())
        .with_target(true)
        .try_init();
}

/// `migrate status`, `release run`: the subcommands as typed.
fn command_name(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        names.push(name.to_string());
        current = sub;
    }
    names.join(" ")
}
