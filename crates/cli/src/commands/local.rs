//! `preflight local status | stop | reset`.

use preflight_migrate::LocalPostgres;

use crate::args::{LocalArgs, LocalCommand};
use crate::{Outcome, Output};

fn state_dir(args: &LocalArgs) -> std::path::PathBuf {
    args.config
        .parent()
        .map(|p| p.join(".preflight"))
        .unwrap_or_else(|| ".preflight".into())
}

pub(crate) fn run(command: LocalCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    match command {
        LocalCommand::Status(args) => {
            let status = LocalPostgres::status(&state_dir(&args))?;
            if output.json() {
                output.print_json(&status)?;
            } else if !status.initialised {
                writeln!(output.out, "no local cluster in {}", status.dir.display())?;
            } else {
                let port = status.port.map(|p| p.to_string()).unwrap_or("-".into());
                let state = if status.running { "running" } else { "stopped" };
                writeln!(
                    output.out,
                    "{state} on 127.0.0.1:{port} ({})",
                    status.dir.display()
                )?;
                if !status.data.starts_with(&status.dir) {
                    // As root, where the server's user cannot reach the project.
                    writeln!(output.out, "  data in {}", status.data.display())?;
                }
                for db in &status.databases {
                    writeln!(output.out, "  {db}")?;
                }
            }
            Ok(Outcome::Ok)
        }
        LocalCommand::Stop(args) => {
            let was_running = LocalPostgres::stop(&state_dir(&args))?;
            if !output.quiet {
                let text = if was_running {
                    "stopped"
                } else {
                    "not running"
                };
                writeln!(output.out, "{text}")?;
            }
            Ok(Outcome::Ok)
        }
        LocalCommand::Reset(args) => {
            let dir = state_dir(&args);
            LocalPostgres::reset(&dir)?;
            if !output.quiet {
                writeln!(
                    output.out,
                    "removed the local cluster in {}",
                    dir.join("postgres").display()
                )?;
            }
            Ok(Outcome::Ok)
        }
    }
}
