//! `preflight manifest validate | diff | promote | new`.

use anyhow::Context as _;
use preflight_manifest::{
    Checked, Diagnostic, Manifest, ManifestDiff, NewOptions, PlatformConfig, PromoteOptions,
    ValidateOptions, render_diagnostics,
};
use serde::Serialize;

use super::write_new_file;
use crate::args::{DiffArgs, ManifestCommand, NewArgs, PromoteArgs, ValidateArgs};
use crate::{Outcome, Output};

pub(crate) fn run(command: ManifestCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    match command {
        ManifestCommand::Validate(args) => validate(args, output),
        ManifestCommand::Diff(args) => diff(args, output),
        ManifestCommand::Promote(args) => promote(args, output),
        ManifestCommand::New(args) => new(args, output),
    }
}

/// Loads the platform config if one was named; invalid config is "could not check".
fn load_config(
    path: Option<&std::path::Path>,
    output: &mut Output<'_>,
) -> anyhow::Result<Option<Checked<PlatformConfig>>> {
    let Some(path) = path else { return Ok(None) };
    let checked = PlatformConfig::load(path)?;
    if checked.has_errors() && !output.json() {
        let text = output.paint_diagnostics(&checked.render());
        write!(output.err, "{text}")?;
    }
    Ok(Some(checked))
}

fn validate(args: ValidateArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let config = load_config(args.config.as_deref(), output)?;
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut outcome = Outcome::Ok;
    if let Some(config) = &config {
        all.extend(config.diagnostics.iter().cloned());
        if config.has_errors() {
            if output.json() {
                output.print_json(&all)?;
            }
            return Ok(Outcome::CouldNotCheck);
        }
        if !output.json() && !output.quiet && !config.diagnostics.is_empty() {
            let text = output.paint_diagnostics(&config.render());
            write!(output.err, "{text}")?;
        }
    }
    let options = ValidateOptions {
        expected_env: args.env.clone(),
        known_envs: config
            .as_ref()
            .and_then(|c| c.value.as_ref())
            .map(PlatformConfig::env_names),
        platform: config
            .as_ref()
            .and_then(|c| c.value.as_ref())
            .map(|c| c.facts(args.env.as_deref())),
    };
    for file in &args.files {
        let checked = Manifest::load(file, &options)?;
        if checked.has_errors() {
            outcome = Outcome::NotOk;
        }
        if !output.json() {
            let shown: Vec<Diagnostic> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error() || !output.quiet)
                .cloned()
                .collect();
            if !shown.is_empty() {
                let text =
                    output.paint_diagnostics(&render_diagnostics(&shown, Some(&checked.source)));
                write!(output.out, "{text}")?;
            }
            if let Some(m) = &checked.value {
                if !output.quiet {
                    writeln!(
                        output.out,
                        "{}: {} ({})",
                        file.display(),
                        output.ok(),
                        summary(m)
                    )?;
                }
                if output.verbose {
                    for (repo, git_ref) in &m.commits {
                        writeln!(output.out, "  commit {repo} = {git_ref}")?;
                    }
                    for (name, image) in &m.images {
                        writeln!(output.out, "  image  {name} = {image}")?;
                    }
                }
            }
        }
        all.extend(checked.diagnostics);
    }
    if output.json() {
        output.print_json(&all)?;
    }
    Ok(outcome)
}

fn summary(m: &Manifest) -> String {
    let pins: usize = m.migrations.values().map(Vec::len).sum();
    format!(
        "release {}: {} commits, {} images, {} migrations, {} flags",
        m.release_id,
        m.commits.len(),
        m.images.len(),
        pins,
        m.feature_flags.len()
    )
}

/// Loads a manifest that must be valid; problems are shown and mean "could not check".
fn load_valid(
    path: &std::path::Path,
    output: &mut Output<'_>,
) -> anyhow::Result<Result<Manifest, Outcome>> {
    let checked = Manifest::load(path, &ValidateOptions::default())?;
    match checked.value {
        Some(m) => Ok(Ok(m)),
        None => {
            report(output, &checked.diagnostics, &checked.source)?;
            Ok(Err(Outcome::CouldNotCheck))
        }
    }
}

fn report(output: &mut Output<'_>, diagnostics: &[Diagnostic], source: &str) -> anyhow::Result<()> {
    if output.json() {
        #[derive(Serialize)]
        struct Report<'a> {
            diagnostics: &'a [Diagnostic],
        }
        output.print_json(&Report { diagnostics })?;
    } else {
        let text = output.paint_diagnostics(&render_diagnostics(diagnostics, Some(source)));
        write!(output.err, "{text}")?;
    }
    Ok(())
}

fn diff(args: DiffArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let old = match load_valid(&args.old, output)? {
        Ok(m) => m,
        Err(o) => return Ok(o),
    };
    let new = match load_valid(&args.new, output)? {
        Ok(m) => m,
        Err(o) => return Ok(o),
    };
    let diff = ManifestDiff::between(&old, &new);
    if output.json() {
        output.print_json(&diff)?;
    } else {
        write!(output.out, "{}", diff.render())?;
    }
    Ok(Outcome::Ok)
}

fn promote(args: PromoteArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let checked = Manifest::load(&args.file, &ValidateOptions::default())?;
    if checked.has_errors() {
        report(output, &checked.diagnostics, &checked.source)?;
        writeln!(
            output.err,
            "error: refusing to promote {}: it has errors",
            args.file.display()
        )?;
        return Ok(Outcome::NotOk);
    }
    let options = PromoteOptions {
        to_env: args.to.clone(),
        date: args.date,
        registry_map: args.maps.clone(),
    };
    let promotion = match preflight_manifest::promote(&checked, &options) {
        Ok(p) => p,
        Err(preflight_manifest::Error::PromotedInvalid {
            env,
            diagnostics,
            source_text,
        }) => {
            report(output, &diagnostics, &source_text)?;
            writeln!(
                output.err,
                "error: the promoted manifest would not be valid for `{env}`"
            )?;
            return Ok(Outcome::NotOk);
        }
        Err(e) => return Err(e.into()),
    };
    if !promotion.diagnostics.is_empty() && !output.quiet && !output.json() {
        let text = output.paint_diagnostics(&render_diagnostics(
            &promotion.diagnostics,
            Some(&promotion.text),
        ));
        write!(output.err, "{text}")?;
    }
    match &args.output {
        Some(path) => {
            write_new_file(path, &promotion.text, args.force)?;
            if output.json() {
                #[derive(Serialize)]
                struct Promoted<'a> {
                    output: &'a std::path::Path,
                    release_id: String,
                    rewritten: &'a [preflight_manifest::ImageRewrite],
                }
                output.print_json(&Promoted {
                    output: path,
                    release_id: promotion.release_id.to_string(),
                    rewritten: &promotion.rewritten,
                })?;
            } else if !output.quiet {
                writeln!(
                    output.err,
                    "wrote {} (release {}, {} image(s) rewritten)",
                    path.display(),
                    promotion.release_id,
                    promotion.rewritten.len()
                )?;
            }
        }
        None => write!(output.out, "{}", promotion.text)?,
    }
    Ok(Outcome::Ok)
}

fn new(args: NewArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let config = load_config(args.config.as_deref(), output)?;
    let config = match &config {
        Some(c) if c.has_errors() => return Ok(Outcome::CouldNotCheck),
        Some(c) => c.value.as_ref(),
        None => None,
    };
    let options = NewOptions {
        env: args.env.clone(),
        date: args.date,
        pins: args.repos.clone(),
        allow_dirty: args.allow_dirty,
    };
    let text =
        preflight_manifest::new_manifest(config, &options).context("cannot create the manifest")?;
    match &args.output {
        Some(path) => {
            write_new_file(path, &text, args.force)?;
            if !output.quiet {
                let open = text.matches("<").count();
                writeln!(
                    output.err,
                    "wrote {} ({open} placeholder(s) to fill in)",
                    path.display()
                )?;
            }
        }
        None => write!(output.out, "{text}")?,
    }
    Ok(Outcome::Ok)
}
