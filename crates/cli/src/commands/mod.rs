//! One module per area; each command parses, builds options and calls one library function.

mod backup;
mod checklist;
mod completions;
mod contract;
mod db;
mod env;
mod gcp;
mod init;
mod local;
mod manifest;
mod migrate;
mod release;
mod repo;
mod verify;

use crate::args::Command;
use crate::{Outcome, Output};

pub(crate) fn dispatch(command: Command, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    match command {
        Command::Manifest(cmd) => manifest::run(cmd, output),
        Command::Migrate(cmd) => migrate::run(cmd, output),
        Command::Checklist(cmd) => checklist::run(cmd, output),
        Command::Local(cmd) => local::run(cmd, output),
        Command::Verify(args) => verify::run(args, output),
        Command::Env(cmd) => env::run(cmd, output),
        Command::Release(cmd) => release::run(cmd, output),
        Command::Doctor(args) => release::doctor(args, output),
        Command::Repo(cmd) => repo::run(cmd, output),
        Command::Gcp(cmd) => gcp::run(cmd, output),
        Command::Db(cmd) => db::run(cmd, output),
        Command::Contract(cmd) => contract::run(cmd, output),
        Command::Completions(args) => completions::completions(args, output),
        Command::Man(args) => completions::man(args, output),
        Command::Init(args) => init::run(args, output),
        Command::Backup(cmd) => backup::run(cmd, output),
        Command::Schema(args) => completions::schema(args, output),
    }
}

/// Writes `text` to `path`, refusing to replace an existing file unless `force`.
pub(crate) fn write_new_file(
    path: &std::path::Path,
    text: &str,
    force: bool,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !force {
            format!(
                "{} already exists (use --force to replace it)",
                path.display()
            )
        } else {
            format!("cannot write {}", path.display())
        }
    })?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes `text` to `out` (saying so on stderr unless quiet) or, without
/// one, to stdout.
pub(crate) fn write_or_print(
    out: Option<&std::path::Path>,
    text: &str,
    output: &mut Output<'_>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !output.quiet {
                writeln!(output.err, "wrote {}", path.display())?;
            }
        }
        None => write!(output.out, "{text}")?,
    }
    Ok(())
}

/// The runtime async commands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
