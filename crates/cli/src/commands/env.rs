//! `preflight env diff EXAMPLE ACTUAL`.

use preflight_verify::{EnvDiff, EnvFile};

use crate::args::EnvCommand;
use crate::{Outcome, Output};

pub(crate) fn run(command: EnvCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    match command {
        EnvCommand::Diff(args) => {
            let example = EnvFile::load(&args.example)?;
            let actual = EnvFile::load(&args.actual)?;
            let diff = EnvDiff::between(&example, &actual);
            if output.json() {
                output.print_json(&diff)?;
            } else {
                for line in diff.lines() {
                    writeln!(output.out, "{line}")?;
                }
                if !output.quiet {
                    writeln!(
                        output.out,
                        "{}: {} missing, {} empty, {} extra of {} keys in {}",
                        args.actual.display(),
                        diff.missing.len(),
                        diff.empty.len(),
                        diff.extra.len(),
                        example.keys.len(),
                        args.example.display()
                    )?;
                }
            }
            Ok(if diff.is_ok() {
                Outcome::Ok
            } else {
                Outcome::NotOk
            })
        }
    }
}
