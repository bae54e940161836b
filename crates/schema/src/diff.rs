//! The differences between the schema the migrations build and the live
//! one, as typed findings.

use serde::Serialize;

use crate::catalog::{Catalog, Object, ObjectKind};

/// How an object differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Difference {
    /// Live has it, the migrations do not: a manual change, which breaks
    /// the Prime Directive ("if it is not in a migration, it does not exist").
    Unrecorded,
    /// The migrations create it; live lacks it.
    Missing,
    /// Both have it; `attribute` differs (`before` is what the migrations
    /// make, `after` what live has; `None` when one side has no value).
    Changed {
        /// The attribute that differs (`type`, `definition`, `body`, …).
        attribute: String,
        /// What the migrations make.
        before: Option<String>,
        /// What live has.
        after: Option<String>,
    },
}

/// One difference on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What the object is.
    pub kind: ObjectKind,
    /// The object's name (`public.jobs.state`).
    pub name: String,
    /// How it differs.
    #[serde(flatten)]
    pub difference: Difference,
}

/// `changed column public.jobs.state: type: text → varchar(20)`.
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.label(),
            self.kind.as_str(),
            self.name,
            self.describe()
        )
    }
}

impl Finding {
    /// `unrecorded`, `missing` or `changed`.
    pub fn label(&self) -> &'static str {
        match self.difference {
            Difference::Unrecorded => "unrecorded",
            Difference::Missing => "missing",
            Difference::Changed { .. } => "changed",
        }
    }

    /// One line for people: what differs, and how.
    pub fn describe(&self) -> String {
        match &self.difference {
            Difference::Unrecorded => {
                "live has it and no migration creates it (a manual change)".to_string()
            }
            Difference::Missing => "the migrations create it and live lacks it".to_string(),
            Difference::Changed {
                attribute,
                before,
                after,
            } => {
                let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                format!("{attribute}: {} → {}", show(before), show(after))
            }
        }
    }
}

/// Every difference between `expected` (the schema the migrations build)
/// and `actual` (live), ordered by object kind and name. An object whose
/// table is itself missing or unrecorded is not listed again.
pub fn diff(expected: &Catalog, actual: &Catalog) -> Vec<Finding> {
    let mut findings = Vec::new();
    let absent_parent = |object: &Object, other: &Catalog| {
        object
            .parent
            .as_ref()
            .is_some_and(|p| !other.objects.contains_key(&(ObjectKind::Table, p.clone())))
    };
    for (key, object) in &actual.objects {
        if !expected.objects.contains_key(key) && !absent_parent(object, expected) {
            findings.push(Finding {
                kind: object.kind,
                name: object.name.clone(),
                difference: Difference::Unrecorded,
            });
        }
    }
    for (key, object) in &expected.objects {
        match actual.objects.get(key) {
            None => {
                if !absent_parent(object, actual) {
                    findings.push(Finding {
                        kind: object.kind,
                        name: object.name.clone(),
                        difference: Difference::Missing,
                    });
                }
            }
            Some(live) => {
                let names: std::collections::BTreeSet<&String> = object
                    .attributes
                    .keys()
                    .chain(live.attributes.keys())
                    .collect();
                for attribute in names {
                    let before = object.attributes.get(attribute);
                    let after = live.attributes.get(attribute);
                    if before != after {
                        findings.push(Finding {
                            kind: object.kind,
                            name: object.name.clone(),
                            difference: Difference::Changed {
                                attribute: attribute.clone(),
                                before: before.cloned(),
                                after: after.cloned(),
                            },
                        });
                    }
                }
            }
        }
    }
    findings.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    findings
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn object(
        kind: ObjectKind,
        name: &str,
        parent: Option<&str>,
        attrs: &[(&str, &str)],
    ) -> Object {
        Object {
            kind,
            name: name.into(),
            parent: parent.map(str::to_string),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn catalog(objects: Vec<Object>) -> Catalog {
        Catalog {
            objects: objects
                .into_iter()
                .map(|o| ((o.kind, o.name.clone()), o))
                .collect::<BTreeMap<_, _>>(),
            server_version: 150_000,
        }
    }

    #[test]
    fn classifies_and_does_not_repeat_children_of_absent_tables() {
        let expected = catalog(vec![
            object(ObjectKind::Table, "public.jobs", None, &[]),
            object(
                ObjectKind::Column,
                "public.jobs.state",
                Some("public.jobs"),
                &[("type", "text")],
            ),
            object(ObjectKind::Table, "public.gone", None, &[]),
            object(
                ObjectKind::Column,
                "public.gone.id",
                Some("public.gone"),
                &[("type", "int")],
            ),
        ]);
        let actual = catalog(vec![
            object(ObjectKind::Table, "public.jobs", None, &[]),
            object(
                ObjectKind::Column,
                "public.jobs.state",
                Some("public.jobs"),
                &[("type", "character varying(20)"), ("default", "'new'")],
            ),
            object(ObjectKind::Table, "public.manual", None, &[]),
            object(
                ObjectKind::Column,
                "public.manual.id",
                Some("public.manual"),
                &[],
            ),
        ]);
        let found: Vec<String> = diff(&expected, &actual)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "missing table public.gone: the migrations create it and live lacks it",
                "unrecorded table public.manual: live has it and no migration creates it (a manual change)",
                "changed column public.jobs.state: default: (none) → 'new'",
                "changed column public.jobs.state: type: text → character varying(20)",
            ]
        );
        assert!(diff(&expected, &expected).is_empty());
    }
}
