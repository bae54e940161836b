//! `preflight gcp doctor --env`, `gcp build-config --manifest`,
//! `gcp run-job NAME --env [--wait]`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use preflight_gcp::{BuildConfigOptions, ClientOptions, CloudRun, JobRun, build_config};
use preflight_verify::Runner;

use crate::args::{GcpBuildConfigArgs, GcpCommand, GcpDoctorArgs, GcpRunJobArgs};
use crate::{Outcome, Output};
use preflight_release::Platform;

pub(crate) fn run(cmd: GcpCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    match cmd {
        GcpCommand::Doctor(args) => doctor(args, output),
        GcpCommand::BuildConfig(args) => build(args, output),
        GcpCommand::RunJob(args) => run_job(args, output),
    }
}

fn doctor(args: GcpDoctorArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let project = Platform::load(&args.config)?;
    let environment = project.environment(&args.env)?;
    let Some(gcp_project) = &environment.gcp_project else {
        bail!("environment `{}` has no gcp_project", args.env);
    };
    let specs = project.gcp_specs(environment, &Default::default());
    if specs.is_empty() {
        bail!(
            "{} has no `gcp:` section: nothing to check in {gcp_project}",
            args.config.display()
        );
    }
    let report =
        super::runtime()?.block_on(async { anyhow::Ok(Runner::new(8)?.run(specs).await) })?;
    if output.json() {
        output.print_json(&report)?;
    } else {
        let color = output.color;
        let table = report.to_table(&|r, cell| super::verify::paint(color, r, cell));
        write!(output.out, "{table}")?;
    }
    Ok(if report.gate_passed() {
        Outcome::Ok
    } else {
        Outcome::NotOk
    })
}

fn build(args: GcpBuildConfigArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let project = Platform::load(&args.config)?;
    // The manifest names its environment; validate it against the config's.
    let manifest = project.load_manifest(&args.manifest, None)?;
    // `_RELEASE_MANIFEST` is relative to the build's source, the config's folder.
    let absolute = std::path::absolute(&args.manifest)
        .with_context(|| format!("cannot resolve {}", args.manifest.display()))?;
    let root = std::path::absolute(project.root())?;
    let manifest_path = absolute
        .strip_prefix(&root)
        .unwrap_or(&args.manifest)
        .to_string_lossy()
        .into_owned();
    let text = build_config(
        &manifest,
        &project.config,
        &BuildConfigOptions {
            manifest_path,
            env: manifest.release_id.env.clone(),
            build_only: args.build_only,
        },
    )?;
    super::write_or_print(args.out.as_deref(), &text, output)?;
    Ok(Outcome::Ok)
}

fn run_job(args: GcpRunJobArgs, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    let project = Platform::load(&args.config)?;
    let environment = project.environment(&args.env)?;
    let Some(job) = project.config.gcp.jobs.get(&args.name) else {
        let known: Vec<&str> = project.config.gcp.jobs.keys().map(String::as_str).collect();
        bail!(
            "no job `{}` under gcp.jobs in {} (jobs: {})",
            args.name,
            args.config.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let gcp_project = environment
        .gcp_project
        .clone()
        .with_context(|| format!("environment `{}` has no gcp_project", args.env))?;
    let region = environment
        .region
        .clone()
        .with_context(|| format!("environment `{}` has no region", args.env))?;
    let deadline = args.deadline.or(job.timeout_secs).unwrap_or(3600);
    let run = JobRun {
        project: gcp_project,
        region,
        job: args.name.clone(),
        args: job.args.clone(),
        env: job.env.clone(),
        task_timeout: job.timeout_secs.map(Duration::from_secs),
        deadline: Duration::from_secs(deadline),
    };
    let outcome = super::runtime()?.block_on(async {
        let client = CloudRun::connect(&ClientOptions::from_env()).await?;
        if args.wait {
            client.run_job(&run).await
        } else {
            client.start_job(&run).await
        }
    })?;
    if output.json() {
        output.print_json(&serde_json::json!({
            "job": args.name,
            "execution": outcome.execution,
            "waited": args.wait,
            "succeeded": outcome.succeeded,
            "succeeded_tasks": outcome.succeeded_tasks,
            "failed_tasks": outcome.failed_tasks,
            "log_uri": outcome.log_uri,
            "message": outcome.message,
        }))?;
    } else {
        let state = match (args.wait, outcome.succeeded) {
            (false, _) => "started",
            (true, true) => "succeeded",
            (true, false) => "FAILED",
        };
        writeln!(output.out, "{} {state}: {}", args.name, outcome.execution)?;
        if !outcome.message.is_empty() && args.wait {
            writeln!(output.out, "  {}", outcome.message)?;
        }
        writeln!(output.out, "  logs: {}", outcome.log_uri)?;
    }
    Ok(if !args.wait || outcome.succeeded {
        Outcome::Ok
    } else {
        Outcome::NotOk
    })
}
