//! Promoting a manifest to another environment (`staging_cicd_pipeline.md` §6).

use jiff::civil::Date;
use serde::Serialize;

use crate::Error;
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::manifest::{Checked, Manifest, ReleaseId, ValidateOptions};
use crate::reader::scalar_span;
use crate::yaml::{self, Value};

/// How to promote.
#[derive(Debug, Clone)]
pub struct PromoteOptions {
    /// The target environment (`prod`).
    pub to_env: String,
    /// The new release date; today when `None`.
    pub date: Option<Date>,
    /// Image prefixes to rewrite, `FROM=TO` (`gcr.io/mobius-staging=gcr.io/mobius-prod`).
    pub registry_map: Vec<(String, String)>,
}

/// One image reference that was rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRewrite {
    pub image: String,
    pub from: String,
    pub to: String,
}

/// The promoted manifest: its text (the source with only the changed values
/// replaced, so comments and order survive) and what changed.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub text: String,
    pub release_id: ReleaseId,
    pub rewritten: Vec<ImageRewrite>,
    /// Warnings about the result, e.g. images no `--map` rule matched.
    pub diagnostics: Vec<Diagnostic>,
}

/// Promotes a checked manifest. Commits and migrations are kept as they are;
/// the release id gets the new date and environment, and image references
/// are rewritten by the first `registry_map` prefix that matches.
///
/// Refuses a source with errors, and a result that would not validate for
/// the target environment (for example a `latest` tag going to prod).
pub fn promote(source: &Checked<Manifest>, options: &PromoteOptions) -> Result<Promotion, Error> {
    let Some(manifest) = &source.value else {
        return Err(Error::Invalid {
            path: source.path.clone(),
            errors: source.errors().count(),
        });
    };
    let date = options.date.unwrap_or_else(|| jiff::Zoned::now().date());
    let release_id = ReleaseId {
        date,
        env: options.to_env.clone(),
    };
    if !crate::manifest::valid_env_name(&options.to_env) {
        return Err(Error::InvalidEnv {
            env: options.to_env.clone(),
        });
    }
    let root = yaml::parse(&source.source).map_err(|_| Error::Invalid {
        path: source.path.clone(),
        errors: 1,
    })?;
    let Value::Map(top) = &root.value else {
        return Err(Error::Invalid {
            path: source.path.clone(),
            errors: 1,
        });
    };
    // (start, end, replacement) in source bytes.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut rewritten = Vec::new();
    let mut diagnostics = Vec::new();
    for (key, value) in top {
        match key.scalar_text().as_deref() {
            Some("release_id") => {
                if let Some((s, e, _)) = scalar_span(&source.source, value) {
                    edits.push((s, e, release_id.to_string()));
                }
            }
            Some("images") => {
                let Value::Map(images) = &value.value else {
                    continue;
                };
                for (name, image) in images {
                    let (Some(name), Some(text)) = (name.scalar_text(), image.scalar_text()) else {
                        continue;
                    };
                    let mapped = options.registry_map.iter().find_map(|(from, to)| {
                        let rest = text.strip_prefix(from.as_str())?;
                        (rest.is_empty() || rest.starts_with(['/', ':', '@']))
                            .then(|| format!("{to}{rest}"))
                    });
                    match mapped {
                        Some(new) if new != text => {
                            if let Some((s, e, _)) = scalar_span(&source.source, image) {
                                edits.push((s, e, new.clone()));
                            }
                            rewritten.push(ImageRewrite {
                                image: name,
                                from: text,
                                to: new,
                            });
                        }
                        Some(_) => {}
                        None if !options.registry_map.is_empty() => {
                            let mut d = Diagnostic::new(
                                &source.path,
                                image.pos,
                                Severity::Warning,
                                Code::InvalidImage,
                                format!(
                                    "`images.{name}` matched no --map rule and is promoted unchanged"
                                ),
                            );
                            d.width(text.chars().count())
                                .hint("add --map FROM=TO for its registry/project, or check it is meant to be shared");
                            diagnostics.push(d);
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut text = source.source.clone();
    for (s, e, new) in edits {
        text.replace_range(s..e, &new);
    }
    // Say where the release came from, above the source's own comments
    // (below an editor's schema line, which stays first).
    let at = if text.starts_with("# yaml-language-server:") {
        text.find('\n').map_or(text.len(), |i| i + 1)
    } else {
        0
    };
    text.insert_str(
        at,
        &format!(
            "# Promoted from {} by `preflight manifest promote`.\n",
            manifest.release_id
        ),
    );
    let recheck = Manifest::check(
        &source.path,
        &text,
        &ValidateOptions {
            expected_env: Some(options.to_env.clone()),
            known_envs: None,
            platform: None,
        },
    );
    if recheck.has_errors() {
        return Err(Error::PromotedInvalid {
            env: options.to_env.clone(),
            diagnostics: recheck.diagnostics,
            source_text: text,
        });
    }
    diagnostics.extend(recheck.diagnostics);
    Ok(Promotion {
        text,
        release_id,
        rewritten,
        diagnostics,
    })
}
