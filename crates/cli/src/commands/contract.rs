//! `preflight contract snapshot`.

use anyhow::Context as _;
use preflight_release::Platform;

use crate::args::ContractCommand;
use crate::{Outcome, Output};

pub(crate) fn run(command: ContractCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let ContractCommand::Snapshot(args) = command;
    let existing = match &args.out {
        Some(path) if path.exists() => {
            if !args.update {
                anyhow::bail!(
                    "{} exists; pass --update to rewrite it (its opening comments are kept)",
                    path.display()
                );
            }
            Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            )
        }
        _ => None,
    };
    // An updated contract keeps the comments people wrote above it.
    let header = match &existing {
        Some(text) => text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim_start())
            .collect::<Vec<_>>()
            .join("\n"),
        None => format!(
            "Contract of module `{}` (from `{}`), written by `preflight contract snapshot`.\nReview it: every line is something the release checks.",
            args.module, args.env
        ),
    };
    let platform = Platform::load(&args.config)?;
    let text = super::runtime()?.block_on(async {
        let target = platform.target(&args.env).await?;
        platform
            .contract_snapshot(&target, &args.module, &header)
            .await
    })?;
    super::write_or_print(args.out.as_deref(), &text, output)?;
    Ok(Outcome::Ok)
}
