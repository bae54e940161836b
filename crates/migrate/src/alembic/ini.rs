//! The part of `alembic.ini` that says where revisions live: the `[alembic]`
//! section's `version_locations` (split as Alembic's `Config` splits it) and
//! `recursive_version_locations`, read with Python `configparser`'s rules
//! (`key = value` or `key: value`, indented continuation lines, `#`/`;`
//! comments, `%(name)s` interpolation with `here`, `%%` for `%`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// What `alembic.ini` says about version locations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionLocations {
    /// `version_locations`, resolved against the folder Alembic runs in;
    /// empty when the file does not set it.
    pub dirs: Vec<PathBuf>,
    /// `recursive_version_locations = true`.
    pub recursive: bool,
}

/// Reads `[alembic]` of the ini file at `path`; `workdir` is where Alembic
/// runs (relative locations are relative to it, as Alembic resolves them
/// against its working directory).
pub(crate) fn version_locations(path: &Path, workdir: &Path) -> Result<VersionLocations, Error> {
    let text = crate::source::read(path)?;
    let here = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let sections = parse(&text).map_err(|(line, reason)| Error::AlembicScript {
        path: path.to_path_buf(),
        line,
        message: reason,
    })?;
    let Some(section) = sections.get("alembic") else {
        return Ok(VersionLocations::default());
    };
    let defaults = sections.get("DEFAULT");
    let get = |key: &str| -> Result<Option<String>, Error> {
        let Some((raw, line)) = section
            .get(key)
            .or_else(|| defaults.and_then(|d| d.get(key)))
        else {
            return Ok(None);
        };
        interpolate(raw, &here, section, defaults, 0)
            .map(Some)
            .map_err(|reason| Error::AlembicScript {
                path: path.to_path_buf(),
                line: *line,
                message: reason,
            })
    };
    let recursive = get("recursive_version_locations")?.as_deref() == Some("true");
    let Some(locations) = get("version_locations")?.filter(|l| !l.is_empty()) else {
        return Ok(VersionLocations {
            dirs: Vec::new(),
            recursive,
        });
    };
    let separator = match get("path_separator")? {
        Some(s) => Some(s),
        None => get("version_path_separator")?,
    };
    let line = section
        .get("version_locations")
        .map_or(1, |(_, line)| *line);
    let bad = |message: String| Error::AlembicScript {
        path: path.to_path_buf(),
        line,
        message,
    };
    let parts: Vec<String> = match separator.as_deref() {
        // Alembic's legacy split when no separator is configured: on
        // commas (with the spaces after them) and runs of spaces.
        None => locations
            .split(',')
            .flat_map(|p| p.trim_start_matches(' ').split(' '))
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        Some(sep) => {
            let char = match sep {
                "space" => ' ',
                "newline" => '\n',
                "os" | ":" => ':',
                ";" => ';',
                other => {
                    return Err(bad(format!(
                        "path_separator `{other}` is not one of space, newline, os, :, ; (Alembic refuses it too)"
                    )));
                }
            };
            locations
                .split(char)
                .filter(|p| !p.is_empty())
                .map(|p| p.trim().to_string())
                .collect()
        }
    };
    let mut dirs = Vec::new();
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let as_path = Path::new(&part);
        if !as_path.is_absolute() && part.contains(':') {
            return Err(bad(format!(
                "version location `{part}` names a package resource; Preflight reads folders: list the folder instead"
            )));
        }
        dirs.push(workdir.join(as_path));
    }
    Ok(VersionLocations { dirs, recursive })
}

type Section = HashMap<String, (String, usize)>;

/// Sections → lower-cased keys → (raw value, line), as `configparser` reads
/// them; an error is (line, reason).
fn parse(text: &str) -> Result<HashMap<String, Section>, (usize, String)> {
    let mut sections: HashMap<String, Section> = HashMap::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        let indented = line.starts_with([' ', '\t']);
        if trimmed.is_empty() {
            // An empty line inside a value is kept by configparser; a
            // following indented line still continues the value.
            continue;
        }
        if trimmed.starts_with(['#', ';']) {
            continue;
        }
        if indented && let (Some(section), Some(key)) = (&current, &last_key) {
            if let Some((value, _)) = sections.get_mut(section).and_then(|s| s.get_mut(key)) {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err((n, "a section header without its closing `]`".into()));
            };
            current = Some(name.to_string());
            last_key = None;
            sections.entry(name.to_string()).or_default();
            continue;
        }
        let Some(section) = &current else {
            return Err((n, "a value before any [section]".into()));
        };
        let at = trimmed.find(['=', ':']).ok_or_else(|| {
            (
                n,
                "expected `key = value`, found a line without `=` or `:`".to_string(),
            )
        })?;
        let key = trimmed[..at].trim().to_lowercase();
        let value = trimmed[at + 1..].trim().to_string();
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.clone(), (value, n));
        last_key = Some(key);
    }
    Ok(sections)
}

/// `configparser`'s basic interpolation: `%(name)s` from the section, then
/// `DEFAULT`, then `here`; `%%` is `%`.
fn interpolate(
    raw: &str,
    here: &str,
    section: &Section,
    defaults: Option<&Section>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("interpolation is nested too deeply (a value refers to itself)".into());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            let close = tail
                .find(")s")
                .ok_or_else(|| format!("`%({tail}` is not `%(name)s`"))?;
            let name = tail[..close].to_lowercase();
            let value = match section
                .get(&name)
                .or_else(|| defaults.and_then(|d| d.get(&name)))
            {
                Some((v, _)) => interpolate(v, here, section, defaults, depth + 1)?,
                None if name == "here" => here.to_string(),
                None => return Err(format!("`%({name})s` names no option")),
            };
            out.push_str(&value);
            rest = &tail[close + 2..];
        } else {
            return Err("a `%` must be written `%%` or start `%(name)s`".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ini: &str) -> Result<VersionLocations, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alembic.ini");
        std::fs::write(&path, ini).unwrap();
        version_locations(&path, Path::new("/work")).map(|mut v| {
            let here = dir.path().to_string_lossy().into_owned();
            for d in &mut v.dirs {
                *d = PathBuf::from(d.to_string_lossy().replace(&here, "HERE"));
            }
            v
        })
    }

    #[test]
    fn reads_locations_as_alembic_splits_them() {
        let v = read("[alembic]\nscript_location = migrations\npath_separator = os\nversion_locations = %(here)s/versions/initial:versions/2024.1\nrecursive_version_locations = true\n").unwrap();
        assert_eq!(
            v.dirs,
            [
                PathBuf::from("HERE/versions/initial"),
                PathBuf::from("/work/versions/2024.1")
            ]
        );
        assert!(v.recursive);
        // Legacy: no separator, split on spaces and commas.
        let v = read("[alembic]\nversion_locations = a, b  c\n").unwrap();
        assert_eq!(
            v.dirs,
            [
                PathBuf::from("/work/a"),
                PathBuf::from("/work/b"),
                PathBuf::from("/work/c")
            ]
        );
        // Newline-separated, on continuation lines; `Recursive...` only when exactly `true`.
        let v = read("[alembic]\npath_separator = newline\nversion_locations =\n    one\n    two\nrecursive_version_locations = True\n").unwrap();
        assert_eq!(
            v.dirs,
            [PathBuf::from("/work/one"), PathBuf::from("/work/two")]
        );
        assert!(!v.recursive);
        assert_eq!(
            read("[other]\nx = 1\n").unwrap(),
            VersionLocations::default()
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = read("[alembic]\npath_separator = comma\nversion_locations = a\n").unwrap_err();
        assert!(e.to_string().ends_with(":3: path_separator `comma` is not one of space, newline, os, :, ; (Alembic refuses it too)"), "{e}");
        let e = read("[alembic\n").unwrap_err();
        assert!(
            e.to_string()
                .ends_with(":1: a section header without its closing `]`"),
            "{e}"
        );
        let e = read("[alembic]\nversion_locations = %(nope)s/v\n").unwrap_err();
        assert!(
            e.to_string().ends_with(":2: `%(nope)s` names no option"),
            "{e}"
        );
        let e = read("[alembic]\nversion_locations = myapp:versions\n").unwrap_err();
        assert!(e.to_string().contains("package resource"), "{e}");
    }

    use proptest::prelude::*;

    fn ini_like() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("[alembic]\n".to_string()),
            Just("[DEFAULT]\n".to_string()),
            Just("version_locations = ".to_string()),
            Just("path_separator = ".to_string()),
            Just("recursive_version_locations = true\n".to_string()),
            Just("%(here)s".to_string()),
            Just("%(".to_string()),
            Just("%%".to_string()),
            Just(")s".to_string()),
            Just("os\n".to_string()),
            Just("\n    ".to_string()),
            Just(":".to_string()),
            Just("=".to_string()),
            Just("# c\n".to_string()),
            "[ -~]{0,8}",
            "\\PC{0,3}",
        ];
        prop::collection::vec(atom, 0..30).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Any text is read or refused with a line; never a panic.
        #[test]
        fn the_ini_reader_never_panics(text in ini_like()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("alembic.ini");
            std::fs::write(&path, &text).unwrap();
            let _ = version_locations(&path, Path::new("/work"));
        }
    }
}
