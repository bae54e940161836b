//! What changed between two manifests.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::manifest::Manifest;

/// Added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One entry that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub section: &'static str,
    pub key: String,
    pub kind: ChangeKind,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The differences between an old and a new manifest, section by section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestDiff {
    pub old_release: String,
    pub new_release: String,
    pub changes: Vec<Change>,
}

impl ManifestDiff {
    pub fn between(old: &Manifest, new: &Manifest) -> ManifestDiff {
        let mut changes = Vec::new();
        compare(
            "commits",
            &show(&old.commits),
            &show(&new.commits),
            &mut changes,
        );
        compare(
            "images",
            &show(&old.images),
            &show(&new.images),
            &mut changes,
        );
        let pins = |m: &Manifest| -> BTreeMap<String, String> {
            m.migrations
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
                .collect()
        };
        compare("migrations", &pins(old), &pins(new), &mut changes);
        compare(
            "feature_flags",
            &show(&old.feature_flags),
            &show(&new.feature_flags),
            &mut changes,
        );
        ManifestDiff {
            old_release: old.release_id.to_string(),
            new_release: new.release_id.to_string(),
            changes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// A text rendering for people: one block per section, `+`, `-` and `~` lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} → {}", self.old_release, self.new_release);
        if self.changes.is_empty() {
            out.push_str("no changes to commits, images, migrations or feature flags\n");
            return out;
        }
        let mut section = "";
        for c in &self.changes {
            if c.section != section {
                section = c.section;
                let _ = writeln!(out, "{section}:");
            }
            let _ = match c.kind {
                ChangeKind::Added => writeln!(
                    out,
                    "  + {}: {}",
                    c.key,
                    c.new.as_deref().unwrap_or_default()
                ),
                ChangeKind::Removed => writeln!(
                    out,
                    "  - {}: {}",
                    c.key,
                    c.old.as_deref().unwrap_or_default()
                ),
                ChangeKind::Changed => writeln!(
                    out,
                    "  ~ {}: {} → {}",
                    c.key,
                    c.old.as_deref().unwrap_or_default(),
                    c.new.as_deref().unwrap_or_default()
                ),
            };
        }
        let count = |k| self.changes.iter().filter(|c| c.kind == k).count();
        let _ = writeln!(
            out,
            "{} added, {} removed, {} changed",
            count(ChangeKind::Added),
            count(ChangeKind::Removed),
            count(ChangeKind::Changed)
        );
        out
    }
}

fn show<T: std::fmt::Display>(map: &BTreeMap<String, T>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

fn compare(
    section: &'static str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
) {
    for (key, old_value) in old {
        match new.get(key) {
            None => out.push(Change {
                section,
                key: key.clone(),
                kind: ChangeKind::Removed,
                old: Some(old_value.clone()),
                new: None,
            }),
            Some(new_value) if new_value != old_value => out.push(Change {
                section,
                key: key.clone(),
                kind: ChangeKind::Changed,
                old: Some(old_value.clone()),
                new: Some(new_value.clone()),
            }),
            Some(_) => {}
        }
    }
    for (key, new_value) in new {
        if !old.contains_key(key) {
            out.push(Change {
                section,
                key: key.clone(),
                kind: ChangeKind::Added,
                old: None,
                new: Some(new_value.clone()),
            });
        }
    }
    let in_section = out
        .iter()
        .rev()
        .take_while(|c| c.section == section)
        .count();
    let start = out.len() - in_section;
    out[start..].sort_by(|a, b| a.key.cmp(&b.key));
}
