//! `preflight completions SHELL`, `preflight man` (generated from the clap
//! definition, so they never fall behind the commands) and `preflight
//! schema` (from the manifest crate's raw types).

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::args::{Cli, CompletionsArgs, ManArgs, SchemaArgs, SchemaKind};
use crate::{Outcome, Output};

pub(crate) fn completions(
    args: CompletionsArgs,
    output: &mut Output<'_>,
) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics when its writer fails (a
    // closed pipe), and a write error here is an ordinary one.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "preflight", &mut script);
    output.out.write_all(&script)?;
    Ok(Outcome::Ok)
}

pub(crate) fn man(args: ManArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let cmd = Cli::command();
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
            if !output.quiet {
                writeln!(output.err, "wrote the manual pages into {}", dir.display())?;
            }
        }
        None => clap_mangen::Man::new(cmd).render(&mut *output.out)?,
    }
    Ok(Outcome::Ok)
}

pub(crate) fn schema(args: SchemaArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let text = match args.which {
        SchemaKind::Config => preflight_manifest::config_schema(),
        SchemaKind::Manifest => preflight_manifest::manifest_schema(),
        SchemaKind::Reference => preflight_manifest::reference_markdown(),
    };
    output.out.write_all(text.as_bytes())?;
    Ok(Outcome::Ok)
}
