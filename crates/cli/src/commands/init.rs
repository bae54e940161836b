//! `preflight init [DIR]`.

use preflight_release::{InitOptions, init};

use crate::args::InitArgs;
use crate::{Outcome, Output};

pub(crate) fn run(args: InitArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let report = super::runtime()?.block_on(init(&InitOptions {
        dir: args.dir.clone(),
        platform: args.platform,
    }))?;
    if output.json() {
        output.print_json(&report)?;
        return Ok(Outcome::Ok);
    }
    if !output.quiet {
        for line in &report.found {
            writeln!(output.out, "found {line}")?;
        }
    }
    for path in &report.written {
        writeln!(output.out, "wrote {}", path.display())?;
    }
    for path in &report.kept {
        writeln!(
            output.out,
            "kept  {} (exists; not replaced)",
            path.display()
        )?;
    }
    let config = args.dir.join("preflight.yaml");
    writeln!(
        output.out,
        "next: review {}, then `preflight doctor --config {} --env local` and fill in the manifest template",
        config.display(),
        config.display()
    )?;
    Ok(Outcome::Ok)
}
